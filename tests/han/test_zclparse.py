"""harness.han.zclparse: incoming frames parsed once give exactly what zigpy's own parse gives."""

from __future__ import annotations

import random
import re

import pytest
import zigpy.device
import zigpy.types as t
from zigpy.zcl import Cluster, foundation

from harness.han import zclparse
from harness.han.clusters import SE_PROFILE_ID

GC = foundation.GeneralCommand
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
#: Basic, Time, Price, Metering, Messaging, Prepayment, Tunneling and one zigpy has no class for.
CLUSTER_IDS = (0x0000, 0x000A, 0x0700, 0x0702, 0x0703, 0x0705, 0x0704, 0xFC00)


def _frames(rng: random.Random) -> list[bytes]:
    """Headers of every frame type, direction and manufacturer flag, with the bodies of real
    commands (reports, read responses, default responses, cluster commands) and random ones."""
    bodies = [
        b"", b"\x00", b"\x0a\x00", b"\x00\x00\x86",
        b"\x00\x00\x25\x40\xe2\x01\x00\x00\x00",  # a uint48 report of attribute 0x0000
        b"\x00\x00\x00\x42\x03kWh",  # a read response: a character string
        b"\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        bytes(range(20)),
    ]
    frames = [bytes([control, 0x34, 0x12][: 3 if control & 0x04 else 1]) + bytes([tsn, command])
              + body
              for control in (0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x10, 0x18, 0x19, 0x1C)
              for tsn in (0, 255) for command in (0x00, 0x01, 0x05, 0x0A, 0x0B)
              for body in bodies]
    frames += [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 24))) for _ in range(200)]
    return frames


def _same(ours: object, theirs: object) -> None:
    if isinstance(theirs, bytes):
        assert ours == theirs
    else:
        assert type(ours) is type(theirs)
        assert ours.serialize() == theirs.serialize()  # type: ignore[attr-defined]
        # field for field (zigpy's NoData values compare by identity: their repr without it)
        assert _ADDRESS.sub("", repr(ours)) == _ADDRESS.sub("", repr(theirs))


def test_headers_parse_as_zigpy_parses_them_and_again_from_the_cache() -> None:
    frames = _frames(random.Random(5))
    for _ in range(2):  # the second time from the cache
        for frame in frames:
            try:
                expected = foundation.ZCLHeader.deserialize(frame)
            except (ValueError, KeyError) as exc:
                with pytest.raises(type(exc)):
                    zclparse.parse_header(frame)
                continue
            header, payload = zclparse.parse_header(frame)
            assert header == expected[0] and payload == expected[1]
            assert header.serialize() == expected[0].serialize()


def test_a_header_new_only_by_its_tsn_is_zigpys_parse_field_for_field(monkeypatch) -> None:
    monkeypatch.setattr(zclparse, "_HEADERS", {})
    monkeypatch.setattr(zclparse, "_BY_REST", {})
    monkeypatch.setattr(zclparse, "LIMIT", 64)
    rng = random.Random(7)
    compared = 0
    for control in (0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x10, 0x18, 0x19, 0x1C):
        for command in (0x00, 0x01, 0x0B):
            rest = bytes([control, 0x34, 0x12][: 3 if control & 0x04 else 1])
            # every TSN for one header, a few for the others; the first parsed by zigpy
            tsns = range(256) if control == 0x18 and command == 0x01 else rng.sample(range(256), 6)
            for tsn in tsns:
                frame = rest + bytes([tsn, command]) + b"\x00\x01"
                expected, payload = foundation.ZCLHeader.deserialize(frame)
                for _ in range(2):  # and again from the cache while it has room
                    header, rest_of_frame = zclparse.parse_header(frame)
                    assert type(header) is foundation.ZCLHeader
                    assert {k: (type(v), v) for k, v in vars(header).items()} == {
                        k: (type(v), v) for k, v in vars(expected).items()}
                    assert rest_of_frame == payload
                    assert header.serialize() == frame[: len(frame) - len(payload)]
                    compared += 1
            assert repr(header) == repr(expected)
    assert len(zclparse._BY_REST) == 30  # zigpy parsed each rest of a header once
    assert len(zclparse._HEADERS) == 64  # then full: the rest are built with their TSN anew
    assert compared == (29 * 6 + 256) * 2


