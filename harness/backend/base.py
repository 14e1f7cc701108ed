"""The one interface behind every bench: what is real hardware on a lab bench and emulated in CI.

A :class:`BenchBackend` is chosen once, from the lab config (:func:`harness.backend.backend_for`),
and answers every question whose answer differs between the two: which event loop and clock,
which zigpy application plays the CHF, where an install code comes from, which port a serial
adapter is, how a device's supply is switched. :class:`harness.bench.Bench` asks it and never
asks the lab config "am I emulated?" itself.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from harness.config.faults import FaultError
from harness.han.chf import JoinTimePeriodPolicy
from harness.runtime import BenchRuntime

if TYPE_CHECKING:
    from zigpy.application import ControllerApplication

    from harness.config import InstallCode, LabConfig, SecretStore
    from harness.config.lab import DeviceConfig, SerialAdapterConfig
    from harness.config.profiles import DeviceProfile
    from harness.dcc.adapters import DeviceAdapter
    from harness.dcc.keys import Keystore
    from harness.han.frames import FrameLog
    from harness.serial.ports import PortSpec
    from harness.serial.relay import RelayBoard

BackendKind = Literal["real", "emulated", "fake"]
#: How long a device stays off in a power cycle (bench seconds).
POWER_OFF_S = 2.0
#: Faults that switch a device's supply through its relay channel (any bench can).
POWER_FAULTS = ("power-off", "power-on", "power-cycle")
#: Wraps the DCC's adapter of one device (EUI-64) with a model's emulated DCC-side behaviour.
AdapterWrapper = Callable[["DeviceAdapter", str], "DeviceAdapter"]


class Power(Protocol):
    """A device's supply: switched by a relay channel, or by a person asked to."""

    def on(self) -> None: ...

    def off(self) -> None: ...

    def cycle(self, off_seconds: float = POWER_OFF_S) -> None: ...


@dataclass(frozen=True)
class PlannedDevice:
    """A device of the installation under test, with the install code the backend found."""

    config: DeviceConfig
    profile: DeviceProfile
    install_code: InstallCode


class PowerControl:
    """A device's supply, switched by a relay board channel.

    ``settle`` (the emulated backend's) returns once the board has acted on every frame sent,
    so bench time does not move on before the device is switched.
    """

    def __init__(
        self,
        board: RelayBoard,
        channel: int,
        runtime: BenchRuntime,
        *,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.board = board
        self.channel = channel
        self._runtime = runtime
        self._settle_board = settle

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
        if self._settle_board is not None:
            self._settle_board()
        self._runtime.sleep(0)


class BenchBackend(abc.ABC):
    """What stands behind a bench; one subclass per kind, one instance per bench."""

    kind: ClassVar[BackendKind]

    def __init__(self, lab: LabConfig) -> None:
        self.lab = lab
        #: The supplies :meth:`power` can switch without a person (relay channels; a fake
        #: radio's scripted devices), by role: what power faults switch.
        self.supplies: dict[str, Power] = {}

    @property
    def is_emulated(self) -> bool:
        return self.kind == "emulated"

    # -- loop, clock and radio ----------------------------------------------------------------
    @abc.abstractmethod
    def make_runtime(self) -> BenchRuntime:
        """The bench's event loop with the clock this kind of bench runs on."""

    @abc.abstractmethod
    def make_radio(self, runtime: BenchRuntime, frames: FrameLog) -> ControllerApplication:
        """The zigpy application that plays the CHF (not started), made on the loop thread."""

    def start_radio(self, app: ControllerApplication) -> Coroutine[Any, Any, None]:
        """Start the radio (on the loop): form the network if it has none."""
        return app.startup(auto_form=True)

    @abc.abstractmethod
    def describe_radio(self) -> str:
        """Where the radio is, for messages (``znp on device /dev/ttyACM0``)."""

    #: Bench seconds the radio may take to start (``None``: no bound, the virtual radio).
    startup_timeout_s: ClassVar[float | None] = None
    #: ZCL retries of the CHF: a real medium loses frames, the emulated one does not.
    chf_retries: ClassVar[int] = 0

    def join_policy(self, chf_profile: DeviceProfile | None) -> JoinTimePeriodPolicy:
        """How the CHF treats an over-long JoinTimePeriod: a real CHF decides by itself."""
        return JoinTimePeriodPolicy()

    # -- devices and ports ---------------------------------------------------------------------
    @abc.abstractmethod
    def attach(self, runtime: BenchRuntime, app: ControllerApplication,
               keystore: Keystore) -> None:
        """Called once the radio has started, before any device is planned."""

    @abc.abstractmethod
    def install_code(self, device: DeviceConfig, secrets: SecretStore) -> InstallCode:
        """The device's install code (the label on it, or the emulator's factory code)."""

    @abc.abstractmethod
    def start_devices(self, runtime: BenchRuntime, planned: list[PlannedDevice]) -> None:
        """Bring the installation's devices and serial ports into being (nothing to do for
        hardware: it is there)."""

    @abc.abstractmethod
    def port_spec(self, adapter: SerialAdapterConfig) -> PortSpec:
        """The port a serial adapter is opened on."""

    @abc.abstractmethod
    def power(
        self, device: DeviceConfig, runtime: BenchRuntime, relays: Mapping[str, RelayBoard]
    ) -> Power | None:
        """How the device's supply is switched; ``None`` when it cannot be."""

    def adapter_wrapper(self, profiles: Mapping[str, DeviceProfile]) -> AdapterWrapper | None:
        """How the DCC's device adapters are wrapped (the emulated backend's model behaviour)."""
        return None

    def relay_power(self, device: DeviceConfig, control: PowerControl) -> PowerControl:
        """``control`` as the supply of ``device`` (what :meth:`power` returns for a relay)."""
        self.supplies[device.role] = control
        return control

    # -- faults a lab injects (harness.fault_injection) -----------------------------------------
    def inject(self, kind: str, target: str | None, runtime: BenchRuntime) -> None:
        """Do the bench fault ``kind`` (``harness.config.faults.KINDS``) to ``target``.

        Any bench switches a supply through its relay channel; what else a bench can break is
        its subclass's. Raises :class:`FaultError` (one line) for what this bench cannot do.
        """
        if kind not in POWER_FAULTS:
            raise FaultError(f"{kind} cannot be injected on a {self.kind} bench: it can only "
                             "switch a supply through its relay board")
        control = self.supplies.get(target or "")
        if control is None:
            raise FaultError(f"{kind}: the {target} has no relay channel to switch its supply")
        {"power-off": control.off, "power-on": control.on, "power-cycle": control.cycle}[kind]()

    # -- cases and shutdown --------------------------------------------------------------------
    def begin_case(self, runtime: BenchRuntime, case_id: str) -> None:
        """A case begins (nothing to do on real hardware)."""
        return None

    def close(self, runtime: BenchRuntime) -> None:
        """Release what :meth:`start_devices` made; called on shutdown, before the radio."""
        return None

    def release(self, runtime: BenchRuntime, evidence_dir: Path | None) -> None:
        """Release what the radio talked to (a fake dongle), keeping what it saw in the run's
        ``evidence_dir``; called once the radio has shut down, before the loop stops."""
        return None
