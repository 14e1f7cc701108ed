"""ZigBee Smart Energy 1.x clusters for zigpy, declared once for the whole process.

Why this module exists
    zigpy 2.4 declares ``Metering`` (0x0702) in full but leaves the other Smart Energy clusters
    (Price, DRLC, Messaging, Tunneling, Prepayment, Key Establishment...) as id-only stubs: zigpy
    can neither build nor parse their commands, so a SMETS1 HAN frame on those clusters arrives as
    raw bytes. The classes below subclass zigpy's stubs with the same ``cluster_id`` and
    ``ep_attribute``. Subclassing registers a class in ``zigpy.zcl.Cluster._registry``, which is
    global: from the moment this module is imported, every zigpy endpoint in the process
    (virtual radio, bellows, zigpy-znp...) builds these classes for those ids. That replacement is
    deliberate and happens only here; import ``harness.han.clusters`` before any device is
    created (``harness.han.app`` does). zigpy's own lookup tables
    ``zigpy.zcl.clusters.CLUSTERS_BY_ID`` / ``CLUSTERS_BY_NAME`` are updated at the same time so
    they never disagree with the registry. Because the classes subclass the stubs,
    ``isinstance(cluster, zigpy.zcl.clusters.smartenergy.Price)`` stays true.

Where the ids and payloads come from (public sources; facts only, no code copied)
    - Wireshark, ``epan/dissectors/packet-zbee-zcl-se.c`` (wireshark/wireshark): attribute ids,
      command ids per direction and the byte layout of the command payloads, including which
      trailing fields are optional and the signedness of Prepayment amounts.
    - zsmartsystems ``com.zsmartsystems.zigbee`` cluster definitions
      (``com.zsmartsystems.zigbee.autocode/src/main/resources/0700_Price.xml``,
      ``0701_DemandResponseAndLoadControl.xml``, ``0703_Messaging.xml``,
      ``0704_SmartEnergyTunneling.xml``, ``0705_Prepayment.xml``, ``0800_KeyEstablishment.xml``):
      attribute data types and enumeration values. Where the two disagree, Wireshark's byte
      layout wins (e.g. PriceAcknowledgement's issuer_event_id is 32-bit, GetLastMessage has no
      payload) and the choice is noted beside the field.

Conventions
    - ``ServerCommandDefs`` are commands the server receives (client to server);
      ``ClientCommandDefs`` are commands the client receives (server to client), as in zigpy.
    - A command sent in both directions gets the spec name on the server-received side and a
      ``_to_client`` suffix on the client-received side (``transfer_data`` /
      ``transfer_data_to_client``): zigpy's ``Cluster.__getattr__`` resolves a name in
      ``ClientCommandDefs`` first, so one shared name would put the wrong command id on the air.
    - A trailing field marked ``?`` is optional: later SE revisions appended it, so a frame from
      an older device that stops before it still parses.
    - Command fields the spec types as enum8 without a named enumeration here are ``uint8_t``
      (identical on the wire); attributes keep their exact ZCL type because a Read Attributes
      response carries the type id.
    - Display-message text is a ``Utf8CharacterString``: zigpy's ``CharacterString`` puts the
      character count, not the octet count, in the length prefix.
    - APS security is not configured here (``aps_encryption`` stays zigpy's default); SE puts
      most of these clusters under the APS link key, which is the application layer's decision.
"""

from __future__ import annotations

from typing import Any, Final, Self

import zigpy.types as t
import zigpy.zcl
import zigpy.zcl.clusters
from zigpy.zcl import Cluster
from zigpy.zcl.clusters import general, smartenergy
from zigpy.zcl.foundation import (
    BaseAttributeDefs,
    BaseCommandDefs,
    CommandSchema,
    DataTypeId,
    ZCLAttributeDef,
    ZCLCommandDef,
)

from harness.config.types import CLUSTER_NAMES

SE_PROFILE_ID: Final = 0x0109
"""ZigBee Smart Energy application profile id; zigpy drops frames on it unless told otherwise."""


# ---------------------------------------------------------------------------------------------
# Shared types
# ---------------------------------------------------------------------------------------------


