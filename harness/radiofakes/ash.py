"""ASH, the UART link layer of a Silicon Labs EmberZNet NCP, as the NCP speaks it.

Written from Silicon Labs UG101 ("UART-EZSP Gateway Protocol Reference"): frames end with the
flag byte 0x7E; the reserved bytes 0x7E 0x7D 0x11 0x13 0x18 0x1A are escaped as 0x7D, byte^0x20;
every frame ends with a CRC-CCITT (initial value 0xFFFF, big-endian); a DATA frame's payload is
XORed with the output of an 8-bit LFSR (seed 0x42, taps 0xB8); DATA frames carry a 3-bit frame
number and a 3-bit acknowledgement number (the next frame the sender expects).

:class:`AshNcpLink` is sans-IO: bytes in, bytes out through a ``write`` callable, EZSP frames up
through ``deliver``. It can lose acknowledgements on purpose (:meth:`AshNcpLink.lose_acks`) so a
test can see the host retransmit.
"""

from __future__ import annotations

import asyncio
import binascii
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

LOGGER = logging.getLogger(__name__)

FLAG = 0x7E
ESCAPE = 0x7D
XON = 0x11
XOFF = 0x13
SUBSTITUTE = 0x18
CANCEL = 0x1A
RESERVED = frozenset({FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL})
#: ASH version carried in RSTACK and ERROR frames.
ASH_VERSION = 0x02
#: Frames the NCP may have outstanding before the host acknowledges them (UG101: 1..7).
TX_WINDOW = 4
#: Seconds the NCP waits for an acknowledgement before it retransmits a DATA frame.
T_RX_ACK = 1.6
MAX_RETRANSMITS = 5


class ResetCode(enum.IntEnum):
    """Reset reasons an RSTACK frame reports (UG101 table of reset codes)."""

    UNKNOWN = 0x00
    EXTERNAL = 0x01
    POWER_ON = 0x02
    WATCHDOG = 0x03
    ASSERT = 0x06
    BOOTLOADER = 0x09
    SOFTWARE = 0x0B


class AshError(ValueError):
    """A frame that cannot be decoded (bad CRC, bad escape, unknown control byte)."""


def crc_ccitt(data: bytes) -> int:
    """CRC-CCITT with initial value 0xFFFF, as UG101 specifies."""
    return binascii.crc_hqx(data, 0xFFFF)


def _lfsr_sequence(length: int) -> bytes:
    out = bytearray()
    rand = 0x42
    for _ in range(length):
        out.append(rand)
        rand = (rand >> 1) ^ 0xB8 if rand & 1 else rand >> 1
    return bytes(out)


_PSEUDO_RANDOM = _lfsr_sequence(256)


def randomise(data: bytes) -> bytes:
    """XOR ``data`` with the LFSR sequence; applying it twice gives ``data`` back."""
    if len(data) > len(_PSEUDO_RANDOM):
        raise AshError(f"DATA payload of {len(data)} bytes is longer than ASH allows")
    return bytes(a ^ b for a, b in zip(data, _PSEUDO_RANDOM, strict=False))


