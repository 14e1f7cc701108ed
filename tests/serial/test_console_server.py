"""LineConsoleServer, sans-IO: terminal behaviour and robustness against arbitrary bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.serial.console_server import MAX_LINE, LineConsoleServer

FUZZ = settings(max_examples=200, database=None, deadline=None)


def _boom(args: list[str]) -> str:
    raise ValueError(f"bad register {args[0]}")


def _raise(exc: Exception) -> str:
    raise exc


def _server() -> LineConsoleServer:
    return LineConsoleServer(
        "gsme> ",
        {
            "read": lambda args: f"{args[0]} = 7\n(ok)",
            "quiet": lambda args: "",
            "bare": lambda args: _raise(KeyError()),
            "boom": _boom,
        },
        banner="GSME v1.2\nready",
    )


def test_greeting_is_banner_then_prompt():
    assert _server().greeting() == b"GSME v1.2\r\nready\r\ngsme> "
    assert LineConsoleServer("> ", {}).greeting() == b"> "


def test_echo_then_output_then_prompt():
    server = _server()
    assert server.feed(b"read 1.8") == b"read 1.8"
    assert server.feed(b"\r\n") == b"\r\n1.8 = 7\r\n(ok)\r\ngsme> "
    assert server.history == ["read 1.8"]


def test_line_endings_cr_lf_crlf_each_count_once():
    server = _server()
    assert server.feed(b"quiet\r\n") == b"quiet\r\ngsme> "
    assert server.feed(b"quiet\n") == b"quiet\r\ngsme> "
    assert server.feed(b"quiet\r") == b"quiet\r\ngsme> "
    assert server.feed(b"\n") == b""  # the LF of a CR LF split across two feeds
    assert server.feed(b"\r\n\r\n") == b"\r\ngsme> \r\ngsme> "


def test_help_unknown_and_handler_errors():
    server = _server()
    assert b"\r\nerror: KeyError\r\n" in server.feed(b"bare\r")  # no message: the type
    assert b"commands: bare, boom, help, quiet, read\r\n" in server.feed(b"help\r")
    assert server.feed(b"nope 1 2\r") == b"nope 1 2\r\nunknown command: nope (try help)\r\ngsme> "
    assert b"\r\nerror: bad register 9\r\n" in server.feed(b"boom 9\r")
    assert b"\r\nerror: list index out of range\r\n" in server.feed(b"read\r")  # handler bug


def test_backspace_and_ctrl_c():
    server = _server()
    assert server.feed(b"reax\x7fd 2") == b"reax\b \bd 2"
    assert b"2 = 7" in server.feed(b"\r")
    assert server.feed(b"garbage\x03") == b"garbage^C\r\ngsme> "
    assert server.feed("é\x08".encode()) == "é".encode() + b"\b \b"
    assert server.feed(b"\r") == b"\r\ngsme> "


def test_over_long_line_is_discarded_with_an_error():
    server = _server()
    out = server.feed(b"x" * (MAX_LINE + 50) + b"\r")
    assert out == b"x" * MAX_LINE + b"\r\nerror: line too long (max 256 characters)\r\ngsme> "
    assert server.feed(b"quiet\r") == b"quiet\r\ngsme> "  # next line is fine again


def test_non_utf8_input_is_tolerated():
    server = _server()
    out = server.feed(b"\xff\xfe read\r")
    assert b"unknown command: \xef\xbf\xbd\xef\xbf\xbd (try help)" in out


@given(st.binary(max_size=600))
@FUZZ
def test_arbitrary_bytes_never_raise_and_stay_bounded(data):
    server = _server()
    out = server.feed(data)
    assert isinstance(out, bytes)
    assert len(server._line) <= MAX_LINE
    # Whatever came before, a fresh line still works.
    assert server.feed(b"\x03quiet\r").endswith(b"quiet\r\ngsme> ")