class FixedLengthBytes(bytes):
    """Octets whose length the spec fixes, sent with no length prefix (e.g. CBKE certificates).

    zigpy has prefixed (``LVBytes``) and rest-of-frame (``Bytes``) octets, but none of a fixed
    size; a wrong size must fail at serialize time rather than put a short frame on the air.
    """

    _length: int = 0

    def __init_subclass__(cls, *, length: int, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._length = length

    def serialize(self) -> bytes:
        if len(self) != self._length:
            raise ValueError(
                f"{type(self).__name__} needs exactly {self._length} octets, got {len(self)}"
            )
        return bytes(self)

    @classmethod
    def deserialize(cls, data: bytes) -> tuple[Self, bytes]:
        if len(data) < cls._length:
            raise ValueError(
                f"{cls.__name__} needs {cls._length} octets, only {len(data)} left in the frame"
            )
        return cls(data[: cls._length]), data[cls._length :]


class Utf8CharacterString(t.CharacterString):
    """ZCL character string whose length prefix counts UTF-8 octets, as the ZCL requires.

    zigpy 2.4's ``CharacterString`` prefixes the number of characters, so any non-ASCII text
    (a '£' in a UK display message) yields a frame whose prefix is short by one per extra octet.
    """

    __slots__ = ()

    def serialize(self) -> bytes:
        if self.invalid:
            return super().serialize()
        raw = self.encode("utf8")
        if len(raw) >= 0xFF:
            raise ValueError(f"String is too long: {len(raw)} octets, at most 254")
        return len(raw).to_bytes(1, "little") + raw


class OriginatingDevice(t.enum8):
    """Who originated a Prepayment top-up or emergency-credit request."""

    Energy_Service_Interface = 0x00
    Meter = 0x01
    In_Home_Display = 0x02


# ---------------------------------------------------------------------------------------------
# Price (0x0700)
# ---------------------------------------------------------------------------------------------


class PriceMatrixEntry(t.Struct):
    """One Tier/Block id and its price in a PublishPriceMatrix sub-payload."""

    tier_block_id: t.uint8_t
    price: t.uint32_t


class Price(smartenergy.Price):
    """Price cluster: tariff attributes and the Publish*/Get* command set.

    Only server attributes are declared: the client attributes (randomize minutes, commodity
    type at 0x0000-0x0002) reuse ids of the server's tier labels and zigpy keys attributes by id.
    """

    cluster_id: Final[t.uint16_t] = 0x0700
    ep_attribute: Final = "smartenergy_price"

    class AttributeDefs(BaseAttributeDefs):
        # Tier Label (Delivered) set; SE 1.1 defines tiers 1-6, later revisions up to 48
        tier1_price_label: Final = ZCLAttributeDef(id=0x0000, type=t.LVBytes, access="rw")
        tier2_price_label: Final = ZCLAttributeDef(id=0x0001, type=t.LVBytes, access="rw")
        tier3_price_label: Final = ZCLAttributeDef(id=0x0002, type=t.LVBytes, access="rw")
        tier4_price_label: Final = ZCLAttributeDef(id=0x0003, type=t.LVBytes, access="rw")
        tier5_price_label: Final = ZCLAttributeDef(id=0x0004, type=t.LVBytes, access="rw")
        tier6_price_label: Final = ZCLAttributeDef(id=0x0005, type=t.LVBytes, access="rw")
        tier7_price_label: Final = ZCLAttributeDef(id=0x0006, type=t.LVBytes, access="rw")
        tier8_price_label: Final = ZCLAttributeDef(id=0x0007, type=t.LVBytes, access="rw")
        tier9_price_label: Final = ZCLAttributeDef(id=0x0008, type=t.LVBytes, access="rw")
        tier10_price_label: Final = ZCLAttributeDef(id=0x0009, type=t.LVBytes, access="rw")
        tier11_price_label: Final = ZCLAttributeDef(id=0x000A, type=t.LVBytes, access="rw")
        tier12_price_label: Final = ZCLAttributeDef(id=0x000B, type=t.LVBytes, access="rw")
        tier13_price_label: Final = ZCLAttributeDef(id=0x000C, type=t.LVBytes, access="rw")
        tier14_price_label: Final = ZCLAttributeDef(id=0x000D, type=t.LVBytes, access="rw")
        tier15_price_label: Final = ZCLAttributeDef(id=0x000E, type=t.LVBytes, access="rw")
        # Block Threshold (Delivered) set
        block1_threshold: Final = ZCLAttributeDef(id=0x0100, type=t.uint48_t, access="r")
        block2_threshold: Final = ZCLAttributeDef(id=0x0101, type=t.uint48_t, access="r")
        block3_threshold: Final = ZCLAttributeDef(id=0x0102, type=t.uint48_t, access="r")
        block4_threshold: Final = ZCLAttributeDef(id=0x0103, type=t.uint48_t, access="r")
        block5_threshold: Final = ZCLAttributeDef(id=0x0104, type=t.uint48_t, access="r")
        block6_threshold: Final = ZCLAttributeDef(id=0x0105, type=t.uint48_t, access="r")
        block7_threshold: Final = ZCLAttributeDef(id=0x0106, type=t.uint48_t, access="r")
        block8_threshold: Final = ZCLAttributeDef(id=0x0107, type=t.uint48_t, access="r")
        block9_threshold: Final = ZCLAttributeDef(id=0x0108, type=t.uint48_t, access="r")
        block10_threshold: Final = ZCLAttributeDef(id=0x0109, type=t.uint48_t, access="r")
        block11_threshold: Final = ZCLAttributeDef(id=0x010A, type=t.uint48_t, access="r")
        block12_threshold: Final = ZCLAttributeDef(id=0x010B, type=t.uint48_t, access="r")
        block13_threshold: Final = ZCLAttributeDef(id=0x010C, type=t.uint48_t, access="r")
        block14_threshold: Final = ZCLAttributeDef(id=0x010D, type=t.uint48_t, access="r")
        block15_threshold: Final = ZCLAttributeDef(id=0x010E, type=t.uint48_t, access="r")
        block_threshold_count: Final = ZCLAttributeDef(id=0x010F, type=t.uint8_t, access="r")
        # Block Period (Delivered) set
        start_of_block_period: Final = ZCLAttributeDef(id=0x0200, type=t.UTCTime, access="r")
        block_period_duration: Final = ZCLAttributeDef(id=0x0201, type=t.uint24_t, access="r")
        threshold_multiplier: Final = ZCLAttributeDef(id=0x0202, type=t.uint24_t, access="r")
        threshold_divisor: Final = ZCLAttributeDef(id=0x0203, type=t.uint24_t, access="r")
        block_period_duration_type: Final = ZCLAttributeDef(id=0x0204, type=t.bitmap8, access="r")
        # Commodity set
        commodity_type: Final = ZCLAttributeDef(id=0x0300, type=t.enum8, access="r")
        standing_charge: Final = ZCLAttributeDef(id=0x0301, type=t.uint32_t, access="r")
        conversion_factor: Final = ZCLAttributeDef(id=0x0302, type=t.uint32_t, access="r")
        conversion_factor_trailing_digit: Final = ZCLAttributeDef(
            id=0x0303, type=t.bitmap8, access="r"
        )
        calorific_value: Final = ZCLAttributeDef(id=0x0304, type=t.uint32_t, access="r")
        calorific_value_unit: Final = ZCLAttributeDef(id=0x0305, type=t.enum8, access="r")
        calorific_value_trailing_digit: Final = ZCLAttributeDef(
            id=0x0306, type=t.bitmap8, access="r"
        )
        # Block Price Information (Delivered) set: "no tier" block prices, then the block-1
        # price of each TOU tier (TierNBlock1Price at 0x0400 + N * 0x10)
        no_tier_block1_price: Final = ZCLAttributeDef(id=0x0400, type=t.uint32_t, access="r")
        no_tier_block2_price: Final = ZCLAttributeDef(id=0x0401, type=t.uint32_t, access="r")
        no_tier_block3_price: Final = ZCLAttributeDef(id=0x0402, type=t.uint32_t, access="r")
        no_tier_block4_price: Final = ZCLAttributeDef(id=0x0403, type=t.uint32_t, access="r")
        no_tier_block5_price: Final = ZCLAttributeDef(id=0x0404, type=t.uint32_t, access="r")
        no_tier_block6_price: Final = ZCLAttributeDef(id=0x0405, type=t.uint32_t, access="r")
        no_tier_block7_price: Final = ZCLAttributeDef(id=0x0406, type=t.uint32_t, access="r")
        no_tier_block8_price: Final = ZCLAttributeDef(id=0x0407, type=t.uint32_t, access="r")
        no_tier_block9_price: Final = ZCLAttributeDef(id=0x0408, type=t.uint32_t, access="r")
        no_tier_block10_price: Final = ZCLAttributeDef(id=0x0409, type=t.uint32_t, access="r")
        no_tier_block11_price: Final = ZCLAttributeDef(id=0x040A, type=t.uint32_t, access="r")
        no_tier_block12_price: Final = ZCLAttributeDef(id=0x040B, type=t.uint32_t, access="r")
        no_tier_block13_price: Final = ZCLAttributeDef(id=0x040C, type=t.uint32_t, access="r")
        no_tier_block14_price: Final = ZCLAttributeDef(id=0x040D, type=t.uint32_t, access="r")
        no_tier_block15_price: Final = ZCLAttributeDef(id=0x040E, type=t.uint32_t, access="r")
        no_tier_block16_price: Final = ZCLAttributeDef(id=0x040F, type=t.uint32_t, access="r")
        tier1_block1_price: Final = ZCLAttributeDef(id=0x0410, type=t.uint32_t, access="r")
        tier2_block1_price: Final = ZCLAttributeDef(id=0x0420, type=t.uint32_t, access="r")
        tier3_block1_price: Final = ZCLAttributeDef(id=0x0430, type=t.uint32_t, access="r")
        tier4_block1_price: Final = ZCLAttributeDef(id=0x0440, type=t.uint32_t, access="r")
        tier5_block1_price: Final = ZCLAttributeDef(id=0x0450, type=t.uint32_t, access="r")
        tier6_block1_price: Final = ZCLAttributeDef(id=0x0460, type=t.uint32_t, access="r")
        tier7_block1_price: Final = ZCLAttributeDef(id=0x0470, type=t.uint32_t, access="r")
        tier8_block1_price: Final = ZCLAttributeDef(id=0x0480, type=t.uint32_t, access="r")
        tier9_block1_price: Final = ZCLAttributeDef(id=0x0490, type=t.uint32_t, access="r")
        tier10_block1_price: Final = ZCLAttributeDef(id=0x04A0, type=t.uint32_t, access="r")
        tier11_block1_price: Final = ZCLAttributeDef(id=0x04B0, type=t.uint32_t, access="r")
        tier12_block1_price: Final = ZCLAttributeDef(id=0x04C0, type=t.uint32_t, access="r")
        tier13_block1_price: Final = ZCLAttributeDef(id=0x04D0, type=t.uint32_t, access="r")
        tier14_block1_price: Final = ZCLAttributeDef(id=0x04E0, type=t.uint32_t, access="r")
        tier15_block1_price: Final = ZCLAttributeDef(id=0x04F0, type=t.uint32_t, access="r")
        # Tariff Information (Delivered) set (SE 1.2+)
        number_of_price_tiers_in_use: Final = ZCLAttributeDef(id=0x0611, type=t.uint8_t, access="r")
        number_of_block_thresholds_in_use: Final = ZCLAttributeDef(
            id=0x0612, type=t.uint8_t, access="r"
        )
        tier_block_mode: Final = ZCLAttributeDef(id=0x0613, type=t.enum8, access="r")
        unit_of_measure: Final = ZCLAttributeDef(id=0x0615, type=t.enum8, access="r")
        currency: Final = ZCLAttributeDef(id=0x0616, type=t.uint16_t, access="r")

    class ServerCommandDefs(BaseCommandDefs):
        get_current_price: Final = ZCLCommandDef(id=0x00, schema={"command_options": t.bitmap8})
        get_scheduled_prices: Final = ZCLCommandDef(
            id=0x01, schema={"start_time": t.UTCTime, "number_of_events": t.uint8_t}
        )
        price_acknowledgement: Final = ZCLCommandDef(
            id=0x02,
            schema={
                "provider_id": t.uint32_t,
                # 32-bit per Wireshark; the zsmartsystems XML's 8-bit is a typo
                "issuer_event_id": t.uint32_t,
                "price_ack_time": t.UTCTime,
                "control": t.bitmap8,
            },
        )
        get_block_periods: Final = ZCLCommandDef(
            id=0x03,
            schema={
                "start_time": t.UTCTime,
                "number_of_events": t.uint8_t,
                "tariff_type?": t.bitmap8,
            },
        )
        get_conversion_factor: Final = ZCLCommandDef(
            id=0x04,
            schema={
                "earliest_start_time": t.UTCTime,
                "min_issuer_event_id": t.uint32_t,
                "number_of_commands": t.uint8_t,
            },
        )
        get_calorific_value: Final = ZCLCommandDef(
            id=0x05,
            schema={
                "earliest_start_time": t.UTCTime,
                "min_issuer_event_id": t.uint32_t,
                "number_of_commands": t.uint8_t,
            },
        )
        get_tariff_information: Final = ZCLCommandDef(
            id=0x06,
            schema={
                "earliest_start_time": t.UTCTime,
                "min_issuer_event_id": t.uint32_t,
                "number_of_commands": t.uint8_t,
                "tariff_type": t.bitmap8,
            },
        )
        get_price_matrix: Final = ZCLCommandDef(id=0x07, schema={"issuer_tariff_id": t.uint32_t})
        get_block_thresholds: Final = ZCLCommandDef(
            id=0x08, schema={"issuer_tariff_id": t.uint32_t}
        )
        get_co2_value: Final = ZCLCommandDef(
            id=0x09,
            schema={
                "earliest_start_time": t.UTCTime,
                "min_issuer_event_id": t.uint32_t,
                "number_of_commands": t.uint8_t,
                "tariff_type?": t.bitmap8,
            },
        )
        get_tier_labels: Final = ZCLCommandDef(id=0x0A, schema={"issuer_tariff_id": t.uint32_t})
        get_billing_period: Final = ZCLCommandDef(
            id=0x0B,
            schema={
                "earliest_start_time": t.UTCTime,
                "min_issuer_event_id": t.uint32_t,
                "number_of_commands": t.uint8_t,
                "tariff_type?": t.bitmap8,
            },
        )
        get_consolidated_bill: Final = ZCLCommandDef(
            id=0x0C,
            schema={
                "earliest_start_time": t.UTCTime,
                "min_issuer_event_id": t.uint32_t,
                "number_of_commands": t.uint8_t,
                "tariff_type?": t.bitmap8,
            },
        )
        cpp_event_response: Final = ZCLCommandDef(
            id=0x0D, schema={"issuer_event_id": t.uint32_t, "cpp_auth": t.uint8_t}
        )
        get_credit_payment: Final = ZCLCommandDef(
            id=0x0E, schema={"latest_end_time": t.UTCTime, "number_of_records": t.uint8_t}
        )
        get_currency_conversion: Final = ZCLCommandDef(id=0x0F, schema={})
        get_tariff_cancellation: Final = ZCLCommandDef(id=0x10, schema={})

    class ClientCommandDefs(BaseCommandDefs):
        publish_price: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "provider_id": t.uint32_t,
                "rate_label": t.LVBytes,
                "issuer_event_id": t.uint32_t,
                "current_time": t.UTCTime,
                "unit_of_measure": t.uint8_t,
                "currency": t.uint16_t,
                # high nibble: trailing digits; low nibble: price tier
                "price_trailing_digit_and_price_tier": t.uint8_t,
                # high nibble: number of price tiers; low nibble: register tier
                "number_of_price_tiers_and_register_tier": t.uint8_t,
                "start_time": t.UTCTime,
                "duration_in_minutes": t.uint16_t,
                "price": t.uint32_t,
                # From here on each field is optional (SE 1.0 ends after price; SE 1.1 adds
                # block thresholds and price control; SE 1.2 the generation/extended tiers)
                "price_ratio?": t.uint8_t,
                "generation_price?": t.uint32_t,
                "generation_price_ratio?": t.uint8_t,
                "alternate_cost_delivered?": t.uint32_t,
                "alternate_cost_unit?": t.uint8_t,
                "alternate_cost_trailing_digit?": t.uint8_t,
                "number_of_block_thresholds?": t.uint8_t,
                "price_control?": t.bitmap8,
                "number_of_generation_tiers?": t.uint8_t,
                "generation_tier?": t.uint8_t,
                "extended_number_of_price_tiers?": t.uint8_t,
                "extended_price_tier?": t.uint8_t,
                "extended_register_tier?": t.uint8_t,
            },
        )
        # SE 1.2+ layout (Wireshark). SE 1.1 sent a tiers/thresholds byte before the control
        # byte and nothing after; such a frame parses with its fields shifted.
        publish_block_period: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "block_period_start_time": t.UTCTime,
                "block_period_duration": t.uint24_t,
                "block_period_control": t.bitmap8,
                "block_period_duration_type?": t.bitmap8,
                "tariff_type?": t.bitmap8,
                "tariff_resolution_period?": t.uint8_t,
            },
        )
        publish_conversion_factor: Final = ZCLCommandDef(
            id=0x02,
            schema={
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "conversion_factor": t.uint32_t,
                "conversion_factor_trailing_digit": t.bitmap8,
            },
        )
        publish_calorific_value: Final = ZCLCommandDef(
            id=0x03,
            schema={
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "calorific_value": t.uint32_t,
                "calorific_value_unit": t.uint8_t,
                "calorific_value_trailing_digit": t.bitmap8,
            },
        )
        publish_tariff_information: Final = ZCLCommandDef(
            id=0x04,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "issuer_tariff_id": t.uint32_t,
                "start_time": t.UTCTime,
                # low nibble: tariff type; high nibble: charging scheme
                "tariff_type_and_charging_scheme": t.uint8_t,
                "tariff_label": t.LVBytes,
                "number_of_price_tiers_in_use": t.uint8_t,
                "number_of_block_thresholds_in_use": t.uint8_t,
                "unit_of_measure": t.uint8_t,
                "currency": t.uint16_t,
                "price_trailing_digit": t.uint8_t,
                "standing_charge": t.uint32_t,
                "tier_block_mode": t.uint8_t,
                "block_threshold_multiplier": t.uint24_t,
                "block_threshold_divisor": t.uint24_t,
            },
        )
        publish_price_matrix: Final = ZCLCommandDef(
            id=0x05,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "issuer_tariff_id": t.uint32_t,
                "command_index": t.uint8_t,
                "total_number_of_commands": t.uint8_t,
                "sub_payload_control": t.bitmap8,
                "price_matrix": t.List[PriceMatrixEntry],
            },
        )
        publish_block_thresholds: Final = ZCLCommandDef(
            id=0x06,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "issuer_tariff_id": t.uint32_t,
                "command_index": t.uint8_t,
                "total_number_of_commands": t.uint8_t,
                "sub_payload_control": t.bitmap8,
                # Entries of (tier << 4 | count) followed by count uint48 thresholds: the count
                # lives in a nibble, which zigpy's schema language cannot express, so raw
                "block_thresholds": t.Bytes,
            },
        )
        publish_co2_value: Final = ZCLCommandDef(
            id=0x07,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "tariff_type": t.bitmap8,
                "co2_value": t.uint32_t,
                "co2_value_unit": t.uint8_t,
                "co2_value_trailing_digit": t.bitmap8,
            },
        )


