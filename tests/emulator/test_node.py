"""harness.emulator.node (with zcl and clusters): one emulated node against a recording radio.

Requests are real serialized ZDO/ZCL frames built with zigpy's types; answers are parsed back
with zigpy's schemas. The radio here records what the node transmits and decides joins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation

from harness.config import InstallCode, load_catalogue
from harness.emulator.devices import EmulatedDevice, build_device
from harness.emulator.node import EmulatedNode
from harness.han.clusters import SE_PROFILE_ID
from harness.runtime import BenchRuntime

GC = foundation.GeneralCommand
Status = foundation.Status
TO_SERVER = foundation.Direction.Client_to_Server
TO_CLIENT = foundation.Direction.Server_to_Client
BASIC, IDENTIFY, METERING, PRICE = 0x0000, 0x0003, 0x0702, 0x0700
UNKNOWN_CLUSTER = 0x0B04  # Electrical Measurement: not on the reference ESME
EUI = "00-1B-C5-0C-00-00-00-01"
NODE_NWK = t.NWK(0x2001)


class RecordingRadio:
    """Stands in for the virtual radio: records transmissions, decides join requests."""

    def __init__(self) -> None:
        self.sent: list[t.ZigbeePacket] = []
        self.accept_joins = True
        self.in_device_log = True
        self.join_times: list[float] = []
        self.left: list[t.EUI64] = []

    def attach_node(self, node: EmulatedNode) -> None:
        self.node = node

    def deliver_from_node(self, node: EmulatedNode, packet: t.ZigbeePacket) -> None:
        self.sent.append(packet)

    def join_request(self, node: EmulatedNode, link_key: t.KeyData) -> bool:
        self.join_times.append(asyncio.get_running_loop().time())
        if not self.accept_joins or link_key != node.install_code.link_key:
            return False
        node.nwk = NODE_NWK
        node.joined = True
        return True

    def rejoin_request(self, node: EmulatedNode) -> bool:
        return self.in_device_log

    def node_left(self, node: EmulatedNode) -> None:
        self.left.append(node.ieee)


@pytest.fixture(scope="module")
def catalogue() -> Any:
    return load_catalogue()


@pytest.fixture
def runtime() -> Iterator[BenchRuntime]:
    rt = BenchRuntime(virtual=True)
    try:
        yield rt
    finally:
        rt.shutdown()


@pytest.fixture
def radio() -> RecordingRadio:
    return RecordingRadio()


@pytest.fixture
def esme(runtime, radio, catalogue) -> EmulatedDevice:
    """The reference ESME, powered and joined (the radio accepts it at once)."""
    device = build_device(
        radio, runtime.clock, role="ESME", profile=catalogue.profile("ref-esme-1.0.0"),
        eui=EUI, install_code=InstallCode.with_crc(bytes(range(16))),
    )
    runtime.call(device.node.power_on)
    assert device.node.joined
    radio.sent.clear()
    return device


# -- frames in and out ----------------------------------------------------------------------------


def _packet(node: EmulatedNode, cluster: int, data: bytes, *, dst_ep: int | None = None,
            profile: int = SE_PROFILE_ID, broadcast: bool = False) -> t.ZigbeePacket:
    dst = (t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=t.NWK(0xFFFD))
           if broadcast else t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=node.nwk))
    return t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)),
        src_ep=0 if dst_ep == 0 else 1,
        dst=dst,
        dst_ep=node.endpoint if dst_ep is None else dst_ep,
        profile_id=0 if dst_ep == 0 else profile,
        cluster_id=cluster,
        data=t.SerializableBytes(data),
    )


def _send(runtime, radio, node, packet) -> list[t.ZigbeePacket]:
    """Deliver one frame to the node; what it transmitted in answer."""
    radio.sent.clear()
    runtime.call(lambda: node.receive(packet))
    return list(radio.sent)


def _zcl(runtime, radio, node, cluster: int, hdr: foundation.ZCLHeader,
         payload: bytes = b"", **kw: Any) -> list[t.ZigbeePacket]:
    return _send(runtime, radio, node, _packet(node, cluster, hdr.serialize() + payload, **kw))


def _general(command: int, **fields: Any) -> bytes:
    return foundation.GENERAL_COMMANDS[command].schema(**fields).serialize()


def _parse(packet: t.ZigbeePacket) -> tuple[foundation.ZCLHeader, Any]:
    hdr, rest = foundation.ZCLHeader.deserialize(packet.data.serialize())
    if hdr.frame_control.is_cluster:
        return hdr, rest
    body, _ = foundation.GENERAL_COMMANDS[hdr.command_id].schema.deserialize(rest)
    return hdr, body


def _default_response(packets: list[t.ZigbeePacket]) -> Any:
    assert len(packets) == 1, packets
    hdr, body = _parse(packets[0])
    assert hdr.command_id == GC.Default_Response
    return hdr, body


def _read(runtime, radio, node, cluster: int, *attrids: int, tsn: int = 1) -> dict[int, Any]:
    hdr = foundation.ZCLHeader.general(tsn, GC.Read_Attributes, direction=TO_SERVER)
    (reply,) = _zcl(runtime, radio, node, cluster, hdr,
                    _general(GC.Read_Attributes, attribute_ids=list(attrids)))
    rhdr, body = _parse(reply)
    assert (rhdr.command_id, rhdr.tsn, rhdr.direction) == (GC.Read_Attributes_rsp, tsn, TO_CLIENT)
    return {r.attrid: (r.value.value if r.status == Status.SUCCESS else r.status)
            for r in body.status_records}


def _write(runtime, radio, node, cluster: int, attrid: int, type_: int, value: Any) -> Any:
    hdr = foundation.ZCLHeader.general(2, GC.Write_Attributes, direction=TO_SERVER)
    record = foundation.Attribute(attrid=attrid,
                                  value=foundation.TypeValue(type=type_, value=value))
    (reply,) = _zcl(runtime, radio, node, cluster, hdr,
                    _general(GC.Write_Attributes, attributes=[record]))
    rhdr, body = _parse(reply)
    assert rhdr.command_id == GC.Write_Attributes_rsp
    return body.status_records[0].status


# -- Default Responses ----------------------------------------------------------------------------


def test_unknown_cluster_gets_unsupported_cluster(runtime, radio, esme):
    node = esme.node
    hdr = foundation.ZCLHeader.general(17, GC.Read_Attributes, direction=TO_SERVER)
    replies = _zcl(runtime, radio, node, UNKNOWN_CLUSTER, hdr,
                   _general(GC.Read_Attributes, attribute_ids=[0]))
    rhdr, body = _default_response(replies)
    assert body.status == Status.UNSUPPORTED_CLUSTER
    assert body.command_id == GC.Read_Attributes
    assert (rhdr.tsn, rhdr.direction) == (17, TO_CLIENT)
    assert replies[0].cluster_id == UNKNOWN_CLUSTER
    assert replies[0].profile_id == SE_PROFILE_ID


def test_unknown_cluster_command_gets_unsup_cluster_command(runtime, radio, esme):
    hdr = foundation.ZCLHeader.cluster(5, 0x7E, direction=TO_SERVER)
    _, body = _default_response(_zcl(runtime, radio, esme.node, METERING, hdr, b"\x01\x02"))
    assert (body.status, body.command_id) == (Status.UNSUP_CLUSTER_COMMAND, 0x7E)


def test_a_defined_command_without_emulation_gets_unsup_cluster_command(runtime, radio, esme):
    get_profile = esme.node.server(METERING).cluster.ServerCommandDefs.get_profile
    hdr = foundation.ZCLHeader.cluster(6, get_profile.id, direction=TO_SERVER)
    payload = get_profile.schema(interval_channel=0, end_time=0,
                                 number_of_periods=1).serialize()
    _, body = _default_response(_zcl(runtime, radio, esme.node, METERING, hdr, payload))
    assert body.status == Status.UNSUP_CLUSTER_COMMAND


def test_truncated_read_attributes_is_malformed_and_the_node_keeps_answering(
    runtime, radio, esme
):
    node = esme.node
    hdr = foundation.ZCLHeader.general(9, GC.Read_Attributes, direction=TO_SERVER)
    payload = _general(GC.Read_Attributes, attribute_ids=[0x0000, 0x0301])[:-1]
    _, body = _default_response(_zcl(runtime, radio, node, METERING, hdr, payload))
    assert (body.status, body.command_id) == (Status.MALFORMED_COMMAND, GC.Read_Attributes)
    assert node.malformed_frames == 1

    values = _read(runtime, radio, node, METERING, 0x0301, 0x0302, tsn=10)
    assert values == {0x0301: 1, 0x0302: 1000}  # multiplier, divisor


def test_a_truncated_cluster_command_is_malformed(runtime, radio, esme):
    change_supply = esme.node.server(METERING).cluster.ServerCommandDefs.change_supply
    hdr = foundation.ZCLHeader.cluster(11, change_supply.id, direction=TO_SERVER)
    _, body = _default_response(_zcl(runtime, radio, esme.node, METERING, hdr, b"\x01\x00"))
    assert body.status == Status.MALFORMED_COMMAND


def test_a_frame_too_short_for_a_zcl_header_is_counted_not_answered(runtime, radio, esme):
    node = esme.node
    assert _send(runtime, radio, node, _packet(node, METERING, b"\x00")) == []
    assert node.malformed_frames == 1
    assert _read(runtime, radio, node, BASIC, 0x0000) == {0x0000: 1}


def test_unsupported_general_command(runtime, radio, esme):
    hdr = foundation.ZCLHeader.general(3, GC.Discover_Commands_Received, direction=TO_SERVER)
    payload = _general(GC.Discover_Commands_Received, start_command_id=0, max_command_ids=10)
    _, body = _default_response(_zcl(runtime, radio, esme.node, BASIC, hdr, payload))
    assert body.status == Status.UNSUP_GENERAL_COMMAND


@pytest.mark.parametrize(
    ("cluster_specific", "status"),
    [(False, Status.UNSUP_MANUF_GENERAL_COMMAND), (True, Status.UNSUP_MANUF_CLUSTER_COMMAND)],
)
def test_manufacturer_specific_frames_are_refused(runtime, radio, esme, cluster_specific, status):
    make = foundation.ZCLHeader.cluster if cluster_specific else foundation.ZCLHeader.general
    hdr = make(4, 0x00, manufacturer=0x1234, direction=TO_SERVER)
    _, body = _default_response(_zcl(runtime, radio, esme.node, BASIC, hdr, b"\x00\x00"))
    assert body.status == status


def test_frames_for_another_endpoint_are_ignored(runtime, radio, esme):
    hdr = foundation.ZCLHeader.general(1, GC.Read_Attributes, direction=TO_SERVER)
    data = hdr.serialize() + _general(GC.Read_Attributes, attribute_ids=[0])
    assert _send(runtime, radio, esme.node, _packet(esme.node, BASIC, data, dst_ep=7)) == []


# -- attributes -----------------------------------------------------------------------------------


def test_read_answers_from_state_and_refuses_unknown_attributes(runtime, radio, esme):
    values = _read(runtime, radio, esme.node, BASIC, 0x0004, 0x0005, 0x4000, 0xFFF0)
    assert values[0x0004] == "Reference"
    assert values[0x0005] == "Reference ESME"
    assert values[0x4000] == "1.0.0"  # sw_build_id: the firmware version
    assert values[0xFFF0] == Status.UNSUPPORTED_ATTRIBUTE


def test_a_defined_attribute_without_a_value_is_unsupported(runtime, radio, esme):
    # current_max_demand_delivered_time: zigpy defines it, the emulated meter has no value.
    values = _read(runtime, radio, esme.node, METERING, 0x0008)
    assert values == {0x0008: Status.UNSUPPORTED_ATTRIBUTE}


def test_write_to_a_read_only_attribute_is_refused(runtime, radio, esme):
    node = esme.node
    before = _read(runtime, radio, node, METERING, 0x0000)[0x0000]
    status = _write(runtime, radio, node, METERING, 0x0000, foundation.DataTypeId.uint48,
                    t.uint48_t(5))
    assert status == Status.READ_ONLY
    assert _read(runtime, radio, node, METERING, 0x0000)[0x0000] == before


def test_write_to_a_writable_attribute_applies(runtime, radio, esme):
    node = esme.node
    status = _write(runtime, radio, node, IDENTIFY, 0x0000, foundation.DataTypeId.uint16,
                    t.uint16_t(30))
    assert status == Status.SUCCESS
    assert _read(runtime, radio, node, IDENTIFY, 0x0000) == {0x0000: 30}


def test_write_with_the_wrong_type_is_refused(runtime, radio, esme):
    status = _write(runtime, radio, esme.node, IDENTIFY, 0x0000, foundation.DataTypeId.uint8,
                    t.uint8_t(3))
    assert status == Status.INVALID_DATA_TYPE


def test_write_to_an_unknown_attribute(runtime, radio, esme):
    status = _write(runtime, radio, esme.node, IDENTIFY, 0x7777, foundation.DataTypeId.uint8,
                    t.uint8_t(3))
    assert status == Status.UNSUPPORTED_ATTRIBUTE


# -- cluster commands -----------------------------------------------------------------------------


def test_success_default_response_unless_disabled(runtime, radio, esme):
    node = esme.node
    identify = node.server(IDENTIFY).cluster.ServerCommandDefs.identify
    payload = identify.schema(identify_time=10).serialize()
    hdr = foundation.ZCLHeader.cluster(21, identify.id, direction=TO_SERVER)
    _, body = _default_response(_zcl(runtime, radio, node, IDENTIFY, hdr, payload))
    assert body.status == Status.SUCCESS

    quiet = hdr.replace(frame_control=hdr.frame_control.replace(disable_default_response=True))
    assert _zcl(runtime, radio, node, IDENTIFY, quiet, payload) == []
    assert node.server(IDENTIFY).values["identify_time"] == 10


def test_a_command_with_a_response_command(runtime, radio, esme):
    node = esme.node
    query = node.server(IDENTIFY).cluster.ServerCommandDefs.identify_query
    node.server(IDENTIFY).values["identify_time"] = 12
    hdr = foundation.ZCLHeader.cluster(22, query.id, direction=TO_SERVER)
    (reply,) = _zcl(runtime, radio, node, IDENTIFY, hdr)
    rhdr, rest = _parse(reply)
    response = node.server(IDENTIFY).cluster.ClientCommandDefs.identify_query_response
    assert (rhdr.command_id, rhdr.tsn, rhdr.direction) == (response.id, 22, TO_CLIENT)
    assert response.schema.deserialize(rest)[0].timeout == 12


# -- ZDO ------------------------------------------------------------------------------------------


def _zdo(runtime, radio, node, cluster: int, args: list[Any], *, tsn: int = 0x55,
         broadcast: bool = False) -> list[t.ZigbeePacket]:
    _, schema = zdo_t.CLUSTERS[cluster]
    data = bytes([tsn]) + t.serialize(args, schema)
    return _send(runtime, radio, node, _packet(node, cluster, data, dst_ep=0, broadcast=broadcast))


def _zdo_rsp(packet: t.ZigbeePacket) -> list[Any]:
    _, schema = zdo_t.CLUSTERS[packet.cluster_id]
    args, _ = t.deserialize(packet.data.serialize()[1:], schema)
    return args


def test_zdo_descriptors(runtime, radio, esme):
    node = esme.node
    (rsp,) = _zdo(runtime, radio, node, zdo_t.ZDOCmd.Node_Desc_req, [node.nwk])
    assert rsp.cluster_id == zdo_t.ZDOCmd.Node_Desc_rsp
    assert rsp.data.serialize()[0] == 0x55  # the request's sequence number
    status, nwk, desc = _zdo_rsp(rsp)
    assert status == zdo_t.Status.SUCCESS and nwk == node.nwk
    assert desc.logical_type == zdo_t.LogicalType.Router

    (rsp,) = _zdo(runtime, radio, node, zdo_t.ZDOCmd.Active_EP_req, [node.nwk])
    assert _zdo_rsp(rsp)[2] == [1]

    (rsp,) = _zdo(runtime, radio, node, zdo_t.ZDOCmd.Simple_Desc_req, [node.nwk, 1])
    status, _, simple = _zdo_rsp(rsp)
    assert status == zdo_t.Status.SUCCESS
    assert simple.profile == SE_PROFILE_ID
    assert METERING in simple.input_clusters and 0x000A in simple.output_clusters

    (rsp,) = _zdo(runtime, radio, node, zdo_t.ZDOCmd.Simple_Desc_req, [node.nwk, 9])
    assert _zdo_rsp(rsp)[0] == zdo_t.Status.NOT_ACTIVE


def test_zdo_unsupported_request_and_broadcasts(runtime, radio, esme):
    node = esme.node
    (rsp,) = _zdo(runtime, radio, node, zdo_t.ZDOCmd.Mgmt_Lqi_req, [0])
    assert rsp.cluster_id == zdo_t.ZDOCmd.Mgmt_Lqi_rsp
    assert rsp.data.serialize()[1] == zdo_t.Status.NOT_SUPPORTED
    assert _zdo(runtime, radio, node, zdo_t.ZDOCmd.Node_Desc_req, [node.nwk],
                broadcast=True) == []


def test_mgmt_leave_makes_the_node_leave_and_look_for_a_han_again(runtime, radio, esme):
    node = esme.node
    radio.accept_joins = False
    (rsp,) = _zdo(runtime, radio, node, zdo_t.ZDOCmd.Mgmt_Leave_req,
                  [t.EUI64.convert("00:00:00:00:00:00:00:00"), 0])
    assert rsp.cluster_id == zdo_t.ZDOCmd.Mgmt_Leave_rsp
    runtime.sleep(0)
    assert not node.joined and node.nwk is None
    assert radio.left == [node.ieee]
    assert radio.join_times == [0.0, 0.0]  # the first join, and the attempt right after leaving


# -- power, radio and joining ---------------------------------------------------------------------


def _node(runtime, radio, catalogue, **kw: Any) -> EmulatedNode:
    device = build_device(
        radio, runtime.clock, role="PPMID", profile=catalogue.profile("ref-ppmid-1.0.0"),
        eui="00-1B-C5-0C-00-00-00-03", install_code=InstallCode.with_crc(bytes(8)),
    )
    for name, value in kw.items():
        setattr(device.node, name, value)
    return device.node


def test_join_attempts_repeat_at_the_retry_interval_until_the_attempt_period_ends(
    runtime, radio, catalogue
):
    radio.accept_joins = False
    node = _node(runtime, radio, catalogue, join_retry_interval_s=10.0, join_attempt_for_s=60.0)
    runtime.call(node.power_on)
    runtime.sleep(600)
    assert radio.join_times == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert node.join_attempts == 7 and not node.joined

    radio.accept_joins = True
    runtime.call(node.start_joining)  # a join button press
    assert node.joined and radio.join_times[-1] == 600.0


def test_a_silent_radio_neither_asks_to_join_nor_transmits(runtime, radio, catalogue):
    node = _node(runtime, radio, catalogue, radio_silent=True)
    runtime.call(node.power_on)
    runtime.sleep(60)
    assert radio.join_times == [] and node.join_attempts == 0
    assert not node.hears()
    node.radio_silent = False
    runtime.sleep(5)
    assert node.joined


def test_power_off_stops_join_attempts(runtime, radio, catalogue):
    radio.accept_joins = False
    node = _node(runtime, radio, catalogue)
    runtime.call(node.power_on)
    runtime.sleep(12)
    runtime.call(node.power_off)
    runtime.sleep(100)
    assert radio.join_times == [0.0, 5.0, 10.0]
    assert not node.hears()


def test_a_joined_node_announces_itself_after_power_loss(runtime, radio, esme):
    node = esme.node
    runtime.call(node.power_off)
    assert not node.hears() and node.joined  # it keeps its network credentials
    runtime.sleep(30)
    runtime.call(node.power_on)
    annces = [p for p in radio.sent if p.cluster_id == zdo_t.ZDOCmd.Device_annce]
    assert len(annces) == 1
    _, schema = zdo_t.CLUSTERS[zdo_t.ZDOCmd.Device_annce]
    nwk, ieee, _cap = t.deserialize(annces[0].data.serialize()[1:], schema)[0]
    assert (nwk, ieee) == (NODE_NWK, node.ieee)


def test_a_node_refused_its_rejoin_joins_from_scratch(runtime, radio, esme):
    node = esme.node
    runtime.call(node.power_off)
    radio.in_device_log = False
    radio.accept_joins = False
    runtime.call(node.power_on)
    assert not node.joined and node.nwk is None
    assert not [p for p in radio.sent if p.cluster_id == zdo_t.ZDOCmd.Device_annce]
    assert radio.join_times[-1] == runtime.clock.monotonic()  # it asked to join again


def test_a_node_that_is_off_does_not_answer(runtime, radio, esme):
    node = esme.node
    runtime.call(node.power_off)
    hdr = foundation.ZCLHeader.general(1, GC.Read_Attributes, direction=TO_SERVER)
    data = hdr.serialize() + _general(GC.Read_Attributes, attribute_ids=[0])
    assert _send(runtime, radio, node, _packet(node, BASIC, data)) == []


def test_response_delay_is_bench_time(runtime, radio, esme):
    node = esme.node
    node.response_delay_s = 0.25
    hdr = foundation.ZCLHeader.general(1, GC.Read_Attributes, direction=TO_SERVER)
    data = hdr.serialize() + _general(GC.Read_Attributes, attribute_ids=[0])
    assert _send(runtime, radio, node, _packet(node, BASIC, data)) == []
    runtime.sleep(0.25)
    assert len(radio.sent) == 1
    assert runtime.clock.monotonic() == 0.25


# -- reporting ------------------------------------------------------------------------------------


def _configure_reporting(runtime, radio, node, attrid: int, min_s: int, max_s: int) -> Any:
    attr = node.server(METERING).cluster.attributes[attrid]
    record = foundation.AttributeReportingConfig()
    record.direction = foundation.ReportingDirection.SendReports
    record.attrid = attrid
    record.datatype = attr.zcl_type
    record.min_interval = min_s
    record.max_interval = max_s
    record.reportable_change = 1
    hdr = foundation.ZCLHeader.general(30, GC.Configure_Reporting, direction=TO_SERVER)
    replies = _zcl(runtime, radio, node, METERING, hdr,
                   _general(GC.Configure_Reporting, config_records=[record]))
    rsp = [p for p in replies if _parse(p)[0].command_id == GC.Configure_Reporting_rsp]
    assert len(rsp) == 1
    return _parse(rsp[0])[1]


def _reports(radio) -> list[Any]:
    out = []
    for packet in radio.sent:
        hdr, body = _parse(packet)
        if not hdr.frame_control.is_cluster and hdr.command_id == GC.Report_Attributes:
            out.append(body.attribute_reports)
    return out


def test_configured_reports_come_at_the_max_interval(runtime, radio, esme):
    node = esme.node
    body = _configure_reporting(runtime, radio, node, 0x0000, 0, 600)
    assert [r.status for r in body.status_records] == [Status.SUCCESS]
    times: list[float] = []
    original = node.send_report

    def stamped(cluster: Any, records: list[Any]) -> None:
        times.append(runtime.loop.time())
        original(cluster, records)

    node.send_report = stamped  # type: ignore[method-assign]
    runtime.sleep(1800)
    assert times == [600.0, 1200.0, 1800.0]  # the first report went with the configuration
    values = [records[0].value.value for records in _reports(radio)]
    assert values == sorted(values) and len(values) == 4
    assert values[-1] == esme.meter.register_units(1800.0)

    _configure_reporting(runtime, radio, node, 0x0000, 0, 0xFFFF)  # stop reporting
    radio.sent.clear()
    runtime.sleep(3600)
    assert _reports(radio) == []


def test_reporting_an_unsupported_attribute_is_refused(runtime, radio, esme):
    body = _configure_reporting(runtime, radio, esme.node, 0x0008, 0, 60)
    assert [r.status for r in body.status_records] == [Status.UNSUPPORTED_ATTRIBUTE]
