"""The real bench: a radio library on a dongle, serial adapters, install codes from secrets, and
wall time. Never imports the emulator."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from harness.backend.base import BackendKind, BenchBackend, Power, PowerControl
from harness.backend.operator import ManualPower, Operator
from harness.han.radio import NetworkWanted, real_radio_class, start_radio, zigpy_config
from harness.runtime import BenchRuntime
from harness.serial.ports import resolve_port

if TYPE_CHECKING:
    from zigpy.application import ControllerApplication

    from harness.backend.base import PlannedDevice
    from harness.config import InstallCode, LabConfig, SecretStore
    from harness.config.lab import DeviceConfig, SerialAdapterConfig
    from harness.dcc.keys import Keystore
    from harness.han.frames import FrameLog
    from harness.serial.ports import PortSpec
    from harness.serial.relay import RelayBoard


class RealBackend(BenchBackend):
    """Hardware: what the lab config names is there, and the bench opens it."""

    kind: ClassVar[BackendKind] = "real"
    startup_timeout_s: ClassVar[float | None] = 120.0
    chf_retries: ClassVar[int] = 2

    def __init__(self, lab: LabConfig, *, operator: Operator | None = None) -> None:
        super().__init__(lab)
        self.operator = operator or Operator()

    def make_runtime(self) -> BenchRuntime:
        return BenchRuntime(virtual=False)

    def make_radio(self, runtime: BenchRuntime, frames: FrameLog) -> ControllerApplication:
        radio = self.lab.radio
        assert radio.port is not None  # load_lab_config: a real radio has a port
        app_class = real_radio_class(radio.type)
        config = zigpy_config(
            path=self.radio_path(), baudrate=radio.baudrate,
            flow_control=radio.flow_control, channel=radio.channel, pan_id=radio.pan_id,
            extended_pan_id=radio.extended_pan_id,
            database=str(radio.database) if radio.database else None, radio_type=radio.type,
        )
        app = app_class(config)
        app.attach_bench(runtime.clock, frames)  # type: ignore[attr-defined]
        return app

    def radio_path(self) -> str:
        """The path or URL the radio library opens."""
        assert self.lab.radio.port is not None
        return resolve_port(self.lab.radio.port)

    def start_radio(self, app: ControllerApplication) -> Coroutine[Any, Any, None]:
        """zigpy's database loaded, the dongle's network checked against the config (``form:
        replace`` re-forms it), every failure one line naming radio, port and likely cause."""
        radio = self.lab.radio
        assert radio.port is not None
        wanted = NetworkWanted(radio.channel, radio.pan_id, radio.extended_pan_id, radio.form)
        return start_radio(app, radio_type=radio.type, where=self.describe_port(),
                           wanted=wanted)

    def describe_port(self) -> str:
        """Where the dongle is, for messages (``device /dev/ttyACM0``)."""
        port = self.lab.radio.port
        return port.describe() if port is not None else "?"

    def describe_radio(self) -> str:
        return f"{self.lab.radio.type} on {self.describe_port()}"

    def attach(self, runtime: BenchRuntime, app: ControllerApplication,
               keystore: Keystore) -> None:
        return None

    def install_code(self, device: DeviceConfig, secrets: SecretStore) -> InstallCode:
        return secrets.install_code(device.install_code)

    def start_devices(self, runtime: BenchRuntime, planned: list[PlannedDevice]) -> None:
        return None

    def port_spec(self, adapter: SerialAdapterConfig) -> PortSpec:
        spec = adapter.port_spec
        assert spec is not None  # load_lab_config: no 'emulated' port on a real radio
        return spec

    def power(
        self, device: DeviceConfig, runtime: BenchRuntime, relays: Mapping[str, RelayBoard]
    ) -> Power | None:
        if device.relay is not None:
            return self.relay_power(device, PowerControl(relays[device.relay.adapter],
                                                         device.relay.channel, runtime))
        # No relay: a person switches the supply when asked (or the case is blocked).
        return ManualPower(self.operator, f"{device.role} {device.eui64}", runtime)

    def inject(self, kind: str, target: str | None, runtime: BenchRuntime) -> None:
        """Only a supply, through a relay channel: the radio and the ports of a real bench are
        hardware the harness cannot unplug (and a person asked to would not be a test)."""
        super().inject(kind, target, runtime)
