"""A report's provenance and limitations (``harness.report.provenance``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.config import default_lab_config_path, load_lab_config
from harness.report.provenance import (
    content_hash,
    limitations,
    read_sessions,
    record_session,
    run_provenance,
    version_words,
)
from harness.report.records import TestRecord


def test_a_content_hash_follows_the_content_not_the_place(tmp_path: Path):
    one = tmp_path / "one"
    (one / "sub").mkdir(parents=True)
    (one / "a.yaml").write_text("a: 1\n")
    (one / "sub" / "b.py").write_text("x = 1\n")
    (one / "notes.bin").write_bytes(b"\0")  # not a file that decides a verdict
    two = tmp_path / "two"
    shutil.copytree(one, two)
    assert content_hash([one]) == content_hash([two]) and content_hash([one]).startswith(
        "sha256:")
    (two / "sub" / "b.py").write_text("x = 2\n")
    assert content_hash([one]) != content_hash([two])
    (two / "sub" / "b.py").rename(two / "sub" / "c.py")
    assert content_hash([two]) != content_hash([one])
    assert content_hash([tmp_path / "nothing"]) is None


def test_sessions_add_up_over_a_resume(tmp_path: Path):
    record_session(tmp_path, {"wall_start": "2026-03-02T09:00:00+00:00",
                              "wall_end": "2026-03-02T09:10:00+00:00", "bench": None}, fresh=True)
    record_session(tmp_path, {"wall_start": "2026-03-02T11:00:00+00:00",
                              "wall_end": "2026-03-02T11:05:00+00:00",
                              "bench": {"radio": {"type": "virtual"}}}, fresh=False)
    assert len(read_sessions(tmp_path)) == 2
    lab = load_lab_config(default_lab_config_path(), env={}).select(["ITRON-DMC-001"],
                                                                   ["dormant"])
    records = [TestRecord(id="testpacks/smoke/t.py::a", name="a", pack="smoke", outcome="passed",
                          bench_time_start="2026-01-05T09:00:00+00:00",
                          bench_time_end="2026-01-05T09:01:00+00:00"),
               TestRecord(id="testpacks/smoke/t.py::b", name="b", pack="smoke", outcome="failed",
                          bench_time_start="2026-01-05T09:02:00+00:00",
                          bench_time_end="2026-01-05T09:03:00+00:00")]
    found = run_provenance(tmp_path, lab, records)
    assert found["windows"] == {
        "wall_clock": {"start": "2026-03-02T09:00:00+00:00",
                       "end": "2026-03-02T11:05:00+00:00"},
        "bench_clock": {"start": "2026-01-05T09:00:00+00:00",
                        "end": "2026-01-05T09:03:00+00:00"},
        "sessions": 2}
    assert found["bench"]["read"] == {"radio": {"type": "virtual"}}  # the last session's
    assert found["bench"]["kind"] == "emulated" and found["seed"] == lab.seed
    assert set(found["hashes"]) == {"packs", "profiles", "dmc_catalogue",
                                    "testing_issue_registry", "lab_config"}
    assert all(v and v.startswith("sha256:") for v in found["hashes"].values())
    assert found["harness"]["version"] in version_words()

    said = limitations(lab, lab.catalogue.dmc("ITRON-DMC-001"), records, status="dormant",
                       threshold_default=True, complete=False)
    assert [line.split(":")[0] for line in said if not line.startswith("Placeholder")] == [
        "Emulated bench", "Virtual bench clock", "Testing Issue Threshold",
        "Packs not in this run", "Incomplete run"]
    assert said[1].startswith("Placeholder profiles for ")
    assert "ESME (model and firmware)" in said[1]
    assert "dormant, srv, security" in said[4]
