"""The bench factory: a lab config in, a running bench out (radio, CHF, devices, ports, clock).

Works in a plain script as well as under pytest (pytest-embedded's lesson: the plugin only wires
factories in)::

    from harness.bench import Bench
    from harness.config import load_lab_config, default_lab_config_path

    with Bench.start(load_lab_config(default_lab_config_path())) as bench:
        bench.bring_up()
        print(bench.device("ESME").zigbee.read("metering", "current_summ_delivered"))

What stands behind the bench (virtual radio and emulated devices, or a real dongle and real
meters) is decided by the lab config alone, once: its backend (:mod:`harness.backend`) answers
every question whose answer differs, and a test sees the same objects either way.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import serial
import zigpy.exceptions
from zigpy.application import ControllerApplication

from harness.backend import BenchBackend, PlannedDevice, Power, PowerControl, backend_for
from harness.backend.base import POWER_OFF_S
from harness.clock import BenchClock, ProcessTimeline
from harness.config import ConfigError, InstallCode, LabConfig, SecretStore
from harness.config.types import MeterType
from harness.dcc.keys import Keystore
from harness.faults import BenchFault
from harness.han.chf import Chf, JoinTimePeriodRejected, NotJoined
from harness.han.device import HanDevice
from harness.han.events import HanEventStream, match, normalise_eui
from harness.han.frames import CapturedFrame, FrameLog
from harness.han.mirror import METERING_CLUSTER
from harness.han.radio import RadioStartError
from harness.runtime import BenchRuntime
from harness.serial.console import Console
from harness.serial.iec62056 import Readout, read_meter
from harness.serial.ports import StablePort
from harness.serial.relay import RelayBoard
from harness.text import clip

if TYPE_CHECKING:
    from harness.config.lab import DeviceConfig, SerialAdapterConfig
    from harness.config.profiles import DeviceProfile, Dmc
    from harness.dcc.client import Dcc
    from harness.migration import Migration, MigrationPlan

LOGGER = logging.getLogger(__name__)

#: JoinTimePeriod the bench uses to commission a device when a test does not choose one: within
#: one ZDO permit (at most 254 s), so any CHF serves it whatever its JoinTimePeriod limit.
DEFAULT_JOIN_TIME_PERIOD_S = 240
#: How long to let a device find an open window by itself before power-cycling it (by its relay
#: channel, or on a real bench by a person asked to): a device that gave up trying to join tries
#: again after power-on.
POWER_CYCLE_AFTER_S = 30.0
#: Longest a read of a sleepy meter's mirror waits for the meter's next poll when the mirror
#: does not hold the attributes yet (GSMEs in the field wake at least every 30 minutes).
SLEEPY_POLL_WAIT_S = 1800.0


class NotApplicable(LookupError):
    """The DMC under test has nothing for what a test asked (a role, an optical port)."""


class BenchStartError(RuntimeError):
    """The bench could not start (a missing dongle, a port that is not there)."""


class BenchIncomplete(LookupError):
    """The DMC has what a test asked for but the bench lacks it: the test is blocked."""


@dataclass
class TestEvidence:
    """What one test sent and received on the bench."""

    frames: list[CapturedFrame] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    transcripts: list[Path] = field(default_factory=list)
    #: Service Requests, responses, envelopes and alerts, in order (install codes masked).
    dcc: list[Any] = field(default_factory=list)
    #: What the case said about how it observed (a shortened watch window, say).
    notes: list[str] = field(default_factory=list)


class BenchDevice:
    """One device of the installation under test, reachable over ZigBee and serial."""

    def __init__(
        self,
        bench: Bench,
        installation_id: str,
        config: DeviceConfig,
        profile: DeviceProfile,
        install_code: InstallCode,
        adapters: Mapping[str, SerialAdapterConfig],
        ports: Mapping[str, StablePort],
    ) -> None:
        self._bench = bench
        self.installation_id = installation_id
        self.config = config
        self.role: str = config.role
        self.eui: str = normalise_eui(config.eui64)
        self.profile = profile
        self.install_code = install_code
        self._adapters = dict(adapters)
        self._ports = ports
        self._console: Console | None = None
        #: How the device's supply is switched (a relay channel, or a person asked to), if at all.
        self.power: Power | None = None

    def __repr__(self) -> str:
        return f"BenchDevice({self.role} {self.eui} {self.profile.describe()})"

    # -- ZigBee -----------------------------------------------------------------------------
    @property
    def is_joined(self) -> bool:
        return self._bench.chf.is_joined(self.eui)

    @property
    def zigbee(self) -> HanDevice:
        """The device through the coordinator; raises ``NotJoined`` if it is not on the HAN."""
        return self._bench.chf.device(self.eui)

    def commission(
        self,
        join_time_period_s: int = DEFAULT_JOIN_TIME_PERIOD_S,
        *,
        install_code: InstallCode | None = None,
    ) -> HanDevice:
        """Put the device in the CHF device log, let it join and wait for its interview."""
        chf = self._bench.chf
        if chf.is_joined(self.eui) and self.eui in chf.device_log:
            with contextlib.suppress(NotJoined):
                return chf.wait_for_join(self.eui, 0)
        chf.add_device(self.eui, install_code or self.install_code, join_time_period_s,
                       endpoint=self.profile.zigbee.endpoint)
        # With no way to switch it (an emulated device with no relay channel; a real one has a
        # relay or a person) nothing can make the device try again: wait out the whole window.
        first_wait = (min(float(join_time_period_s), POWER_CYCLE_AFTER_S)
                      if self.power is not None else float(join_time_period_s))
        try:
            return chf.wait_for_join(self.eui, first_wait)
        except NotJoined:
            if self.power is None or join_time_period_s <= first_wait:
                raise
        self.power.cycle()
        remaining = join_time_period_s - first_wait - POWER_OFF_S
        return chf.wait_for_join(self.eui, max(remaining, 1.0))

    def wait_joined(self, timeout: float) -> HanDevice:
        return self._bench.chf.wait_for_join(self.eui, timeout)

    @property
    def is_sleepy(self) -> bool:
        """A sleepy end device: its node descriptor says its receiver is off when idle (a GSME
        in the field). It is read through the CHF's Metering mirror, not over the air."""
        desc = getattr(self.zigbee.zigpy_device, "node_desc", None)
        return desc is not None and not desc.is_receiver_on_when_idle

    def read_metering(self, *names: str) -> dict[str, Any]:
        """Metering attributes of the meter: over the air, or for a sleepy meter from the
        CHF's mirror (what it last pushed there at its poll). A sleepy meter whose mirror does
        not hold them yet is asked over the air; if it sleeps through that, the read waits at
        most one poll (:data:`SLEEPY_POLL_WAIT_S`) for it to report (:class:`MirrorEmpty` if
        it does not)."""
        if not self.is_sleepy:
            return self.zigbee.read("metering", *names)
        mirror = self._bench.chf.mirror(self.eui)
        if all(n in mirror.values for n in names):
            return mirror.read(*names)
        events = self._bench.events
        mark = events.mark()
        try:
            return self.zigbee.read("metering", *names)
        except TimeoutError:
            with contextlib.suppress(TimeoutError):  # then the mirror names what is missing
                events.expect(match("attribute_report", device=self.eui,
                                    cluster=METERING_CLUSTER), SLEEPY_POLL_WAIT_S, since=mark)
        return mirror.read(*names)

    def read_register_kwh(self) -> Decimal:
        """The main register (over ZigBee, or the mirror of a sleepy meter), scaled by the
        meter's multiplier and divisor."""
        values = self.read_metering("current_summ_delivered", "multiplier", "divisor")
        divisor = int(values["divisor"]) or 1
        return Decimal(int(values["current_summ_delivered"]) * int(values["multiplier"])) / divisor

    # -- serial -----------------------------------------------------------------------------
    def _adapter(self, role: str) -> SerialAdapterConfig:
        adapter = self._adapters.get(role)
        if adapter is None:
            raise NotApplicable(f"{self.role} {self.eui} has no {role} port on this bench")
        return adapter

    def _open(self, adapter: SerialAdapterConfig) -> serial.Serial:
        """Open the adapter's port, if it is still the device the bench first found there
        (:class:`~harness.serial.errors.PortVanished`, a bench fault, if not)."""
        return self._ports[adapter.name].open(baudrate=adapter.baudrate, timeout=0.1)

    @property
    def has_optical(self) -> bool:
        return "optical" in self._adapters

    @property
    def has_console(self) -> bool:
        return "console" in self._adapters

    def read_optical(self, timeout: float = 5.0) -> Readout:
        """An IEC 62056-21 data readout through the device's optical probe."""
        adapter = self._adapter("optical")
        transcript = self._bench.transcript_path(f"{self.role.lower()}-optical")
        port = self._open(adapter)
        try:
            with Console(port, name=adapter.name, transcript_path=transcript) as console:
                return read_meter(console.port, transcript=console, timeout=timeout)
        finally:
            self._bench.note_transcript(transcript)

    def write_optical(self, data: bytes) -> None:
        """Write ``data`` to the device's optical port as it is, then let go of the port
        (security testing: malformed input). Whatever the meter answers is only kept in the
        optical transcript; the next :meth:`read_optical` starts afresh."""
        adapter = self._adapter("optical")
        transcript = self._bench.transcript_path(f"{self.role.lower()}-optical")
        port = self._open(adapter)
        try:
            with Console(port, name=adapter.name, transcript_path=transcript) as console:
                console.write(bytes(data))
        finally:
            self._bench.note_transcript(transcript)

    @property
    def console(self) -> Console:
        """The device's debug console (opened on first use, kept open for the run)."""
        if self._console is None:
            adapter = self._adapter("console")
            port = self._open(adapter)
            transcript = self._bench.transcript_path(f"{self.role.lower()}-console")
            self._console = Console(port, name=adapter.name, transcript_path=transcript)
            self._bench.note_transcript(transcript)
        return self._console

    def _switch_transcript(self) -> None:
        if self._console is not None:
            path = self._bench.transcript_path(f"{self.role.lower()}-console")
            self._console.set_transcript(path)
            self._bench.note_transcript(path)

    def close(self) -> None:
        if self._console is not None:
            with contextlib.suppress(Exception):
                self._console.close()
            self._console = None