# ---------------------------------------------------------------------------------------------
# Demand Response and Load Control (0x0701)
# ---------------------------------------------------------------------------------------------


class Drlc(smartenergy.Drlc):
    """Demand Response and Load Control: load control events and their status reports.

    The DRLC server has no attributes; the four declared here are the client's (an IHD or load
    controller), which is where a CHF reads them.
    """

    cluster_id: Final[t.uint16_t] = 0x0701
    ep_attribute: Final = "smartenergy_drlc"

    class AttributeDefs(BaseAttributeDefs):
        utility_enrollment_group: Final = ZCLAttributeDef(id=0x0000, type=t.uint8_t, access="rw")
        start_randomization_minutes: Final = ZCLAttributeDef(id=0x0001, type=t.uint8_t, access="rw")
        duration_randomization_minutes: Final = ZCLAttributeDef(
            id=0x0002, type=t.uint8_t, access="rw"
        )
        device_class_value: Final = ZCLAttributeDef(id=0x0003, type=t.uint16_t, access="rw")

    class ServerCommandDefs(BaseCommandDefs):
        report_event_status: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "issuer_event_id": t.uint32_t,
                "event_status": t.uint8_t,
                "event_status_time": t.UTCTime,
                "criticality_level_applied": t.uint8_t,
                "cooling_temperature_set_point_applied": t.int16s,
                "heating_temperature_set_point_applied": t.int16s,
                "average_load_adjustment_percentage_applied": t.int8s,
                "duty_cycle_applied": t.uint8_t,
                "event_control": t.bitmap8,
                "signature_type": t.uint8_t,
                # 42 octets for ECDSA; Wireshark takes the rest of the frame, as here
                "signature": t.Bytes,
            },
        )
        get_scheduled_events: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "start_time": t.UTCTime,
                "number_of_events": t.uint8_t,
                "issuer_event_id?": t.uint32_t,
            },
        )

    class ClientCommandDefs(BaseCommandDefs):
        load_control_event: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "issuer_event_id": t.uint32_t,
                "device_class": t.bitmap16,
                "utility_enrollment_group": t.uint8_t,
                "start_time": t.UTCTime,
                "duration_in_minutes": t.uint16_t,
                "criticality_level": t.uint8_t,
                "cooling_temperature_offset": t.uint8_t,
                "heating_temperature_offset": t.uint8_t,
                "cooling_temperature_set_point": t.int16s,
                "heating_temperature_set_point": t.int16s,
                "average_load_adjustment_percentage": t.int8s,
                "duty_cycle": t.uint8_t,
                "event_control": t.bitmap8,
            },
        )
        cancel_load_control_event: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "issuer_event_id": t.uint32_t,
                "device_class": t.bitmap16,
                "utility_enrollment_group": t.uint8_t,
                "cancel_control": t.bitmap8,
                "effective_time": t.UTCTime,
            },
        )
        cancel_all_load_control_events: Final = ZCLCommandDef(
            id=0x02, schema={"cancel_control": t.bitmap8}
        )


