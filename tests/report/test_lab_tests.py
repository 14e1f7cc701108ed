"""A lab's own tests: ``pytest --dmct-out DIR`` in the lab's repository writes a run directory
``dmct report DIR`` renders, and ``dmct run --pack-path DIR`` runs the lab's own pack beside the
packaged ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

LAB_TESTS = '''
import pytest


def test_the_esme_register_reads(esme):
    assert esme.read_register_kwh() >= 0


@pytest.mark.srv("8.11")
def test_a_lab_check_that_fails(esme):
    assert esme.read_register_kwh() < 0, "the lab's own check failed"
'''


@pytest.fixture(autouse=True)
def _clean(clean_run_env, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def test_pytest_dmct_out_in_a_labs_repository_is_rendered_by_dmct_report(pytester, capsys):
    pytester.makepyfile(test_lab_checks=LAB_TESTS)
    out = pytester.path / "results"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dmct-out", str(out),
                                           timeout=120)
    result.assert_outcomes(passed=1, failed=1)
    assert (out / "records.jsonl").is_file() and (out / "dmct-report.json").is_file()

    capsys.readouterr()  # pytester's own lines
    code = main(["report", str(out), "--format", "json,html,md"])
    printed, err = capsys.readouterr()
    assert code == 1, printed + err  # the lab's failure fails the exit criteria
    assert printed.startswith("REF-DMC-001/dormant: fails exit criteria; draft")
    report = json.loads((out / "dmct-report.json").read_text())
    assert [(c["id"], c["outcome"]) for c in report["cases"]] == [
        ("test_lab_checks.py::test_the_esme_register_reads", "passed"),
        ("test_lab_checks.py::test_a_lab_check_that_fails", "failed")]
    html = (out / "dmct-report.html").read_text()
    failures = html.split('<section id="failures">', 1)[1].split("</section>", 1)[0]
    assert "test_lab_checks.py::test_a_lab_check_that_fails" in failures
    assert "the lab&#39;s own check failed" in failures
    assert not (pytester.path.parent / "epcl-summary.json").exists()  # no out root above it


def test_a_directory_that_is_no_run_directory_is_one_line(tmp_path: Path, capsys):
    (tmp_path / "records.jsonl").write_text("")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no dmct-report.json naming its DMC" in err


def test_dmct_run_pack_path_runs_a_labs_own_pack_beside_the_packaged_ones(tmp_path: Path,
                                                                          capsys):
    pack = tmp_path / "lab-packs" / "lab_checks"
    pack.mkdir(parents=True)
    (pack / "test_lab_checks.py").write_text(LAB_TESTS)
    code = main(["run", "--pack", "smoke", "--pack-path", str(tmp_path / "lab-packs"),
                 "--status", "dormant", "--out", str(tmp_path / "out"), "--",
                 "-k", "lab_check or esme_register or register_over_zigbee"])
    printed = capsys.readouterr().out
    assert code == 1, printed
    records = [json.loads(line) for line in
               (tmp_path / "out" / "REF-DMC-001" / "dormant" / "records.jsonl")
               .read_text().splitlines()]
    packs = {r["name"]: r["pack"] for r in records}
    assert packs["test_a_lab_check_that_fails"] == "lab_checks"
    assert packs["test_register_over_zigbee_equals_optical_readout[ESME]"] == "smoke"
    assert "lab_checks/test_lab_checks.py::test_a_lab_check_that_fails" in printed

    # run.json and the report's selection say the lab's packs ran...
    lab_packs = str((tmp_path / "lab-packs").absolute())
    out = tmp_path / "out"
    assert json.loads((out / "run.json").read_text())["pack_paths"] == [lab_packs]
    run_dir = out / "REF-DMC-001" / "dormant"
    report = json.loads((run_dir / "dmct-report.json").read_text())
    assert report["selection"]["pack_paths"] == [lab_packs]
    assert f"Lab's own packs: `{lab_packs}`" in (run_dir / "dmct-report.md").read_text()
    # ...and their content is in the packs' hash: a change to the lab's pack changes it
    hashed = report["provenance"]["hashes"]["packs"]
    (pack / "test_lab_checks.py").write_text(LAB_TESTS + "\n# changed\n")
    assert main(["report", str(out), "--format", "json"]) == 1
    rebuilt = json.loads((run_dir / "dmct-report.json").read_text())
    assert rebuilt["provenance"]["hashes"]["packs"] != hashed
    (pack / "test_lab_checks.py").write_text(LAB_TESTS)

    # --resume runs the lab's packs again: the lab's cases lost from the records come back
    kept = [line for line in (run_dir / "records.jsonl").read_text().splitlines()
            if '"lab_checks"' not in line]
    assert len(kept) < len(records)
    (run_dir / "records.jsonl").write_text("\n".join(kept) + "\n")
    capsys.readouterr()
    assert main(["run", "--resume", str(out)]) == 1
    assert lab_packs in capsys.readouterr().out
    resumed = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert sorted(r["name"] for r in resumed) == sorted(r["name"] for r in records)
    assert {r["name"]: r["pack"] for r in resumed}["test_a_lab_check_that_fails"] == "lab_checks"

    # --pack-path is the run's selection: not given with --resume; a vanished one refuses it
    assert main(["run", "--resume", str(out), "--pack-path", lab_packs]) == 2
    assert "--pack-path cannot be given with it" in capsys.readouterr().err
    (tmp_path / "lab-packs").rename(tmp_path / "moved")
    assert main(["run", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pack_paths: {lab_packs}: not a directory" in err


def test_collect_only_lists_a_labs_own_pack(tmp_path: Path, capsys):
    pack = tmp_path / "lab-packs" / "lab_checks"
    pack.mkdir(parents=True)
    (pack / "test_lab_checks.py").write_text(LAB_TESTS)
    code = main(["run", "--pack", "smoke", "--pack-path", str(tmp_path / "lab-packs"),
                 "--status", "dormant", "--collect-only", "-v"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"packs smoke, {tmp_path / 'lab-packs'} (nothing is run)" in printed
    assert "lab_checks/test_lab_checks.py::test_a_lab_check_that_fails" in printed


def test_a_missing_pack_path_is_a_usage_error(tmp_path: Path, capsys):
    assert main(["run", "--pack-path", str(tmp_path / "nowhere"), "--collect-only"]) == 2
    assert "--pack-path" in capsys.readouterr().err


def test_a_dask_task_runs_the_labs_own_packs_too(tmp_path: Path):
    """``--scheduler``: an entry's task carries the lab's pack directories (run on a worker
    that sees them, as it sees the lab config); here the task runs in this process."""
    from harness.cli.entries import Entry, _unzip, dask_spec, run_entry_task
    from harness.config import default_lab_config_path

    pack = tmp_path / "lab-packs" / "lab_checks"
    pack.mkdir(parents=True)
    (pack / "test_lab_checks.py").write_text(LAB_TESTS)
    spec = dask_spec(Entry("REF-DMC-001", "dormant", tmp_path / "out"),
                     lab=str(default_lab_config_path()), packs=[], pytest_args=[],
                     pack_paths=[str(tmp_path / "lab-packs")])
    done = run_entry_task(spec)
    _unzip(done["archive"], tmp_path / "back")
    records = [json.loads(line) for line in
               (tmp_path / "back" / "records.jsonl").read_text().splitlines()]
    assert done["returncode"] == 1, done["tail"]
    assert {(r["name"], r["pack"], r["outcome"]) for r in records} == {
        ("test_the_esme_register_reads", "lab_checks", "passed"),
        ("test_a_lab_check_that_fails", "lab_checks", "failed")}