def test_commands_parse_as_zigpys_cluster_deserialize_on_many_frames(up_bench) -> None:
    device = up_bench.device("ESME").zigbee.zigpy_device
    endpoint = device.endpoints[1]
    clusters = [Cluster.from_id(endpoint, cluster_id, is_server=cluster_id % 2 == 0)
                for cluster_id in CLUSTER_IDS]
    clusters.append(Cluster.from_id(endpoint, 0x0702, is_server=False))
    frames = _frames(random.Random(11))
    compared = 0
    for cluster in clusters:
        for frame in frames:
            try:
                expected = cluster.deserialize(frame)
            except Exception as exc:  # zigpy refuses it: so must we
                with pytest.raises(type(exc)):
                    zclparse.deserialize(cluster, frame)
                continue
            for keep in (False, True):
                header, command = zclparse.deserialize(cluster, frame, keep=keep)
                assert header == expected[0]
                _same(command, expected[1])
                compared += 1
            zclparse.forget()
    assert compared > 5_000


def test_the_chfs_parse_is_taken_once_by_zigpy_for_the_same_frame_only(up_bench) -> None:
    device = up_bench.device("ESME").zigbee.zigpy_device
    metering = device.endpoints[1].in_clusters[0x0702]
    report = (foundation.ZCLHeader.general(3, GC.Report_Attributes,
                                           direction=foundation.Direction.Server_to_Client)
              .serialize() + b"\x00\x00\x25\x40\xe2\x01\x00\x00\x00")
    _, kept = zclparse.deserialize(metering, report, keep=True)
    assert zclparse.deserialize(metering, report)[1] is kept  # zigpy's parse takes it
    assert zclparse.deserialize(metering, report)[1] is not kept  # once
    zclparse.deserialize(metering, report, keep=True)
    zclparse.forget()  # the frame is handled: its parse is no other frame's
    assert zclparse.deserialize(metering, report)[1] is not kept
    other = device.endpoints[1].in_clusters[0x0000]
    _, kept = zclparse.deserialize(metering, report, keep=True)
    assert zclparse.deserialize(other, report)[1] is not kept  # another cluster parses anew


def test_a_report_reaches_zigpy_and_the_chf_parsed_once(up_bench, monkeypatch) -> None:
    device = up_bench.device("ESME").zigbee.zigpy_device
    assert isinstance(device, zigpy.device.ZigbeeDevice)
    calls: list[bytes] = []
    parse = zclparse._deserialize

    def counting(cluster: Cluster, data: bytes) -> object:
        calls.append(data)
        return parse(cluster, data)

    monkeypatch.setattr(zclparse, "_deserialize", counting)
    report = (foundation.ZCLHeader.general(9, GC.Report_Attributes,
                                           direction=foundation.Direction.Server_to_Client)
              .serialize() + b"\x00\x00\x25\x40\xe2\x01\x00\x00\x00")
    packet = t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=device.nwk), src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)), dst_ep=9,
        profile_id=SE_PROFILE_ID, cluster_id=0x0702, data=t.SerializableBytes(report))
    mark = up_bench.events.mark()
    up_bench.runtime.call(lambda: device.application.packet_received(packet))
    assert calls == [report]  # the CHF's decode; zigpy took its result
    reports = [e for e in up_bench.events.since(mark) if e.kind == "attribute_report"]
    assert [e.value for e in reports] == [123456]
    assert device.endpoints[1].in_clusters[0x0702].get(0x0000) == 123456  # zigpy's cache