# ---------------------------------------------------------------------------------------------
# Messaging (0x0703)
# ---------------------------------------------------------------------------------------------

_DISPLAY_MESSAGE: Final = {
    "message_id": t.uint32_t,
    # bits 0-1 transmission, 2-3 importance, 5 enhanced confirmation, 7 confirmation required
    "message_control": t.bitmap8,
    "start_time": t.UTCTime,
    "duration_in_minutes": t.uint16_t,
    "message": Utf8CharacterString,
    "extended_message_control?": t.bitmap8,
}


class Messaging(smartenergy.Messaging):
    """Messaging: text messages pushed to an IHD and the consumer's confirmations."""

    cluster_id: Final[t.uint16_t] = 0x0703
    ep_attribute: Final = "smartenergy_messaging"

    class ServerCommandDefs(BaseCommandDefs):
        # No payload: the zsmartsystems XML lists DisplayMessage's fields here by mistake
        get_last_message: Final = ZCLCommandDef(id=0x00, schema={})
        message_confirmation: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "message_id": t.uint32_t,
                "confirmation_time": t.UTCTime,
                "message_confirmation_control?": t.bitmap8,
                "message_confirmation_response?": t.LVBytes,
            },
        )
        get_message_cancellation: Final = ZCLCommandDef(
            id=0x02, schema={"earliest_implementation_time": t.UTCTime}
        )

    class ClientCommandDefs(BaseCommandDefs):
        display_message: Final = ZCLCommandDef(id=0x00, schema=_DISPLAY_MESSAGE)
        cancel_message: Final = ZCLCommandDef(
            id=0x01, schema={"message_id": t.uint32_t, "message_control": t.bitmap8}
        )
        display_protected_message: Final = ZCLCommandDef(id=0x02, schema=_DISPLAY_MESSAGE)
        cancel_all_messages: Final = ZCLCommandDef(
            id=0x03, schema={"implementation_date_time": t.UTCTime}
        )


