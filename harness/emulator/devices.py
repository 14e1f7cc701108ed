"""Emulated ESME, GSME, PPMID and IHD: a node, its clusters and its state, built from a profile.

The profile's ``zigbee`` section says which clusters the model has; its ``emulation`` section
says how this emulated unit behaves (initial register, demand, supply, join retries, defects).
The same state is served over ZigBee, over the optical port and on the debug console, so what a
test reads on one it can check on another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zigpy.zcl.clusters.smartenergy import SupplyStatus

from harness.emulator.clusters import emulated_cluster_class
from harness.emulator.firmware import DeviceFirmware
from harness.emulator.meter import SUPPLY_BY_NAME, MeterState
from harness.emulator.node import EmulatedNode
from harness.emulator.seeding import seeded_random
from harness.han import clusters as se
from harness.serial.iec62056 import DataLine

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.config.profiles import DeviceProfile
    from harness.config.secrets import InstallCode
    from harness.dcc.keys import Keystore
    from harness.emulator.radio import VirtualCoordinator

ROUTER_ROLES = frozenset({"ESME"})
METER_KIND = {"ESME": "electricity", "GSME": "gas"}

#: Optical readout lines besides the register (whose address is the profile's).
OBIS = {
    "ESME": {"demand": "1.7.0", "register_unit": "kWh", "demand_unit": "kW"},
    # IEC 62056-21 forbids '/' in a unit, so the gas flow rate has no optical line.
    "GSME": {"demand": None, "register_unit": "m3", "demand_unit": None},
}
OBIS_SERIAL = "C.1.0"
OBIS_SUPPLY = "96.3.10"
OBIS_TIME = "0.9.1"
OBIS_DATE = "0.9.2"
OBIS_ERROR = "F.F"
#: Manufacturer-specific lines (IEC 62056-21 "C" group): auxiliary load switch states
#: (``1=0,2=1``: load 1 off, load 2 on) and the boost button configuration (``1=60``: load 1
#: for 60 minutes; ``none``).
OBIS_AUX_LOADS = "C.90.1"
OBIS_BOOST = "C.90.2"


@dataclass
class DisplayedMessage:
    message_id: int
    text: str
    duration_minutes: int
    shown_at: float


@dataclass
class EmulatedDevice:
    """One emulated device: role, profile, ZigBee node and the state behind it."""

    role: str
    profile: DeviceProfile
    node: EmulatedNode
    eui: str
    firmware_version: str
    meter: MeterState | None = None
    tariff: dict[str, int] = field(default_factory=lambda: {
        "unit_price": 2450, "standing_charge": 5000, "provider_id": 1, "issuer_event_id": 1,
    })
    messages: list[DisplayedMessage] = field(default_factory=list)
    displayed: dict[str, Any] = field(default_factory=dict)
    accepted_top_up_codes: set[bytes] = field(default_factory=set)
    #: The security side of the firmware (signed envelopes); ``None`` without a keystore.
    firmware: DeviceFirmware | None = None
    #: The other devices of the installation, by role (an IHD shows its meters' data).
    peers: dict[str, EmulatedDevice] = field(default_factory=dict)

    @property
    def clock(self) -> Clock:
        return self.node.clock

    @property
    def serial_number(self) -> str:
        """Meter serial number, stable per EUI-64 (what a real meter prints on its case)."""
        digest = hashlib.sha256(self.eui.encode()).hexdigest()[:8].upper()
        return f"{self.profile.manufacturer[:2].upper()}{digest}"

    def port_register_units(self, port: str) -> int:
        """The register in whole Wh (dm3) as the ``zigbee`` or ``optical`` port shows it: the
        meter's own, unless the profile's ``meter.<port>_register_scale/offset`` skew it."""
        assert self.meter is not None
        units = self.meter.register_units(self.clock.monotonic())
        settings = self.profile.emulation.meter
        if settings is None:
            return units
        scale = getattr(settings, f"{port}_register_scale")
        offset = getattr(settings, f"{port}_register_offset")
        return max(0, int(units * scale) + offset)

    # -- state changes (from ZCL commands, the console or the relay) ------------------------
    def set_supply(self, status: SupplyStatus) -> None:
        if self.meter is None:
            return
        self.meter.set_supply(status, self.clock.monotonic())
        self.node.state_changed()

    def refused_on_han(self, command: str, detail: str) -> None:
        """A HAN command the device refused: an entry in its security log, as for an envelope."""
        if self.firmware is not None:
            self.firmware.log_security(f"han_{command}_refused", detail)

    def top_up_code(self, code: bytes, originating_device: int) -> tuple[int, int]:
        """Apply a top-up code: ``(result, value)``; a code works once (UTRN semantics)."""
        if self.meter is None:
            return se.TopUpResult.Rejected_Error, 0
        if code in self.accepted_top_up_codes:
            return se.TopUpResult.Rejected_Duplicate_Top_Up, 0
        try:
            value = int(code.decode("ascii")[-6:])
        except ValueError:
            return se.TopUpResult.Rejected_Invalid_Top_Up, 0
        self.accepted_top_up_codes.add(code)
        self.meter.credit_pence += value
        self.meter.top_ups.append({"code_len": len(code), "value": value,
                                   "at": self.clock.monotonic(), "source": originating_device})
        self.node.state_changed()
        return se.TopUpResult.Accepted, value

    def show_message(self, message_id: int, text: str, duration_minutes: int) -> None:
        self.messages.append(DisplayedMessage(message_id, text, duration_minutes,
                                              self.clock.monotonic()))

    def cancel_message(self, message_id: int) -> None:
        self.messages = [m for m in self.messages if m.message_id != message_id]

    # -- optical port -----------------------------------------------------------------------
    def optical_identification(self) -> str:
        optical = self.profile.optical
        flag = optical.flag_id if optical else self.profile.manufacturer[:3].upper()
        ident = optical.identification if optical else self.profile.model[:16]
        baud = optical.baud_char if optical else "5"
        return f"/{flag}{baud}{ident}"

    def optical_lines(self) -> list[DataLine]:
        """The IEC 62056-21 data block, computed at the instant of the readout."""
        if self.meter is None:
            return [DataLine(OBIS_ERROR, "00000000", None)]
        obis = OBIS[self.role]
        now = self.clock.now()
        units = self.port_register_units("optical")
        demand = self.meter.demand_now()
        supply = {SupplyStatus.Supply_On: "1", SupplyStatus.Supply_Off: "0",
                  SupplyStatus.Supply_Off_Armed: "2"}[self.meter.supply]
        lines = [
            DataLine(OBIS_SERIAL, self.serial_number, None),
            DataLine(OBIS_TIME, now.strftime("%H%M%S"), None),
            DataLine(OBIS_DATE, now.strftime("%y%m%d"), None),
            DataLine(self.profile.optical_register, f"{units // 1000:06d}.{units % 1000:03d}",
                     obis["register_unit"]),
        ]
        if obis["demand"] is not None:
            lines.append(DataLine(obis["demand"], f"{demand / 1000:06.3f}", obis["demand_unit"]))
        lines.append(DataLine(OBIS_SUPPLY, supply, None))
        if self.firmware is not None and self.role == "ESME":
            state = self.firmware.state
            loads = sorted(set(state.aux_loads) | set(state.boost) | {1})
            lines.append(DataLine(OBIS_AUX_LOADS, ",".join(
                f"{n}={'1' if self.firmware.aux_load_on(n) else '0'}" for n in loads), None))
            lines.append(DataLine(OBIS_BOOST, ",".join(
                f"{n}={m}" for n, m in sorted(state.boost.items())) or "none", None))
        lines.append(DataLine(OBIS_ERROR, "00000000", None))
        return lines

    # -- what the screen shows (IHD, PPMID) ---------------------------------------------------
    def screen(self) -> list[str]:
        """The lines an IHD or PPMID shows now: data it gets over the HAN from the meters of
        its installation while both ends are joined and in radio reach; the last data it had
        (marked NO SIGNAL) otherwise."""
        lines: list[str] = []
        for role, label in (("ESME", "ELEC"), ("GSME", "GAS")):
            meter = self.peers.get(role)
            if meter is None or meter.meter is None:
                continue
            if self._linked(meter):
                units = meter.meter.register_units(self.clock.monotonic())
                self.displayed[label] = (f"{label} {units // 1000}.{units % 1000:03d} "
                                         f"{meter.meter.unit}")
                if role == "ESME":
                    self.displayed["BALANCE"] = f"BALANCE {meter.meter.credit_pence}p"
                    self.displayed["MODE"] = f"MODE {meter.meter.payment_mode}"
            for key in (label, "BALANCE", "MODE") if role == "ESME" else (label,):
                if key in self.displayed:
                    lines.append(self.displayed[key] + ("" if self._linked(meter)
                                                        else " (NO SIGNAL)"))
        if self.messages:
            lines.append(f"MSG {self.messages[-1].text}")
        return lines

    def _linked(self, meter: EmulatedDevice) -> bool:
        return (self.node.joined and self.node.hears() and meter.node.joined
                and meter.node.hears())

    # -- debug console ----------------------------------------------------------------------
    def console_commands(self) -> dict[str, Any]:
        """Commands of the emulated debug console: inspect state and inject faults."""
        node = self.node

        def status(args: list[str]) -> str:
            lines = [
                f"role {self.role} eui {self.eui}",
                f"model {self.profile.manufacturer} {self.profile.model} "
                f"fw {self.firmware_version}",
                f"power {'on' if node.powered else 'off'} radio "
                f"{'silent' if node.radio_silent else 'normal'}",
                f"joined {'yes' if node.joined else 'no'}"
                + (f" nwk 0x{int(node.nwk):04X}" if node.nwk is not None else ""),
            ]
            if self.meter is not None:
                lines.append(f"supply {self.meter.supply.name}")
                lines.append(f"credit {self.meter.credit_pence}p mode {self.meter.payment_mode}")
            return "\r\n".join(lines)

        def registers(args: list[str]) -> str:
            return "\r\n".join(line.format() for line in self.optical_lines())

        def radio(args: list[str]) -> str:
            if args[:1] == ["silent"]:
                node.radio_silent = True
            elif args[:1] == ["normal"]:
                node.radio_silent = False
                if node.powered and not node.joined:
                    node.start_joining()
            else:
                return "usage: radio silent|normal"
            return f"radio {args[0]}"

        def power(args: list[str]) -> str:
            if args[:1] == ["off"]:
                node.power_off()
            elif args[:1] == ["on"]:
                node.power_on()
            else:
                return "usage: power off|on"
            return f"power {args[0]}"

        def reboot(args: list[str]) -> str:
            node.power_off()
            node.power_on()
            return "rebooted"

        def join(args: list[str]) -> str:
            node.start_joining()
            return "joining" if node.powered and not node.joined else "already joined"

        def leave(args: list[str]) -> str:
            node.leave_network()
            return "left the network"

        def boost(args: list[str]) -> str:
            if self.firmware is None:
                return "no boost button"
            return self.firmware.press_boost()

        def garbage(args: list[str]) -> str:
            if args[:1] == ["on"]:
                node.answer_garbage = True
            elif args[:1] == ["off"]:
                node.answer_garbage = False
            else:
                return "usage: garbage on|off"
            return f"garbage {args[0]}"

        def messages(args: list[str]) -> str:
            if not self.messages:
                return "no messages"
            return "\r\n".join(f"{m.message_id}: {m.text}" for m in self.messages)

        return {
            "status": status, "registers": registers, "radio": radio, "power": power,
            "reboot": reboot, "join": join, "leave": leave, "messages": messages,
            "display": lambda args: "\r\n".join(["DISPLAY", *self.screen(), "END"]),
            "boost": boost, "garbage": garbage,
        }


def factory_install_code(seed: int, eui: str) -> bytes:
    """A 16-byte install code, stable per bench seed and EUI-64 (the label on the device)."""
    return hashlib.sha256(f"smets1-dmct:{seed}:{eui}".encode()).digest()[:16]


def build_device(
    radio: VirtualCoordinator,
    clock: Clock,
    *,
    role: str,
    profile: DeviceProfile,
    eui: str,
    install_code: InstallCode,
    keystore: Keystore | None = None,
    seed: int = 0,
) -> EmulatedDevice:
    """An emulated device of ``profile`` attached to ``radio``, powered off until started.

    With a ``keystore`` the device gets its firmware's security side: the management key the
    DCC placed at enrolment, and its own identity key to sign answers.
    """
    emulation = profile.emulation
    node = EmulatedNode(
        radio,
        clock,
        ieee=eui,
        install_code=install_code,
        endpoint=profile.zigbee.endpoint,
        device_id=profile.zigbee.device_id,
        profile_id=profile.zigbee.profile_id,
        manufacturer_code=profile.zigbee.manufacturer_code or 0,
        is_router=role in ROUTER_ROLES,
        join_retry_interval_s=emulation.join.retry_interval_s,
        join_attempt_for_s=emulation.join.attempt_for_s,
        response_delay_s=emulation.response_delay_s,
        sleep_poll_s=emulation.sleepy.poll_s if emulation.sleepy else None,
        awake_s=emulation.sleepy.awake_s if emulation.sleepy else 1.0,
        commissioning_awake_s=emulation.sleepy.commissioning_awake_s if emulation.sleepy
        else 60.0,
    )
    meter = None
    if role in METER_KIND and emulation.meter is not None:
        settings = emulation.meter
        meter = MeterState(
            kind=METER_KIND[role],  # type: ignore[arg-type]
            register=float(settings.initial_register),
            demand=float(settings.demand),
            supply=SUPPLY_BY_NAME[settings.supply],
            payment_mode=settings.payment_mode,
            credit_pence=settings.credit_pence,
        )
    device = EmulatedDevice(
        role=role, profile=profile, node=node, eui=eui,
        firmware_version=profile.firmware.version, meter=meter,
    )
    node.device = device
    for name in profile.zigbee.server_clusters:
        node.add_cluster(emulated_cluster_class(name, client=False)(node))
    for name in profile.zigbee.client_clusters:
        node.add_cluster(emulated_cluster_class(name, client=True)(node))
    if keystore is not None:
        device.firmware = DeviceFirmware(
            device, emulation,
            management_key=keystore.management_key(eui).public,
            identity=keystore.device_identity(eui),
            rng=seeded_random("firmware", seed, eui),
        )
        tunneling = node.server_clusters.get(int(se.Tunneling.cluster_id))
        if tunneling is not None:
            device.firmware.send_alert_bytes = tunneling.send_unsolicited  # type: ignore[attr-defined]
    radio.attach_node(node)
    return device
