"""``dmct lab check`` on a lab whose radio is the EZSP fake, driven by bellows.

The lab config names the fake exactly as a lab names a dongle behind a TCP serial bridge
(``radio: {type: ezsp, port: socket://...}``); install codes come from environment variables.
The scripted devices join when the CHF opens joining for them, as a device left in joining mode
does, and answer the interview and the register reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.radiofakes.devices import ScriptedDevice, smart_energy_device
from harness.radiofakes.ezsp_server import EzspFakeServer
from tests.radiofakes.conftest import needs_bellows

pytestmark = [needs_bellows, pytest.mark.slow]

#: Made-up install codes for this test (16 bytes + CRC-16/X-25).
ESME_CODE = "83FED3407A939723A5C639B26916D505C3B5"
GSME_CODE = "887766554433221100112233445566776262"
ESME_EUI = "00-1B-C5-0C-00-00-20-01"
GSME_EUI = "00-1B-C5-0C-00-00-20-02"


def _devices() -> list[ScriptedDevice]:
    esme = smart_energy_device(ESME_EUI, bytes.fromhex(ESME_CODE), manufacturer="Reference",
                               model="Reference ESME",
                               metering={"current_summ_delivered": 12345678, "divisor": 1000})
    # A sleepy gas meter: it takes frames from its parent when it polls.
    gsme = smart_energy_device(GSME_EUI, bytes.fromhex(GSME_CODE), manufacturer="Reference",
                               model="Reference GSME", metering={"current_summ_delivered": 4567},
                               rx_on_when_idle=False, poll_interval_s=0.2)
    return [esme, gsme]


@pytest.fixture
def fake() -> Iterator[EzspFakeServer]:
    server = EzspFakeServer(_devices(), auto_join=True, join_retry_s=0.2).start()
    try:
        yield server
    finally:
        server.stop()


def test_lab_check_lists_every_device_reachable_through_bellows(
    fake: EzspFakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DMCT_TEST_ESME_CODE", ESME_CODE)
    monkeypatch.setenv("DMCT_TEST_GSME_CODE", GSME_CODE)
    lab = tmp_path / "ezsp-fake.yaml"
    lab.write_text(f"""\
bench: ezsp-fake
radio: {{type: ezsp, port: "{fake.url}", channel: 15, pan_id: 0x1A62}}
installations:
  - id: home-1
    devices:
      - role: ESME
        eui64: {ESME_EUI}
        install_code: {{env: DMCT_TEST_ESME_CODE}}
      - role: GSME
        eui64: {GSME_EUI}
        install_code: {{env: DMCT_TEST_GSME_CODE}}
dmc: REF-DMC-001
installation_status: [dormant]
clock: {{mode: real}}
output_dir: {tmp_path / "out"}
""")
    assert main(["lab", "check", "--lab", str(lab)]) == 0
    out = capsys.readouterr().out
    assert "radio ezsp" in out
    assert f"ESME   {ESME_EUI}  joined nwk 0x" in out
    assert "interviewed (Reference Reference ESME); ZigBee register 12345.678" in out
    assert f"GSME   {GSME_EUI}  joined nwk 0x" in out
    assert "interviewed (Reference Reference GSME); ZigBee register 4.567" in out
    assert "all devices reachable" in out
    # Install codes never reach the output.
    assert ESME_CODE not in out.upper() and GSME_CODE not in out.upper()
    # Each device joined once. (Whether joining stayed install-code-only is timing-dependent
    # on the real clock; test_ezsp_chf.py checks it on the virtual clock.)
    joins = [e for e in fake.timeline() if e.what == "joined"]
    assert sorted(e.detail.split()[0] for e in joins) == [ESME_EUI, GSME_EUI]
    assert fake.invalid_commands() == []
