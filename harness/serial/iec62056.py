"""IEC 62056-21 (formerly IEC 61107) mode C data readout over a meter's optical port.

The protocol, as far as a data readout needs it::

    client -> meter   /?<address>!CR LF               sign-on (at the initial rate, 300 Bd)
    meter  -> client  /XXXZ<identification>CR LF      XXX manufacturer, Z baud rate character
    client -> meter   ACK 0 Z 0 CR LF                 option select: protocol 0, rate Z, mode 0
    (both switch to the rate Z designates)
    meter  -> client  STX <data lines> ! CR LF ETX BCC

Each data line is ``address(value*unit)`` CR LF, e.g. ``1.8.0(001234.5*kWh)``; a line may hold
several data sets, and a data set without an address continues the previous address (load
profile lines). The block check character (BCC) is the XOR of every byte after STX up to and
including ETX.

The codec (:func:`format_data_block`, :func:`parse_data_block`, identification parsing) is
sans-IO and shared by the client (:func:`read_meter`) and the emulated meter
(:class:`MeterReadoutServer`), so the emulator speaks exactly the bytes the client parses.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.serial.errors import ExpectTimeout, PortLost, ReadoutError

if TYPE_CHECKING:
    from harness.serial.console import Console

__all__ = [
    "ACK",
    "BAUD_RATES",
    "ETX",
    "NAK",
    "SOH",
    "STX",
    "DataLine",
    "MeterReadoutServer",
    "Readout",
    "bcc",
    "format_data_block",
    "option_select",
    "parse_data_block",
    "parse_identification",
    "read_meter",
    "sign_on_request",
]

SOH = 0x01
STX = 0x02
ETX = 0x03
ACK = 0x06
NAK = 0x15

#: Baud rate characters of protocol modes C and E (mode B uses 'A'..'F'; not supported here).
BAUD_RATES: dict[str, int] = {
    "0": 300,
    "1": 600,
    "2": 1200,
    "3": 2400,
    "4": 4800,
    "5": 9600,
    "6": 19200,
}

#: Longest device address a sign-on may carry (the standard allows up to 32 characters).
MAX_ADDRESS = 32

_ADDRESS_FORBIDDEN = set("()/!")
_VALUE_FORBIDDEN = set("()*/!")
_DATASET = re.compile(r"([^()/!]*)\(([^()/!]*)\)")
_LINE = re.compile(r"(?:[^()/!]*\([^()/!]*\))+")
_IDENT = re.compile(r"/([A-Za-z]{3})([^\r\n])([^\r\n]*)")


def bcc(data: bytes) -> int:
    """Block check character: XOR of the bytes after STX (or SOH) up to and including ETX.

    Pass the frame as sent, from its STX/SOH through ETX; a leading STX or SOH is skipped,
    everything else is included.
    """
    start = 1 if data[:1] in (bytes([STX]), bytes([SOH])) else 0
    value = 0
    for byte in data[start:]:
        value ^= byte
    return value


# -- data lines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataLine:
    """One data set: ``address(value*unit)``; ``unit`` is None when the meter sent none."""

    address: str
    value: str
    unit: str | None = None

    def format(self) -> str:
        """The data set as it goes on the wire, without line end."""
        _check_chars("address", self.address, _ADDRESS_FORBIDDEN)
        _check_chars("value", self.value, _VALUE_FORBIDDEN)
        if self.unit:
            _check_chars("unit", self.unit, _ADDRESS_FORBIDDEN)
            return f"{self.address}({self.value}*{self.unit})"
        return f"{self.address}({self.value})"


def _check_chars(what: str, text: str, forbidden: set[str]) -> None:
    bad = [c for c in text if c in forbidden or not (" " <= c <= "~")]
    if bad:
        raise ValueError(f"data set {what} {text!r} contains characters not allowed: {bad!r}")


def format_data_block(lines: Iterable[DataLine]) -> bytes:
    """``STX`` + one ``address(value*unit)`` CR LF per data set + ``!`` CR LF + ``ETX`` + BCC."""
    body = "".join(f"{line.format()}\r\n" for line in lines) + "!\r\n"
    frame = bytes([STX]) + body.encode("ascii") + bytes([ETX])
    return frame + bytes([bcc(frame)])


def parse_data_block(block: bytes) -> list[DataLine]:
    """Parse ``STX ... ! CR LF ETX BCC``; raise :class:`ReadoutError` quoting what is wrong."""
    if len(block) < 3 or block[0] != STX:
        raise ReadoutError(f"data block does not start with STX: {block[:40]!r}")
    if block[-2] != ETX:
        raise ReadoutError(f"data block does not end with ETX + BCC: {block[-40:]!r}")
    expected = bcc(block[:-1])
    if block[-1] != expected:
        raise ReadoutError(
            f"data block BCC mismatch: received 0x{block[-1]:02X}, computed 0x{expected:02X}"
        )
    body = block[1:-2]
    if body.endswith(b"!\r\n"):
        body = body[:-3]
    elif body.endswith(b"!"):
        body = body[:-1]
    else:
        raise ReadoutError(f"data block has no end mark '!': ...{body[-40:]!r}")
    result: list[DataLine] = []
    for raw in re.split(rb"\r?\n", body):
        if not raw:
            continue
        result.extend(_parse_line(raw, result[-1].address if result else None))
    return result


def _parse_line(raw: bytes, previous: str | None) -> list[DataLine]:
    try:
        line = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ReadoutError(f"malformed data line {raw!r}: not ASCII") from None
    if not line.isprintable() or not _LINE.fullmatch(line):
        raise ReadoutError(f"malformed data line {raw!r}: expected address(value*unit)")
    out: list[DataLine] = []
    for m in _DATASET.finditer(line):
        address, inner = m.group(1), m.group(2)
        if not address:
            if previous is None:
                raise ReadoutError(f"malformed data line {raw!r}: data set without address")
            address = previous
        value, star, unit = inner.partition("*")
        out.append(DataLine(address, value, unit if star and unit else None))
        previous = address
    return out


# -- identification and readout -----------------------------------------------------------------


def parse_identification(line: bytes | str) -> tuple[str, str, str]:
    """Split ``/XXXZident`` into (manufacturer, baud char, identification after Z).

    CR LF may be present. Raises :class:`ReadoutError` when the line is not an identification
    or its baud character is not a mode C rate.
    """
    text = line.decode("ascii", errors="replace") if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    m = _IDENT.fullmatch(text)
    if not m:
        raise ReadoutError(f"not an identification line: {text!r}")
    manufacturer, baud_char, ident = m.groups()
    if baud_char not in BAUD_RATES:
        raise ReadoutError(
            f"identification {text!r}: baud character {baud_char!r} is not a mode C rate "
            f"(expected one of {''.join(BAUD_RATES)})"
        )
    return manufacturer, baud_char, ident


@dataclass
class Readout:
    """What one data readout returned."""

    identification: str  # the whole line, '/' included, without CR LF
    manufacturer: str
    baud_char: str
    lines: list[DataLine] = field(default_factory=list)

    @property
    def baudrate(self) -> int:
        return BAUD_RATES[self.baud_char]

    def value(self, address: str) -> DataLine:
        """The first data set with ``address``; ``KeyError`` when the meter did not send it."""
        for line in self.lines:
            if line.address == address:
                return line
        raise KeyError(address)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for test records and reports."""
        return {
            "identification": self.identification,
            "manufacturer": self.manufacturer,
            "baud_char": self.baud_char,
            "lines": [
                {"address": line.address, "value": line.value, "unit": line.unit}
                for line in self.lines
            ],
        }


