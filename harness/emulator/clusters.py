"""Emulated Smart Energy clusters: what each answers, computed from the device's state.

Declarative in the sense of :mod:`harness.emulator.zcl`: static values, ``attr_*`` getters and
``cmd_*`` handlers. A cluster a profile lists but that has no emulation here is served by a
generic cluster that supports no attributes and no commands (answering the way a real device
that lacks them would).
"""

from __future__ import annotations

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
        return uint(self.meter.register_units(self.now()), 48)

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
        try:
            proposed = SupplyStatus(command.proposed_supply_status)
        except ValueError:
            return Status.INVALID_VALUE
        self.device.set_supply(proposed)
        return Reply("supply_status_response", {
            "provider_id": command.provider_id,
            "issuer_event_id": command.issuer_event_id,
            "implementation_date_time": utc_seconds(self.node),
            "supply_status": int(self.meter.supply),
        })

    def cmd_local_change_supply(self, hdr: foundation.ZCLHeader, command: Any) -> Status | None:
        try:
            proposed = SupplyStatus(command.proposed_supply_status)
        except ValueError:
            return Status.INVALID_VALUE
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
        self.device.show_message(int(command.message_id), str(command.message),
                                 int(command.duration_in_minutes))

    def cmd_cancel_message(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        self.device.cancel_message(int(command.message_id))


class PriceClient(DeviceCluster):
    """Price client of an IHD or PPMID: it keeps the last published price for display."""

    cluster = se.Price
    is_client = True

    def cmd_publish_price(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        self.device.displayed["price"] = int(command.price)


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
