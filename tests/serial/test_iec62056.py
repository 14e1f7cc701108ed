"""IEC 62056-21 codec, the emulated meter, and read_meter against it over a real pty."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.serial import (
    BAUD_RATES,
    Console,
    DataLine,
    MeterReadoutServer,
    ReadoutError,
    bcc,
    format_data_block,
    parse_data_block,
    parse_identification,
    read_meter,
)
from harness.serial.iec62056 import option_select, sign_on_request

FUZZ = settings(max_examples=200, database=None, deadline=None)

IDENT = "/ISK5MT174-0001"
REGISTERS = [
    DataLine("0.0.0", "12345678"),
    DataLine("1.8.0", "001234.5", "kWh"),
    DataLine("2.8.0", "000000.0", "kWh"),
    DataLine("F.F", "00"),
]


def _frame(body: bytes) -> bytes:
    """A data block around ``body`` with a correct BCC, for testing line errors alone."""
    frame = b"\x02" + body + b"\x03"
    return frame + bytes([bcc(frame)])


# -- BCC and data blocks ------------------------------------------------------------------------


def test_bcc_known_vectors():
    # Break command SOH 'B' '0' ETX, whose BCC is 'q' in the standard's example:
    # 'B' 0x42 ^ '0' 0x30 = 0x72; 0x72 ^ ETX 0x03 = 0x71 = 'q'. SOH itself is not included.
    assert bcc(b"\x01B0\x03") == ord("q")
    # Empty data block STX '!' CR LF ETX: 0x21 ^ 0x0D = 0x2C; ^ 0x0A = 0x26; ^ 0x03 = 0x25 ('%').
    assert bcc(b"\x02!\r\n\x03") == 0x25
    assert format_data_block([]) == b"\x02!\r\n\x03%"


@given(st.binary(max_size=64))
@FUZZ
def test_bcc_of_frame_plus_its_bcc_is_zero(payload):
    frame = b"\x02" + payload + b"\x03"
    assert bcc(frame + bytes([bcc(frame)])) == 0


def test_format_data_block_exact_bytes():
    block = format_data_block([DataLine("1.8.0", "001234.5", "kWh"), DataLine("F.F", "00")])
    assert block[:-1] == b"\x021.8.0(001234.5*kWh)\r\nF.F(00)\r\n!\r\n\x03"
    assert block[-1] == bcc(block[:-1])


_PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]


def _field(forbidden: str, min_size: int) -> st.SearchStrategy[str]:
    alphabet = st.sampled_from([c for c in _PRINTABLE if c not in forbidden])
    return st.text(alphabet=alphabet, min_size=min_size, max_size=12)


_data_lines = st.builds(
    DataLine,
    address=_field("()/!", 1),
    value=_field("()*/!", 0),
    unit=st.none() | _field("()/!", 1),
)


@given(st.lists(_data_lines, max_size=8))
@FUZZ
def test_data_block_round_trip(lines):
    assert parse_data_block(format_data_block(lines)) == lines


def test_line_with_several_data_sets_and_continuations():
    body = b"1.8.1(1*kWh)1.8.2(2*kWh)\r\nP.01(24010100)(15)\r\n(0.123*kWh)\r\n!\r\n"
    assert parse_data_block(_frame(body)) == [
        DataLine("1.8.1", "1", "kWh"),
        DataLine("1.8.2", "2", "kWh"),
        DataLine("P.01", "24010100"),
        DataLine("P.01", "15"),
        DataLine("P.01", "0.123", "kWh"),  # a load-profile continuation line
    ]


def test_bad_bcc_is_a_readout_error():
    block = bytearray(format_data_block(REGISTERS))
    block[-1] ^= 0xFF
    with pytest.raises(ReadoutError, match=r"BCC mismatch: received 0x[0-9A-F]{2}, computed"):
        parse_data_block(bytes(block))


@pytest.mark.parametrize(
    "line",
    [b"1.8.0 001234", b"1.8.0(0012", b"1.8.0(1)x", b"1.8.0(\xe91)", b"1.8.0(1\t)", b"1(2(3))"],
)
def test_malformed_line_is_quoted(line):
    with pytest.raises(ReadoutError) as info:
        parse_data_block(_frame(b"0.0.0(1)\r\n" + line + b"\r\n!\r\n"))
    assert repr(line) in str(info.value)


def test_continuation_needs_an_address_before_it():
    with pytest.raises(ReadoutError, match=r"b'\(orphan\)': data set without address"):
        parse_data_block(_frame(b"(orphan)\r\n!\r\n"))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"1.8.0(1)\r\n!\r\n\x03\x00", "does not start with STX"),
        (b"\x021.8.0(1)\r\n!\r\n", "does not end with ETX"),
        (_frame(b"1.8.0(1)\r\n"), "no end mark"),
    ],
)
def test_broken_frames(block, message):
    with pytest.raises(ReadoutError, match=message):
        parse_data_block(block)


def test_data_line_refuses_characters_the_protocol_reserves():
    with pytest.raises(ValueError, match="not allowed"):
        format_data_block([DataLine("1.8.0", "1(2)")])
    with pytest.raises(ValueError, match="not allowed"):
        format_data_block([DataLine("1.8.0", "1", "k€Wh")])


def test_identification_parsing():
    assert parse_identification(b"/ISk5MT382-1000\r\n") == ("ISk", "5", "MT382-1000")
    with pytest.raises(ReadoutError, match="not a mode C rate"):
        parse_identification("/ABCFmeter")  # 'F' is a mode B rate
    with pytest.raises(ReadoutError, match="not an identification line"):
        parse_identification("ISK5MT174")


def test_baud_table():
    assert BAUD_RATES == {
        "0": 300,
        "1": 600,
        "2": 1200,
        "3": 2400,
        "4": 4800,
        "5": 9600,
        "6": 19200,
    }


# -- the emulated meter, sans-IO ----------------------------------------------------------------


class Registers:
    """A provider that counts its calls, so tests see *when* the block is built."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[DataLine]:
        self.calls += 1
        return [DataLine("1.8.0", f"{self.calls:08d}", "kWh")]