def sign_on_request(address: str = "") -> bytes:
    """``/?<address>!`` CR LF."""
    if len(address) > MAX_ADDRESS or any(c in "/!?\r\n" or not (" " <= c <= "~") for c in address):
        raise ValueError(f"invalid device address {address!r}")
    return f"/?{address}!\r\n".encode("ascii")


def option_select(baud_char: str, *, protocol: str = "0", mode: str = "0") -> bytes:
    """ACK option select: ``ACK <protocol> <baud char> <mode>`` CR LF (mode 0: data readout)."""
    return bytes([ACK]) + f"{protocol}{baud_char}{mode}\r\n".encode("ascii")


# -- client -------------------------------------------------------------------------------------

_IDENT_REPLY = re.compile(rb"/[A-Za-z]{3}[^\r\n][^\r\n]*\r\n")
_DATA_REPLY = re.compile(rb"\x02[^\x03]*\x03.", re.DOTALL)
#: Read timeout the client uses on a bare port, so its own deadline is kept to within this.
_POLL_S = 0.05


class _Link(Protocol):
    def send(self, data: bytes) -> None: ...

    def expect(self, regex: re.Pattern[bytes], timeout: float, what: str) -> bytes: ...


class _PortLink:
    """Talks to a bare pyserial port: its own small receive buffer, wall-time deadlines."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self._buf = bytearray()

    def send(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except OSError as exc:
            raise PortLost(f"optical port write failed: {exc}") from exc

    def expect(self, regex: re.Pattern[bytes], timeout: float, what: str) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self._buf)
            if m:
                found = bytes(m.group())
                del self._buf[: m.end()]
                return found
            if time.monotonic() >= deadline:
                raise ReadoutError(
                    f"no {what} within {timeout:g} s; received {bytes(self._buf[-400:])!r}"
                )
            try:
                chunk = self._port.read(max(1, self._port.in_waiting))
            except OSError as exc:
                raise PortLost(f"optical port lost while waiting for {what}: {exc}") from exc
            self._buf.extend(chunk)


class _ConsoleLink:
    """Talks through a Console that owns the port, so the exchange lands in its transcript."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def send(self, data: bytes) -> None:
        self._console.write(data)

    def expect(self, regex: re.Pattern[bytes], timeout: float, what: str) -> bytes:
        try:
            return bytes(self._console.expect(regex, timeout).group())
        except ExpectTimeout as exc:
            raise ReadoutError(f"no {what} within {timeout:g} s: {exc}") from exc