def stuff(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in RESERVED:
            out += bytes((ESCAPE, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unstuff(data: bytes) -> bytes:
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            out.append(byte)
    if escaped:
        raise AshError("frame ends inside an escape")
    return bytes(out)


@dataclass(frozen=True)
class AshFrame:
    """One decoded ASH frame. ``kind`` is DATA, ACK, NAK, RST, RSTACK or ERROR."""

    kind: str
    frm_num: int = 0
    ack_num: int = 0
    re_tx: bool = False
    not_ready: bool = False
    payload: bytes = b""


def encode_frame(frame: AshFrame) -> bytes:
    """The bytes on the wire for ``frame``, CRC, stuffing and flag byte included."""
    if frame.kind == "DATA":
        control = (frame.frm_num << 4) | (int(frame.re_tx) << 3) | frame.ack_num
        body = bytes([control]) + randomise(frame.payload)
    elif frame.kind in ("ACK", "NAK"):
        base = 0x80 if frame.kind == "ACK" else 0xA0
        body = bytes([base | (int(frame.not_ready) << 3) | frame.ack_num])
    elif frame.kind == "RST":
        body = b"\xc0"
    elif frame.kind in ("RSTACK", "ERROR"):
        body = bytes([0xC1 if frame.kind == "RSTACK" else 0xC2]) + frame.payload
    else:
        raise AshError(f"unknown ASH frame kind {frame.kind!r}")
    return stuff(body + crc_ccitt(body).to_bytes(2, "big")) + bytes([FLAG])


def decode_frame(raw: bytes) -> AshFrame:
    """Decode one frame's bytes (between flags, still stuffed)."""
    data = unstuff(raw)
    if len(data) < 3:
        raise AshError(f"frame too short: {data.hex()}")
    if crc_ccitt(data[:-2]).to_bytes(2, "big") != data[-2:]:
        raise AshError(f"bad CRC in frame {data.hex()}")
    control, body = data[0], data[1:-2]
    if control & 0x80 == 0:
        return AshFrame("DATA", frm_num=(control >> 4) & 7, re_tx=bool(control & 0x08),
                        ack_num=control & 7, payload=randomise(body))
    if control & 0xE0 == 0x80:
        return AshFrame("ACK", ack_num=control & 7, not_ready=bool(control & 0x08))
    if control & 0xE0 == 0xA0:
        return AshFrame("NAK", ack_num=control & 7, not_ready=bool(control & 0x08))
    if control == 0xC0:
        return AshFrame("RST")
    if control == 0xC1:
        return AshFrame("RSTACK", payload=body)
    if control == 0xC2:
        return AshFrame("ERROR", payload=body)
    raise AshError(f"unknown control byte 0x{control:02X}")


class AshNcpLink:
    """The NCP end of one ASH link.

    ``write`` sends bytes to the host; ``deliver`` receives each in-sequence EZSP frame and
    ``on_reset`` is called when the host resets the link (RST). Retransmission timers run on
    ``loop``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[bytes], None],
        deliver: Callable[[bytes], None],
        on_reset: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._write = write
        self._deliver = deliver
        self._on_reset = on_reset
        self._buffer = bytearray()
        self._discarding = False
        self.reset_state()
        #: Acknowledgements still to be lost (see :meth:`lose_acks`).
        self._acks_to_lose = 0
        #: Frames held back while the acknowledgement that would carry them is "lost".
        self._held: list[AshFrame] = []
        self._holding = False
        #: How many DATA frames the host sent again (re_tx set) since the link started.
        self.host_retransmissions = 0
        #: How many DATA frames the NCP sent again.
        self.ncp_retransmissions = 0
        self.frames_received = 0

    def reset_state(self) -> None:
        self._tx_seq = 0
        self._rx_seq = 0
        self._unacked: dict[int, AshFrame] = {}
        self._queue: list[bytes] = []
        self._retries: dict[int, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._rejecting = False

    # -- fault injection ---------------------------------------------------------------------

    def lose_acks(self, count: int) -> None:
        """Lose the acknowledgement of the next ``count`` host DATA frames.

        The NCP still executes the command, but nothing that would acknowledge it (the ACK,
        nor the response DATA frame, whose ackNum would) reaches the host until the host
        retransmits the frame; the retransmission is then acknowledged and not executed again.
        """
        self._acks_to_lose += count

    # -- bytes in ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        for byte in data:
            if byte == CANCEL:
                self._buffer.clear()
                self._discarding = False
            elif byte == SUBSTITUTE:
                self._buffer.clear()
                self._discarding = True
            elif byte in (XON, XOFF):
                continue
            elif byte == FLAG:
                raw = bytes(self._buffer)
                self._buffer.clear()
                if self._discarding:
                    self._discarding = False
                elif raw:
                    self._frame_bytes_received(raw)
            else:
                self._buffer.append(byte)

    def _frame_bytes_received(self, raw: bytes) -> None:
        try:
            frame = decode_frame(raw)
        except AshError as exc:
            LOGGER.debug("ASH: dropped a bad frame: %s", exc)
            if raw and not (unstuff_safe(raw)[:1] or b"\x80")[0] & 0x80:
                self._reject()
            return
        self.frames_received += 1
        if frame.kind == "RST":
            self._reset_received()
        elif frame.kind == "DATA":
            self._handle_ack_num(frame.ack_num)
            self._data_received(frame)
        elif frame.kind == "ACK":
            self._handle_ack_num(frame.ack_num)
        elif frame.kind == "NAK":
            self._handle_ack_num(frame.ack_num)
            self._retransmit_all()

    def _reset_received(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.reset_state()
        self._held.clear()
        self._holding = False
        self._on_reset()
        self.send_rstack(ResetCode.SOFTWARE)

    def _data_received(self, frame: AshFrame) -> None:
        if frame.frm_num == self._rx_seq:
            self._rx_seq = (self._rx_seq + 1) % 8
            self._rejecting = False
            if self._acks_to_lose:
                self._acks_to_lose -= 1
                self._holding = True
                LOGGER.debug("ASH: losing the ACK of frame %d", frame.frm_num)
                self._deliver(frame.payload)
                return
            self._send(AshFrame("ACK", ack_num=self._rx_seq))
            self._deliver(frame.payload)
        elif frame.re_tx:
            # A retransmission of a frame already received: its ACK was lost.
            self.host_retransmissions += 1
            self._send(AshFrame("ACK", ack_num=self._rx_seq), force=True)
            self._release_held()
        else:
            self._reject()

    def _reject(self) -> None:
        if not self._rejecting:
            self._rejecting = True
            self._send(AshFrame("NAK", ack_num=self._rx_seq))

    def _handle_ack_num(self, ack_num: int) -> None:
        # ackNum is the next frame the host expects: everything before it is acknowledged.
        for num in list(self._unacked):
            if (ack_num - num - 1) % 8 < TX_WINDOW:
                del self._unacked[num]
                self._retries.pop(num, None)
        self._pump()

    # -- bytes out -----------------------------------------------------------------------------

    def send_rstack(self, code: ResetCode) -> None:
        self._write(encode_frame(AshFrame("RSTACK", payload=bytes([ASH_VERSION, code]))))

    def send_data(self, ezsp_frame: bytes) -> None:
        """Queue an EZSP frame (response or callback) for the host."""
        self._queue.append(ezsp_frame)
        self._pump()

    def _pump(self) -> None:
        while self._queue and len(self._unacked) < TX_WINDOW:
            payload = self._queue.pop(0)
            frame = AshFrame("DATA", frm_num=self._tx_seq, ack_num=self._rx_seq, payload=payload)
            self._unacked[self._tx_seq] = frame
            self._tx_seq = (self._tx_seq + 1) % 8
            self._send(frame)
        self._arm_timer()

    def _send(self, frame: AshFrame, *, force: bool = False) -> None:
        if self._holding and not force:
            self._held.append(frame)
            return
        self._write(encode_frame(frame))

    def _release_held(self) -> None:
        if not self._holding:
            return
        self._holding = False
        held, self._held = self._held, []
        for frame in held:
            if frame.kind == "ACK":
                continue  # the fresh ACK just sent supersedes it
            self._write(encode_frame(frame))

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._unacked and not self._holding:
            self._timer = self._loop.call_later(T_RX_ACK, self._ack_timeout)

    def _ack_timeout(self) -> None:
        self._timer = None
        self._retransmit_all()

    def _retransmit_all(self) -> None:
        oldest_first = sorted(self._unacked.items(), key=lambda item: (item[0] - self._tx_seq) % 8)
        for num, frame in oldest_first:
            retries = self._retries.get(num, 0) + 1
            if retries > MAX_RETRANSMITS:
                LOGGER.warning("ASH: host never acknowledged frame %d", num)
                self._unacked.pop(num)
                continue
            self._retries[num] = retries
            self.ncp_retransmissions += 1
            self._send(AshFrame("DATA", frm_num=num, re_tx=True, ack_num=self._rx_seq,
                                payload=frame.payload))
        self._arm_timer()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def unstuff_safe(raw: bytes) -> bytes:
    try:
        return unstuff(raw)
    except AshError:
        return b""
