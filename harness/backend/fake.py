"""A bench whose radio is the project's byte-level fake of its dongle (``radio.port: fake://``).

The real radio library of the lab's radio type (zigpy-znp for ``znp``, bellows for ``ezsp``)
drives :mod:`harness.radiofakes`' fake of that dongle, served on loopback in the bench's own event
loop, with the lab's installation as the fake's scripted devices. Loopback bytes are readable at
once, so the loop never jumps bench time past an answer in flight: on the virtual clock a
JoinTimePeriod of 300 s or a 90 s refusal watch costs no wall time, and whole packs run through
the real radio libraries in seconds. The fake switches a device's supply (its ``power_off`` and
``power_on``), so every device has what a real bench needs a relay channel for.

Everything else is the real bench's (:class:`~harness.backend.real.RealBackend`): install codes
from the secrets file, the CHF's retries, the start-up checks of the dongle's network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.backend.base import POWER_OFF_S, BackendKind, Power
from harness.backend.real import RealBackend
from harness.radiofakes.devices import open_spans
from harness.radiofakes.lab import LAB_JOIN_RETRY_S, RadioFake, make_fake, scripted_device
from harness.runtime import BenchRuntime

if TYPE_CHECKING:
    from harness.backend.base import PlannedDevice
    from harness.config import LabConfig
    from harness.config.lab import DeviceConfig, SerialAdapterConfig
    from harness.serial.ports import PortSpec
    from harness.serial.relay import RelayBoard

#: Bench seconds between join attempts of a scripted device on the virtual clock (each attempt
#: is a round of frames through the radio library; wall time is what the real clock's 0.2 s
#: saves).
VIRTUAL_JOIN_RETRY_S = 2.0
#: The fake trust centre's timeline, written to the run's evidence directory at the end.
FAKE_RADIO_EVIDENCE = "fake-radio-trust-centre.json"


class FakeRadioBackend(RealBackend):
    """The radio library on the fake dongle, served in the bench loop, on either clock."""

    kind: ClassVar[BackendKind] = "fake"
    #: The fake answers in the loop; on the virtual clock a bound on the radio library's wall
    #: I/O (serialx opens the socket in an executor thread) would fire at once.
    startup_timeout_s: ClassVar[float | None] = None

    def __init__(self, lab: LabConfig) -> None:
        super().__init__(lab)
        self.fake: RadioFake | None = None
        #: The fake's ``socket://127.0.0.1:PORT``, once served.
        self.url = ""

    def make_runtime(self) -> BenchRuntime:
        clock = self.lab.clock
        virtual = clock.mode == "virtual"
        runtime = BenchRuntime(virtual=virtual,
                               **({"start": clock.start} if virtual and clock.start else {}))
        retry_s = VIRTUAL_JOIN_RETRY_S if virtual else LAB_JOIN_RETRY_S
        try:
            fake = runtime.call(lambda: make_fake(self.lab.radio.type, join_retry_s=retry_s))
            self.url = runtime.run(fake.serve())
        except BaseException:
            runtime.shutdown()
            raise
        self.fake = fake
        return runtime

    def radio_path(self) -> str:
        return self.url

    def describe_port(self) -> str:
        return f"its fake, served in the bench loop ({self.url or 'not served yet'})"

    def start_devices(self, runtime: BenchRuntime, planned: list[PlannedDevice]) -> None:
        fake = self._fake()
        devices = [scripted_device(p.config, p.profile, p.install_code) for p in planned]
        runtime.call(lambda: [fake.add_device(device) for device in devices])

    def port_spec(self, adapter: SerialAdapterConfig) -> PortSpec:
        raise RuntimeError(f"serial adapter {adapter.name}: a fake:// radio's devices have no "
                           "serial ports (load_lab_config refuses them)")

    def power(
        self, device: DeviceConfig, runtime: BenchRuntime, relays: Mapping[str, RelayBoard]
    ) -> Power | None:
        power = FakePower(self._fake(), device.eui64, runtime)
        self.supplies[device.role] = power
        return power

    def release(self, runtime: BenchRuntime, evidence_dir: Path | None) -> None:
        """Close the fake; its trust centre's timeline (every permit, install-code-only change,
        join, refusal and leave, at bench time) is the run's evidence of what the CHF opened."""
        fake = self.fake
        if fake is None:
            return
        if evidence_dir is not None:
            record = runtime.call(lambda: trust_centre_record(fake, self.lab.radio.type))
            evidence_dir.mkdir(parents=True, exist_ok=True)
            (evidence_dir / FAKE_RADIO_EVIDENCE).write_text(json.dumps(record, indent=1) + "\n",
                                                            encoding="utf-8")
        runtime.run(fake.close(), timeout=30.0)

    def _fake(self) -> RadioFake:
        assert self.fake is not None, "make_runtime() first"
        return self.fake


def trust_centre_record(fake: RadioFake, radio_type: str) -> dict[str, Any]:
    """The fake trust centre's timeline as JSON, with when joining was open and whether it is
    open still (run on the fake's loop)."""
    now = asyncio.get_running_loop().time()
    timeline = list(fake.tc.timeline)
    return {
        "radio": radio_type,
        "now": now,
        "timeline": [{"time": e.time, "what": e.what, "detail": e.detail} for e in timeline],
        "open_spans": [{"start": a, "end": b, "install_code_only": ic}
                       for a, b, ic in open_spans(timeline, now)],
        "open_at_end": fake.tc.permitting(now),
    }


class FakePower:
    """A scripted device's supply, switched in the fake (what a relay channel does on a bench):
    off, it neither answers nor joins; on again, a device that was on the network rejoins it and
    any other tries to join."""

    def __init__(self, fake: RadioFake, eui: str, runtime: BenchRuntime) -> None:
        self._fake = fake
        self._eui = eui
        self._runtime = runtime

    def on(self) -> None:
        self._runtime.call(lambda: self._fake.power_on(self._eui))
        self._runtime.sleep(0)

    def off(self) -> None:
        self._runtime.call(lambda: self._fake.power_off(self._eui))
        self._runtime.sleep(0)

    def cycle(self, off_seconds: float = POWER_OFF_S) -> None:
        self.off()
        self._runtime.sleep(off_seconds)
        self.on()
