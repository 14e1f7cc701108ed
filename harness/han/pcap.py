"""Captured HAN frames as a pcap file that Wireshark dissects down to ZCL.

zigpy hands the harness APS payloads (ZDO or ZCL) with their addressing, not the bytes on air.
To give Wireshark something it dissects, each frame is wrapped in the headers the radio would
have put around it: an IEEE 802.15.4 data frame (link type 230, no FCS), an unsecured ZigBee NWK
header and an APS data header carrying the profile, cluster and endpoints. The NWK and APS
security of the real air interface is not reproduced (the harness sees plaintext); sequence
numbers are the capture's own. Everything above APS is byte for byte what was sent or received.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.han.frames import CapturedFrame

#: LINKTYPE_IEEE802_15_4_NOFCS: 802.15.4 frames without the 2-byte FCS.
LINKTYPE_IEEE802_15_4_NOFCS = 230
PCAP_MAGIC = 0xA1B2C3D4
COORDINATOR_NWK = 0x0000
BROADCAST_NWK = 0xFFFF
UNKNOWN_NWK = 0xFFFE
#: 802.15.4 frame control: data frame, PAN ID compression, short destination and source.
_MAC_FCF_DATA = 0x0001 | 0x0040 | (2 << 10) | (2 << 14)
_MAC_ACK_REQUEST = 0x0020
#: ZigBee NWK frame control: data frame, protocol version 2 (ZigBee PRO), no security.
_NWK_FCF_DATA = 2 << 2
#: ZigBee APS frame control: data frame, unicast, no security.
_APS_FCF_DATA = 0x00


def short_address(text: str) -> int:
    """A captured frame's address as a 16-bit NWK address (``0x1001``, ``bcast:0xFFFC``)."""
    if text.startswith("bcast:"):
        return int(text.split(":", 1)[1], 16)
    if text.startswith("0x"):
        return int(text, 16)
    return UNKNOWN_NWK  # an EUI-64 or group address: not a short address


def frame_bytes(frame: CapturedFrame, seq: int, pan_id: int) -> bytes:
    """One captured frame as the 802.15.4 / NWK / APS frame Wireshark dissects."""
    src = short_address(frame.src)
    dst = short_address(frame.dst)
    if frame.direction == "tx" and src == UNKNOWN_NWK:
        src = COORDINATOR_NWK
    if frame.direction == "rx" and dst == UNKNOWN_NWK:
        dst = COORDINATOR_NWK
    broadcast = dst >= 0xFFF8
    mac_fcf = _MAC_FCF_DATA | (0 if broadcast else _MAC_ACK_REQUEST)
    mac_dst = BROADCAST_NWK if broadcast else dst
    mac = struct.pack("<HBHHH", mac_fcf, seq & 0xFF, pan_id, mac_dst, src)
    nwk = struct.pack("<HHHBB", _NWK_FCF_DATA, dst, src, 30, seq & 0xFF)
    aps = struct.pack(
        "<BBHHBB", _APS_FCF_DATA, frame.dst_ep or 0, frame.cluster_id, frame.profile_id,
        frame.src_ep or 0, seq & 0xFF,
    )
    return mac + nwk + aps + frame.data


def write_pcap(path: Path, frames: Iterable[CapturedFrame], *, pan_id: int = 0x1A62) -> int:
    """Write ``frames`` to ``path``; returns how many were written."""
    count = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, 65535,
                              LINKTYPE_IEEE802_15_4_NOFCS))
        for seq, frame in enumerate(frames):
            data = frame_bytes(frame, seq, pan_id)
            stamp = frame.time.timestamp()
            seconds = int(stamp)
            micros = round((stamp - seconds) * 1_000_000)
            if micros == 1_000_000:
                seconds, micros = seconds + 1, 0
            out.write(struct.pack("<IIII", seconds, micros, len(data), len(data)))
            out.write(data)
            count += 1
    return count