def read_meter(
    port: Any,
    *,
    address: str = "",
    timeout: float = 5.0,
    transcript: Console | None = None,
) -> Readout:
    """Run one mode C data readout on an open port and return what the meter sent.

    ``timeout`` (wall seconds) applies to each answer: the identification, then the data block.
    With ``transcript`` (the :class:`~harness.serial.console.Console` that owns ``port``) the
    exchange goes through the console and is recorded in its transcript (output the console
    had not consumed yet is discarded first); without, the port is read directly after
    flushing its input. The port's baud rate is switched to the rate the meter offers for the
    data block and restored afterwards (the meter falls back to its initial rate after a
    readout).

    The option select follows the identification at once (no reaction-time pause: the harness
    has no fixed sleeps). Raises :class:`ReadoutError`, or :class:`PortLost`.
    """
    link: _Link
    if transcript is not None:
        if transcript.port is not port:
            raise ValueError("transcript must be the Console that owns this port")
        link = _ConsoleLink(transcript)
        transcript.discard()
    else:
        link = _PortLink(port)
        with contextlib.suppress(Exception):
            port.reset_input_buffer()
    initial_baud = port.baudrate
    saved_timeout = getattr(port, "timeout", None)
    adjust_timeout = transcript is None and (saved_timeout is None or saved_timeout > _POLL_S)
    if adjust_timeout:
        port.timeout = _POLL_S
    try:
        request = sign_on_request(address)
        link.send(request)
        ident_raw = link.expect(_IDENT_REPLY, timeout, f"identification after {request!r}")
        identification = ident_raw.decode("ascii", errors="replace").rstrip("\r\n")
        manufacturer, baud_char, _ = parse_identification(identification)
        link.send(option_select(baud_char))
        new_baud = BAUD_RATES[baud_char]
        if new_baud != port.baudrate:
            port.baudrate = new_baud
        block = link.expect(_DATA_REPLY, timeout, f"data block from {identification!r}")
        lines = parse_data_block(block)
    finally:
        # Best effort: the port may be the reason we are here (PortLost).
        with contextlib.suppress(Exception):
            if port.baudrate != initial_baud:
                port.baudrate = initial_baud
        if adjust_timeout:
            with contextlib.suppress(Exception):
                port.timeout = saved_timeout
    return Readout(identification, manufacturer, baud_char, lines)


