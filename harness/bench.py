"""The bench factory: a lab config in, a running bench out (radio, CHF, devices, ports, clock).

Works in a plain script as well as under pytest (pytest-embedded's lesson: the plugin only wires
factories in)::

    from harness.bench import Bench
    from harness.config import load_lab_config, default_lab_config_path

    with Bench.start(load_lab_config(default_lab_config_path())) as bench:
        bench.bring_up()
        print(bench.device("ESME").zigbee.read("metering", "current_summ_delivered"))

What stands behind the bench (virtual radio and emulated devices, or a real dongle and real
meters) is decided by the lab config alone; a test sees the same objects either way.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zigpy.exceptions
from zigpy.application import ControllerApplication

from harness.clock import BenchClock
from harness.config import ConfigError, InstallCode, LabConfig, SecretStore
from harness.config.types import PortSpec
from harness.dcc.keys import Keystore
from harness.han.chf import Chf, JoinTimePeriodPolicy, JoinTimePeriodRejected, NotJoined
from harness.han.device import HanDevice
from harness.han.events import HanEventStream, normalise_eui
from harness.han.frames import CapturedFrame, FrameLog
from harness.han.radio import real_radio_class, zigpy_config
from harness.runtime import BenchCallTimeout, BenchRuntime
from harness.serial.console import Console
from harness.serial.iec62056 import Readout, read_meter
from harness.serial.ports import open_port
from harness.serial.relay import RelayBoard

if TYPE_CHECKING:
    from harness.config.lab import DeviceConfig, SerialAdapterConfig
    from harness.config.profiles import DeviceProfile, Dmc
    from harness.dcc.adapters import DeviceAdapter
    from harness.dcc.client import Dcc
    from harness.emulator.emulator import Emulator

LOGGER = logging.getLogger(__name__)

#: JoinTimePeriod the bench uses to commission a device when a test does not choose one: within
#: one ZDO permit (at most 254 s), so any CHF serves it whatever its JoinTimePeriod limit.
DEFAULT_JOIN_TIME_PERIOD_S = 240
#: How long to let a device find an open window by itself before power-cycling it (if it has a
#: relay channel): a device that gave up trying to join tries again after power-on.
POWER_CYCLE_AFTER_S = 30.0
POWER_OFF_S = 2.0
#: The emulated relay board reads a frame within microseconds; give up after about 5 s.
EMULATED_RELAY_POLL_S = 0.001
EMULATED_RELAY_POLLS = 5000


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


class PowerControl:
    """A device's supply, switched by a relay board channel."""

    def __init__(
        self,
        board: RelayBoard,
        channel: int,
        runtime: BenchRuntime,
        *,
        frames_read: Callable[[], int] | None = None,
    ) -> None:
        self.board = board
        self.channel = channel
        self._runtime = runtime
        #: Emulated board only: how many frames it has read so far.
        self._frames_read = frames_read

    def on(self) -> None:
        self.board.on(self.channel)
        self._settle()

    def off(self) -> None:
        self.board.off(self.channel)
        self._settle()

    def cycle(self, off_seconds: float = POWER_OFF_S) -> None:
        """Power off, wait ``off_seconds`` of bench time, power on."""

        def _sleep(seconds: float) -> None:
            self._settle()  # the device is off before its off-time starts
            self._runtime.sleep(seconds)

        self.board.power_cycle(self.channel, off_seconds, sleep=_sleep)
        self._settle()

    def _settle(self) -> None:
        # The relay frame travels over a serial line; on the emulated bench the board acts when
        # the loop reads it from its pty, which the kernel may hand over a little later. Bench
        # time must not run on before that (it would switch the device late, or on before off),
        # so wait, bench time standing still, until the board has read every frame sent.
        if self._frames_read is not None:
            pause = threading.Event()
            for _ in range(EMULATED_RELAY_POLLS):
                if self._frames_read() >= len(self.board.log):
                    break
                pause.wait(EMULATED_RELAY_POLL_S)
            else:
                raise BenchCallTimeout(f"emulated relay board {self.board.name} did not read "
                                       "the frames sent to it")
        self._runtime.sleep(0)


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
        port_paths: Mapping[str, str],
    ) -> None:
        self._bench = bench
        self.installation_id = installation_id
        self.config = config
        self.role: str = config.role
        self.eui: str = normalise_eui(config.eui64)
        self.profile = profile
        self.install_code = install_code
        self._adapters = dict(adapters)
        self._port_paths = port_paths
        self._console: Console | None = None
        self.power: PowerControl | None = None

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
        first_wait = min(float(join_time_period_s), POWER_CYCLE_AFTER_S)
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

    def read_register_kwh(self) -> Decimal:
        """The main register over ZigBee, scaled by the meter's multiplier and divisor."""
        values = self.zigbee.read("metering", "current_summ_delivered", "multiplier", "divisor")
        divisor = int(values["divisor"]) or 1
        return Decimal(int(values["current_summ_delivered"]) * int(values["multiplier"])) / divisor

    # -- serial -----------------------------------------------------------------------------
    def _adapter(self, role: str) -> SerialAdapterConfig:
        adapter = self._adapters.get(role)
        if adapter is None:
            raise NotApplicable(f"{self.role} {self.eui} has no {role} port on this bench")
        return adapter

    def _port_spec(self, adapter: SerialAdapterConfig) -> PortSpec:
        if adapter.is_emulated:
            return PortSpec(path=self._port_paths[adapter.name])
        spec = adapter.port_spec
        assert spec is not None
        return spec

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
        port = open_port(self._port_spec(adapter), baudrate=adapter.baudrate, timeout=0.1)
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
        port = open_port(self._port_spec(adapter), baudrate=adapter.baudrate, timeout=0.1)
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
            port = open_port(self._port_spec(adapter), baudrate=adapter.baudrate, timeout=0.1)
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

    def __init__(self, lab: LabConfig, dmc: Dmc, status: str) -> None:
        self.lab = lab
        self.catalogue = lab.catalogue
        self.dmc = dmc
        self.status = status
        self.runtime: BenchRuntime | None = None
        self.app: ControllerApplication | None = None
        self.chf: Chf = None  # type: ignore[assignment]  # set by start()
        self.chf_profile: DeviceProfile | None = None
        self.frames = FrameLog()
        self.events: HanEventStream = None  # type: ignore[assignment]
        self.devices: dict[str, BenchDevice] = {}
        self.relays: dict[str, RelayBoard] = {}
        self._emulator: Emulator | None = None
        #: DCC Users and keys: the test PKI of the bench seed, replaced in _start by the lab
        #: config's dcc Users (Keystore.from_lab) when it has a dcc section.
        self.keystore: Keystore = Keystore.test_pki(lab.seed)
        self._dcc: Dcc | None = None
        self._evidence_dir: Path | None = None
        self._transcripts: list[Path] = []
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
    ) -> Bench:
        """Bring up the radio and network, the emulated devices if any, and the serial ports.

        Devices are not commissioned here; :meth:`bring_up` (or a test) does that.
        Raises :class:`ConfigError` for configuration problems found now (secrets, ports).
        """
        dmc = lab.catalogue.dmc(dmc_id or lab.dmc_ids[0])
        bench = cls(lab, dmc, status or lab.installation_statuses[0])
        bench._evidence_dir = evidence_dir
        try:
            bench._start(env)
        except BaseException:
            bench.stop()
            raise
        return bench

    def _start(self, env: Mapping[str, str] | None) -> None:
        lab = self.lab
        secrets = SecretStore.load(lab, env)
        if lab.dcc is not None:
            # The lab names its DCC Users: sign as them (before the radio starts, so a bad key
            # is reported at once). Without a dcc section the test PKI of __init__ stays.
            self.keystore = Keystore.from_lab(lab, secrets, lab.seed)
        virtual = lab.clock.mode == "virtual"
        self.runtime = runtime = BenchRuntime(
            virtual=virtual, **({"start": lab.clock.start} if lab.clock.start else {})
        )
        self.events = HanEventStream(runtime.clock, runtime)
        radio = lab.radio
        if radio.is_virtual:
            from harness.emulator.radio import VirtualRadio

            app_class: type[ControllerApplication] = VirtualRadio
            path = "virtual://"
        else:
            app_class = real_radio_class(radio.type)
            spec = radio.port
            assert spec is not None
            from harness.serial.ports import resolve_port

            path = resolve_port(spec)
        config = zigpy_config(
            path=path, baudrate=radio.baudrate, flow_control=radio.flow_control,
            channel=radio.channel, pan_id=radio.pan_id,
            # zigpy spells an extended PAN id with colons; the lab config with DUIS dashes.
            extended_pan_id=(str(radio.extended_pan_id).replace("-", ":")
                             if radio.extended_pan_id else None),
            database=str(radio.database) if radio.database else None, radio_type=radio.type,
        )

        def _make_app() -> ControllerApplication:
            app = app_class(config)
            app.attach_bench(runtime.clock, self.frames)  # type: ignore[attr-defined]
            return app

        self.app = app = runtime.call(_make_app)
        try:
            runtime.run(app.startup(auto_form=True), timeout=None if virtual else 120.0)
        except (OSError, TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
            # zigpy has shut the application down already; say which radio, in one line.
            self.app = None
            where = radio.port.describe() if radio.port is not None else "virtual"
            raise BenchStartError(
                f"radio {radio.type} on {where} did not start: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}"
            ) from exc
        chf_profile = self.dmc.profile_for("CHF", self.catalogue)
        policy = JoinTimePeriodPolicy()
        if virtual and chf_profile is not None:
            limit = chf_profile.emulation.chf.join_time_period_limit
            if limit is not None:
                policy = JoinTimePeriodPolicy(limit.max_s, limit.over_limit)
        self.chf = Chf(runtime, app, self.events, join_policy=policy,
                       request_timeout=5.0, retries=0 if virtual else 2)
        self.chf_profile = chf_profile

        installation = lab.installations[0]
        port_paths: dict[str, str] = {}
        planned: list[tuple[DeviceConfig, DeviceProfile, InstallCode]] = []
        if virtual:
            from harness.emulator.emulator import Emulator

            self._emulator = Emulator(app, runtime.clock, seed=lab.seed,  # type: ignore[arg-type]
                                      keystore=self.keystore)
        for device in installation.devices:
            profile = lab.profile_for(device, self.dmc.id)
            if profile is None:
                continue  # this DMC has no device in that role
            if device.install_code.kind == "emulated":
                assert self._emulator is not None
                code = self._emulator.factory_install_code(normalise_eui(device.eui64))
            else:
                code = secrets.install_code(device.install_code)
            planned.append((device, profile, code))
        if self._emulator is not None:
            port_paths = runtime.run(self._build_emulation(planned))
        for device, profile, code in planned:
            bench_device = BenchDevice(
                self, installation.id, device, profile, code,
                lab.adapters_for(device), port_paths,
            )
            self.devices[device.role] = bench_device
        self._open_relays(port_paths, installation.devices)

    async def _build_emulation(
        self, planned: list[tuple[DeviceConfig, DeviceProfile, InstallCode]]
    ) -> dict[str, str]:
        emulator = self._emulator
        assert emulator is not None
        paths: dict[str, str] = {}
        by_role = {}
        for device, profile, code in planned:
            emulated = emulator.add_device(device.role, profile, normalise_eui(device.eui64), code)
            by_role[device.role] = emulated
            for role, adapter in self.lab.adapters_for(device).items():
                if role == "optical":
                    paths[adapter.name] = await emulator.add_optical_port(adapter.name, emulated)
                elif role == "console":
                    paths[adapter.name] = await emulator.add_console_port(adapter.name, emulated)
        for adapter in self.lab.serial_adapters:
            if adapter.role != "relay":
                continue
            wiring = {
                device.relay.channel: by_role[device.role]
                for device, _profile, _code in planned
                if device.relay is not None and device.relay.adapter == adapter.name
            }
            paths[adapter.name] = await emulator.add_relay_board(
                adapter.name, adapter.channels or 4, wiring
            )
        emulator.power_on_all()
        return paths

    def _open_relays(self, port_paths: Mapping[str, str], devices: list[DeviceConfig]) -> None:
        assert self.runtime is not None
        for adapter in self.lab.serial_adapters:
            if adapter.role != "relay":
                continue
            spec = (PortSpec(path=port_paths[adapter.name]) if adapter.is_emulated
                    else adapter.port_spec)
            assert spec is not None
            port = open_port(spec, baudrate=adapter.baudrate, timeout=0.1)
            self.relays[adapter.name] = RelayBoard(port, channels=adapter.channels,
                                                   name=adapter.name)
        for device in devices:
            bench_device = self.devices.get(device.role)
            if bench_device is not None and device.relay is not None:
                frames_read = None
                if self._emulator is not None:
                    frames_read = _frames_read_by(self._emulator.ports[device.relay.adapter])
                bench_device.power = PowerControl(
                    self.relays[device.relay.adapter], device.relay.channel, self.runtime,
                    frames_read=frames_read,
                )

    # -- use --------------------------------------------------------------------------------
    @property
    def clock(self) -> BenchClock:
        assert self.runtime is not None
        return BenchClock(self.runtime.clock, self.runtime.sleep)

    @property
    def is_emulated(self) -> bool:
        return self._emulator is not None

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
            except (NotJoined, TimeoutError, JoinTimePeriodRejected) as exc:
                results[role] = exc
        return results

    # -- cases ------------------------------------------------------------------------------
    def begin_case(self, case_id: str) -> None:
        """A case (or a module's fixture) begins: on an emulated bench, derive the emulator's
        randomness from the lab seed, each device and ``case_id``, so what the case meets does
        not depend on the cases that ran before it. Nothing to do on a real bench."""
        emulator = self._emulator
        if emulator is not None and self.runtime is not None:
            self.runtime.call(lambda: emulator.reseed(case_id))

    # -- evidence ---------------------------------------------------------------------------
    def begin_test(self, evidence_dir: Path | None) -> None:
        """Start collecting evidence for one test (frames, events, serial transcripts)."""
        self._evidence_dir = evidence_dir
        self._transcripts = []
        dcc_mark = self._dcc.evidence.mark() if self._dcc is not None else 0
        self._marks = (self.frames.mark(), self.events.mark(), dcc_mark)
        for device in self.devices.values():
            device._switch_transcript()

    def end_test(self) -> TestEvidence:
        frames_mark, events_mark, dcc_mark = self._marks
        return TestEvidence(
            frames=self.frames.since(frames_mark),
            events=self.events.since(events_mark),
            transcripts=list(dict.fromkeys(self._transcripts)),
            dcc=self._dcc.evidence.since(dcc_mark) if self._dcc is not None else [],
        )

    def transcript_path(self, name: str) -> Path:
        base = self._evidence_dir or (self.lab.output_dir / "transcripts")
        base.mkdir(parents=True, exist_ok=True)
        return base / f"{_safe(name)}.log"

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

            wrap = None
            if self._emulator is not None:
                emulator = self._emulator
                profiles = {d.eui: d.profile for d in self.devices.values()}
                if self.chf_profile is not None:
                    profiles[self.chf.eui] = self.chf_profile

                def wrap(adapter: DeviceAdapter, eui: str) -> DeviceAdapter:
                    return emulator.s1sp_adapter(adapter, profiles[eui].emulation, eui)

            self._dcc = Dcc.for_bench(self, keystore=self.keystore, wrap_adapter=wrap)
            self._dcc.start()
        return self._dcc

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
        runtime = self.runtime
        if runtime is not None:
            if self._emulator is not None:
                with contextlib.suppress(Exception):
                    runtime.call(self._emulator.close)
            if self.app is not None:
                with contextlib.suppress(Exception):
                    runtime.run(self.app.shutdown(), timeout=30.0)
            runtime.shutdown()
        self.app = None

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _frames_read_by(port: Any) -> Callable[[], int]:
    """How many frames the emulated relay board served on ``port`` has read so far."""
    return lambda: int(port.protocol.frames)


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