# ---------------------------------------------------------------------------------------------
# Tunneling (0x0704)
# ---------------------------------------------------------------------------------------------


class TunnelProtocol(t.enum8):
    """Protocol carried by a tunnel; 200-254 are manufacturer specific."""

    DLMS_COSEM = 0x00
    IEC_61107 = 0x01
    ANSI_C12 = 0x02
    M_Bus = 0x03
    SML = 0x04
    ClimateTalk = 0x05
    GB_HRGP = 0x06
    IPv6 = 0x07
    IPv4 = 0x08
    Null = 0x09
    Test = 199
    Manufacturer_Defined = 200


class TunnelStatus(t.enum8):
    """Outcome of RequestTunnel."""

    Success = 0x00
    Busy = 0x01
    No_More_Tunnel_Ids = 0x02
    Protocol_Not_Supported = 0x03
    Flow_Control_Not_Supported = 0x04


class TransferDataStatus(t.enum8):
    """Why a TransferData was refused."""

    No_Such_Tunnel = 0x00
    Wrong_Device = 0x01
    Data_Overflow = 0x02


class SupportedTunnelProtocol(t.Struct):
    """One entry of SupportedTunnelProtocolsResponse; manufacturer 0xFFFF means standard."""

    manufacturer_code: t.uint16_t
    protocol_id: TunnelProtocol


class SupportedTunnelProtocolsResponse(CommandSchema):
    """Payload of SupportedTunnelProtocolsResponse: a counted list of protocols."""

    protocol_list_complete: t.Bool
    protocol_count: t.uint8_t
    protocols: t.List[SupportedTunnelProtocol] = t.StructField(length=lambda s: s.protocol_count)


# TransferData's data runs to the end of the frame with no length prefix: t.Bytes consumes
# "the rest" on deserialize (t.SerializableBytes cannot deserialize at all).
_TRANSFER_DATA: Final = {"tunnel_id": t.uint16_t, "data": t.Bytes}
_TRANSFER_DATA_ERROR: Final = {"tunnel_id": t.uint16_t, "transfer_data_status": TransferDataStatus}
_ACK_TRANSFER_DATA: Final = {"tunnel_id": t.uint16_t, "number_of_bytes_left": t.uint16_t}
_READY_DATA: Final = {"tunnel_id": t.uint16_t, "number_of_octets_left": t.uint16_t}


class Tunneling(smartenergy.Tunneling):
    """Tunneling: carries a metering protocol (e.g. DLMS/COSEM, GB-HRGP) in ZCL frames."""

    cluster_id: Final[t.uint16_t] = 0x0704
    ep_attribute: Final = "smartenergy_tunneling"

    class AttributeDefs(BaseAttributeDefs):
        close_tunnel_timeout: Final = ZCLAttributeDef(
            id=0x0000, type=t.uint16_t, access="r", mandatory=True
        )

    class ServerCommandDefs(BaseCommandDefs):
        request_tunnel: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "protocol_id": TunnelProtocol,
                "manufacturer_code": t.uint16_t,
                "flow_control_support": t.Bool,
                "maximum_incoming_transfer_size": t.uint16_t,
            },
        )
        close_tunnel: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t})
        transfer_data: Final = ZCLCommandDef(id=0x02, schema=_TRANSFER_DATA)
        transfer_data_error: Final = ZCLCommandDef(id=0x03, schema=_TRANSFER_DATA_ERROR)
        ack_transfer_data: Final = ZCLCommandDef(id=0x04, schema=_ACK_TRANSFER_DATA)
        ready_data: Final = ZCLCommandDef(id=0x05, schema=_READY_DATA)
        get_supported_tunnel_protocols: Final = ZCLCommandDef(
            id=0x06, schema={"protocol_offset": t.uint8_t}
        )

    class ClientCommandDefs(BaseCommandDefs):
        request_tunnel_response: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "tunnel_id": t.uint16_t,
                "tunnel_status": TunnelStatus,
                "maximum_incoming_transfer_size": t.uint16_t,
            },
        )
        transfer_data_to_client: Final = ZCLCommandDef(id=0x01, schema=_TRANSFER_DATA)
        transfer_data_error_to_client: Final = ZCLCommandDef(id=0x02, schema=_TRANSFER_DATA_ERROR)
        ack_transfer_data_to_client: Final = ZCLCommandDef(id=0x03, schema=_ACK_TRANSFER_DATA)
        ready_data_to_client: Final = ZCLCommandDef(id=0x04, schema=_READY_DATA)
        supported_tunnel_protocols_response: Final = ZCLCommandDef(
            id=0x05, schema=SupportedTunnelProtocolsResponse
        )
        tunnel_closure_notification: Final = ZCLCommandDef(
            id=0x06, schema={"tunnel_id": t.uint16_t}
        )


# ---------------------------------------------------------------------------------------------
# Prepayment (0x0705)
# ---------------------------------------------------------------------------------------------


class PaymentControlConfiguration(t.bitmap16):
    """PaymentControlConfiguration attribute and ChangePaymentMode's proposed value."""

    Disconnection_Enabled = 0x0001
    Prepayment_Enabled = 0x0002
    Credit_Management_Enabled = 0x0004
    Credit_Display_Enabled = 0x0010
    Account_Base = 0x0040
    Contactor_Fitted = 0x0080
    Standing_Charge_Configuration = 0x0100
    Emergency_Standing_Charge_Configuration = 0x0200
    Debt_Configuration = 0x0400
    Emergency_Debt_Configuration = 0x0800


class TopUpResult(t.enum8):
    """Result Type of ConsumerTopUpResponse."""

    Accepted = 0x00
    Rejected_Invalid_Top_Up = 0x01
    Rejected_Duplicate_Top_Up = 0x02
    Rejected_Error = 0x03
    Rejected_Max_Credit_Reached = 0x04
    Rejected_Keypad_Lock = 0x05
    Rejected_Top_Up_Value_Too_Large = 0x06
    Accepted_Supply_Enabled = 0x10
    Accepted_Supply_Disabled = 0x11
    Accepted_Supply_Armed = 0x12


class TopUpLogEntry(t.Struct):
    """One record of PublishTopUpLog."""

    top_up_code: t.LVBytes
    top_up_amount: t.int32s
    top_up_time: t.UTCTime


class DebtLogEntry(t.Struct):
    """One record of PublishDebtLog."""

    collection_time: t.UTCTime
    amount_collected: t.int32s
    debt_type: t.uint8_t
    outstanding_debt: t.uint32_t


