"""Tests for harness.han.clusters: registry installation, literal ids, and frames that go
through zigpy's own ZCL machinery (header + schema serialize, cluster ``deserialize``)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
import zigpy.device
import zigpy.endpoint
import zigpy.types as t
import zigpy.zcl
import zigpy.zcl.clusters
from zigpy.zcl import foundation
from zigpy.zcl.clusters import general, smartenergy

from harness.han import clusters as se

TO_SERVER = foundation.Direction.Client_to_Server
TO_CLIENT = foundation.Direction.Server_to_Client

DECLARED = [
    (0x0700, se.Price, smartenergy.Price),
    (0x0701, se.Drlc, smartenergy.Drlc),
    (0x0703, se.Messaging, smartenergy.Messaging),
    (0x0704, se.Tunneling, smartenergy.Tunneling),
    (0x0705, se.Prepayment, smartenergy.Prepayment),
    (0x0800, se.KeyEstablishment, smartenergy.KeyEstablishment),
]


@pytest.fixture
def endpoint() -> zigpy.endpoint.Endpoint:
    """A real zigpy device and endpoint; only the controller application is a mock."""
    app = mock.MagicMock()
    app._dblistener = None
    device = zigpy.device.Device(app, t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0"), 0x1234)
    ep = device.add_endpoint(1)
    ep.profile_id = se.SE_PROFILE_ID
    return ep


def _send_and_parse(
    endpoint: zigpy.endpoint.Endpoint,
    cluster_cls: type[zigpy.zcl.Cluster],
    command: foundation.ZCLCommandDef,
    direction: foundation.Direction,
    **fields: Any,
) -> tuple[bytes, Any]:
    """Serialize a command frame as zigpy sends it and parse it with a receiving cluster.

    Server-received commands are parsed by the endpoint's server (input) cluster, client-received
    ones by its client (output) cluster, as zigpy routes them. Returns the payload bytes (without
    the ZCL header) and the parsed command.
    """
    payload = command.schema(**fields).serialize()
    header = foundation.ZCLHeader.cluster(tsn=0x5A, command_id=command.id, direction=direction)
    if direction == TO_SERVER:
        receiver = endpoint.add_input_cluster(cluster_cls.cluster_id)
    else:
        receiver = endpoint.add_output_cluster(cluster_cls.cluster_id)
    assert type(receiver) is cluster_cls

    parsed_header, parsed = receiver.deserialize(header.serialize() + payload)

    assert parsed_header.command_id == command.id
    assert parsed_header.direction == direction
    assert parsed_header.tsn == 0x5A
    assert type(parsed) is command.schema, "dispatched to the wrong command"
    assert parsed == command.schema(**fields)
    assert parsed.serialize() == payload, "the payload did not survive the round trip"
    return payload, parsed


# -- installation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("cluster_id", "cls", "stub"), DECLARED)
def test_registry_returns_declared_class(cluster_id, cls, stub):
    assert cls.cluster_id == cluster_id
    assert zigpy.zcl.Cluster._registry[cluster_id] is cls
    assert zigpy.zcl.clusters.CLUSTERS_BY_ID[cluster_id] is cls
    assert zigpy.zcl.clusters.CLUSTERS_BY_NAME[stub.ep_attribute] is cls
    # Existing zigpy code keeps finding the cluster by name and type
    assert issubclass(cls, stub)
    assert cls.ep_attribute == stub.ep_attribute
    assert cls in se.SE_CLUSTERS


def test_registry_literal_ids():
    registry = zigpy.zcl.Cluster._registry
    assert registry[0x0700] is se.Price
    assert registry[0x0701] is se.Drlc
    assert registry[0x0703] is se.Messaging
    assert registry[0x0704] is se.Tunneling
    assert registry[0x0705] is se.Prepayment
    assert registry[0x0800] is se.KeyEstablishment
    assert registry[0x0702] is smartenergy.Metering  # zigpy's own, untouched


def test_endpoint_builds_declared_clusters(endpoint):
    price = endpoint.add_input_cluster(0x0700)
    messaging = endpoint.add_output_cluster(0x0703)
    assert isinstance(price, se.Price)
    assert endpoint.smartenergy_price is price
    assert isinstance(messaging, se.Messaging)
    assert isinstance(zigpy.zcl.Cluster.from_id(endpoint, 0x0705), se.Prepayment)


def test_se_profile_id():
    assert se.SE_PROFILE_ID == 0x0109


def test_no_command_name_used_in_both_directions():
    # zigpy's Cluster.__getattr__ looks in ClientCommandDefs first: a shared name would send
    # the client-received command id when the server-received one was meant.
    for cls in se.SE_CLUSTERS:
        server = {c.name for c in cls.ServerCommandDefs}
        client = {c.name for c in cls.ClientCommandDefs}
        assert not server & client, cls.__name__


# -- literal ids and types ---------------------------------------------------------------------

ATTRIBUTE_IDS = [
    (se.Price, "tier1_price_label", 0x0000, foundation.DataTypeId.octstr),
    (se.Price, "tier6_price_label", 0x0005, foundation.DataTypeId.octstr),
    (se.Price, "block1_threshold", 0x0100, foundation.DataTypeId.uint48),
    (se.Price, "block5_threshold", 0x0104, foundation.DataTypeId.uint48),
    (se.Price, "block_threshold_count", 0x010F, foundation.DataTypeId.uint8),
    (se.Price, "start_of_block_period", 0x0200, foundation.DataTypeId.UTC),
    (se.Price, "commodity_type", 0x0300, foundation.DataTypeId.enum8),
    (se.Price, "standing_charge", 0x0301, foundation.DataTypeId.uint32),
    (se.Price, "conversion_factor", 0x0302, foundation.DataTypeId.uint32),
    (se.Price, "calorific_value", 0x0304, foundation.DataTypeId.uint32),
    (se.Price, "no_tier_block1_price", 0x0400, foundation.DataTypeId.uint32),
    (se.Price, "tier2_block1_price", 0x0420, foundation.DataTypeId.uint32),
    (se.Drlc, "device_class_value", 0x0003, foundation.DataTypeId.uint16),
    (se.Tunneling, "close_tunnel_timeout", 0x0000, foundation.DataTypeId.uint16),
    (se.Prepayment, "payment_control_configuration", 0x0000, foundation.DataTypeId.map16),
    (se.Prepayment, "credit_remaining", 0x0001, foundation.DataTypeId.int32),
    (se.Prepayment, "emergency_credit_remaining", 0x0002, foundation.DataTypeId.int32),
    (se.Prepayment, "credit_status", 0x0003, foundation.DataTypeId.map8),
    (se.Prepayment, "credit_remaining_timestamp", 0x0004, foundation.DataTypeId.UTC),
    (se.Prepayment, "accumulated_debt", 0x0005, foundation.DataTypeId.int32),
    (se.Prepayment, "overall_debt_cap", 0x0006, foundation.DataTypeId.int32),
    (se.Prepayment, "emergency_credit_limit_allowance", 0x0010, foundation.DataTypeId.uint32),
    (se.Prepayment, "emergency_credit_threshold", 0x0011, foundation.DataTypeId.uint32),
    (se.Prepayment, "total_credit_added", 0x0020, foundation.DataTypeId.uint48),
    (se.Prepayment, "max_credit_limit", 0x0021, foundation.DataTypeId.uint32),
    (se.Prepayment, "max_credit_per_top_up", 0x0022, foundation.DataTypeId.uint32),
    (se.Prepayment, "friendly_credit_warning", 0x0030, foundation.DataTypeId.uint8),
    (se.Prepayment, "low_credit_warning_level", 0x0031, foundation.DataTypeId.uint32),
    (se.Prepayment, "cut_off_value", 0x0040, foundation.DataTypeId.int32),
    (se.Prepayment, "top_up_date_time_1", 0x0100, foundation.DataTypeId.UTC),
    (se.Prepayment, "top_up_code_5", 0x0143, foundation.DataTypeId.octstr),
    (se.Prepayment, "debt_label_1", 0x0210, foundation.DataTypeId.octstr),
    (se.Prepayment, "debt_recovery_top_up_percentage_3", 0x0239, foundation.DataTypeId.uint16),
    (se.KeyEstablishment, "key_establishment_suite", 0x0000, foundation.DataTypeId.enum16),
]


@pytest.mark.parametrize(("cls", "name", "attr_id", "zcl_type"), ATTRIBUTE_IDS)
def test_attribute_id_and_type(cls, name, attr_id, zcl_type):
    definition = cls.attributes_by_name[name]
    assert definition.id == attr_id
    assert definition.zcl_type == zcl_type
    assert cls.attributes[attr_id] is definition


COMMAND_IDS = [
    (se.Price, "server", "get_current_price", 0x00),
    (se.Price, "server", "get_scheduled_prices", 0x01),
    (se.Price, "server", "price_acknowledgement", 0x02),
    (se.Price, "server", "get_block_periods", 0x03),
    (se.Price, "client", "publish_price", 0x00),
    (se.Price, "client", "publish_block_period", 0x01),
    (se.Drlc, "server", "report_event_status", 0x00),
    (se.Drlc, "server", "get_scheduled_events", 0x01),
    (se.Drlc, "client", "load_control_event", 0x00),
    (se.Drlc, "client", "cancel_load_control_event", 0x01),
    (se.Drlc, "client", "cancel_all_load_control_events", 0x02),
    (se.Messaging, "server", "get_last_message", 0x00),
    (se.Messaging, "server", "message_confirmation", 0x01),
    (se.Messaging, "client", "display_message", 0x00),
    (se.Messaging, "client", "cancel_message", 0x01),
    (se.Tunneling, "server", "request_tunnel", 0x00),
    (se.Tunneling, "server", "close_tunnel", 0x01),
    (se.Tunneling, "server", "transfer_data", 0x02),
    (se.Tunneling, "server", "transfer_data_error", 0x03),
    (se.Tunneling, "server", "ack_transfer_data", 0x04),
    (se.Tunneling, "server", "ready_data", 0x05),
    (se.Tunneling, "server", "get_supported_tunnel_protocols", 0x06),
    (se.Tunneling, "client", "request_tunnel_response", 0x00),
    (se.Tunneling, "client", "transfer_data_to_client", 0x01),
    (se.Tunneling, "client", "transfer_data_error_to_client", 0x02),
    (se.Tunneling, "client", "ack_transfer_data_to_client", 0x03),
    (se.Tunneling, "client", "ready_data_to_client", 0x04),
    (se.Tunneling, "client", "supported_tunnel_protocols_response", 0x05),
    (se.Tunneling, "client", "tunnel_closure_notification", 0x06),
    (se.Prepayment, "server", "select_available_emergency_credit", 0x00),
    (se.Prepayment, "server", "change_debt", 0x02),
    (se.Prepayment, "server", "emergency_credit_setup", 0x03),
    (se.Prepayment, "server", "consumer_top_up", 0x04),
    (se.Prepayment, "server", "credit_adjustment", 0x05),
    (se.Prepayment, "server", "change_payment_mode", 0x06),
    (se.Prepayment, "server", "get_prepay_snapshot", 0x07),
    (se.Prepayment, "server", "get_top_up_log", 0x08),
    (se.Prepayment, "server", "set_low_credit_warning_level", 0x09),
    (se.Prepayment, "server", "get_debt_repayment_log", 0x0A),
    (se.Prepayment, "server", "set_maximum_credit_limit", 0x0B),
    (se.Prepayment, "server", "set_overall_debt_cap", 0x0C),
    (se.Prepayment, "client", "publish_prepay_snapshot", 0x01),
    (se.Prepayment, "client", "change_payment_mode_response", 0x02),
    (se.Prepayment, "client", "consumer_top_up_response", 0x03),
    (se.Prepayment, "client", "publish_top_up_log", 0x05),
    (se.Prepayment, "client", "publish_debt_log", 0x06),
    (se.KeyEstablishment, "server", "initiate_key_establishment_request", 0x00),
    (se.KeyEstablishment, "server", "ephemeral_data_request", 0x01),
    (se.KeyEstablishment, "server", "confirm_key_data_request", 0x02),
    (se.KeyEstablishment, "server", "terminate_key_establishment", 0x03),
    (se.KeyEstablishment, "client", "initiate_key_establishment_response", 0x00),
    (se.KeyEstablishment, "client", "ephemeral_data_response", 0x01),
    (se.KeyEstablishment, "client", "confirm_key_data_response", 0x02),
    (se.KeyEstablishment, "client", "terminate_key_establishment_to_client", 0x03),
]


@pytest.mark.parametrize(("cls", "side", "name", "command_id"), COMMAND_IDS)
def test_command_id(cls, side, name, command_id):
    defs, by_id = (
        (cls.ServerCommandDefs, cls.server_commands)
        if side == "server"
        else (cls.ClientCommandDefs, cls.client_commands)
    )
    assert getattr(defs, name).id == command_id
    assert by_id[command_id].name == name


# -- Price -------------------------------------------------------------------------------------

PUBLISH_PRICE_MANDATORY = {
    "provider_id": 0x00000001,
    "rate_label": b"STD",
    "issuer_event_id": 0x11223344,
    "current_time": 0x12345678,
    "unit_of_measure": 0x00,  # kWh
    "currency": 826,  # GBP, ISO 4217
    "price_trailing_digit_and_price_tier": 0x21,
    "number_of_price_tiers_and_register_tier": 0x41,
    "start_time": 0,
    "duration_in_minutes": 0xFFFF,
    "price": 1523,
}

# The same fields laid out by hand from the Wireshark dissector's field order
PUBLISH_PRICE_MANDATORY_BYTES = bytes.fromhex(
    "01000000"  # provider id
    "03535444"  # rate label, octet string "STD"
    "44332211"  # issuer event id
    "78563412"  # current time
    "00"  # unit of measure
    "3a03"  # currency
    "21"  # trailing digit / price tier
    "41"  # number of tiers / register tier
    "00000000"  # start time (now)
    "ffff"  # duration (until changed)
    "f3050000"  # price
)


def test_publish_price_full_round_trip(endpoint):
    fields = {
        **PUBLISH_PRICE_MANDATORY,
        "price_ratio": 0xFF,
        "generation_price": 0xFFFFFFFF,
        "generation_price_ratio": 0xFF,
        "alternate_cost_delivered": 0xFFFFFFFF,
        "alternate_cost_unit": 0xFF,
        "alternate_cost_trailing_digit": 0x00,
        "number_of_block_thresholds": 0,
        "price_control": 0x01,
        "number_of_generation_tiers": 0,
        "generation_tier": 0,
        "extended_number_of_price_tiers": 0,
        "extended_price_tier": 0,
        "extended_register_tier": 0,
    }
    payload, parsed = _send_and_parse(
        endpoint, se.Price, se.Price.ClientCommandDefs.publish_price, TO_CLIENT, **fields
    )
    assert payload.startswith(PUBLISH_PRICE_MANDATORY_BYTES)
    # price ratio 1 + generation price 4 + ratio 1 + alternate cost 4 + unit 1 + digit 1
    # + thresholds 1 + control 1 + five SE 1.2 bytes
    assert len(payload) == len(PUBLISH_PRICE_MANDATORY_BYTES) + 19
    assert parsed.rate_label == b"STD"
    assert parsed.price == 1523
    assert parsed.price_control == 0x01


def test_publish_price_from_se_1_0_device_stops_after_price(endpoint):
    cluster = endpoint.add_output_cluster(se.Price.cluster_id)
    header = foundation.ZCLHeader.cluster(tsn=1, command_id=0x00, direction=TO_CLIENT)

    _, parsed = cluster.deserialize(header.serialize() + PUBLISH_PRICE_MANDATORY_BYTES)

    assert parsed == se.Price.ClientCommandDefs.publish_price.schema(**PUBLISH_PRICE_MANDATORY)
    assert parsed.currency == 826
    assert parsed.price_ratio is None
    assert parsed.price_control is None


def test_publish_block_period_round_trip(endpoint):
    payload, _ = _send_and_parse(
        endpoint,
        se.Price,
        se.Price.ClientCommandDefs.publish_block_period,
        TO_CLIENT,
        provider_id=7,
        issuer_event_id=0x0100,
        block_period_start_time=0x2A000000,
        block_period_duration=0x00FFFF,
        block_period_control=0x02,
        block_period_duration_type=0x01,
        tariff_type=0x00,
        tariff_resolution_period=0x01,
    )
    assert len(payload) == 4 + 4 + 4 + 3 + 1 + 1 + 1 + 1
    assert payload[12:15] == b"\xff\xff\x00"  # 24-bit duration, little endian


def test_get_block_periods_and_price_acknowledgement(endpoint):
    _send_and_parse(
        endpoint,
        se.Price,
        se.Price.ServerCommandDefs.get_block_periods,
        TO_SERVER,
        start_time=0,
        number_of_events=2,
    )
    payload, _ = _send_and_parse(
        endpoint,
        se.Price,
        se.Price.ServerCommandDefs.price_acknowledgement,
        TO_SERVER,
        provider_id=1,
        issuer_event_id=0xDEADBEEF,
        price_ack_time=0x12345678,
        control=0x01,
    )
    assert payload == bytes.fromhex("01000000 efbeadde 78563412 01")


def test_publish_price_matrix_list(endpoint):
    _, parsed = _send_and_parse(
        endpoint,
        se.Price,
        se.Price.ClientCommandDefs.publish_price_matrix,
        TO_CLIENT,
        provider_id=1,
        issuer_event_id=2,
        start_time=3,
        issuer_tariff_id=4,
        command_index=0,
        total_number_of_commands=1,
        sub_payload_control=0x01,
        price_matrix=[
            se.PriceMatrixEntry(tier_block_id=1, price=1500),
            se.PriceMatrixEntry(tier_block_id=2, price=2750),
        ],
    )
    assert [entry.price for entry in parsed.price_matrix] == [1500, 2750]


# -- Messaging ---------------------------------------------------------------------------------


def test_display_message_with_text(endpoint):
    text = "Credit low: £5.00 left"
    payload, parsed = _send_and_parse(
        endpoint,
        se.Messaging,
        se.Messaging.ClientCommandDefs.display_message,
        TO_CLIENT,
        message_id=0x0000002A,
        message_control=0x80,  # confirmation required
        start_time=0,
        duration_in_minutes=60,
        message=text,
        extended_message_control=0x00,
    )
    encoded = text.encode("utf-8")
    assert payload == (
        bytes.fromhex("2a000000 80 00000000 3c00")
        + bytes([len(encoded)])  # octets, not characters: '£' is two octets
        + encoded
        + b"\x00"
    )
    assert parsed.message == text


def test_display_message_without_extended_control(endpoint):
    _, parsed = _send_and_parse(
        endpoint,
        se.Messaging,
        se.Messaging.ClientCommandDefs.display_message,
        TO_CLIENT,
        message_id=1,
        message_control=0x00,
        start_time=0,
        duration_in_minutes=0xFFFF,
        message="Hello",
    )
    assert parsed.message == "Hello"
    assert parsed.extended_message_control is None


def test_display_protected_message_has_its_own_command(endpoint):
    _, parsed = _send_and_parse(
        endpoint,
        se.Messaging,
        se.Messaging.ClientCommandDefs.display_protected_message,
        TO_CLIENT,
        message_id=2,
        message_control=0x00,
        start_time=0,
        duration_in_minutes=1,
        message="PIN",
    )
    assert parsed.command.id == 0x02


def test_message_confirmation_and_get_last_message(endpoint):
    _, minimal = _send_and_parse(
        endpoint,
        se.Messaging,
        se.Messaging.ServerCommandDefs.message_confirmation,
        TO_SERVER,
        message_id=0x2A,
        confirmation_time=0x12345678,
    )
    assert minimal.message_confirmation_control is None
    _, enhanced = _send_and_parse(
        endpoint,
        se.Messaging,
        se.Messaging.ServerCommandDefs.message_confirmation,
        TO_SERVER,
        message_id=0x2A,
        confirmation_time=0x12345678,
        message_confirmation_control=0x01,
        message_confirmation_response=b"YES",
    )
    assert enhanced.message_confirmation_response == b"YES"
    payload, _ = _send_and_parse(
        endpoint, se.Messaging, se.Messaging.ServerCommandDefs.get_last_message, TO_SERVER
    )
    assert payload == b""


# -- Tunneling ---------------------------------------------------------------------------------

TUNNEL_PAYLOADS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00", id="nul"),
    pytest.param(b"\xff", id="ff"),
    pytest.param(b"\x00\xff\x00\xff\x7e\x00", id="mixed"),
    pytest.param(bytes(range(256)) * 2, id="every-octet-twice"),
]


@pytest.mark.parametrize("data", TUNNEL_PAYLOADS)
def test_transfer_data_to_server_carries_raw_bytes(endpoint, data):
    payload, parsed = _send_and_parse(
        endpoint,
        se.Tunneling,
        se.Tunneling.ServerCommandDefs.transfer_data,
        TO_SERVER,
        tunnel_id=0x1234,
        data=data,
    )
    assert payload == b"\x34\x12" + data  # no length prefix: the data runs to the frame end
    assert parsed.data == data
    assert parsed.tunnel_id == 0x1234


@pytest.mark.parametrize("data", TUNNEL_PAYLOADS)
def test_transfer_data_to_client_carries_raw_bytes(endpoint, data):
    payload, parsed = _send_and_parse(
        endpoint,
        se.Tunneling,
        se.Tunneling.ClientCommandDefs.transfer_data_to_client,
        TO_CLIENT,
        tunnel_id=0x0001,
        data=data,
    )
    assert payload == b"\x01\x00" + data
    assert parsed.data == data


def test_request_tunnel_and_response(endpoint):
    payload, _ = _send_and_parse(
        endpoint,
        se.Tunneling,
        se.Tunneling.ServerCommandDefs.request_tunnel,
        TO_SERVER,
        protocol_id=se.TunnelProtocol.GB_HRGP,
        manufacturer_code=0xFFFF,
        flow_control_support=t.Bool.false,
        maximum_incoming_transfer_size=1500,
    )
    assert payload == bytes.fromhex("06 ffff 00 dc05")
    _, response = _send_and_parse(
        endpoint,
        se.Tunneling,
        se.Tunneling.ClientCommandDefs.request_tunnel_response,
        TO_CLIENT,
        tunnel_id=7,
        tunnel_status=se.TunnelStatus.Success,
        maximum_incoming_transfer_size=1500,
    )
    assert response.tunnel_status is se.TunnelStatus.Success


def test_supported_tunnel_protocols_response_counted_list(endpoint):
    protocols = [
        se.SupportedTunnelProtocol(
            manufacturer_code=0xFFFF, protocol_id=se.TunnelProtocol.DLMS_COSEM
        ),
        se.SupportedTunnelProtocol(manufacturer_code=0x1234, protocol_id=200),
    ]
    payload, parsed = _send_and_parse(
        endpoint,
        se.Tunneling,
        se.Tunneling.ClientCommandDefs.supported_tunnel_protocols_response,
        TO_CLIENT,
        protocol_list_complete=t.Bool.true,
        protocol_count=2,
        protocols=protocols,
    )
    assert payload == bytes.fromhex("01 02 ffff00 3412c8")
    assert parsed.protocols[0].protocol_id is se.TunnelProtocol.DLMS_COSEM


# -- Prepayment --------------------------------------------------------------------------------


def test_consumer_top_up(endpoint):
    code = b"12345678901234567890"
    payload, parsed = _send_and_parse(
        endpoint,
        se.Prepayment,
        se.Prepayment.ServerCommandDefs.consumer_top_up,
        TO_SERVER,
        originating_device=se.OriginatingDevice.In_Home_Display,
        top_up_code=code,
    )
    assert payload == b"\x02" + bytes([len(code)]) + code
    assert parsed.originating_device is se.OriginatingDevice.In_Home_Display
    assert parsed.top_up_code == code


def test_consumer_top_up_response_signed_amounts(endpoint):
    payload, parsed = _send_and_parse(
        endpoint,
        se.Prepayment,
        se.Prepayment.ClientCommandDefs.consumer_top_up_response,
        TO_CLIENT,
        result_type=se.TopUpResult.Accepted,
        top_up_value=1000,
        source_of_top_up=se.OriginatingDevice.Meter,
        credit_remaining=-250,
    )
    assert payload == bytes.fromhex("00 e8030000 01 06ffffff")
    assert parsed.credit_remaining == -250


def test_select_emergency_credit_with_and_without_se_1_1_fields(endpoint):
    command = se.Prepayment.ServerCommandDefs.select_available_emergency_credit
    _, short = _send_and_parse(
        endpoint,
        se.Prepayment,
        command,
        TO_SERVER,
        command_issue_date_time=0x12345678,
        originating_device=se.OriginatingDevice.In_Home_Display,
    )
    assert short.site_id is None
    _send_and_parse(
        endpoint,
        se.Prepayment,
        command,
        TO_SERVER,
        command_issue_date_time=0x12345678,
        originating_device=se.OriginatingDevice.In_Home_Display,
        site_id=b"SITE",
        meter_serial_number=b"E12Z000001",
    )


def test_change_payment_mode(endpoint):
    mode = (
        se.PaymentControlConfiguration.Prepayment_Enabled
        | se.PaymentControlConfiguration.Credit_Display_Enabled
    )
    payload, parsed = _send_and_parse(
        endpoint,
        se.Prepayment,
        se.Prepayment.ServerCommandDefs.change_payment_mode,
        TO_SERVER,
        provider_id=1,
        issuer_event_id=2,
        implementation_date_time=0,
        proposed_payment_control_configuration=mode,
        cut_off_value=-500,
    )
    assert payload[12:14] == b"\x12\x00"
    assert parsed.proposed_payment_control_configuration == mode


def test_publish_top_up_and_debt_logs(endpoint):
    _, top_ups = _send_and_parse(
        endpoint,
        se.Prepayment,
        se.Prepayment.ClientCommandDefs.publish_top_up_log,
        TO_CLIENT,
        command_index=0,
        total_number_of_commands=1,
        top_ups=[
            se.TopUpLogEntry(top_up_code=b"1111", top_up_amount=500, top_up_time=100),
            se.TopUpLogEntry(top_up_code=b"2222", top_up_amount=-20, top_up_time=200),
        ],
    )
    assert [e.top_up_amount for e in top_ups.top_ups] == [500, -20]
    _, debts = _send_and_parse(
        endpoint,
        se.Prepayment,
        se.Prepayment.ClientCommandDefs.publish_debt_log,
        TO_CLIENT,
        command_index=0,
        total_number_of_commands=1,
        debts=[
            se.DebtLogEntry(
                collection_time=1, amount_collected=30, debt_type=0, outstanding_debt=970
            )
        ],
    )
    assert debts.debts[0].outstanding_debt == 970


# -- DRLC --------------------------------------------------------------------------------------


def test_load_control_event_and_report(endpoint):
    payload, _ = _send_and_parse(
        endpoint,
        se.Drlc,
        se.Drlc.ClientCommandDefs.load_control_event,
        TO_CLIENT,
        issuer_event_id=0x01020304,
        device_class=0x0004,  # water heater
        utility_enrollment_group=0,
        start_time=0,
        duration_in_minutes=30,
        criticality_level=0x07,
        cooling_temperature_offset=0xFF,
        heating_temperature_offset=0xFF,
        cooling_temperature_set_point=-32768,  # 0x8000, not used
        heating_temperature_set_point=-32768,
        average_load_adjustment_percentage=-128,  # 0x80, not used
        duty_cycle=0xFF,
        event_control=0x01,
    )
    assert len(payload) == 23
    signature = bytes(range(42))
    _, report = _send_and_parse(
        endpoint,
        se.Drlc,
        se.Drlc.ServerCommandDefs.report_event_status,
        TO_SERVER,
        issuer_event_id=0x01020304,
        event_status=0x02,
        event_status_time=0x12345678,
        criticality_level_applied=0x07,
        cooling_temperature_set_point_applied=-32768,
        heating_temperature_set_point_applied=-32768,
        average_load_adjustment_percentage_applied=-128,
        duty_cycle_applied=0xFF,
        event_control=0x01,
        signature_type=0x01,
        signature=signature,
    )
    assert report.signature == signature


# -- Key Establishment -------------------------------------------------------------------------

CERTIFICATE = bytes(range(48))


def test_initiate_key_establishment_request(endpoint):
    payload, parsed = _send_and_parse(
        endpoint,
        se.KeyEstablishment,
        se.KeyEstablishment.ServerCommandDefs.initiate_key_establishment_request,
        TO_SERVER,
        key_establishment_suite=se.KeyEstablishmentSuite.Crypto_Suite_1,
        ephemeral_data_generate_time=10,
        confirm_key_generate_time=15,
        identity=CERTIFICATE,
    )
    assert payload == b"\x01\x00\x0a\x0f" + CERTIFICATE
    assert parsed.identity == CERTIFICATE


def test_key_establishment_exchange_sizes(endpoint):
    _send_and_parse(
        endpoint,
        se.KeyEstablishment,
        se.KeyEstablishment.ClientCommandDefs.ephemeral_data_response,
        TO_CLIENT,
        ephemeral_data=b"\x03" + bytes(21),
    )
    _send_and_parse(
        endpoint,
        se.KeyEstablishment,
        se.KeyEstablishment.ServerCommandDefs.confirm_key_data_request,
        TO_SERVER,
        secure_message_authentication_code=bytes(16),
    )
    payload, _ = _send_and_parse(
        endpoint,
        se.KeyEstablishment,
        se.KeyEstablishment.ClientCommandDefs.terminate_key_establishment_to_client,
        TO_CLIENT,
        status_code=se.KeyEstablishmentStatus.Unknown_Issuer,
        wait_time=30,
        key_establishment_suite=se.KeyEstablishmentSuite.Crypto_Suite_1,
    )
    assert payload == bytes.fromhex("01 1e 0100")


def test_certificate_of_wrong_length_is_refused(endpoint):
    schema = se.KeyEstablishment.ServerCommandDefs.initiate_key_establishment_request.schema
    request = schema(
        key_establishment_suite=se.KeyEstablishmentSuite.Crypto_Suite_1,
        ephemeral_data_generate_time=10,
        confirm_key_generate_time=15,
        identity=CERTIFICATE[:47],
    )
    with pytest.raises(ValueError, match="48"):
        request.serialize()

    cluster = endpoint.add_input_cluster(se.KeyEstablishment.cluster_id)
    header = foundation.ZCLHeader.cluster(tsn=1, command_id=0x00, direction=TO_SERVER)
    truncated = header.serialize() + b"\x01\x00\x0a\x0f" + CERTIFICATE[:20]
    with pytest.raises(ValueError, match="48"):
        cluster.deserialize(truncated)


# -- names -------------------------------------------------------------------------------------


def test_cluster_by_name():
    assert se.cluster_by_name("price") is se.Price
    assert se.cluster_by_name("drlc") is se.Drlc
    assert se.cluster_by_name("messaging") is se.Messaging
    assert se.cluster_by_name("tunneling") is se.Tunneling
    assert se.cluster_by_name("prepayment") is se.Prepayment
    assert se.cluster_by_name("key_establishment") is se.KeyEstablishment
    assert se.cluster_by_name("metering") is smartenergy.Metering
    assert se.cluster_by_name("basic") is general.Basic
    assert se.cluster_by_name("identify") is general.Identify
    assert se.cluster_by_name("time") is general.Time
    assert se.cluster_by_name("ota") is general.Ota


def test_cluster_by_name_unknown_lists_known_names():
    with pytest.raises(KeyError) as excinfo:
        se.cluster_by_name("pricing")
    message = str(excinfo.value)
    assert "'pricing'" in message
    for name in ("basic", "metering", "prepayment", "tunneling"):
        assert name in message


def test_every_named_cluster_is_registered_in_zigpy():
    for name, cls in se.CLUSTERS_BY_NAME.items():
        assert zigpy.zcl.Cluster._registry[cls.cluster_id] is cls, name
