"""Everything behind an emulated bench: devices on the virtual radio and their serial ports.

The bench treats what it gets from here exactly as it treats real hardware: a pty path is opened
with pyserial like ``/dev/ttyUSB0``, an install code is the label on the device, a relay channel
switches the device's supply. Nothing in here is visible to test packs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from harness.config.secrets import InstallCode
from harness.emulator.devices import EmulatedDevice, build_device, factory_install_code
from harness.emulator.pty import PtyPort
from harness.emulator.s1sp_adapter import EmulatedModelAdapter, emulated_adapter
from harness.emulator.seeding import seeded_random
from harness.serial.console_server import LineConsoleServer
from harness.serial.iec62056 import MeterReadoutServer
from harness.serial.relay import RelayServer

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.config.profiles import DeviceProfile, Emulation
    from harness.dcc.adapters import DeviceAdapter
    from harness.dcc.keys import Keystore
    from harness.emulator.radio import VirtualCoordinator

LOGGER = logging.getLogger(__name__)


class Emulator:
    """Emulated devices and ports of one bench; built and served on the bench loop."""

    def __init__(
        self, radio: VirtualCoordinator, clock: Clock, *, seed: int = 0,
        keystore: Keystore | None = None,
    ) -> None:
        self.radio = radio
        self.clock = clock
        self.seed = seed
        self.keystore = keystore
        self.devices: dict[str, EmulatedDevice] = {}
        self.ports: dict[str, PtyPort] = {}
        #: The emulated S1SP adapters made for the bench's DCC (reseeded with the devices).
        self.adapters: list[EmulatedModelAdapter] = []
        #: The case the emulator's randomness is derived for (``None``: none began yet).
        self.case: str | None = None

    def factory_install_code(self, eui: str) -> InstallCode:
        """The install code printed on an emulated device (stable per bench seed and EUI)."""
        return InstallCode.with_crc(factory_install_code(self.seed, eui))

    def add_device(
        self, role: str, profile: DeviceProfile, eui: str, install_code: InstallCode
    ) -> EmulatedDevice:
        device = build_device(self.radio, self.clock, role=role, profile=profile, eui=eui,
                              install_code=install_code, keystore=self.keystore, seed=self.seed)
        if self.keystore is not None and device.firmware is not None:
            # What the DCC learns of the device at enrolment: its identity key.
            self.keystore.register_device_public(eui, device.firmware.identity.public)
        self.devices[eui] = device
        return device

    def s1sp_adapter(self, inner: DeviceAdapter, emulation: Emulation, eui: str
                     ) -> EmulatedModelAdapter:
        """``inner`` wrapped with a model's DCC-side emulation settings, seeded as the devices."""
        adapter = emulated_adapter(inner, emulation, self.seed, eui, self.case)
        self.adapters.append(adapter)
        return adapter

    def reseed(self, case: str) -> None:
        """Derive every random generator afresh from (lab seed, device, ``case``).

        Called on the loop thread when a case (or a module's fixture) begins: what a case draws
        then depends on the case alone, not on which cases ran before it.
        """
        self.case = case
        for eui, device in self.devices.items():
            device.node.reseed(seeded_random("garbage", self.seed, eui, case))
            if device.firmware is not None:
                device.firmware.reseed(seeded_random("firmware", self.seed, eui, case))
        for adapter in self.adapters:
            adapter.rng = seeded_random("s1sp", self.seed, adapter.eui, case)

    async def add_optical_port(self, name: str, device: EmulatedDevice) -> str:
        server = MeterReadoutServer(device.optical_identification(), device.optical_lines)
        return await self._serve(name, server)

    async def add_console_port(self, name: str, device: EmulatedDevice) -> str:
        prompt = f"{device.role.lower()}> "
        banner = (f"{device.profile.manufacturer} {device.profile.model} "
                  f"fw {device.firmware_version} debug console\r\n")
        server = LineConsoleServer(prompt, device.console_commands(), banner=banner)
        return await self._serve(name, server)

    async def add_relay_board(
        self, name: str, channels: int, wiring: dict[int, EmulatedDevice]
    ) -> str:
        """A relay board whose channel N switches the supply of ``wiring[N]`` (closed = on)."""

        def on_change(channel: int, on: bool) -> None:
            device = wiring.get(channel)
            if device is None:
                return
            if on:
                device.node.power_on()
            else:
                device.node.power_off()

        server = RelayServer(channels, on_change, initial=True)
        return await self._serve(name, server)

    async def _serve(self, name: str, protocol: object) -> str:
        port = PtyPort(protocol, name=name)  # type: ignore[arg-type]
        await port.start()
        self.ports[name] = port
        return port.path

    def power_on_all(self) -> None:
        """Mains on: every device boots (and, not yet joined, starts trying to join)."""
        peers = {device.role: device for device in self.devices.values()}
        for device in self.devices.values():
            device.peers = {r: d for r, d in peers.items() if d is not device}
        for device in self.devices.values():
            device.node.power_on()
            if device.firmware is not None:
                device.firmware.start_alerts()

    def close(self) -> None:
        for port in self.ports.values():
            port.close()
        for device in self.devices.values():
            device.node.power_off()
            if device.firmware is not None:
                device.firmware.stop_alerts()
