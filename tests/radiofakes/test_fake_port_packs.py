"""Whole packs through the real radio libraries on the virtual clock: a lab whose radio port is
``fake://`` (``harness.backend.fake``).

``dmct run`` starts zigpy-znp or bellows against the project's fake of its dongle, served in the
bench's own loop, with the lab's installation as scripted devices whose supply the fake
switches. So the smoke pack runs whole, its wrong-install-code watch (90 s) and its
join-outside-the-window case (a device switched off, the window let pass, switched on) included,
and the security pack's JoinTimePeriod cases (300 s and more) run through the radio library
instead of at CHF level, in seconds of wall time. The fake's trust-centre timeline, which the
run leaves in its evidence, is checked for what the CHF promised: no device joins that is not
the installation's, joining is never open without install-code-only, and it is closed at the end.

The real-clock fake labs (``test_znp_lab.py``, ``test_ezsp_lab.py``, ``test_znp_packs.py``)
keep proving the real-clock path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runkit import WHOLE_RUNS

from harness.backend.fake import FAKE_RADIO_EVIDENCE
from harness.cli import main
from harness.config import load_lab_config
from harness.config.errors import ConfigError
from harness.config.faults import FaultError, check_faults, parse_fault
from harness.fault_injection import FAULTS_FILE
from tests.radiofakes.conftest import ROLES, code_for, needs_bellows, needs_znp

RADIOS = [pytest.param("znp", marks=needs_znp), pytest.param("ezsp", marks=needs_bellows)]
EUIS = {f"00-1B-C5-0C-00-00-00-{i:02X}" for i in range(1, len(ROLES) + 1)}


def fake_lab(root: Path, radio: str, *, extra: str = "") -> Path:
    """A lab config whose radio is the ``radio`` fake (no clock section: virtual by default)."""
    (root / "secrets.yaml").write_text("install_codes:\n" + "".join(
        f'  {role.lower()}: "{code_for(i).reveal()}"\n' for i, role in enumerate(ROLES, 1)))
    devices = "".join(
        f"      - role: {role}\n        eui64: 00-1B-C5-0C-00-00-00-{i:02X}\n"
        f"        install_code: {{secret: {role.lower()}}}\n"
        for i, role in enumerate(ROLES, 1))
    path = root / "lab.yaml"
    path.write_text(f"bench: {radio}-in-loop\nradio:\n  type: {radio}\n  port: fake://\n{extra}"
                    f"installations:\n  - id: home-1\n    devices:\n{devices}"
                    "dmc: [REF-DMC-001]\ninstallation_status: [dormant]\n"
                    f"secrets_file: {root / 'secrets.yaml'}\noutput_dir: {root / 'out'}\n")
    return path


def run_pack(tmp_path: Path, radio: str, pack: str, *pytest_args: str
             ) -> tuple[int, dict[str, Any], dict[str, Any], str]:
    lab = fake_lab(tmp_path, radio)
    out = tmp_path / "results"
    args = ["run", "--lab", str(lab), "--pack", pack, "--status", "dormant", "--out", str(out)]
    code = main([*args, *(["--", *pytest_args] if pytest_args else [])])
    results = out / "REF-DMC-001" / "dormant"
    report = json.loads((results / "dmct-report.json").read_text())
    trust_centre = json.loads((results / "evidence" / FAKE_RADIO_EVIDENCE).read_text())
    return code, report, trust_centre, str(lab)


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"].split("::")[-1]: c["outcome"] for c in report["cases"]}


def assert_the_chf_kept_its_promises(trust_centre: dict[str, Any]) -> None:
    timeline = trust_centre["timeline"]
    joined = {e["detail"].split()[0] for e in timeline if e["what"] == "joined"}
    assert joined and joined <= EUIS, f"a device not of the installation joined: {joined - EUIS}"
    assert all("install_code_only=on" in e["detail"] for e in timeline if e["what"] == "joined")
    loose = [s for s in trust_centre["open_spans"] if not s["install_code_only"]]
    assert not loose, f"joining open without install-code-only: {loose}"
    assert not [e for e in timeline if e["what"] == "wildcard_key"]
    assert not trust_centre["open_at_end"], "joining still open when the bench stopped"


@WHOLE_RUNS
@pytest.mark.slow
@pytest.mark.parametrize("radio", RADIOS)
def test_the_whole_smoke_pack_passes_through_the_radio_library(
        radio: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, trust_centre, _ = run_pack(tmp_path, radio, "smoke")
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert report["verdict"] == "meets_exit_criteria"
    assert report["provenance"]["bench"]["kind"] == "fake"
    assert any(line.startswith("Fake dongle:") for line in report["limitations"])
    seen = outcomes(report)
    # Only the optical comparison is not applicable (the scripted devices have no probe).
    assert {k for k, v in seen.items() if v != "passed"} == {
        f"test_register_over_zigbee_equals_optical_readout[{role}]" for role in ("ESME", "GSME")}
    assert seen["test_join_with_a_wrong_install_code_is_refused"] == "passed"
    assert seen["test_join_outside_the_window_is_refused"] == "passed"
    assert_the_chf_kept_its_promises(trust_centre)
    # The wrong install code was refused at the trust centre itself.
    assert [e for e in trust_centre["timeline"]
            if e["what"] == "refused" and "link key" in e["detail"]]


@WHOLE_RUNS
@pytest.mark.slow
@pytest.mark.parametrize("radio", RADIOS)
def test_the_join_time_period_cases_pass_through_the_radio_library(
        radio: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, trust_centre, _ = run_pack(tmp_path, radio, "security", "-k",
                                             "join_time_period")
    printed = capsys.readouterr().out
    assert code == 0, printed
    seen = outcomes(report)
    assert "test_a_ppmid_starting_to_join_just_before_the_period_ends_joins[3600]" in seen
    assert set(seen.values()) == {"passed"}, seen
    assert_the_chf_kept_its_promises(trust_centre)
    # Periods over one permit's 254 s were served by consecutive permits.
    assert max(int(e["detail"]) for e in trust_centre["timeline"] if e["what"] == "permit") \
        == 254


ESME_JOINS = "test_device_joins_with_its_install_code_inside_the_window[ESME]"


@WHOLE_RUNS
@pytest.mark.slow
@pytest.mark.parametrize("radio", RADIOS)
def test_a_power_fault_on_a_fake_port_lab_is_switched_by_the_fake(
        radio: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A lab with a ``fake://`` radio takes the power faults a relay would serve (its devices
    have no ``relay:``): the fake switches the ESME off before its join case, which fails
    under the fault as a bench finding that does not count, and the rest of the pack passes."""
    lab = fake_lab(tmp_path, radio)
    out = tmp_path / "results"
    code = main(["run", "--lab", str(lab), "--pack", "smoke", "--status", "dormant",
                 "--out", str(out), "--fault", f"power-off:ESME@case:{ESME_JOINS}"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = out / "REF-DMC-001" / "dormant"
    fired = [json.loads(line) for line in (results / FAULTS_FILE).read_text().splitlines()
             if json.loads(line).get("event") == "fired"]
    assert [(f["id"], f["kind"], f["target"], f["error"]) for f in fired] == [
        ("F1", "power-off", "ESME", None)]
    report = json.loads((results / "dmct-report.json").read_text())
    seen = outcomes(report)
    assert seen[ESME_JOINS] == "failed"
    assert {k for k, v in seen.items() if v not in ("passed", "not_applicable")} == {ESME_JOINS}
    assert [(i["id"], i["counted"]) for i in report["testing_issues"]] == [
        ("BENCH-FAULT-F1", False)]
    assert report["verdict"] == "meets_exit_criteria"


@pytest.mark.parametrize(("extra", "radio", "message"), [
    ("", "deconz", "serves a fake znp or ezsp dongle; there is none for radio.type deconz"),
    ("  database: zigbee.db\n", "znp", "zigpy's database thread is real I/O"),
])
def test_a_fake_port_the_bench_cannot_serve_is_one_line(
        tmp_path: Path, extra: str, radio: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_lab_config(fake_lab(tmp_path, radio, extra=extra), env={})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_fake_port_lab_takes_power_faults_on_any_device_and_refuses_the_rest(
        tmp_path: Path) -> None:
    lab = load_lab_config(fake_lab(tmp_path, "znp"), env={})
    check_faults([parse_fault(f"{kind}:{role}@case:test_x") for role in ROLES
                  for kind in ("power-off", "power-on", "power-cycle")], lab)
    with pytest.raises(FaultError, match="fake:// radio's fake can only switch supplies"):
        check_faults([parse_fault("radio-silent@1h")], lab)


def test_a_fake_port_runs_on_the_virtual_clock_unless_told(tmp_path: Path) -> None:
    lab = load_lab_config(fake_lab(tmp_path, "znp"), env={})
    assert lab.radio.is_fake and lab.clock.mode == "virtual" and not lab.is_emulated
    real = load_lab_config(fake_lab(tmp_path, "ezsp", extra="clock:\n  mode: real\n"), env={})
    assert real.radio.is_fake and real.clock.mode == "real"
