"""harness.report.manifest: run.json, run-state.json, and when a run directory is complete."""

from __future__ import annotations

import json

import pytest

from harness.report.manifest import (
    ManifestError,
    RunManifest,
    is_complete,
    read_manifest,
    run_dirs,
    run_state,
    write_manifest,
    write_run_state,
)
from harness.report.records import INTERRUPTED_REASON, RecordWriter, TestRecord, keep_finished


def _record(name: str, outcome: str = "passed", reason: str | None = None) -> TestRecord:
    return TestRecord(id=f"t.py::{name}", name=name, pack="smoke", outcome=outcome,  # type: ignore[arg-type]
                      reason=reason)


def test_manifest_round_trip_and_absent(tmp_path):
    assert read_manifest(tmp_path) is None
    manifest = RunManifest(lab="/lab.yaml", dmcs=["REF-DMC-001"], statuses=["dormant"],
                           packs=["smoke"], pytest_args=["-k", "x"], started_at="t", version="1",
                           formats=["pdf"], pack_paths=["/lab/packs"])
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert manifest.selection()["pack_paths"] == ["/lab/packs"]
    assert not list(tmp_path.glob("*.tmp"))


GOOD = ('{"schema": "smets1-dmct/run/1", "lab": "x", "dmcs": [], "statuses": [], "packs": [], '
        '"pytest_args": []')


def test_a_manifest_from_before_formats_reads_as_the_default_formats(tmp_path):
    (tmp_path / "run.json").write_text(GOOD + "}")
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.formats == [] and manifest.pack_paths == []


@pytest.mark.parametrize("content", ["{", "[]", '{"schema": "other"}',
                                     '{"schema": "smets1-dmct/run/1", "lab": "x", "dmcs": "A"}',
                                     GOOD + ', "formats": "pdf"}',
                                     GOOD + ', "pack_paths": [1]}'])
def test_a_broken_manifest_is_one_line(tmp_path, content):
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(ManifestError) as raised:
        read_manifest(tmp_path)
    assert str(tmp_path / "run.json") in str(raised.value)
    assert "\n" not in str(raised.value)


def test_complete_needs_finished_and_every_planned_case_recorded(tmp_path):
    assert not is_complete(tmp_path) and run_state(tmp_path) is None
    planned = ["t.py::a", "t.py::b"]
    write_run_state(tmp_path, "running", planned)
    writer = RecordWriter(tmp_path)
    writer.write(_record("a"))
    writer.write(_record("b", "blocked", f"{INTERRUPTED_REASON} (KeyboardInterrupt)"))
    state = run_state(tmp_path)
    assert state is not None and not state.finished
    assert state.missing(keep_finished(tmp_path)) == ["t.py::b"]
    write_run_state(tmp_path, "finished", planned)
    assert not is_complete(tmp_path)  # b never finished
    writer.write(_record("b", "failed", "boom"))
    assert is_complete(tmp_path)
    (tmp_path / "run-state.json").write_text(json.dumps({"state": "done"}))
    with pytest.raises(ManifestError):
        run_state(tmp_path)
    assert not is_complete(tmp_path)


def test_keep_finished_drops_interrupted_and_torn_records(tmp_path):
    writer = RecordWriter(tmp_path)
    writer.write(_record("a"))
    writer.write(_record("b", "blocked", f"{INTERRUPTED_REASON} (Exit)"))
    with (tmp_path / "records.jsonl").open("a") as handle:
        handle.write('{"id": "t.py::c", "na')
    assert [r.name for r in keep_finished(tmp_path)] == ["a"]
    writer.write(_record("c"))  # appended on a line of its own
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["a", "c"]


def test_run_dirs_of_an_out_root_or_of_one_run_directory(tmp_path):
    for dmc, status in (("B-DMC", "dormant"), ("A-DMC", "active"), ("A-DMC", "dormant")):
        write_run_state(tmp_path / dmc / status, "running", None)
    (tmp_path / "A-DMC" / "mixed").mkdir()  # never started: not a run directory
    found = run_dirs(tmp_path)
    assert [(d, s) for d, s, _ in found] == [
        ("A-DMC", "active"), ("A-DMC", "dormant"), ("B-DMC", "dormant")]
    assert run_dirs(tmp_path / "B-DMC" / "dormant") == [
        ("B-DMC", "dormant", tmp_path / "B-DMC" / "dormant")]
    assert run_dirs(tmp_path / "nowhere") == []
