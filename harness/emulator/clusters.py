"""Emulated Smart Energy clusters: what each answers, computed from the device's state.

Declarative in the sense of :mod:`harness.emulator.zcl`: static values, ``attr_*`` getters and
``cmd_*`` handlers. A cluster a profile lists but that has no emulation here is served by a
generic cluster that supports no attributes and no commands (answering the way a real device
that lacks them would).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import zigpy.types as t
import zigpy.zcl
from zigpy.zcl import foundation
from zigpy.zcl.clusters import general
from zigpy.zcl.clusters.smartenergy import (
    MeteringDeviceType,
    MeteringUnitofMeasure,
    NumberFormatting,
    SupplyStatus,
)

from harness.emulator.zcl import EmulatedCluster, Reply, Status, uint, utc_seconds
from harness.han import clusters as se

if TYPE_CHECKING:
    from harness.emulator.devices import EmulatedDevice

#: Registers are Wh (or dm3) on the air: multiplier 1, divisor 1000 gives kWh (or m3).
DIVISOR = 1000
#: Messaging message control bit: the consumer must confirm the message.
CONFIRMATION_REQUIRED = 0x80
#: Messaging DurationInMinutes meaning "until changed" (ZigBee SE).
UNTIL_CHANGED = 0xFFFF


class DeviceCluster(EmulatedCluster):
    """An emulated cluster that knows the :class:`EmulatedDevice` it belongs to."""

    @property
    def device(self) -> EmulatedDevice:
        return self.node.device  # type: ignore[no-any-return]

    def now(self) -> float:
        return self.node.clock.monotonic()


class BasicServer(DeviceCluster):
    cluster = general.Basic
    static = {"zcl_version": 1, "app_version": 1, "stack_version": 2, "hw_version": 1}

    def attr_manufacturer(self) -> str:
        return self.device.profile.manufacturer

    def attr_model(self) -> str:
        return self.device.profile.model

    def attr_sw_build_id(self) -> str:
        return self.device.firmware_version

    def attr_date_code(self) -> str:
        return "20190101"

    def attr_power_source(self) -> int:
        return (general.PowerSource.Mains_single_phase if self.node.is_router
                else general.PowerSource.Battery)


class IdentifyServer(DeviceCluster):
    cluster = general.Identify
    static = {"identify_time": 0}
    writable = frozenset({"identify_time"})

    def cmd_identify(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        self.values["identify_time"] = int(command.identify_time)

    def cmd_identify_query(self, hdr: foundation.ZCLHeader, command: Any) -> Reply | None:
        if self.values["identify_time"]:
            return Reply("identify_query_response", {"timeout": self.values["identify_time"]})
        return None


class OtaClient(DeviceCluster):
    """OTA Upgrade client: where a SE device states its current firmware image."""

    cluster = general.Ota
    is_client = True


class TimeClient(DeviceCluster):
    cluster = general.Time
    is_client = True


class MeteringServer(DeviceCluster):
    cluster = zigpy.zcl.clusters.smartenergy.Metering
    static = {"multiplier": 1, "divisor": DIVISOR, "status": 0}

    @property
    def meter(self) -> Any:
        return self.device.meter

    def attr_current_summ_delivered(self) -> int:
        return uint(self.device.port_register_units("zigbee"), 48)

    def attr_supply_status(self) -> SupplyStatus:
        return self.meter.supply

    def attr_instantaneous_demand(self) -> int:
        return max(-(1 << 23), min(int(self.meter.demand_now()), (1 << 23) - 1))

    def attr_unit_of_measure(self) -> MeteringUnitofMeasure:
        if self.meter.kind == "electricity":
            return MeteringUnitofMeasure.Kwh_and_Kwh_binary
        return MeteringUnitofMeasure.Cubic_Meter_and_Cubic_Meter_per_Hour_binary

    def attr_metering_device_type(self) -> MeteringDeviceType:
        if self.meter.kind == "electricity":
            return MeteringDeviceType.Electric_Metering
        return MeteringDeviceType.Gas_Metering

    def attr_summation_formatting(self) -> NumberFormatting:
        return NumberFormatting(num_digits_right_of_decimal=3, num_digits_left_of_decimal=6,
                                suppress_leading_zeros=1)

    def attr_demand_formatting(self) -> NumberFormatting:
        return NumberFormatting(num_digits_right_of_decimal=3, num_digits_left_of_decimal=3,
                                suppress_leading_zeros=1)

    def attr_meter_serial_number(self) -> bytes:
        return self.device.serial_number.encode()

    def cmd_change_supply(self, hdr: foundation.ZCLHeader, command: Any) -> Reply | Status:
        """A supply change from a HAN node. A SMETS1 meter takes supply changes only in signed
        envelopes (the DCC's 7.1/7.2/7.3); a ZCL ChangeSupply says nothing of who sent it, so
        a healthy meter refuses it whoever sends it (``emulation.accepts_han_supply_change``
        makes it obey, the defect the security pack looks for)."""
        try:
            proposed = SupplyStatus(command.proposed_supply_status)
        except ValueError:
            return Status.INVALID_VALUE
        if not self.device.profile.emulation.accepts_han_supply_change:
            self.device.refused_on_han("change_supply", proposed.name)
            return Status.NOT_AUTHORIZED
        self.device.set_supply(proposed)
        return Reply("supply_status_response", {
            "provider_id": command.provider_id,
            "issuer_event_id": command.issuer_event_id,
            "implementation_date_time": utc_seconds(self.node),
            "supply_status": int(self.meter.supply),
        })

    def cmd_local_change_supply(self, hdr: foundation.ZCLHeader, command: Any) -> Status | None:
        """The consumer's local supply change: only restoring a supply the DCC armed (Armed to
        On) is the consumer's to do; anything else is refused as ChangeSupply is."""
        try:
            proposed = SupplyStatus(command.proposed_supply_status)
        except ValueError:
            return Status.INVALID_VALUE
        restore = (proposed == SupplyStatus.Supply_On
                   and self.meter.supply == SupplyStatus.Supply_Off_Armed)
        if not restore and not self.device.profile.emulation.accepts_han_supply_change:
            self.device.refused_on_han("local_change_supply", proposed.name)
            return Status.NOT_AUTHORIZED
        self.device.set_supply(proposed)
        return None


