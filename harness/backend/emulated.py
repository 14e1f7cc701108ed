"""The emulated bench: the virtual radio, emulated devices on it, their pty serial ports and
relay board, the test PKI, and the virtual clock. The only module that imports the emulator."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from harness.backend.base import (
    AdapterWrapper,
    BackendKind,
    BenchBackend,
    PlannedDevice,
    Power,
    PowerControl,
)
from harness.config.faults import FaultError
from harness.han.chf import JoinTimePeriodPolicy
from harness.han.events import normalise_eui
from harness.runtime import BenchCallTimeout, BenchRuntime
from harness.serial.ports import PortSpec

if TYPE_CHECKING:
    from zigpy.application import ControllerApplication

    from harness.config import InstallCode, LabConfig, SecretStore
    from harness.config.lab import DeviceConfig, SerialAdapterConfig
    from harness.config.profiles import DeviceProfile
    from harness.dcc.adapters import DeviceAdapter
    from harness.dcc.keys import Keystore
    from harness.emulator.emulator import Emulator
    from harness.emulator.radio import VirtualRadio
    from harness.han.frames import FrameLog
    from harness.serial.relay import RelayBoard

#: The emulated relay board reads a frame within microseconds; give up after about 5 s.
EMULATED_RELAY_POLL_S = 0.001
EMULATED_RELAY_POLLS = 5000


class EmulatedBackend(BenchBackend):
    """Everything behind the bench is :mod:`harness.emulator`, on the virtual clock."""

    kind: ClassVar[BackendKind] = "emulated"

    def __init__(self, lab: LabConfig) -> None:
        super().__init__(lab)
        self.emulator: Emulator | None = None
        #: Paths of the emulated serial ports, by adapter name.
        self.port_paths: dict[str, str] = {}
        self.radio: VirtualRadio | None = None

    def make_runtime(self) -> BenchRuntime:
        clock = self.lab.clock
        return BenchRuntime(virtual=True, **({"start": clock.start} if clock.start else {}))

    def make_radio(self, runtime: BenchRuntime, frames: FrameLog) -> ControllerApplication:
        from harness.emulator.radio import VirtualRadio
        from harness.han.radio import zigpy_config

        radio = self.lab.radio
        config = zigpy_config(
            path="virtual://", channel=radio.channel, pan_id=radio.pan_id,
            extended_pan_id=radio.extended_pan_id,
            radio_type="virtual",
        )
        app = VirtualRadio(config)
        app.attach_bench(runtime.clock, frames)
        self.radio = app
        return app

    def describe_radio(self) -> str:
        return "virtual on virtual"

    def join_policy(self, chf_profile: DeviceProfile | None) -> JoinTimePeriodPolicy:
        # The virtual radio plays the CHF model: its JoinTimePeriod limit is the model's.
        if chf_profile is not None:
            limit = chf_profile.emulation.chf.join_time_period_limit
            if limit is not None:
                return JoinTimePeriodPolicy(limit.max_s, limit.over_limit)
        return JoinTimePeriodPolicy()

    def attach(self, runtime: BenchRuntime, app: ControllerApplication,
               keystore: Keystore) -> None:
        from harness.emulator.emulator import Emulator

        self.emulator = Emulator(app, runtime.clock, seed=self.lab.seed,  # type: ignore[arg-type]
                                 keystore=keystore)

    def _emulator(self) -> Emulator:
        assert self.emulator is not None, "attach() first"
        return self.emulator

    def install_code(self, device: DeviceConfig, secrets: SecretStore) -> InstallCode:
        if device.install_code.kind == "emulated":
            return self._emulator().factory_install_code(normalise_eui(device.eui64))
        return secrets.install_code(device.install_code)

    def start_devices(self, runtime: BenchRuntime, planned: list[PlannedDevice]) -> None:
        self.port_paths = runtime.run(self._build(planned))

    async def _build(self, planned: list[PlannedDevice]) -> dict[str, str]:
        emulator = self._emulator()
        lab = self.lab
        paths: dict[str, str] = {}
        by_role = {}
        for item in planned:
            device = item.config
            emulated = emulator.add_device(device.role, item.profile,
                                           normalise_eui(device.eui64), item.install_code)
            by_role[device.role] = emulated
            for role, adapter in lab.adapters_for(device).items():
                if role == "optical":
                    paths[adapter.name] = await emulator.add_optical_port(adapter.name, emulated)
                elif role == "console":
                    paths[adapter.name] = await emulator.add_console_port(adapter.name, emulated)
        for adapter in lab.serial_adapters:
            if adapter.role != "relay":
                continue
            wiring = {
                item.config.relay.channel: by_role[item.config.role]
                for item in planned
                if item.config.relay is not None and item.config.relay.adapter == adapter.name
            }
            paths[adapter.name] = await emulator.add_relay_board(
                adapter.name, adapter.channels or 4, wiring
            )
        emulator.power_on_all()
        return paths

    def port_spec(self, adapter: SerialAdapterConfig) -> PortSpec:
        return PortSpec(path=self.port_paths[adapter.name])

    def power(
        self, device: DeviceConfig, runtime: BenchRuntime, relays: Mapping[str, RelayBoard]
    ) -> Power | None:
        if device.relay is None:
            return None
        board = relays[device.relay.adapter]
        served: Any = self._emulator().ports[device.relay.adapter].protocol  # a RelayServer
        return self.relay_power(device, PowerControl(
            board, device.relay.channel, runtime,
            settle=_board_settled(board, lambda: int(served.frames))))

    def adapter_wrapper(self, profiles: Mapping[str, DeviceProfile]) -> AdapterWrapper | None:
        emulator = self._emulator()

        def wrap(adapter: DeviceAdapter, eui: str) -> DeviceAdapter:
            return emulator.s1sp_adapter(adapter, profiles[eui].emulation, eui)

        return wrap

    def inject(self, kind: str, target: str | None, runtime: BenchRuntime) -> None:
        """Besides supplies: the virtual medium falls silent (every frame dropped both ways,
        joins refused) or speaks again, and an emulated port goes away as if unplugged."""
        if kind in ("radio-silent", "radio-back"):
            radio = self.radio
            assert radio is not None, "make_radio() first"
            runtime.call(lambda: setattr(radio, "silent", kind == "radio-silent"))
            runtime.sleep(0)
            return
        if kind == "serial-gone":
            port = self._emulator().ports.get(target or "")
            if port is None:
                raise FaultError(f"serial-gone: no emulated serial port {target!r}")
            runtime.call(port.close)  # on the loop thread, which serves the port
            return
        super().inject(kind, target, runtime)

    def begin_case(self, runtime: BenchRuntime, case_id: str) -> None:
        # The emulator's randomness derives from the lab seed, each device and the case, so what
        # a case meets does not depend on the cases that ran before it.
        emulator = self.emulator
        if emulator is not None:
            runtime.call(lambda: emulator.reseed(case_id))

    def close(self, runtime: BenchRuntime) -> None:
        if self.emulator is not None:
            runtime.call(self.emulator.close)


def _board_settled(board: Any, frames_read: Callable[[], int]) -> Callable[[], None]:
    """Wait, bench time standing still, until the emulated board has read every frame sent.

    The relay frame travels over a pty; the board acts when the loop reads it, which the kernel
    may hand over a little later. Bench time must not run on before that (it would switch the
    device late, or on before off).
    """

    def settle() -> None:
        pause = threading.Event()
        for _ in range(EMULATED_RELAY_POLLS):
            if frames_read() >= len(board.log):
                return
            pause.wait(EMULATED_RELAY_POLL_S)
        raise BenchCallTimeout(f"emulated relay board {board.name} did not read the frames "
                               "sent to it")

    return settle