def test_server_sequence():
    provider = Registers()
    meter = MeterReadoutServer(IDENT, provider)
    assert meter.feed(b"/?!\r\n") == b"/ISK5MT174-0001\r\n"
    assert provider.calls == 0
    block = meter.feed(option_select("5"))
    assert provider.calls == 1
    assert parse_data_block(block) == [DataLine("1.8.0", "00000001", "kWh")]
    # The sequence is over: another ACK without sign-on gets nothing.
    assert meter.feed(option_select("5")) == b""
    assert meter.readouts == 1


def test_server_byte_by_byte_and_restart():
    meter = MeterReadoutServer("ISK5MT174-0001", Registers())  # '/' is optional here
    request = sign_on_request() + b"/?!\r\n" + option_select("5")
    out = b"".join(meter.feed(bytes([b])) for b in request)
    assert out.startswith(b"/ISK5MT174-0001\r\n/ISK5MT174-0001\r\n\x02")
    assert parse_data_block(out[2 * len(IDENT) + 4 :])


def test_server_ignores_programming_mode_and_unknown_addresses():
    meter = MeterReadoutServer(IDENT, Registers(), device_address="12345678")
    assert meter.feed(b"/?99999999!\r\n") == b""
    assert meter.feed(b"/?12345678!\r\n") == b"/ISK5MT174-0001\r\n"
    assert meter.feed(option_select("5", mode="1")) == b""
    assert meter.state == "idle"


def test_server_rejects_a_bad_identification():
    with pytest.raises(ValueError, match="not an identification line"):
        MeterReadoutServer("/IS", Registers())


