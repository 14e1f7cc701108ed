"""EZSP frame layout and the few field types the fake NCP reads and writes.

Written from Silicon Labs UG100 ("EZSP Reference Guide"). A frame is ``sequence``, frame
control and frame id, then the parameters, little-endian. Before the host and the NCP agree on
protocol version 8 or later, frames use the legacy header (one frame-control byte, one-byte frame
id); from version 8 on, the extended header (two frame-control bytes, the high one holding the
frame format version 1, and a two-byte frame id). The host's first ``version`` command is always
legacy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from harness.radiofakes.devices import u16

#: Frame control, low byte, of a frame from the NCP: bit 7 = response.
FC_RESPONSE = 0x80
#: Callback type "asynchronous" (bits 3-4 = 0b10) in a response's frame control.
FC_ASYNC_CALLBACK = 0x10
#: Frame format version in the high frame-control byte of an extended frame.
FC_HIGH_FORMAT_V1 = 0x01


class FrameError(ValueError):
    """A parameter list shorter than its command needs."""


@dataclass(frozen=True)
class EzspHeader:
    sequence: int
    frame_id: int
    extended: bool


def parse_header(frame: bytes) -> tuple[EzspHeader, bytes]:
    """Split a host frame into header and parameters, legacy or extended."""
    if len(frame) < 3:
        raise FrameError(f"EZSP frame too short: {frame.hex()}")
    if len(frame) >= 5 and frame[2] == FC_HIGH_FORMAT_V1:
        frame_id = frame[3] | (frame[4] << 8)
        return EzspHeader(frame[0], frame_id, True), frame[5:]
    return EzspHeader(frame[0], frame[2], False), frame[3:]


def build_frame(sequence: int, frame_id: int, params: bytes, *, extended: bool,
                callback: bool = False) -> bytes:
    control = FC_RESPONSE | (FC_ASYNC_CALLBACK if callback else 0)
    if extended:
        return bytes([sequence, control, FC_HIGH_FORMAT_V1]) + struct.pack("<H", frame_id) + params
    return bytes([sequence, control, frame_id & 0xFF]) + params


class Reader:
    """Reads parameters in UG100 order."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise FrameError(f"parameters end after {len(self._data)} bytes")
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def i8(self) -> int:
        return struct.unpack("<b", self._take(1))[0]

    def u16(self) -> int:
        return struct.unpack("<H", self._take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self._take(4))[0]

    def eui64(self) -> bytes:
        """An EUI-64 as on the wire (least significant byte first)."""
        return self._take(8)

    def key(self) -> bytes:
        return self._take(16)

    def lv_bytes(self) -> bytes:
        return self._take(self.u8())

    def u16_list(self, count: int) -> list[int]:
        return [self.u16() for _ in range(count)]

    def aps_frame(self) -> ApsFrame:
        return ApsFrame(self.u16(), self.u16(), self.u8(), self.u8(), self.u16(), self.u16(),
                        self.u8())

    def network_parameters(self) -> NetworkParameters:
        return NetworkParameters(self.eui64(), self.u16(), self.u8(), self.u8(), self.u8(),
                                 self.u16(), self.u8(), self.u32())

    def rest(self) -> bytes:
        chunk = self._data[self._pos:]
        self._pos = len(self._data)
        return chunk


def u8(value: int) -> bytes:
    return struct.pack("<B", value & 0xFF)


def i8(value: int) -> bytes:
    return struct.pack("<b", value)


def u32(value: int) -> bytes:
    return struct.pack("<I", value & 0xFFFFFFFF)


def lv_bytes(value: bytes) -> bytes:
    return u8(len(value)) + value


@dataclass(frozen=True)
class ApsFrame:
    """EmberApsFrame."""

    profile_id: int
    cluster_id: int
    source_endpoint: int
    destination_endpoint: int
    options: int
    group_id: int
    sequence: int

    def encode(self) -> bytes:
        return (u16(self.profile_id) + u16(self.cluster_id) + u8(self.source_endpoint)
                + u8(self.destination_endpoint) + u16(self.options) + u16(self.group_id)
                + u8(self.sequence))


@dataclass(frozen=True)
class NetworkParameters:
    """EmberNetworkParameters; ``extended_pan_id`` in wire order."""

    extended_pan_id: bytes
    pan_id: int
    radio_tx_power: int
    radio_channel: int
    join_method: int
    nwk_manager_id: int
    nwk_update_id: int
    channels: int

    def encode(self) -> bytes:
        return (self.extended_pan_id + u16(self.pan_id) + u8(self.radio_tx_power)
                + u8(self.radio_channel) + u8(self.join_method) + u16(self.nwk_manager_id)
                + u8(self.nwk_update_id) + u32(self.channels))
