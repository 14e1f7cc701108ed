"""harness.han.app and harness.han.frames: Smart Energy frames reach zigpy, no duplicate filter on
the virtual medium, frame capture, forget_link_key."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import zigpy.device
import zigpy.profiles.zha
import zigpy.types as t
from zigpy.zcl import foundation

from harness.emulator.radio import VirtualRadio
from harness.han.app import HanApplicationMixin, SmartEnergyDevice
from harness.han.clusters import SE_PROFILE_ID
from harness.han.frames import FrameLog, format_address

METERING = 0x0702


def _se_packet(nwk: int, data: bytes, profile: int = SE_PROFILE_ID) -> t.ZigbeePacket:
    return t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(nwk)),
        src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)),
        dst_ep=1,
        profile_id=profile,
        cluster_id=0x0000,
        data=t.SerializableBytes(data),
    )


def _read_rsp_bytes(tsn: int) -> bytes:
    hdr = foundation.ZCLHeader.general(
        tsn, foundation.GeneralCommand.Read_Attributes_rsp,
        direction=foundation.Direction.Server_to_Client,
    )
    return hdr.serialize() + b"\x00\x00\x86"  # attribute 0x0000: UNSUPPORTED_ATTRIBUTE


# -- Smart Energy profile -------------------------------------------------------------------------


def test_devices_are_smart_energy_devices_on_the_se_profile(up_bench):
    esme = up_bench.device("ESME").zigbee
    assert isinstance(esme.zigpy_device, SmartEnergyDevice)
    assert esme.zigpy_device.endpoints[1].profile_id == SE_PROFILE_ID


def test_a_frame_on_profile_0x0109_reaches_zigpy(up_bench):
    bench = up_bench
    esme = bench.device("ESME")
    mark = bench.frames.mark()
    values = esme.zigbee.read("basic", "manufacturer", "model")
    assert values == {"manufacturer": esme.profile.manufacturer, "model": esme.profile.model}
    rx = [f for f in bench.frames.since(mark) if f.direction == "rx"]
    assert rx and all(f.profile_id == SE_PROFILE_ID for f in rx)


def test_plain_zigpy_would_drop_what_the_se_device_parses(up_bench):
    device = up_bench.device("ESME").zigbee.zigpy_device
    packet = _se_packet(device.nwk, _read_rsp_bytes(0x42))
    # zigpy's own device sees no ZCL at all on the SE profile...
    assert zigpy.device.ZigbeeDevice._parse_packet_header(device, packet) == (None, None)
    # ...the Smart Energy device parses it as the ZCL frame it is.
    hdr, key = device._parse_packet_header(packet)
    assert hdr.tsn == 0x42
    assert key.tsn == 0x42 and key.cluster_id == 0x0000
    # And HA frames are untouched.
    ha = _se_packet(device.nwk, _read_rsp_bytes(7), profile=zigpy.profiles.zha.PROFILE_ID)
    assert device._parse_packet_header(ha)[0].tsn == 7


# -- duplicate filter -----------------------------------------------------------------------------


def test_duplicate_filter_is_off_on_the_virtual_radio_only():
    assert VirtualRadio.duplicate_filter is False
    assert HanApplicationMixin.duplicate_filter is True


def test_600_identical_reads_of_a_constant_attribute_all_return(up_bench):
    esme = up_bench.device("ESME").zigbee
    answers = [esme.read_one("metering", "divisor") for _ in range(600)]
    assert len(answers) == 600
    assert set(answers) == {1000}


def test_with_zigpys_filter_on_a_reply_a_request_waits_for_is_not_lost(up_bench):
    """What zigpy's filter alone does (zigpy-notes): once the 8-bit ZCL sequence number wraps,
    an identical reply is dropped as a duplicate and the read times out. Real radios keep the
    filter on (their medium can duplicate), so a reply a request is waiting for passes it."""
    bench = up_bench
    bench.app.duplicate_filter = True
    esme = bench.device("ESME").zigbee
    start = bench.clock.monotonic()
    answers = [esme.read_one("metering", "divisor") for _ in range(300)]
    assert set(answers) == {1000}
    assert bench.clock.monotonic() - start < 1.0  # no reply waited out


def test_should_filter_packet_follows_the_application_flag(up_bench):
    bench = up_bench
    device = bench.device("ESME").zigbee.zigpy_device
    packet = _se_packet(device.nwk, _read_rsp_bytes(9))

    def twice() -> list[bool]:
        return [device._should_filter_packet(packet) for _ in range(2)]

    assert bench.runtime.call(twice) == [False, False]
    bench.app.duplicate_filter = True
    assert bench.runtime.call(twice) == [False, True]


# -- frame capture --------------------------------------------------------------------------------


def test_frames_are_captured_in_both_directions_with_bench_time(up_bench):
    bench = up_bench
    esme = bench.device("ESME")
    nwk = esme.zigbee.nwk
    bench.sleep(100)
    mark = bench.frames.mark()
    esme.zigbee.read("metering", "current_summ_delivered")
    frames = bench.frames.since(mark)
    assert [f.direction for f in frames] == ["tx", "rx"]
    tx, rx = frames
    assert tx.dst == f"0x{nwk:04X}" and rx.src == f"0x{nwk:04X}"
    assert tx.cluster_id == rx.cluster_id == METERING
    assert tx.profile_id == rx.profile_id == SE_PROFILE_ID
    assert tx.seq + 1 == rx.seq
    assert tx.monotonic == rx.monotonic == bench.clock.monotonic()
    assert tx.time == bench.clock.now()
    # Same ZCL transaction: the reply carries the request's sequence number.
    assert foundation.ZCLHeader.deserialize(tx.data)[0].tsn == \
        foundation.ZCLHeader.deserialize(rx.data)[0].tsn
    record = rx.as_dict()
    json.dumps(record)
    assert record["profile_id"] == "0x0109" and record["cluster_id"] == "0x0702"
    assert record["data"] == rx.data.hex()


def test_frame_log_keeps_the_newest_frames_up_to_its_size():
    log = FrameLog(maxlen=3)
    now = datetime(2026, 1, 5, tzinfo=UTC)
    assert log.mark() == 0
    for n in range(5):
        log.record("tx", _se_packet(0x1001, bytes([n])), now, float(n))
    assert [f.seq for f in log.since(0)] == [3, 4, 5]
    assert log.mark() == 5
    assert [f.data for f in log.since(4)] == [b"\x04"]
    assert log.since(5) == []


def test_format_address():
    assert format_address(None) == "-"
    nwk = t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x1A2B))
    assert format_address(nwk) == "0x1A2B"
    group = t.AddrModeAddress(addr_mode=t.AddrMode.Group, address=t.Group(0x0010))
    assert format_address(group) == "group:0x0010"
    bcast = t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=t.BroadcastAddress(0xFFFD))
    assert format_address(bcast) == "bcast:0xFFFD"
    ieee = t.AddrModeAddress(addr_mode=t.AddrMode.IEEE,
                             address=t.EUI64.convert("00:1b:c5:0c:00:00:00:01"))
    assert format_address(ieee) == "00:1b:c5:0c:00:00:00:01"


def test_capture_without_a_bench_attached_records_nothing():
    app = HanApplicationMixin()
    app._capture("tx", _se_packet(0x1001, b"\x00"))  # no frames or clock yet: no error
    log = FrameLog()
    app.attach_bench(None, log)  # type: ignore[arg-type]
    app._capture("rx", _se_packet(0x1001, b"\x00"))
    assert log.since(0) == []


# -- forget_link_key ------------------------------------------------------------------------------


def test_forget_link_key_is_a_no_op_on_a_radio_without_key_entries():
    class Base:
        pass

    class App(HanApplicationMixin, Base):
        pass

    asyncio.run(App().forget_link_key(t.EUI64.convert("00:1b:c5:0c:00:00:00:01")))


def test_forget_link_key_delegates_to_the_radio_below_the_mixin():
    forgotten: list[Any] = []

    class Base:
        async def forget_link_key(self, ieee: t.EUI64) -> None:
            forgotten.append(ieee)

    class App(HanApplicationMixin, Base):
        pass

    ieee = t.EUI64.convert("00:1b:c5:0c:00:00:00:01")
    asyncio.run(App().forget_link_key(ieee))
    assert forgotten == [ieee]


def test_forget_link_key_drops_the_virtual_radios_key(up_bench):
    bench = up_bench
    ieee = bench.device("IHD").zigbee.zigpy_device.ieee
    assert ieee in bench.app._keys
    bench.runtime.run(bench.app.forget_link_key(ieee))
    assert ieee not in bench.app._keys


@pytest.mark.parametrize("role", ["ESME", "GSME", "PPMID", "IHD"])
def test_add_device_creates_smart_energy_devices(up_bench, role):
    device = up_bench.device(role).zigbee.zigpy_device
    assert type(device) is SmartEnergyDevice
    assert up_bench.app.devices[device.ieee] is device


def test_a_leave_of_an_address_the_device_no_longer_has_is_not_its_leave(up_bench) -> None:
    """zigpy finds a leaving device by EUI-64 alone; a late leave report of an earlier address
    (a failed join attempt's) must not forget the device's current join."""
    esme = up_bench.device("ESME")
    app = up_bench.app
    ieee = t.EUI64.convert(esme.eui.replace("-", ":"))
    nwk = app.devices[ieee].nwk
    up_bench.runtime.call(lambda: app.handle_leave(t.NWK(0xFFEC), ieee))
    assert esme.is_joined
    up_bench.runtime.call(lambda: app.handle_leave(nwk, ieee))
    assert not esme.is_joined


def test_a_join_the_gate_refuses_never_reaches_zigpy(up_bench) -> None:
    app = up_bench.app
    stranger = t.EUI64.convert("00:1b:c5:0c:00:00:99:01")
    mark = up_bench.events.mark()
    up_bench.runtime.call(lambda: app.handle_join(t.NWK(0x4242), stranger, t.NWK(0)))
    up_bench.sleep(2)
    assert stranger not in app.devices
    refused = up_bench.events.since(mark)
    assert [e.kind for e in refused if e.device == "00-1B-C5-0C-00-00-99-01"] == [
        "join_refused"]
