"""The smoke pack's register comparison (``testpacks/smoke``): the reference meters pass; a meter
whose optical register is off by one Wh (or dm3), or scaled, against its ZigBee register
(``emulation.meter.optical_register_offset`` / ``_scale``) fails exactly that case, one Testing
Issue, found by reading the two ports alone.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from labkit import LabFiles
from runkit import WHOLE_RUNS

from harness.cli import main
from testpacks.smoke.test_smoke import resolution

pytestmark = WHOLE_RUNS

CASE = "smoke/test_smoke.py::test_register_over_zigbee_equals_optical_readout"


@pytest.fixture(autouse=True)
def _pack_run_env(clean_run_env, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def run_smoke(tmp_path: Path, dmc: str, lab: Path) -> tuple[int, dict]:
    out = tmp_path / "out"
    code = main(["run", "--lab", str(lab), "--pack", "smoke", "--dmc", dmc, "--status",
                 "dormant", "--out", str(out), "--", "-k", "register"])
    return code, json.loads((out / dmc / "dormant" / "dmct-report.json").read_text())


def test_resolution_is_one_unit_of_the_last_decimal_place():
    assert resolution("012345.678") == Decimal("0.001")
    assert resolution("12.5") == Decimal("0.1")
    assert resolution("7") == Decimal(1)


@pytest.mark.parametrize(("role", "skew"), [
    ("ESME", {"optical_register_offset": 1}),
    ("GSME", {"optical_register_offset": -1}),
    ("ESME", {"optical_register_scale": 1.001}),
])
def test_a_meter_whose_ports_disagree_fails_the_register_case(tmp_path, role, skew):
    lab = LabFiles(tmp_path / "lab")
    base = "ref-esme" if role == "ESME" else "ref-gsme"
    profile = lab.profile_variant(base, f"smoke-test-{role.lower()}", emulation={"meter": skew})
    dmc = lab.dmc("SMOKE-TEST-DMC", profiles={role: profile})
    code, report = run_smoke(tmp_path, dmc, lab.lab(dmc=dmc))
    outcomes = {c["id"]: c["outcome"] for c in report["cases"]}
    other = "GSME" if role == "ESME" else "ESME"
    assert outcomes == {f"{CASE}[{role}]": "failed", f"{CASE}[{other}]": "passed"}, report[
        "cases"]
    assert code == 1
    [issue] = report["testing_issues"]
    assert issue["cases"] == [f"{CASE}[{role}]"]
    reason = next(c["reason"] for c in report["cases"] if c["outcome"] == "failed")
    assert "over the optical port" in reason and "over ZigBee" in reason
