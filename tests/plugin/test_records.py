"""harness.report.records: one JSON line per test, durable, readable after a crash."""

from __future__ import annotations

import json

from harness.report.records import RECORDS_FILE, RecordWriter, TestRecord, read_records


def _record(name: str, outcome: str = "passed") -> TestRecord:
    return TestRecord(id=f"test_x.py::{name}", name=name, pack="smoke", outcome=outcome)  # type: ignore[arg-type]


def test_records_round_trip_one_line_each(tmp_path):
    writer = RecordWriter(tmp_path / "out")
    writer.write(_record("test_a"))
    writer.write(_record("test_b", "failed"))
    lines = (tmp_path / "out" / RECORDS_FILE).read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["test_a", "test_b"]
    assert [r.outcome for r in read_records(tmp_path / "out")] == ["passed", "failed"]


def test_a_torn_last_line_is_skipped_and_unknown_keys_ignored(tmp_path):
    path = tmp_path / RECORDS_FILE
    good = dict(_record("test_a").as_dict(), added_later="ignored")
    path.write_text(json.dumps(good) + "\n" + '{"id": "test_x.py::test_b", "na')
    assert [r.name for r in read_records(path)] == ["test_a"]


def test_fresh_writer_starts_a_new_file_and_plain_writer_appends(tmp_path):
    RecordWriter(tmp_path).write(_record("test_old"))
    RecordWriter(tmp_path).write(_record("test_appended"))
    assert [r.name for r in read_records(tmp_path)] == ["test_old", "test_appended"]
    RecordWriter(tmp_path, fresh=True).write(_record("test_new"))
    assert [r.name for r in read_records(tmp_path)] == ["test_new"]


def test_missing_file_reads_as_no_records(tmp_path):
    assert list(read_records(tmp_path)) == []