class Bench:
    """A running bench; build it with :meth:`start`, always :meth:`stop` it (or use ``with``)."""

    def __init__(self, lab: LabConfig, dmc: Dmc, status: str,
                 backend: BenchBackend | None = None) -> None:
        self.lab = lab
        self.catalogue = lab.catalogue
        self.dmc = dmc
        self.status = status
        #: What stands behind the bench (real hardware or the emulator), chosen once.
        self.backend: BenchBackend = backend or backend_for(lab)
        self.runtime: BenchRuntime | None = None
        #: Bench time of process waits (notification periods, rotation windows): slept under
        #: the virtual clock, advanced without sleeping on a real bench.
        self.timeline: ProcessTimeline = None  # type: ignore[assignment]  # set by start()
        self.app: ControllerApplication | None = None
        self.chf: Chf = None  # type: ignore[assignment]  # set by start()
        self.chf_profile: DeviceProfile | None = None
        self.frames = FrameLog()
        self.events: HanEventStream = None  # type: ignore[assignment]
        self.devices: dict[str, BenchDevice] = {}
        self.relays: dict[str, RelayBoard] = {}
        #: Serial ports by adapter name, each bound to the device first found behind it.
        self.ports: dict[str, StablePort] = {}
        #: DCC Users and keys: the test PKI of the bench seed, replaced in _start by the lab
        #: config's dcc Users (Keystore.from_lab) when it has a dcc section.
        self.keystore: Keystore = Keystore.test_pki(lab.seed)
        self._dcc: Dcc | None = None
        self._evidence_dir: Path | None = None
        #: The run's evidence directory (``_evidence_dir`` is the current test's).
        self._evidence_root: Path | None = None
        self._transcripts: list[Path] = []
        self._notes: list[str] = []
        self._marks: tuple[int, int, int] = (0, 0, 0)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        lab: LabConfig,
        *,
        dmc_id: str | None = None,
        status: str | None = None,
        env: Mapping[str, str] | None = None,
        evidence_dir: Path | None = None,
        backend: BenchBackend | None = None,
    ) -> Bench:
        """Bring up the radio and network, the emulated devices if any, and the serial ports.

        Devices are not commissioned here; :meth:`bring_up` (or a test) does that.
        Raises :class:`ConfigError` for configuration problems found now (secrets, ports).
        """
        dmc = lab.catalogue.dmc(dmc_id or lab.dmc_ids[0])
        bench = cls(lab, dmc, status or lab.installation_statuses[0], backend)
        bench._evidence_dir = bench._evidence_root = evidence_dir
        try:
            bench._start(env)
        except BaseException:
            bench.stop()
            raise
        return bench

    def _start(self, env: Mapping[str, str] | None) -> None:
        lab = self.lab
        backend = self.backend
        secrets = SecretStore.load(lab, env)
        if lab.dcc is not None:
            # The lab names its DCC Users: sign as them (before the radio starts, so a bad key
            # is reported at once). Without a dcc section the test PKI of __init__ stays.
            self.keystore = Keystore.from_lab(lab, secrets, lab.seed)
        self.runtime = runtime = backend.make_runtime()
        self.timeline = ProcessTimeline(runtime.clock, runtime.sleep,
                                        watch_s=lab.process.watch_s)
        self.events = HanEventStream(runtime.clock, runtime)
        self.app = app = runtime.call(lambda: backend.make_radio(runtime, self.frames))
        try:
            runtime.run(backend.start_radio(app), timeout=backend.startup_timeout_s)
        except RadioStartError as exc:  # one line: radio, port, likely cause
            self.app = None
            raise BenchStartError(str(exc)) from exc
        except (OSError, TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
            # zigpy has shut the application down already; say which radio, in one line.
            self.app = None
            raise BenchStartError(
                f"radio {backend.describe_radio()} did not start: {type(exc).__name__}: "
                f"{clip(str(exc), 200)}"
            ) from exc
        chf_profile = self.dmc.profile_for("CHF", self.catalogue)
        self.chf = Chf(runtime, app, self.events, join_policy=backend.join_policy(chf_profile),
                       request_timeout=5.0, retries=backend.chf_retries)
        self.chf_profile = chf_profile
        backend.attach(runtime, app, self.keystore)

        installation = lab.installations[0]
        planned: list[PlannedDevice] = []
        for device in installation.devices:
            profile = lab.profile_for(device, self.dmc.id)
            if profile is None:
                continue  # this DMC has no device in that role
            planned.append(PlannedDevice(device, profile, backend.install_code(device, secrets)))
        backend.start_devices(runtime, planned)
        # The ports of the devices taking part, and the relay boards.
        used = [a for item in planned for a in lab.adapters_for(item.config).values()]
        used += [a for a in lab.serial_adapters if a.role == "relay"]
        self.ports = ports = {adapter.name: StablePort(backend.port_spec(adapter), adapter.name)
                              for adapter in used}
        for stable in ports.values():
            stable.bind()  # the devices behind the ports now are the ones the run may open
        for item in planned:
            self.devices[item.config.role] = BenchDevice(
                self, installation.id, item.config, item.profile, item.install_code,
                lab.adapters_for(item.config), ports,
            )
        for adapter in lab.serial_adapters:
            if adapter.role == "relay":
                port = ports[adapter.name].open(baudrate=adapter.baudrate, timeout=0.1)
                self.relays[adapter.name] = RelayBoard(port, channels=adapter.channels,
                                                       name=adapter.name)
        for item in planned:
            self.devices[item.config.role].power = backend.power(item.config, runtime,
                                                                 self.relays)

    # -- use --------------------------------------------------------------------------------
    @property
    def clock(self) -> BenchClock:
        assert self.runtime is not None
        return BenchClock(self.runtime.clock, self.runtime.sleep)

    @property
    def is_emulated(self) -> bool:
        return self.backend.is_emulated

    @property
    def dormant_meter(self) -> MeterType:
        """The dormant meter when the installation is mixed (the lab config installation's
        ``dormant_meter``): the DCC's registration data start from it."""
        return self.lab.installations[0].dormant_meter

    @property
    def _emulator(self) -> Any:
        """The emulator behind an emulated bench (``None`` on a real one): for the harness's
        own tests to inject faults; packs never reach for it."""
        return getattr(self.backend, "emulator", None)

    def device(self, role: str) -> BenchDevice:
        """The installation's device in ``role``.

        Raises :class:`NotApplicable` when the DMC under test has no device in that role, and
        :class:`BenchIncomplete` when it has one but this bench does not (a test that needs it
        is then blocked, not inapplicable).
        """
        try:
            return self.devices[role]
        except KeyError:
            if role in self.dmc.roles:
                raise BenchIncomplete(
                    f"DMC {self.dmc.id} has a {role} but bench {self.lab.bench} has none in "
                    f"installation {self.lab.installations[0].id}"
                ) from None
            raise NotApplicable(f"DMC {self.dmc.id} has no {role}") from None

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of bench time pass (instant under the virtual clock)."""
        assert self.runtime is not None
        self.runtime.sleep(seconds)

    def bring_up(
        self, join_time_period_s: int = DEFAULT_JOIN_TIME_PERIOD_S
    ) -> dict[str, HanDevice | Exception]:
        """Commission every device of the installation; per role, the device or the error."""
        results: dict[str, HanDevice | Exception] = {}
        for role, device in self.devices.items():
            try:
                results[role] = device.commission(join_time_period_s)
            except (NotJoined, TimeoutError, JoinTimePeriodRejected, BenchFault) as exc:
                results[role] = exc  # BenchFault: nobody could power-cycle it
        return results

    # -- cases ------------------------------------------------------------------------------
    def begin_case(self, case_id: str) -> None:
        """A case (or a module's fixture) begins: on an emulated bench, derive the emulator's
        randomness from the lab seed, each device and ``case_id``, so what the case meets does
        not depend on the cases that ran before it. Nothing to do on a real bench."""
        if self.runtime is not None:
            self.backend.begin_case(self.runtime, case_id)

    # -- evidence ---------------------------------------------------------------------------
    def begin_test(self, evidence_dir: Path | None) -> None:
        """Start collecting evidence for one test (frames, events, serial transcripts)."""
        self._evidence_dir = evidence_dir
        self._transcripts = []
        self._notes = []
        dcc_mark = self._dcc.evidence.mark() if self._dcc is not None else 0
        if self._dcc is not None:
            # Its SRs' Allure steps point into the case's dcc.json, if one is written.
            self._dcc.case_evidence = evidence_dir is not None
        self._marks = (self.frames.mark(), self.events.mark(), dcc_mark)
        for device in self.devices.values():
            device._switch_transcript()

    def end_test(self) -> TestEvidence:
        frames_mark, events_mark, dcc_mark = self._marks
        if self._dcc is not None:
            self._dcc.case_evidence = False
        return TestEvidence(
            frames=self.frames.since(frames_mark),
            events=self.events.since(events_mark),
            # A console that said nothing and was sent nothing in the case made no file.
            transcripts=[p for p in dict.fromkeys(self._transcripts) if p.exists()],
            dcc=self._dcc.evidence.since(dcc_mark) if self._dcc is not None else [],
            notes=list(self._notes),
        )

    def note(self, text: str) -> None:
        """Put a line in the current case's evidence (how it observed, when that matters)."""
        self._notes.append(text)

    def transcript_path(self, name: str) -> Path:
        base = self._evidence_dir or (self.lab.output_dir / "transcripts")
        return base / f"{_safe(name)}.log"  # its directory made with the file

    def note_transcript(self, path: Path) -> None:
        self._transcripts.append(path)

    # -- shutdown ---------------------------------------------------------------------------
    @property
    def dcc(self) -> Dcc:
        """The DCC side of the bench (S1SP model, keys, inventory, alerts), made on first use.

        Made after the devices are commissioned, it opens a tunnel to each meter, where
        devices send their alerts.
        """
        if self._dcc is None:
            from harness.dcc.client import Dcc

            profiles = {d.eui: d.profile for d in self.devices.values()}
            if self.chf_profile is not None:
                profiles[self.chf.eui] = self.chf_profile
            wrap = self.backend.adapter_wrapper(profiles)
            self._dcc = Dcc.for_bench(self, keystore=self.keystore, wrap_adapter=wrap)
            self._dcc.start()
        return self._dcc

    def migration(
        self,
        plan: MigrationPlan,
        *,
        before_step: dict[str, Callable[[], None]] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> Migration:
        """A migration of this bench's installation, wired with only what it uses."""
        from harness.migration import Migration

        return Migration(self.dcc, plan, timeline=self.timeline, devices=self.devices,
                         before_step=before_step, on_failure=on_failure)

    def stop(self) -> None:
        """Close ports, shut zigpy down (always: its DB thread would keep pytest alive) and
        stop the loop. Idempotent."""
        if self._dcc is not None:
            self._dcc.close()
        for device in self.devices.values():
            device.close()
        for board in self.relays.values():
            with contextlib.suppress(Exception):
                board.close()
        for stable in self.ports.values():
            stable.close()
        runtime = self.runtime
        if runtime is not None:
            with contextlib.suppress(Exception):
                self.backend.close(runtime)
            if self.app is not None:
                with contextlib.suppress(Exception):
                    runtime.run(self.app.shutdown(), timeout=30.0)
            with contextlib.suppress(Exception):
                self.backend.release(runtime, self._evidence_root)
            runtime.shutdown()
        self.app = None

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]


__all__ = [
    "DEFAULT_JOIN_TIME_PERIOD_S",
    "Bench",
    "BenchDevice",
    "BenchIncomplete",
    "BenchStartError",
    "ConfigError",
    "NotApplicable",
    "PowerControl",
    "TestEvidence",
]
