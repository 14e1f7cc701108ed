"""The pcap evidence: real frames of an emulated bench, as Wireshark (tshark) dissects them."""

from __future__ import annotations

import struct
import subprocess
from datetime import UTC, datetime

from tools import require_tool

from harness.han.frames import CapturedFrame
from harness.han.pcap import LINKTYPE_IEEE802_15_4_NOFCS, frame_bytes, write_pcap

READ_SUMMATION = bytes.fromhex("000a00") + b"\x00\x00"  # ZCL global Read Attributes of 0x0000


def _frame(direction="tx", src="0x0000", dst="0x1001", data=READ_SUMMATION, cluster=0x0702,
           seq=1):
    return CapturedFrame(seq=seq, time=datetime(2026, 1, 5, 9, 0, tzinfo=UTC), monotonic=0.0,
                         direction=direction, src=src, dst=dst, src_ep=1, dst_ep=1,
                         profile_id=0x0109, cluster_id=cluster, data=data)


def test_a_frame_is_wrapped_in_mac_nwk_and_aps_headers_around_the_exact_payload():
    raw = frame_bytes(_frame(), seq=5, pan_id=0x1A62)
    mac_fcf, mac_seq, pan, mac_dst, mac_src = struct.unpack_from("<HBHHH", raw)
    assert (mac_fcf & 0x7, mac_seq, pan, mac_dst, mac_src) == (1, 5, 0x1A62, 0x1001, 0x0000)
    nwk_fcf, nwk_dst, nwk_src, _radius, _seq = struct.unpack_from("<HHHBB", raw, 9)
    assert (nwk_fcf >> 2 & 0xF, nwk_dst, nwk_src) == (2, 0x1001, 0x0000)
    _aps, dst_ep, cluster, profile, src_ep, _counter = struct.unpack_from("<BBHHBB", raw, 17)
    assert (dst_ep, cluster, profile, src_ep) == (1, 0x0702, 0x0109, 1)
    assert raw[25:] == READ_SUMMATION


def test_a_broadcast_goes_to_the_broadcast_mac_address_without_an_ack_request():
    raw = frame_bytes(_frame(dst="bcast:0xFFFC"), seq=0, pan_id=0x1A62)
    mac_fcf, _, _, mac_dst, _ = struct.unpack_from("<HBHHH", raw)
    assert mac_dst == 0xFFFF and not mac_fcf & 0x20


def test_the_pcap_file_has_the_802_15_4_link_type_and_one_record_per_frame(tmp_path):
    path = tmp_path / "x.pcap"
    assert write_pcap(path, [_frame(), _frame(direction="rx", src="0x1001", dst="0x0000")]) == 2
    data = path.read_bytes()
    magic, _major, _minor, _zone, _sigfigs, _snap, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, link) == (0xA1B2C3D4, LINKTYPE_IEEE802_15_4_NOFCS)
    first_len = struct.unpack_from("<IIII", data, 24)[2]
    assert len(data) == 24 + 2 * 16 + first_len + len(frame_bytes(_frame(), 1, 0x1A62))


def test_tshark_dissects_a_bench_capture_down_to_zcl(tmp_path):
    tshark = require_tool("tshark")
    from harness.bench import Bench
    from harness.config import default_lab_config_path, load_lab_config

    with Bench.start(load_lab_config(default_lab_config_path())) as bench:
        bench.bring_up()
        mark = bench.frames.mark()
        bench.device("ESME").read_register_kwh()
        frames = bench.frames.since(mark)
    path = tmp_path / "case.pcap"
    write_pcap(path, frames)
    out = subprocess.run([tshark, "-r", str(path), "-V"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert "ZigBee Cluster Library" in out
    assert "Read Attributes Response" in out
    assert "Current Summation Delivered" in out
