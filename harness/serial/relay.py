"""USB relay boards that power-cycle bench devices (LCUS-type boards with a CH340 serial chip).

These boards (LCUS-1, -2, -4, -8) listen at 9600 Bd 8N1 for 4-byte frames and never answer::

    0xA0, channel (1..n), state (0x00 off, 0x01 on), checksum = (0xA0 + channel + state) & 0xFF

e.g. ``A0 01 01 A2`` switches channel 1 on and ``A0 01 00 A1`` switches it off. "On" energises
the relay: a device wired to the normally-open contact is powered while its channel is on.

Since the board never answers, :class:`RelayBoard` keeps its own log of what it commanded. The
sans-IO :class:`RelayServer` is the emulated board behind a pty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.serial.errors import PortLost

__all__ = [
    "HEADER",
    "RelayBoard",
    "RelayCommand",
    "RelayServer",
    "decode_command",
    "encode_command",
]

HEADER = 0xA0
FRAME_LEN = 4
#: Default rate of LCUS boards.
BAUDRATE = 9600


def _check_channel(channel: int, channels: int | None = None) -> None:
    top = channels if channels is not None else 255
    if not isinstance(channel, int) or isinstance(channel, bool) or not 1 <= channel <= top:
        raise ValueError(f"relay channel must be an int in 1..{top}, got {channel!r}")


def encode_command(channel: int, on: bool) -> bytes:
    """The 4-byte frame that switches ``channel`` on or off."""
    _check_channel(channel)
    state = 1 if on else 0
    return bytes([HEADER, channel, state, (HEADER + channel + state) & 0xFF])


def decode_command(frame: bytes) -> tuple[int, bool]:
    """``(channel, on)`` from a frame; ``ValueError`` on a bad length, header, state or checksum."""
    if len(frame) != FRAME_LEN:
        raise ValueError(f"relay frame must be {FRAME_LEN} bytes, got {bytes(frame).hex(' ')}")
    header, channel, state, checksum = frame
    if header != HEADER:
        raise ValueError(f"relay frame header 0x{header:02X} is not 0xA0")
    if channel == 0:
        raise ValueError("relay frame names channel 0 (channels start at 1)")
    if state not in (0, 1):
        raise ValueError(f"relay frame state 0x{state:02X} is neither 0 (off) nor 1 (on)")
    expected = (header + channel + state) & 0xFF
    if checksum != expected:
        raise ValueError(f"relay frame checksum 0x{checksum:02X}, expected 0x{expected:02X}")
    return channel, bool(state)


@dataclass(frozen=True)
class RelayCommand:
    """One command the driver sent (the board gives no acknowledgement to log instead)."""

    channel: int
    on: bool

    @property
    def frame(self) -> bytes:
        return encode_command(self.channel, self.on)


class RelayBoard:
    """Driver for an LCUS relay board on an open pyserial port (9600 Bd)."""

    def __init__(self, port: Any, *, channels: int | None = None, name: str = "relay") -> None:
        self._port = port
        self.channels = channels
        self.name = name
        self.log: list[RelayCommand] = []

    def set(self, channel: int, on: bool) -> None:
        """Switch ``channel``; returns once the frame has left the host (``flush``)."""
        _check_channel(channel, self.channels)
        command = RelayCommand(channel, on)
        try:
            self._port.write(command.frame)
            self._port.flush()
        except OSError as exc:  # pyserial's SerialException is an OSError
            raise PortLost(f"{self.name}: cannot switch channel {channel}: {exc}") from exc
        self.log.append(command)

    def on(self, channel: int) -> None:
        self.set(channel, True)

    def off(self, channel: int) -> None:
        self.set(channel, False)

    def state(self, channel: int) -> bool | None:
        """What this driver last commanded on ``channel`` (None: never commanded)."""
        for command in reversed(self.log):
            if command.channel == channel:
                return command.on
        return None

    def power_cycle(self, channel: int, off_seconds: float, sleep: Callable[[float], None]) -> None:
        """Off, wait ``off_seconds`` with ``sleep``, on (also when the wait is interrupted).

        ``sleep`` is the bench clock's: under emulation the wait costs no wall time.
        """
        self.off(channel)
        try:
            sleep(off_seconds)
        finally:
            self.on(channel)

    def close(self) -> None:
        self._port.close()


class RelayServer:
    """The emulated board, sans-IO: parses frames from a byte stream and switches channels.

    ``on_change(channel, on)`` is called when a channel's state changes (repeating the current
    state is not a change: an emulated device is not rebooted by a second "on"). Frames for
    channels the board does not have are ignored, like on the real boards; a byte that does not
    start a valid frame is skipped, so the parser resynchronises on the next 0xA0.
    """

    def __init__(
        self, channels: int, on_change: Callable[[int, bool], None], *, initial: bool = False
    ) -> None:
        """``initial`` is every channel's state at power-up (an emulated bench starts with
        its devices supplied, i.e. every relay closed)."""
        if channels < 1:
            raise ValueError("a relay board has at least one channel")
        self.channels = channels
        self._on_change = on_change
        self._states = [initial] * channels
        self._pending = bytearray()
        self.frames = 0  # valid frames received, for tests and diagnostics

    def state(self, channel: int) -> bool:
        _check_channel(channel, self.channels)
        return self._states[channel - 1]

    def feed(self, data: bytes) -> bytes:
        """Consume received bytes; always returns ``b""`` (the boards do not answer)."""
        self._pending.extend(data)
        while True:
            start = self._pending.find(HEADER)
            if start < 0:
                self._pending.clear()
                break
            del self._pending[:start]
            if len(self._pending) < FRAME_LEN:
                break
            try:
                channel, on = decode_command(bytes(self._pending[:FRAME_LEN]))
            except ValueError:
                del self._pending[:1]  # not a frame here; look for the next header
                continue
            del self._pending[:FRAME_LEN]
            self.frames += 1
            if channel <= self.channels and self._states[channel - 1] != on:
                self._states[channel - 1] = on
                self._on_change(channel, on)
        return b""
