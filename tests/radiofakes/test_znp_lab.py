"""A lab config whose radio is the ZNP fake: ``dmct lab check``, start-up failures, the
dongle's network against the lab config, zigpy's database kept across benches."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import zigpy.types as t

from harness.bench import Bench, BenchStartError
from harness.cli import main
from harness.config import load_lab_config
from harness.han.radio import (
    NetworkWanted,
    RadioStartError,
    real_radio_class,
    start_radio,
    zigpy_config,
)
from harness.radiofakes.lab import ServedFake, devices_for_lab
from harness.radiofakes.znp import ZnpFake
from harness.runtime import BenchRuntime
from tests.radiofakes.conftest import (
    ROLES,
    ZnpLab,
    code_for,
    needs_znp,
    scripted,
    start_znp_han,
    stop_znp_han,
)

pytestmark = needs_znp


def test_lab_check_lists_every_device_reachable(znp_lab: ZnpLab,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lab", "check", "--lab", str(znp_lab.path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "radio znp" in out
    for role in ROLES:
        line = next(line for line in out.splitlines() if line.startswith(role))
        assert "joined nwk 0x" in line and "interviewed (Reference Reference" in line, line
    assert "ZigBee register 12345.678" in out
    assert out.rstrip().endswith("all devices reachable")
    # Bring-up opened one window per device; when the bench stopped, joining was closed.
    timeline = znp_lab.served.call(lambda fake: list(fake.tc.timeline))
    assert timeline[-1].what == "install_code_only" or timeline[-1].what == "permit"
    assert not znp_lab.served.call(
        lambda fake: fake.tc.permitting(asyncio.get_running_loop().time()))


def test_lab_check_on_a_port_nobody_serves_is_one_line(tmp_path: Path, znp_lab: ZnpLab,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    url = znp_lab.served.url
    znp_lab.served.stop()  # the dongle is gone
    code = main(["lab", "check", "--lab", str(znp_lab.path)])
    out = capsys.readouterr()
    assert code == 1
    lines = out.out.strip().splitlines()
    assert len(lines) == 1, out.out
    assert lines[0].startswith("bench znp-fake: NOT STARTED: BenchStartError: radio znp on "
                               f"URL {url} did not start (ConnectionRefusedError")
    assert "nothing listens on that address" in lines[0]
    assert "Traceback" not in out.err


def _znp_app(url: str):  # type: ignore[no-untyped-def]
    return real_radio_class("znp")(zigpy_config(path=url, radio_type="znp"))


def test_a_dongle_that_never_answers_is_one_line_naming_the_likely_cause() -> None:
    runtime = BenchRuntime(virtual=True)
    try:
        async def silent() -> str:
            server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
            host, port = server.sockets[0].getsockname()[:2]
            return f"socket://{host}:{port}"

        url = runtime.run(silent())
        app = runtime.call(lambda: _znp_app(url))
        with pytest.raises(RadioStartError) as info:
            runtime.run(start_radio(app, radio_type="znp", where=url,
                                    wanted=NetworkWanted(15, 0x1A62)))
    finally:
        runtime.shutdown()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"radio znp on {url} did not start (TimeoutError)")
    assert "no answer from the dongle" in message and "is it a znp dongle?" in message


def test_a_dongle_holding_another_network_is_refused_naming_both_then_replaced() -> None:
    han = start_znp_han([], wanted=NetworkWanted(20, 0x1234))
    nvram = han.fake.nvram
    stop_znp_han(han)  # the dongle now holds PAN 0x1234 on channel 20

    han = start_znp_han([], nvram=nvram, wanted=NetworkWanted(20, 0x1234))
    assert han.fake.network is not None and han.fake.network[:2] == (20, 0x1234)
    stop_znp_han(han)

    with pytest.raises(RadioStartError) as info:
        start_znp_han([], nvram=nvram, wanted=NetworkWanted(15, 0x1A62))
    message = str(info.value)
    assert "\n" not in message
    assert "holds another network (PAN 0x1234" in message and "channel 20" in message
    assert "asks for PAN 0x1A62" in message and "radio.form: replace" in message

    han = start_znp_han([], nvram=nvram, wanted=NetworkWanted(15, 0x1A62, form="replace"))
    try:
        assert han.fake.network is not None and han.fake.network[:2] == (15, 0x1A62)
        assert han.chf.app.state.network_info.pan_id == 0x1A62
    finally:
        stop_znp_han(han)


def test_zigpy_database_is_loaded_and_kept_across_benches(tmp_path: Path) -> None:
    database = tmp_path / "zigpy.db"
    han = start_znp_han([scripted(1)], database=database, virtual=False)
    han.chf.add_device("00-1B-C5-0C-00-00-00-01", code_for(1), 240)
    han.chf.wait_for_join("00-1B-C5-0C-00-00-00-01", 240)
    nvram = han.fake.nvram
    stop_znp_han(han)

    han = start_znp_han([], nvram=nvram, database=database, virtual=False)
    try:
        # Known from the database: joined and interviewed before, no join needed now.
        assert han.chf.is_joined("00-1B-C5-0C-00-00-00-01")
        device = han.chf.app.get_device(ieee=t.EUI64.convert("00:1b:c5:0c:00:00:00:01"))
        assert device.model == "Fake 1" and device.is_initialized
    finally:
        stop_znp_han(han)


def test_a_bench_on_a_dongle_with_another_network_does_not_start(znp_lab: ZnpLab,
                                                                 tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(znp_lab.path.read_text().replace("pan_id: 0x1A62", "pan_id: 0x2B73"))
    with Bench.start(znp_lab.lab) as bench:  # forms PAN 0x1A62 on the dongle
        assert bench.app is not None
    with pytest.raises(BenchStartError, match=r"holds another network \(PAN 0x1A62"):
        Bench.start(load_lab_config(other, env={}))
    replace = tmp_path / "replace.yaml"
    replace.write_text(re.sub("pan_id: 0x1A62", "pan_id: 0x2B73\n  form: replace",
                              znp_lab.path.read_text()))
    with Bench.start(load_lab_config(replace, env={})) as bench:
        assert bench.app is not None and bench.app.state.network_info.pan_id == 0x2B73


def test_lab_devices_come_from_the_lab_config_and_its_secrets(znp_lab: ZnpLab) -> None:
    devices = devices_for_lab(znp_lab.lab, env={})
    assert [d.eui for d in devices] == [f"00-1B-C5-0C-00-00-00-0{i}" for i in range(1, 5)]
    assert all(d.own_key() is not None for d in devices)
    assert isinstance(znp_lab.served, ServedFake) and isinstance(znp_lab.served.fake, ZnpFake)
