"""Every ZigBee frame the coordinator sends or receives, kept as evidence.

Frames are captured at the zigpy application boundary (``send_packet`` / ``packet_received``), so
what is recorded is exactly what went to and came from the radio, on any radio type. Each frame
has a sequence number; a test takes a mark when it starts and collects the frames since.
"""

from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import zigpy.types as t

Direction = Literal["tx", "rx"]

#: Frames kept in memory; older ones are dropped (a test collects its own frames as it ends).
MAX_FRAMES = 200_000


@dataclass(frozen=True)
class CapturedFrame:
    seq: int
    time: datetime
    monotonic: float
    direction: Direction
    src: str
    dst: str
    src_ep: int | None
    dst_ep: int | None
    profile_id: int
    cluster_id: int
    data: bytes

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "direction": self.direction,
            "src": self.src,
            "dst": self.dst,
            "src_ep": self.src_ep,
            "dst_ep": self.dst_ep,
            "profile_id": f"0x{self.profile_id:04X}",
            "cluster_id": f"0x{self.cluster_id:04X}",
            "data": self.data.hex(),
        }


def format_address(address: t.AddrModeAddress | None) -> str:
    if address is None:
        return "-"
    if address.addr_mode == t.AddrMode.IEEE:
        return str(address.address)
    if address.addr_mode == t.AddrMode.Group:
        return f"group:0x{address.address:04X}"
    if address.addr_mode == t.AddrMode.Broadcast:
        return f"bcast:0x{address.address:04X}"
    return f"0x{address.address:04X}"


class FrameLog:
    """Append-only, thread-safe log of captured frames."""

    def __init__(self, maxlen: int = MAX_FRAMES) -> None:
        self._frames: collections.deque[CapturedFrame] = collections.deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._last = 0
        self._lock = threading.Lock()

    def record(
        self, direction: Direction, packet: t.ZigbeePacket, time: datetime, monotonic: float
    ) -> CapturedFrame:
        with self._lock:
            seq = next(self._seq)
            frame = CapturedFrame(
                seq=seq,
                time=time,
                monotonic=monotonic,
                direction=direction,
                src=format_address(packet.src),
                dst=format_address(packet.dst),
                src_ep=None if packet.src_ep is None else int(packet.src_ep),
                dst_ep=None if packet.dst_ep is None else int(packet.dst_ep),
                profile_id=int(packet.profile_id),
                cluster_id=int(packet.cluster_id),
                data=packet.data.serialize(),
            )
            self._frames.append(frame)
            self._last = seq
        return frame

    def mark(self) -> int:
        """A position to collect frames from later."""
        return self._last

    def since(self, mark: int) -> list[CapturedFrame]:
        """Frames after ``mark``, newest scanned first: costs what it returns, not the log's
        length (frames are numbered in order)."""
        with self._lock:
            newer = list(itertools.takewhile(lambda f: f.seq > mark, reversed(self._frames)))
        newer.reverse()
        return newer