class PriceServer(DeviceCluster):
    """Price: the tariff the meter holds (set by SR 1.1.1 in later issues)."""

    cluster = se.Price
    static = {"commodity_type": 0, "tier1_price_label": b"Standard"}

    def attr_standing_charge(self) -> int:
        return int(self.device.tariff["standing_charge"])

    def attr_no_tier_block1_price(self) -> int:
        return int(self.device.tariff["unit_price"])

    def attr_currency(self) -> int:
        return 826  # ISO 4217 GBP

    def cmd_get_current_price(self, hdr: foundation.ZCLHeader, command: Any) -> Reply:
        tariff = self.device.tariff
        return Reply("publish_price", {
            "provider_id": int(tariff.get("provider_id", 1)),
            "rate_label": b"Standard",
            "issuer_event_id": int(tariff.get("issuer_event_id", 1)),
            "current_time": utc_seconds(self.node),
            "unit_of_measure": 0,
            "currency": 826,
            # 4 trailing digits (price in 1/10000 GBP = 0.01 p), tier 1
            "price_trailing_digit_and_price_tier": 0x41,
            "number_of_price_tiers_and_register_tier": 0x11,
            "start_time": t.UTCTime(0),
            "duration_in_minutes": 0xFFFF,
            "price": int(tariff["unit_price"]),
        })


class PrepaymentServer(DeviceCluster):
    cluster = se.Prepayment

    @property
    def meter(self) -> Any:
        return self.device.meter

    def attr_payment_control_configuration(self) -> se.PaymentControlConfiguration:
        flags = se.PaymentControlConfiguration.Contactor_Fitted
        if self.meter.payment_mode == "prepayment":
            flags |= (se.PaymentControlConfiguration.Prepayment_Enabled
                      | se.PaymentControlConfiguration.Credit_Display_Enabled)
        return flags

    def attr_credit_remaining(self) -> int:
        return int(self.meter.credit_pence)

    def attr_emergency_credit_remaining(self) -> int:
        return int(self.meter.emergency_credit_pence)

    def attr_credit_status(self) -> int:
        return 0x01 if self.meter.credit_pence > 0 else 0x00

    def cmd_consumer_top_up(self, hdr: foundation.ZCLHeader, command: Any) -> Reply:
        result, value = self.device.top_up_code(bytes(command.top_up_code),
                                                int(command.originating_device))
        return Reply("consumer_top_up_response", {
            "result_type": result,
            "top_up_value": value,
            "source_of_top_up": int(command.originating_device),
            "credit_remaining": int(self.meter.credit_pence),
        })