# -- emulated meter -----------------------------------------------------------------------------

_REQUEST = re.compile(
    rb"/\?(?P<address>[^!/?\r\n\x06]{0,%d})!\r\n"
    rb"|\x06(?P<protocol>[0-9])(?P<baud>[0-9])(?P<mode>[0-9])\r\n" % MAX_ADDRESS
)
#: Longest request the server waits for; longer pending input is junk.
_MAX_REQUEST = MAX_ADDRESS + 8


class MeterReadoutServer:
    """The meter side of a mode C data readout, sans-IO: bytes in, bytes out.

    ``feed`` answers a sign-on with the identification line and an option select for data
    readout (mode 0) with a data block built from ``provider()`` at that moment, so a readout
    shows the emulated meter's current registers. A new sign-on restarts the sequence at any
    point. Anything else is ignored; pending input never exceeds a request's length.
    ``device_address`` (optional) makes the meter ignore sign-ons addressed to another meter.
    """

    def __init__(
        self,
        identification: str,
        provider: Callable[[], list[DataLine]],
        *,
        device_address: str | None = None,
    ) -> None:
        line = identification if identification.startswith("/") else f"/{identification}"
        try:  # fail at construction, not when a client signs on
            parse_identification(line)
        except ReadoutError as exc:
            raise ValueError(str(exc)) from None
        self.identification = line
        self._provider = provider
        self._device_address = device_address
        self._pending = bytearray()
        self.state = "idle"  # idle -> identified -> idle
        self.readouts = 0

    @property
    def baud_char(self) -> str:
        return self.identification[4]

    def feed(self, data: bytes) -> bytes:
        """Consume received bytes; return what the meter sends back (possibly nothing)."""
        self._pending.extend(data)
        out = bytearray()
        while True:
            m = _REQUEST.search(bytes(self._pending))  # a snapshot: groups outlive the del
            if m is None:
                break
            del self._pending[: m.end()]
            if m.group("address") is not None:
                out += self._sign_on(m.group("address").decode("ascii", errors="replace"))
            else:
                out += self._option_select(m.group("mode"))
        self._trim()
        return bytes(out)

    def _sign_on(self, address: str) -> bytes:
        if address and self._device_address is not None and address != self._device_address:
            self.state = "idle"
            return b""
        self.state = "identified"
        return f"{self.identification}\r\n".encode("ascii")

    def _option_select(self, mode: bytes) -> bytes:
        if self.state != "identified":
            return b""
        self.state = "idle"
        if mode != b"0":  # programming and manufacturer modes are not emulated
            return b""
        self.readouts += 1
        return format_data_block(self._provider())

    def _trim(self) -> None:
        # Every request starts with '/' or ACK and contains neither later on, so anything
        # before the last such byte can never become part of a request.
        start = max(self._pending.rfind(b"/"), self._pending.rfind(bytes([ACK])))
        if start < 0:
            self._pending.clear()
            return
        del self._pending[:start]
        if len(self._pending) > _MAX_REQUEST:
            self._pending.clear()
