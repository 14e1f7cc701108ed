"""Device defects a lab describes in YAML, found by the migration packs through observation
alone: a meter that leaves the HAN (and rejoins at once) after a named migration step
(``emulation.han_leave``) fails exactly ``test_devices_stay_on_the_han_through_migration``, one
Testing Issue; the same steps on the reference DMC pass it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labkit import LabFiles
from runkit import WHOLE_RUNS

from harness.cli import main

pytestmark = WHOLE_RUNS

CASE = "dormant/test_dormant.py::test_devices_stay_on_the_han_through_migration"
#: The cases run (the rollback and alert-flood cases add minutes and judge other things).
SELECT = "not rollback and not alert_flood and not change_of_supplier"


@pytest.fixture(autouse=True)
def _pack_run_env(clean_run_env, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def run_dormant(tmp_path: Path, dmc: str, lab: Path) -> tuple[int, dict]:
    out = tmp_path / "out"
    code = main(["run", "--lab", str(lab), "--pack", "dormant", "--dmc", dmc, "--status",
                 "dormant", "--out", str(out), "--", "-k", SELECT])
    return code, json.loads((out / dmc / "dormant" / "dmct-report.json").read_text())


@pytest.mark.parametrize("step", ["replace_credentials", "key_rotation"])
def test_a_meter_leaving_the_han_after_a_migration_step_fails_that_case(tmp_path, step):
    lab = LabFiles(tmp_path / "lab")
    esme = lab.profile_variant("ref-esme", "migration-test-esme",
                               emulation={"han_leave": {"after_step": step, "rejoins": True}})
    dmc = lab.dmc("MIGRATION-TEST-DMC", profiles={"ESME": esme})
    code, report = run_dormant(tmp_path, dmc, lab.lab(dmc=dmc))
    failed = {c["id"]: c["reason"] for c in report["cases"] if c["outcome"] == "failed"}
    assert set(failed) == {CASE}, failed
    assert f"the ESME left the HAN during {step}" in failed[CASE]
    [issue] = report["testing_issues"]
    assert issue["cases"] == [CASE]
    assert code == 1
