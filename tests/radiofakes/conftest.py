"""The harness against the byte-level ZNP fake through zigpy-znp.

``znp_han``: zigpy-znp and the CHF on a virtual-clock bench loop, the fake served in that same
loop on ``socket://127.0.0.1:PORT`` (loopback bytes are readable at once, so the loop never
jumps time past an answer in flight): JoinTimePeriods of minutes cost no wall time.
``znp_lab``: a lab config (radio ``znp`` on the fake's port, real clock, install codes from a
secrets file) with the fake served from a thread, for ``dmct lab check`` and whole packs;
``ezsp_lab`` the same with radio ``ezsp`` and the EZSP fake, driven by bellows.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.config import InstallCode, load_lab_config
from harness.config.lab import LabConfig
from harness.han.chf import Chf
from harness.han.events import HanEventStream
from harness.han.frames import FrameLog
from harness.han.radio import NetworkWanted, real_radio_class, start_radio, zigpy_config
from harness.radiofakes.devices import ScriptedDevice, smart_energy_device
from harness.radiofakes.lab import ServedFake, devices_for_lab
from harness.radiofakes.znp import ZnpFake
from harness.runtime import BenchRuntime

ROLES = ("ESME", "GSME", "PPMID", "IHD")

#: Mark for the tests that drive zigpy-znp: skipped without the ``znp`` extra, except in CI
#: (``DMCT_REQUIRE_TOOLS``, set by ``.ci/run``, which installs it), where they must run.
needs_znp = pytest.mark.skipif(
    importlib.util.find_spec("zigpy_znp") is None and not os.environ.get("DMCT_REQUIRE_TOOLS"),
    reason="zigpy-znp is not installed (pip install 'smets1-dmct[znp]')")
#: The same for bellows (the ``ezsp`` extra).
needs_bellows = pytest.mark.skipif(
    importlib.util.find_spec("bellows") is None and not os.environ.get("DMCT_REQUIRE_TOOLS"),
    reason="bellows is not installed (pip install 'smets1-dmct[ezsp]')")


def code_for(index: int) -> InstallCode:
    return InstallCode.with_crc(bytes([0x10 + index] * 16))


def scripted(index: int, **options: object) -> ScriptedDevice:
    """Device ``index``: EUI ...:0<index>, its own install code, a Metering server."""
    return smart_energy_device(
        f"00-1B-C5-0C-00-00-00-{index:02X}", bytes.fromhex(code_for(index).reveal()),
        manufacturer="Fake", model=f"Fake {index}", metering={"current_summ_delivered": 1234},
        **options)  # type: ignore[arg-type]


@dataclass
class ZnpHan:
    """zigpy-znp, the CHF and the fake on one virtual-clock loop."""

    runtime: BenchRuntime
    fake: ZnpFake
    chf: Chf
    events: HanEventStream
    url: str
    frames: FrameLog = field(default_factory=FrameLog)

    def now(self) -> float:
        return self.runtime.clock.monotonic()

    def sleep(self, seconds: float) -> None:
        self.runtime.sleep(seconds)

    def in_loop(self, function):  # type: ignore[no-untyped-def]
        return self.runtime.call(lambda: function(self.fake))


def start_znp_han(devices: list[ScriptedDevice], *, nvram: dict | None = None,
                  wanted: NetworkWanted | None = None,
                  database: Path | None = None, virtual: bool = True) -> ZnpHan:
    """``virtual=False`` with a ``database``: aiosqlite's thread is real I/O, which the
    virtual clock would time out at once."""
    runtime = BenchRuntime(virtual=virtual)
    try:
        fake = ZnpFake(devices, nvram=nvram, join_retry_s=2.0 if virtual else 0.1)
        url = runtime.run(fake.serve())
        frames = FrameLog()
        wanted_ = wanted or NetworkWanted(15, 0x1A62)

        def make():  # type: ignore[no-untyped-def]
            app = real_radio_class("znp")(zigpy_config(
                path=url, radio_type="znp", database=str(database) if database else None,
                channel=wanted_.channel, pan_id=wanted_.pan_id))
            app.attach_bench(runtime.clock, frames)  # type: ignore[attr-defined]
            return app

        app = runtime.call(make)
        runtime.run(start_radio(app, radio_type="znp", where=url,
                                wanted=wanted_))
        events = HanEventStream(runtime.clock, runtime)
        chf = Chf(runtime, app, events, request_timeout=5.0, retries=2)
        return ZnpHan(runtime, fake, chf, events, url, frames)
    except BaseException:
        runtime.shutdown()
        raise


def stop_znp_han(han: ZnpHan) -> None:
    try:
        han.runtime.run(han.chf.app.shutdown(), timeout=30)
        han.runtime.run(han.fake.close(), timeout=30)
    finally:
        han.runtime.shutdown()


@pytest.fixture
def znp_han() -> Iterator[ZnpHan]:
    """Devices 1..4 in range of a started ZNP fake; none in the device log yet."""
    han = start_znp_han([scripted(i) for i in range(1, 5)])
    try:
        yield han
    finally:
        stop_znp_han(han)


# -- a lab on the fake ------------------------------------------------------------------------


def lab_text(port: int | str, root: Path, *, extra_radio: str = "", radio: str = "znp") -> str:
    devices = "".join(
        f"      - role: {role}\n        eui64: 00-1B-C5-0C-00-00-00-{i:02X}\n"
        f"        install_code: {{secret: {role.lower()}}}\n"
        for i, role in enumerate(ROLES, 1))
    return (f"bench: {radio}-fake\nradio:\n  type: {radio}\n  port: socket://127.0.0.1:{port}\n"
            f"  channel: 15\n  pan_id: 0x1A62\n{extra_radio}"
            f"installations:\n  - id: home-1\n    devices:\n{devices}"
            "dmc: [REF-DMC-001]\ninstallation_status: [dormant]\n"
            f"secrets_file: {root / 'secrets.yaml'}\noutput_dir: {root / 'out'}\n")


@dataclass
class ZnpLab:
    path: Path
    lab: LabConfig
    served: ServedFake


def served_lab(tmp_path: Path, radio: str) -> Iterator[ZnpLab]:
    """A real-clock lab config whose radio is the ``radio`` fake (served from a thread)
    holding the installation's devices with the secrets file's install codes."""
    secrets = "install_codes:\n" + "".join(
        f'  {role.lower()}: "{code_for(i).reveal()}"\n' for i, role in enumerate(ROLES, 1))
    (tmp_path / "secrets.yaml").write_text(secrets)
    path = tmp_path / "lab.yaml"
    path.write_text(lab_text(1, tmp_path, radio=radio))
    served = ServedFake(devices_for_lab(load_lab_config(path, env={})), radio=radio)
    served.start()
    try:
        path.write_text(re.sub(r"socket://127.0.0.1:\d+", served.url, path.read_text()))
        yield ZnpLab(path, load_lab_config(path, env={}), served)
    finally:
        served.stop()


@pytest.fixture
def znp_lab(tmp_path: Path) -> Iterator[ZnpLab]:
    """A real-clock lab on the ZNP fake (see :func:`served_lab`)."""
    yield from served_lab(tmp_path, "znp")


@pytest.fixture
def ezsp_lab(tmp_path: Path) -> Iterator[ZnpLab]:
    """A real-clock lab on the EZSP fake, driven by bellows (see :func:`served_lab`)."""
    yield from served_lab(tmp_path, "ezsp")
