"""The emulator's cached framing makes and reads exactly what zigpy does."""

from __future__ import annotations

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from harness.emulator import framing

GC = foundation.GeneralCommand
Direction = foundation.Direction


def test_replies_are_byte_for_byte_zigpys() -> None:
    for tsn in range(256):
        for direction in Direction:
            assert framing.general_header(tsn, GC.Read_Attributes_rsp, direction) == (
                foundation.ZCLHeader.general(tsn, GC.Read_Attributes_rsp,
                                             direction=direction).serialize())
            assert framing.cluster_header(tsn, 0x05, direction) == (
                foundation.ZCLHeader.cluster(tsn, 0x05, direction=direction).serialize())
    for tsn in (256, -1):  # not a TSN: refused as zigpy refuses it
        with pytest.raises(ValueError):
            framing.general_header(tsn, GC.Read_Attributes_rsp, Direction.Server_to_Client)
    schema = foundation.GENERAL_COMMANDS[GC.Default_Response].schema
    for status in (foundation.Status.SUCCESS, foundation.Status.UNSUP_CLUSTER_COMMAND):
        assert framing.default_response(0x0A, status) == schema(command_id=0x0A,
                                                                 status=status).serialize()
    records = [
        foundation.ReadAttributeRecord(attrid=0x0000, status=foundation.Status.SUCCESS,
                                       value=foundation.TypeValue(type=0x25,
                                                                  value=t.uint48_t(123456))),
        foundation.ReadAttributeRecord(attrid=0x0301, status=foundation.Status.SUCCESS,
                                       value=foundation.TypeValue(type=0x42,
                                                                  value=t.CharacterString("kWh"))),
        foundation.ReadAttributeRecord(attrid=0x9999,
                                       status=foundation.Status.UNSUPPORTED_ATTRIBUTE),
    ]
    rsp = foundation.GENERAL_COMMANDS[GC.Read_Attributes_rsp].schema
    assert framing.general_body(GC.Read_Attributes_rsp, {"status_records": records}) == (
        rsp(status_records=records).serialize())


def test_read_requests_parse_as_zigpy_parses_them_and_odd_ones_are_refused() -> None:
    schema = foundation.GENERAL_COMMANDS[GC.Read_Attributes].schema
    for payload in (b"", b"\x00\x00", b"\x00\x00\x01\x03"):
        for _ in range(2):
            request = framing.parse_read_attributes(payload)
            assert request.attribute_ids == schema.deserialize(payload)[0].attribute_ids
    with pytest.raises(ValueError):
        framing.parse_read_attributes(b"\x00")