@given(st.binary(max_size=300))
@FUZZ
def test_server_survives_junk_and_resyncs(junk):
    meter = MeterReadoutServer(IDENT, Registers())
    meter.feed(junk)
    assert len(meter._pending) <= 64
    assert meter.feed(b"/?!\r\n").endswith(b"/ISK5MT174-0001\r\n")
    assert parse_data_block(meter.feed(option_select("5")))


@given(st.lists(st.binary(max_size=40), max_size=30))
@FUZZ
def test_server_pending_stays_bounded(chunks):
    meter = MeterReadoutServer(IDENT, Registers())
    for chunk in chunks:
        meter.feed(b"/?" + chunk)
        assert len(meter._pending) <= 64


# -- read_meter over a pty ----------------------------------------------------------------------


def test_read_meter_over_pty(serve, client):
    meter = serve(MeterReadoutServer(IDENT, lambda: REGISTERS), name="esme-optical")
    port = client(meter.path, baudrate=300)
    readout = read_meter(port, timeout=2.0)
    assert readout.identification == IDENT
    assert readout.manufacturer == "ISK"
    assert readout.baud_char == "5" and readout.baudrate == 9600
    assert readout.lines == REGISTERS
    assert readout.value("1.8.0") == DataLine("1.8.0", "001234.5", "kWh")
    with pytest.raises(KeyError):
        readout.value("9.9.9")
    assert json.loads(json.dumps(readout.as_dict()))["lines"][1]["unit"] == "kWh"
    assert port.baudrate == 300  # back at the initial rate for the next sign-on
    # A second readout on the same port works and sees current values.
    assert read_meter(port, timeout=2.0).lines == REGISTERS


def test_read_meter_with_address(serve, client):
    meter = serve(MeterReadoutServer(IDENT, lambda: REGISTERS, device_address="12345678"))
    port = client(meter.path)
    assert read_meter(port, address="12345678", timeout=2.0).lines == REGISTERS
    with pytest.raises(ReadoutError, match=r"no identification .* within 0.3 s; received b''"):
        read_meter(port, address="87654321", timeout=0.3)


class Silent:
    def feed(self, data: bytes) -> bytes:
        return b""


class BrokenMeter:
    """Answers the sign-on, then sends a data block with a wrong BCC."""

    def feed(self, data: bytes) -> bytes:
        if data.startswith(b"/?"):
            return b"/XYZ5broken\r\n"
        if data.startswith(b"\x06"):
            block = bytearray(format_data_block(REGISTERS))
            block[-1] ^= 0x55
            return bytes(block)
        return b""


def test_read_meter_timeout_quotes_what_was_received(serve, client):
    silent = serve(Silent())
    with pytest.raises(ReadoutError) as info:
        read_meter(client(silent.path), timeout=0.3)
    assert "no identification after b'/?!\\r\\n' within 0.3 s; received b''" in str(info.value)


def test_read_meter_bad_block(serve, client):
    broken = serve(BrokenMeter())
    with pytest.raises(ReadoutError, match="BCC mismatch"):
        read_meter(client(broken.path), timeout=2.0)


def test_read_meter_through_console_records_the_exchange(serve, console):
    meter = serve(MeterReadoutServer(IDENT, lambda: REGISTERS))
    con: Console = console(meter.path, name="esme-optical")
    readout = read_meter(con.port, transcript=con, timeout=2.0)
    assert readout.lines == REGISTERS
    text = con.transcript_path.read_bytes()
    assert b">> /?!\\r\\n\n/ISK5MT174-0001\r\n>> \\x06050\\r\\n\n\x02" in text
    with pytest.raises(ValueError, match="Console that owns"):
        read_meter(object(), transcript=con)


def test_read_meter_through_console_timeout_names_transcript(serve, console):
    silent = serve(Silent())
    con: Console = console(silent.path, name="silent-optical")
    with pytest.raises(ReadoutError) as info:
        read_meter(con.port, transcript=con, timeout=0.3)
    assert str(con.transcript_path) in str(info.value)
