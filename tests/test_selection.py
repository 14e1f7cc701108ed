"""The selection is part of the record: ``run.json`` and every report say which packs,
statuses and pytest arguments a run had, and a partial one says so at the top of its report and
is never made final."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from runkit import WHOLE_RUNS

from harness.cli import main
from harness.cli.common import available_packs
from harness.report.finalise import FinaliseRefused, finalise
from harness.report.manifest import (
    RunManifest,
    partial_reasons,
    read_manifest,
    report_selection,
    write_manifest,
)

ALL = ["smoke", "dormant", "active", "mixed", "srv", "security"]


@pytest.mark.parametrize("args", [[], ["-v"], ["--timeout", "900"], ["--timeout=900", "-q"],
                                  ["-p", "no:randomly"], ["--tb", "short", "-s"],
                                  ["-W", "error", "--log-level=DEBUG"]])
def test_pytest_arguments_that_choose_nothing_keep_a_full_selection(args):
    assert partial_reasons(ALL, ALL, args) == []


@pytest.mark.parametrize("args", [["-k", "register"], ["-m", "not destructive"], ["-x"],
                                  ["--maxfail=1"], ["--deselect", "testpacks/smoke"],
                                  ["testpacks/smoke/test_smoke.py::test_x"], ["--lf"],
                                  ["-p", "someplugin"], ["--allure-stories", "8.11"]])
def test_pytest_arguments_that_may_leave_cases_out_make_it_partial(args):
    reasons = partial_reasons(ALL, ALL, args)
    assert len(reasons) == 1 and reasons[0].startswith("pytest arguments that may leave")
    assert args[-1] in reasons[0]


def test_packs_left_out_make_it_partial_and_long_arguments_are_cut():
    assert partial_reasons(["smoke"], ALL, []) == [
        "packs not run: dormant, active, mixed, srv, security"]
    reasons = partial_reasons(ALL, ALL, ["-k", "x" * 5000])
    assert len(reasons[0]) < 300 and reasons[0].endswith("characters cut)")


def test_the_selection_goes_from_run_json_into_each_report(tmp_path):
    manifest = RunManifest(lab="/lab.yaml", dmcs=["REF-DMC-001"], statuses=["dormant"],
                           packs=["srv"], pytest_args=["-k", "8.11"],
                           partial_reasons=partial_reasons(["srv"], ALL, ["-k", "8.11"]))
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["partial"] is True and data["pytest_args"] == ["-k", "8.11"]
    selection = report_selection(tmp_path / "REF-DMC-001" / "dormant")
    assert selection == {"packs": ["srv"], "pack_paths": [], "statuses": ["dormant"],
                         "dmcs": ["REF-DMC-001"],
                         "pytest_args": ["-k", "8.11"], "partial": True,
                         "partial_reasons": manifest.partial_reasons}
    assert report_selection(tmp_path / "elsewhere" / "x" / "y") is None


def _draft(selection):
    return {"state": "draft", "complete": True, "referral_deadline": "2026-01-05",
            "selection": selection}


def test_a_partial_selection_is_never_final_even_forced():
    at = datetime(2026, 2, 1, tzinfo=UTC)
    partial = {"partial": True, "partial_reasons": ["packs not run: srv"]}
    with pytest.raises(FinaliseRefused, match=r"partial selection \(packs not run: srv\)"):
        finalise(_draft(partial), at=at)
    with pytest.raises(FinaliseRefused, match="even with --force"):
        finalise(_draft(partial), at=at, force=True, reason="asked")
    assert finalise(_draft({"partial": False}), at=at)["state"] == "final"
    assert finalise(_draft(None), at=at)["state"] == "final"  # a plain pytest run


@WHOLE_RUNS
def test_a_run_of_one_pack_is_recorded_reported_and_refused_final_as_partial(
        tmp_path, capsys, monkeypatch, clean_run_env):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    out = tmp_path / "out"
    code = main(["run", "--pack", "smoke", "--status", "dormant", "--out", str(out), "--",
                 "-k", "register"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "PARTIAL selection" in printed.splitlines()[1]
    manifest = read_manifest(out)
    assert manifest is not None and manifest.partial
    assert manifest.pytest_args == ["-k", "register"]
    run_dir = out / "REF-DMC-001" / "dormant"
    report = json.loads((run_dir / "dmct-report.json").read_text())
    assert report["selection"]["partial"] is True
    assert report["selection"]["packs"] == ["smoke"]
    assert report["selection"]["pytest_args"] == ["-k", "register"]
    assert len(report["selection"]["partial_reasons"]) == 2
    markdown = (run_dir / "dmct-report.md").read_text()
    verdict = markdown.index("## Verdict")
    assert "PARTIAL SELECTION: packs not run" in markdown[verdict:verdict + 600]
    assert "PARTIAL SELECTION" in (run_dir / "dmct-report.html").read_text()
    monkeypatch.setenv("DMCT_NOW", "2099-01-05")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(out), "--final", "--force", "--reason", "asked"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "partial selection" in err
    assert json.loads((run_dir / "dmct-report.json").read_text())["state"] == "draft"
    assert available_packs()[0] == "smoke"


def test_a_resume_runs_and_records_the_same_selection(tmp_path):
    manifest = RunManifest(lab="/lab.yaml", dmcs=["REF-DMC-001"], statuses=["dormant"],
                           packs=ALL, pytest_args=[], partial_reasons=[])
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((Path(tmp_path) / "run.json").read_text())["partial"] is False
