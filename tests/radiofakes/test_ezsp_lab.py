"""A lab config whose radio is the EZSP fake, driven by bellows on the real clock: ``dmct lab
check`` and the smoke pack, as ``test_znp_lab.py`` and ``test_znp_packs.py`` do for zigpy-znp.

Cases that wait minutes of wall time are proved on the virtual clock instead: at CHF level
(``test_ezsp_chf.py``: the 300 s JoinTimePeriod with a rogue trying, a wrong install code, an
unlisted joiner made to leave and reported) and as whole packs on a ``fake://`` lab
(``test_fake_port_packs.py``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from runkit import WHOLE_RUNS

from harness.cli import main
from harness.radiofakes.ezsp_server import EzspFake
from tests.radiofakes.conftest import ROLES, ZnpLab, needs_bellows

pytestmark = [needs_bellows, pytest.mark.slow]

#: Smoke cases left out on this real-clock fake lab: the wrong-install-code case watches 90 s of
#: wall time; the join-outside-the-window case needs a person or a relay to switch a device off,
#: which a fake served from a thread has neither of. Both run in test_fake_port_packs.py.
SMOKE_LEFT_OUT = "not wrong_install_code and not join_outside_the_window"


def test_lab_check_lists_every_device_reachable(ezsp_lab: ZnpLab,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lab", "check", "--lab", str(ezsp_lab.path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "radio ezsp" in out
    for role in ROLES:
        line = next(line for line in out.splitlines() if line.startswith(role))
        assert "joined nwk 0x" in line and "interviewed (Reference Reference" in line, line
    assert "ZigBee register 12345.678" in out
    assert out.rstrip().endswith("all devices reachable")
    timeline = ezsp_lab.served.call(lambda fake: list(fake.tc.timeline))
    joined = [e for e in timeline if e.what == "joined"]
    assert len(joined) == len(ROLES)
    assert all("install_code_only=on" in e.detail for e in joined)
    assert not [e for e in timeline if e.what == "wildcard_key"]
    # When the bench stopped, joining was closed.
    assert not ezsp_lab.served.call(
        lambda fake: fake.tc.permitting(asyncio.get_running_loop().time()))
    assert ezsp_lab.served.call(lambda fake: list(fake.ncp.counters.invalid_commands)) == []


@WHOLE_RUNS  # a whole dmct run on wall time: on two busy cores, more than 120 s
def test_the_smoke_pack_passes_on_the_ezsp_fake(ezsp_lab: ZnpLab, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    code = main(["run", "--lab", str(ezsp_lab.path), "--pack", "smoke", "--status", "dormant",
                 "--out", str(out), "--", "-k", SMOKE_LEFT_OUT])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((out / "REF-DMC-001" / "dormant" / "dmct-report.json").read_text())
    assert report["verdict"] == "meets_exit_criteria"
    outcomes = {c["id"].split("::")[-1]: c["outcome"] for c in report["cases"]}
    joins = {k: v for k, v in outcomes.items() if k.startswith("test_device_joins")}
    assert sorted(joins) == [f"test_device_joins_with_its_install_code_inside_the_window[{r}]"
                             for r in ("ESME", "GSME", "IHD", "PPMID")]
    assert set(joins.values()) == {"passed"}
    # What is not passed is not applicable (no optical probe on a fake lab), never failed.
    assert set(outcomes.values()) <= {"passed", "not_applicable"}, outcomes
    timeline = ezsp_lab.served.call(lambda fake: list(fake.tc.timeline))
    joined = [e for e in timeline if e.what == "joined"]
    assert joined and all("install_code_only=on" in e.detail for e in joined)


def test_lab_devices_come_from_the_lab_config_and_its_secrets(ezsp_lab: ZnpLab) -> None:
    fake = ezsp_lab.served.fake
    assert isinstance(fake, EzspFake)
    euis = sorted(d.eui for d in ezsp_lab.served.call(lambda f: list(f.ncp.devices.values())))
    assert euis == sorted(d.eui64 for d in ezsp_lab.lab.installations[0].devices)