class MessagingClient(DeviceCluster):
    """Messaging client of an IHD or PPMID: it shows what the hub sends it."""

    cluster = se.Messaging
    is_client = True

    def cmd_display_message(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        message_id = int(command.message_id)
        duration = int(command.duration_in_minutes)
        # A message sent again under the same id replaces the one shown.
        self.device.cancel_message(message_id)
        self.device.show_message(message_id, str(command.message), duration)
        loop = asyncio.get_running_loop()
        if duration != UNTIL_CHANGED:
            shown = self.device.messages[-1]
            loop.call_later(duration * 60.0, self._expire, shown)
        if int(command.message_control) & CONFIRMATION_REQUIRED:
            # The consumer acknowledges at once (the emulated consumer always does).
            loop.call_soon(
                lambda: self.send_command("message_confirmation", message_id=message_id,
                                          confirmation_time=utc_seconds(self.node)))

    def _expire(self, shown: Any) -> None:
        """The message's duration is over: the display stops showing it (unless replaced)."""
        self.device.messages = [m for m in self.device.messages if m is not shown]

    def cmd_cancel_message(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        self.device.cancel_message(int(command.message_id))


class PriceClient(DeviceCluster):
    """Price client of an IHD or PPMID: it keeps the last published price for display."""

    cluster = se.Price
    is_client = True

    def cmd_publish_price(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        self.device.displayed["price"] = int(command.price)


class TunnelingServer(DeviceCluster):
    """Tunneling server: carries the signed envelopes of the device's firmware.

    The device accepts tunnels of the manufacturer-defined protocol the harness uses, hands
    each TransferData to its firmware and sends the firmware's answer back in its own
    TransferData, after acknowledging the frame. Alerts go out on the newest open tunnel.
    """

    cluster = se.Tunneling
    static = {"close_tunnel_timeout": 0xFFFF}
    PROTOCOL_ID = 200
    MAX_TUNNELS = 4

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        self.tunnels: list[int] = []
        self._next_id = 1

    def cmd_request_tunnel(self, hdr: foundation.ZCLHeader, command: Any) -> Reply:
        if int(command.protocol_id) != self.PROTOCOL_ID:
            return Reply("request_tunnel_response", {
                "tunnel_id": 0xFFFF, "tunnel_status": se.TunnelStatus.Protocol_Not_Supported,
                "maximum_incoming_transfer_size": 0})
        if len(self.tunnels) >= self.MAX_TUNNELS:
            self.tunnels.pop(0)  # the oldest tunnel is closed to make room
        tunnel_id = self._next_id
        self._next_id = self._next_id % 0xFFFE + 1
        self.tunnels.append(tunnel_id)
        return Reply("request_tunnel_response", {
            "tunnel_id": tunnel_id, "tunnel_status": se.TunnelStatus.Success,
            "maximum_incoming_transfer_size": 1500})

    def cmd_close_tunnel(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        if int(command.tunnel_id) in self.tunnels:
            self.tunnels.remove(int(command.tunnel_id))

    def cmd_transfer_data(self, hdr: foundation.ZCLHeader, command: Any) -> Reply | None:
        tunnel_id = int(command.tunnel_id)
        if tunnel_id not in self.tunnels:
            return Reply("transfer_data_error_to_client", {
                "tunnel_id": tunnel_id,
                "transfer_data_status": se.TransferDataStatus.No_Such_Tunnel})
        firmware = self.device.firmware
        answer = firmware.handle(bytes(command.data)) if firmware is not None else None
        if answer is not None:
            # After the Default Response for this frame, as a device sends its answer later.
            asyncio.get_running_loop().call_soon(self._send_data, tunnel_id, answer)
        return None

    def send_unsolicited(self, data: bytes) -> bool:
        """Send data (an alert) on the newest tunnel; False if no tunnel is open."""
        if not self.tunnels:
            return False
        self._send_data(self.tunnels[-1], data)
        return True

    def _send_data(self, tunnel_id: int, data: bytes) -> None:
        self.send_command("transfer_data_to_client", tunnel_id=tunnel_id, data=data)


class AuxLoadSwitchServer(DeviceCluster):
    """The meter's auxiliary load switch 1 as ZCL On/Off: read-only on the HAN (the meter
    drives it: DCC commands, its boost button), so a test observes it over ZigBee."""

    cluster = general.OnOff

    def attr_on_off(self) -> bool:
        firmware = self.device.firmware
        return bool(firmware is not None and firmware.aux_load_on(1))


class KeyEstablishmentServer(DeviceCluster):
    cluster = se.KeyEstablishment
    static = {"key_establishment_suite": 0x0001}


def _generic(cluster_class: type[zigpy.zcl.Cluster], client: bool) -> type[EmulatedCluster]:
    return type(
        f"Generic{cluster_class.__name__}{'Client' if client else 'Server'}",
        (DeviceCluster,),
        {"cluster": cluster_class, "is_client": client},
    )


SERVER_EMULATIONS: dict[str, type[EmulatedCluster]] = {
    "basic": BasicServer,
    "identify": IdentifyServer,
    "metering": MeteringServer,
    "price": PriceServer,
    "prepayment": PrepaymentServer,
    "key_establishment": KeyEstablishmentServer,
    "tunneling": TunnelingServer,
    "on_off": AuxLoadSwitchServer,
}

CLIENT_EMULATIONS: dict[str, type[EmulatedCluster]] = {
    "ota": OtaClient,
    "time": TimeClient,
    "messaging": MessagingClient,
    "price": PriceClient,
}


def emulated_cluster_class(name: str, *, client: bool) -> type[EmulatedCluster]:
    """The emulation for a profile's cluster name (a generic one if none is written)."""
    table = CLIENT_EMULATIONS if client else SERVER_EMULATIONS
    if name in table:
        return table[name]
    return _generic(se.cluster_by_name(name), client)