class Prepayment(smartenergy.Prepayment):
    """Prepayment: credit, debt and top-up state of a PAYG meter, and the top-up commands."""

    PaymentControlConfiguration: Final = PaymentControlConfiguration
    OriginatingDevice: Final = OriginatingDevice
    TopUpResult: Final = TopUpResult

    cluster_id: Final[t.uint16_t] = 0x0705
    ep_attribute: Final = "smartenergy_prepayment"

    class AttributeDefs(BaseAttributeDefs):
        # Prepayment Information set
        payment_control_configuration: Final = ZCLAttributeDef(
            id=0x0000, type=PaymentControlConfiguration, access="r"
        )
        credit_remaining: Final = ZCLAttributeDef(id=0x0001, type=t.int32s, access="r")
        emergency_credit_remaining: Final = ZCLAttributeDef(id=0x0002, type=t.int32s, access="r")
        credit_status: Final = ZCLAttributeDef(id=0x0003, type=t.bitmap8, access="r")
        credit_remaining_timestamp: Final = ZCLAttributeDef(id=0x0004, type=t.UTCTime, access="r")
        accumulated_debt: Final = ZCLAttributeDef(id=0x0005, type=t.int32s, access="r")
        overall_debt_cap: Final = ZCLAttributeDef(id=0x0006, type=t.int32s, access="r")
        emergency_credit_limit_allowance: Final = ZCLAttributeDef(
            id=0x0010, type=t.uint32_t, access="r"
        )
        emergency_credit_threshold: Final = ZCLAttributeDef(id=0x0011, type=t.uint32_t, access="r")
        total_credit_added: Final = ZCLAttributeDef(id=0x0020, type=t.uint48_t, access="r")
        max_credit_limit: Final = ZCLAttributeDef(id=0x0021, type=t.uint32_t, access="r")
        max_credit_per_top_up: Final = ZCLAttributeDef(id=0x0022, type=t.uint32_t, access="r")
        friendly_credit_warning: Final = ZCLAttributeDef(id=0x0030, type=t.uint8_t, access="r")
        low_credit_warning_level: Final = ZCLAttributeDef(id=0x0031, type=t.uint32_t, access="r")
        ihd_low_credit_warning_level: Final = ZCLAttributeDef(
            id=0x0032, type=t.uint32_t, access="rw"
        )
        interrupt_suspend_time: Final = ZCLAttributeDef(id=0x0033, type=t.uint8_t, access="r")
        remaining_friendly_credit_time: Final = ZCLAttributeDef(
            id=0x0034, type=t.uint16_t, access="r"
        )
        next_friendly_credit_period: Final = ZCLAttributeDef(id=0x0035, type=t.UTCTime, access="r")
        cut_off_value: Final = ZCLAttributeDef(id=0x0040, type=t.int32s, access="r")
        token_carrier_id: Final = ZCLAttributeDef(id=0x0080, type=t.LVBytes, access="rw")
        # Top-up set: the five most recent top-ups, 0x0100 + 0x10 * (n - 1)
        top_up_date_time_1: Final = ZCLAttributeDef(id=0x0100, type=t.UTCTime, access="r")
        top_up_amount_1: Final = ZCLAttributeDef(id=0x0101, type=t.int32s, access="r")
        top_up_originating_device_1: Final = ZCLAttributeDef(
            id=0x0102, type=OriginatingDevice, access="r"
        )
        top_up_code_1: Final = ZCLAttributeDef(id=0x0103, type=t.LVBytes, access="r")
        top_up_date_time_2: Final = ZCLAttributeDef(id=0x0110, type=t.UTCTime, access="r")
        top_up_amount_2: Final = ZCLAttributeDef(id=0x0111, type=t.int32s, access="r")
        top_up_originating_device_2: Final = ZCLAttributeDef(
            id=0x0112, type=OriginatingDevice, access="r"
        )
        top_up_code_2: Final = ZCLAttributeDef(id=0x0113, type=t.LVBytes, access="r")
        top_up_date_time_3: Final = ZCLAttributeDef(id=0x0120, type=t.UTCTime, access="r")
        top_up_amount_3: Final = ZCLAttributeDef(id=0x0121, type=t.int32s, access="r")
        top_up_originating_device_3: Final = ZCLAttributeDef(
            id=0x0122, type=OriginatingDevice, access="r"
        )
        top_up_code_3: Final = ZCLAttributeDef(id=0x0123, type=t.LVBytes, access="r")
        top_up_date_time_4: Final = ZCLAttributeDef(id=0x0130, type=t.UTCTime, access="r")
        top_up_amount_4: Final = ZCLAttributeDef(id=0x0131, type=t.int32s, access="r")
        top_up_originating_device_4: Final = ZCLAttributeDef(
            id=0x0132, type=OriginatingDevice, access="r"
        )
        top_up_code_4: Final = ZCLAttributeDef(id=0x0133, type=t.LVBytes, access="r")
        top_up_date_time_5: Final = ZCLAttributeDef(id=0x0140, type=t.UTCTime, access="r")
        top_up_amount_5: Final = ZCLAttributeDef(id=0x0141, type=t.int32s, access="r")
        top_up_originating_device_5: Final = ZCLAttributeDef(
            id=0x0142, type=OriginatingDevice, access="r"
        )
        top_up_code_5: Final = ZCLAttributeDef(id=0x0143, type=t.LVBytes, access="r")
        # Debt set: three debts, 0x0210 + 0x10 * (n - 1); offsets 5 and 8 are unused
        debt_label_1: Final = ZCLAttributeDef(id=0x0210, type=t.LVBytes, access="r")
        debt_amount_1: Final = ZCLAttributeDef(id=0x0211, type=t.uint32_t, access="r")
        debt_recovery_method_1: Final = ZCLAttributeDef(id=0x0212, type=t.enum8, access="r")
        debt_recovery_start_time_1: Final = ZCLAttributeDef(id=0x0213, type=t.UTCTime, access="r")
        debt_recovery_collection_time_1: Final = ZCLAttributeDef(
            id=0x0214, type=t.uint16_t, access="r"
        )
        debt_recovery_frequency_1: Final = ZCLAttributeDef(id=0x0216, type=t.enum8, access="r")
        debt_recovery_amount_1: Final = ZCLAttributeDef(id=0x0217, type=t.uint32_t, access="r")
        debt_recovery_top_up_percentage_1: Final = ZCLAttributeDef(
            id=0x0219, type=t.uint16_t, access="r"
        )
        debt_label_2: Final = ZCLAttributeDef(id=0x0220, type=t.LVBytes, access="r")
        debt_amount_2: Final = ZCLAttributeDef(id=0x0221, type=t.uint32_t, access="r")
        debt_recovery_method_2: Final = ZCLAttributeDef(id=0x0222, type=t.enum8, access="r")
        debt_recovery_start_time_2: Final = ZCLAttributeDef(id=0x0223, type=t.UTCTime, access="r")
        debt_recovery_collection_time_2: Final = ZCLAttributeDef(
            id=0x0224, type=t.uint16_t, access="r"
        )
        debt_recovery_frequency_2: Final = ZCLAttributeDef(id=0x0226, type=t.enum8, access="r")
        debt_recovery_amount_2: Final = ZCLAttributeDef(id=0x0227, type=t.uint32_t, access="r")
        debt_recovery_top_up_percentage_2: Final = ZCLAttributeDef(
            id=0x0229, type=t.uint16_t, access="r"
        )
        debt_label_3: Final = ZCLAttributeDef(id=0x0230, type=t.LVBytes, access="r")
        debt_amount_3: Final = ZCLAttributeDef(id=0x0231, type=t.uint32_t, access="r")
        debt_recovery_method_3: Final = ZCLAttributeDef(id=0x0232, type=t.enum8, access="r")
        debt_recovery_start_time_3: Final = ZCLAttributeDef(id=0x0233, type=t.UTCTime, access="r")
        debt_recovery_collection_time_3: Final = ZCLAttributeDef(
            id=0x0234, type=t.uint16_t, access="r"
        )
        debt_recovery_frequency_3: Final = ZCLAttributeDef(id=0x0236, type=t.enum8, access="r")
        debt_recovery_amount_3: Final = ZCLAttributeDef(id=0x0237, type=t.uint32_t, access="r")
        debt_recovery_top_up_percentage_3: Final = ZCLAttributeDef(
            id=0x0239, type=t.uint16_t, access="r"
        )
        # Alarm set
        prepayment_alarm_status: Final = ZCLAttributeDef(id=0x0400, type=t.bitmap16, access="r")
        prepay_generic_alarm_mask: Final = ZCLAttributeDef(id=0x0401, type=t.bitmap16, access="rw")
        prepay_switch_alarm_mask: Final = ZCLAttributeDef(id=0x0402, type=t.bitmap16, access="rw")
        prepay_event_alarm_mask: Final = ZCLAttributeDef(id=0x0403, type=t.bitmap16, access="rw")
        # Historical Cost Consumption Information set (first entries)
        historical_cost_consumption_formatting: Final = ZCLAttributeDef(
            id=0x0500, type=t.bitmap8, access="r"
        )
        consumption_unit_of_measurement: Final = ZCLAttributeDef(
            id=0x0501, type=t.enum8, access="r"
        )
        currency_scaling_factor: Final = ZCLAttributeDef(id=0x0502, type=t.enum8, access="r")
        currency: Final = ZCLAttributeDef(id=0x0503, type=t.uint16_t, access="r")
        current_day_cost_consumption_delivered: Final = ZCLAttributeDef(
            id=0x051C, type=t.uint48_t, access="r"
        )
        current_day_cost_consumption_received: Final = ZCLAttributeDef(
            id=0x051D, type=t.uint48_t, access="r"
        )
        previous_day_cost_consumption_delivered: Final = ZCLAttributeDef(
            id=0x051E, type=t.uint48_t, access="r"
        )
        previous_day_cost_consumption_received: Final = ZCLAttributeDef(
            id=0x051F, type=t.uint48_t, access="r"
        )

    class ServerCommandDefs(BaseCommandDefs):
        select_available_emergency_credit: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "command_issue_date_time": t.UTCTime,
                "originating_device": OriginatingDevice,
                # Present in the zsmartsystems definition, absent from Wireshark's: optional
                "site_id?": t.LVBytes,
                "meter_serial_number?": t.LVBytes,
            },
        )
        # 0x01 is not defined
        change_debt: Final = ZCLCommandDef(
            id=0x02,
            schema={
                "issuer_event_id": t.uint32_t,
                "debt_label": t.LVBytes,
                "debt_amount": t.int32s,
                "debt_recovery_method": t.uint8_t,
                "debt_amount_type": t.uint8_t,
                "debt_recovery_start_time": t.UTCTime,
                "debt_recovery_collection_time": t.uint16_t,
                "debt_recovery_frequency": t.uint8_t,
                "debt_recovery_amount": t.int32s,
                # 16-bit (hundredths of a percent, max 10000) as the matching attribute
                "debt_recovery_balance_percentage": t.uint16_t,
            },
        )
        emergency_credit_setup: Final = ZCLCommandDef(
            id=0x03,
            schema={
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "emergency_credit_limit": t.uint32_t,
                "emergency_credit_threshold": t.uint32_t,
            },
        )
        consumer_top_up: Final = ZCLCommandDef(
            id=0x04,
            schema={"originating_device": OriginatingDevice, "top_up_code": t.LVBytes},
        )
        credit_adjustment: Final = ZCLCommandDef(
            id=0x05,
            schema={
                "issuer_event_id": t.uint32_t,
                "start_time": t.UTCTime,
                "credit_adjustment_type": t.uint8_t,
                "credit_adjustment_value": t.int32s,
            },
        )
        change_payment_mode: Final = ZCLCommandDef(
            id=0x06,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "implementation_date_time": t.UTCTime,
                "proposed_payment_control_configuration": PaymentControlConfiguration,
                "cut_off_value": t.int32s,
            },
        )
        get_prepay_snapshot: Final = ZCLCommandDef(
            id=0x07,
            schema={
                "earliest_start_time": t.UTCTime,
                "latest_end_time": t.UTCTime,
                "snapshot_offset": t.uint8_t,
                "snapshot_cause": t.bitmap32,
            },
        )
        get_top_up_log: Final = ZCLCommandDef(
            id=0x08, schema={"latest_end_time": t.UTCTime, "number_of_records": t.uint8_t}
        )
        set_low_credit_warning_level: Final = ZCLCommandDef(
            id=0x09, schema={"low_credit_warning_level": t.uint32_t}
        )
        get_debt_repayment_log: Final = ZCLCommandDef(
            id=0x0A,
            schema={
                "latest_end_time": t.UTCTime,
                "number_of_debts": t.uint8_t,
                "debt_type": t.uint8_t,
            },
        )
        set_maximum_credit_limit: Final = ZCLCommandDef(
            id=0x0B,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "implementation_date_time": t.UTCTime,
                "maximum_credit_level": t.uint32_t,
                "maximum_credit_per_top_up": t.uint32_t,
            },
        )
        set_overall_debt_cap: Final = ZCLCommandDef(
            id=0x0C,
            schema={
                "provider_id": t.uint32_t,
                "issuer_event_id": t.uint32_t,
                "implementation_date_time": t.UTCTime,
                "overall_debt_cap": t.int32s,
            },
        )

    class ClientCommandDefs(BaseCommandDefs):
        # 0x00 and 0x04 are not defined
        publish_prepay_snapshot: Final = ZCLCommandDef(
            id=0x01,
            schema={
                "snapshot_id": t.uint32_t,
                "snapshot_time": t.UTCTime,
                "total_snapshots_found": t.uint8_t,
                "command_index": t.uint8_t,
                "total_number_of_commands": t.uint8_t,
                "snapshot_cause": t.bitmap32,
                "snapshot_payload_type": t.uint8_t,
                # Layout depends on snapshot_payload_type and runs to the end of the frame
                "snapshot_payload": t.Bytes,
            },
        )
        change_payment_mode_response: Final = ZCLCommandDef(
            id=0x02,
            schema={
                "friendly_credit": t.bitmap8,
                "friendly_credit_calendar_id": t.uint32_t,
                "emergency_credit_limit": t.uint32_t,
                "emergency_credit_threshold": t.uint32_t,
            },
        )
        consumer_top_up_response: Final = ZCLCommandDef(
            id=0x03,
            schema={
                "result_type": TopUpResult,
                "top_up_value": t.int32s,
                "source_of_top_up": OriginatingDevice,
                "credit_remaining": t.int32s,
            },
        )
        publish_top_up_log: Final = ZCLCommandDef(
            id=0x05,
            schema={
                "command_index": t.uint8_t,
                "total_number_of_commands": t.uint8_t,
                "top_ups": t.List[TopUpLogEntry],
            },
        )
        publish_debt_log: Final = ZCLCommandDef(
            id=0x06,
            schema={
                "command_index": t.uint8_t,
                "total_number_of_commands": t.uint8_t,
                "debts": t.List[DebtLogEntry],
            },
        )


# ---------------------------------------------------------------------------------------------
# Key Establishment (0x0800)
# ---------------------------------------------------------------------------------------------


class KeyEstablishmentSuite(t.bitmap16):
    """CBKE suites; one bit per suite (the attribute's ZCL type is nonetheless enum16)."""

    Crypto_Suite_1 = 0x0001  # ECMQV on sect163k1, SE 1.x
    Crypto_Suite_2 = 0x0002  # ECMQV on sect283k1, SE 1.2+


class KeyEstablishmentStatus(t.enum8):
    """Status code of TerminateKeyEstablishment."""

    Unknown_Issuer = 0x01
    Bad_Key_Confirm = 0x02
    Bad_Message = 0x03
    No_Resources = 0x04
    Unsupported_Suite = 0x05
    Invalid_Certificate = 0x06


class Suite1Certificate(FixedLengthBytes, length=48):
    """sect163k1 implicit certificate: public key reconstruction data (22), subject (8),
    issuer (8) and profile attribute data (10)."""


class Suite1EphemeralData(FixedLengthBytes, length=22):
    """Compressed sect163k1 ephemeral public key."""


class KeyConfirmationMac(FixedLengthBytes, length=16):
    """MACU / MACV of the Confirm Key messages (one AES block)."""


_INITIATE_KEY_ESTABLISHMENT: Final = {
    "key_establishment_suite": KeyEstablishmentSuite,
    "ephemeral_data_generate_time": t.uint8_t,
    "confirm_key_generate_time": t.uint8_t,
    "identity": Suite1Certificate,
}
_TERMINATE_KEY_ESTABLISHMENT: Final = {
    "status_code": KeyEstablishmentStatus,
    "wait_time": t.uint8_t,
    "key_establishment_suite": KeyEstablishmentSuite,
}


class KeyEstablishment(smartenergy.KeyEstablishment):
    """Key Establishment (CBKE), suite 1: certificate-based link key agreement.

    The identity, ephemeral data and MAC fields have suite-1 sizes (48, 22 and 16 octets). A
    suite-2 exchange (74-octet certificate, 37-octet ephemeral data) needs other schemas.
    Key Establishment frames are protected by the network key only, never the APS link key.
    """

    KeyEstablishmentSuite: Final = KeyEstablishmentSuite
    KeyEstablishmentStatus: Final = KeyEstablishmentStatus

    cluster_id: Final[t.uint16_t] = 0x0800
    ep_attribute: Final = "smartenergy_key_establishment"

    class AttributeDefs(BaseAttributeDefs):
        # Same id and meaning on server and client
        key_establishment_suite: Final = ZCLAttributeDef(
            id=0x0000,
            type=KeyEstablishmentSuite,
            zcl_type=DataTypeId.enum16,
            access="r",
            mandatory=True,
        )

    class ServerCommandDefs(BaseCommandDefs):
        initiate_key_establishment_request: Final = ZCLCommandDef(
            id=0x00, schema=_INITIATE_KEY_ESTABLISHMENT
        )
        ephemeral_data_request: Final = ZCLCommandDef(
            id=0x01, schema={"ephemeral_data": Suite1EphemeralData}
        )
        confirm_key_data_request: Final = ZCLCommandDef(
            id=0x02, schema={"secure_message_authentication_code": KeyConfirmationMac}
        )
        terminate_key_establishment: Final = ZCLCommandDef(
            id=0x03, schema=_TERMINATE_KEY_ESTABLISHMENT
        )

    class ClientCommandDefs(BaseCommandDefs):
        initiate_key_establishment_response: Final = ZCLCommandDef(
            id=0x00, schema=_INITIATE_KEY_ESTABLISHMENT
        )
        ephemeral_data_response: Final = ZCLCommandDef(
            id=0x01, schema={"ephemeral_data": Suite1EphemeralData}
        )
        confirm_key_data_response: Final = ZCLCommandDef(
            id=0x02, schema={"secure_message_authentication_code": KeyConfirmationMac}
        )
        terminate_key_establishment_to_client: Final = ZCLCommandDef(
            id=0x03, schema=_TERMINATE_KEY_ESTABLISHMENT
        )


# ---------------------------------------------------------------------------------------------
# Installation and lookup
# ---------------------------------------------------------------------------------------------

SE_CLUSTERS: Final[tuple[type[Cluster], ...]] = (
    Price,
    Drlc,
    Messaging,
    Tunneling,
    Prepayment,
    KeyEstablishment,
)
"""The clusters this module declares (and so replaces in zigpy's registry)."""


def _install() -> None:
    """Make zigpy's public lookup tables agree with its registry, which subclassing updated."""
    for cluster in SE_CLUSTERS:
        if zigpy.zcl.Cluster._registry.get(cluster.cluster_id) is not cluster:
            raise RuntimeError(
                f"zigpy's registry holds {zigpy.zcl.Cluster._registry.get(cluster.cluster_id)!r}"
                f" for 0x{cluster.cluster_id:04X}, not {cluster.__qualname__}: another module"
                " declared the same cluster after this one"
            )
        zigpy.zcl.clusters.CLUSTERS_BY_ID[cluster.cluster_id] = cluster
        zigpy.zcl.clusters.CLUSTERS_BY_NAME[cluster.ep_attribute] = cluster


_install()


CLUSTERS_BY_NAME: Final[dict[str, type[Cluster]]] = {
    # General clusters, as zigpy declares them
    "basic": general.Basic,
    "power_configuration": general.PowerConfiguration,
    "identify": general.Identify,
    "alarms": general.Alarms,
    "time": general.Time,
    "ota": general.Ota,
    "poll_control": general.PollControl,
    "keep_alive": general.KeepAlive,
    # An ESME's auxiliary load control switch (the load a boost button drives) as ZCL On/Off
    "on_off": general.OnOff,
    # Smart Energy
    "price": Price,
    "drlc": Drlc,
    "metering": smartenergy.Metering,
    "messaging": Messaging,
    "tunneling": Tunneling,
    "prepayment": Prepayment,
    "key_establishment": KeyEstablishment,
}
"""Short cluster names used in device-profile YAML, mapped to the zigpy cluster classes."""
if tuple(CLUSTERS_BY_NAME) != CLUSTER_NAMES:  # the config layer checks profiles against those
    raise ImportError("harness.han.clusters.CLUSTERS_BY_NAME and "
                      "harness.config.types.CLUSTER_NAMES name different clusters")


def cluster_by_name(name: str) -> type[Cluster]:
    """Return the cluster class for a device-profile name; a typo fails with the valid names."""
    try:
        return CLUSTERS_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(CLUSTERS_BY_NAME))
        raise KeyError(f"unknown cluster name {name!r}; known names: {known}") from None
