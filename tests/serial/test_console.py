"""Console: expect semantics, failure messages and transcripts, against emulated ptys."""

from __future__ import annotations

import re
import time

import pytest

from harness.serial import (
    Console,
    ExpectTimeout,
    LineConsoleServer,
    PortLost,
    PortSpec,
    SerialError,
    UnexpectedOutput,
    compile_pattern,
    open_port,
    printable,
)

PROMPT = "esme> "


def _fail(args: list[str]) -> str:
    raise RuntimeError("flash write failed")


COMMANDS = {
    "read": lambda args: "1.8.0 = 42 kWh",
    "echo": lambda args: " ".join(args),
    "boot": lambda args: "init ok\nERROR: eeprom\nready",
    "fail": _fail,
}


@pytest.fixture
def esme(serve, console):
    """A Console on an emulated ESME debug console, at a fresh prompt."""
    pty = serve(LineConsoleServer(PROMPT, COMMANDS, banner="ESME emulator"), name="esme-console")
    con = console(pty.path, name="esme-console")
    con.send_line("")
    con.expect(PROMPT)
    return pty, con


def test_expect_returns_the_match_and_consumes_it(esme):
    _, con = esme
    con.send_line("read")
    m = con.expect(rb"1\.8\.0 = (\d+) kWh")
    assert m.group(1) == b"42"
    con.expect(PROMPT)
    with pytest.raises(ExpectTimeout):
        con.expect("42", timeout=0.2)  # already consumed


def test_pattern_forms(esme):
    _, con = esme
    con.send_line("echo Hello World")
    assert con.expect(re.compile(r"hello (\w+)\r\n", re.IGNORECASE)).group(1) == b"World"
    con.send_line("echo grüße")
    assert con.expect("\ngrüße").group() == "\ngrüße".encode()


def test_expect_timeout_message(esme):
    _, con = esme
    con.send_line("read")
    con.expect("kWh")
    start = time.monotonic()
    with pytest.raises(ExpectTimeout) as info:
        con.expect(r"MT\d+ ready", timeout=0.3)
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 2.0
    assert isinstance(info.value, AssertionError) and isinstance(info.value, SerialError)
    message = str(info.value)
    assert "esme-console: no match for 'MT\\\\d+ ready' within 0.3 s" in message
    assert "unconsumed output (8 bytes): '\\r\\nesme> '" in message
    assert "before that (consumed): '" in message and "1.8.0 = 42 kWh" in message
    assert f"transcript: {con.transcript_path}" in message


def test_timeout_message_escapes_binary_and_keeps_a_tail(esme):
    pty, con = esme
    pty.send(b"\x01\xff noise \\ " + b"z" * 600 + b"\r\n")
    con.expect(b"z\r\n")
    pty.send(b"\x01\xff noise\r\n" + b"y" * 500)
    con.expect(b"y" * 500)
    pty.send(b"\x01\xff tail\r\n")
    with pytest.raises(ExpectTimeout) as info:
        con.expect("never", timeout=0.2)
    message = str(info.value)
    assert "'\\x01\\xff tail\\r\\n'" in message
    assert len(max(message.splitlines(), key=len)) < 500


def test_expect_all_any_order(esme):
    _, con = esme
    con.send_line("echo alpha")
    con.send_line("echo beta")
    beta, alpha = con.expect_all([b"\nbeta\r\n", b"\nalpha\r\n"], timeout=2.0)
    assert alpha.start() < beta.start()
    with pytest.raises(ExpectTimeout):
        con.expect("alpha", timeout=0.2)  # consumed through the later match
    assert con.expect_all([]) == []


def test_expect_all_timeout_names_missing_patterns(esme):
    _, con = esme
    con.send_line("echo alpha")
    with pytest.raises(ExpectTimeout, match=r"no match for 1 of 2 patterns: 'gamma' within 0.2 s"):
        con.expect_all(["alpha", "gamma"], timeout=0.2)


def test_not_matching_fails_before_the_match(esme):
    _, con = esme
    con.send_line("boot")
    with pytest.raises(UnexpectedOutput) as info:
        con.expect("ready", not_matching=[r"ERROR: \w+"])
    assert isinstance(info.value, AssertionError) and isinstance(info.value, SerialError)
    message = str(info.value)
    assert "unexpected output 'ERROR: eeprom' (not_matching 'ERROR: \\\\w+')" in message
    assert "while waiting for 'ready'" in message
    assert str(con.transcript_path) in message
    # Consumed through the unexpected text only: what follows is still there.
    con.expect("ready")


def test_not_matching_after_the_match_is_not_an_error(esme):
    _, con = esme
    con.send_line("boot")
    con.expect("ready")  # everything, ERROR included, has arrived now
    con.send_line("boot")
    assert con.expect("init ok", not_matching=["ERROR"]).group() == b"init ok"
    with pytest.raises(UnexpectedOutput):
        con.expect_all(["ready", "init"], not_matching=["ERROR"])


def test_handler_errors_are_console_output(esme):
    _, con = esme
    con.send_line("fail")
    con.expect("error: flash write failed\r\n")
    con.send_line("frobnicate now")
    con.expect(r"unknown command: frobnicate \(try help\)")


def test_unsolicited_output(esme):
    pty, con = esme
    pty.send(b"ALARM tamper\r\n")  # from the test thread: send() is thread-safe
    assert con.expect(rb"ALARM (\w+)").group(1) == b"tamper"


def test_port_lost_is_reported_promptly(esme, loop_thread):
    pty, con = esme
    pty.send(b"A1\r\nA2\r\n")
    con.expect(rb"A1(?=\r\nA2\r\n)")  # both lines received, only A1 consumed
    loop_thread.call(pty.close)
    assert con.expect("A2").group() == b"A2"  # output received before the loss still counts
    start = time.monotonic()
    with pytest.raises(PortLost, match="esme-console: port lost"):
        con.expect("never", timeout=5.0)
    assert time.monotonic() - start < 2.0
    with pytest.raises(PortLost):
        con.send_line("read")
    assert con.lost is not None
    assert b"\n!! port lost: " in con.transcript_path.read_bytes()


def test_transcript_marks_sent_lines(esme):
    _, con = esme
    con.send_line("read")
    con.expect(PROMPT)
    text = con.transcript_path.read_bytes()
    assert b"ESME emulator" not in text  # greeting went out before the port was opened
    assert b"esme> \n>> read\\r\\n\nread\r\n1.8.0 = 42 kWh\r\nesme> " in text


def test_set_transcript_switches_files(esme, tmp_path):
    _, con = esme
    first = con.transcript_path
    second = tmp_path / "test_two" / "esme-console.log"
    con.set_transcript(second)
    assert con.transcript_path == second
    con.send_line("echo second")
    con.expect(PROMPT)
    assert b"second" not in first.read_bytes()
    assert b">> echo second\\r\\n\n" in second.read_bytes()


def test_a_console_silent_through_a_test_leaves_no_transcript_file(esme, tmp_path):
    _, con = esme
    silent = tmp_path / "test_silent" / "esme-console.log"
    con.set_transcript(silent)  # the emulated console says nothing unasked
    assert not silent.exists() and not silent.parent.exists()
    spoken = tmp_path / "test_spoken" / "esme-console.log"
    con.set_transcript(spoken)
    con.send_line("echo hi")
    con.expect(PROMPT)
    assert not silent.exists()
    assert b">> echo hi\\r\\n\n" in spoken.read_bytes()


def test_context_manager_closes_port(serve, client, tmp_path):
    pty = serve(LineConsoleServer(PROMPT, COMMANDS))
    port = client(pty.path)
    with Console(port, "ctx", tmp_path / "ctx.log") as con:
        con.send_line("read")
        con.expect("42")
    assert not port.is_open
    with pytest.raises(SerialError, match="closed"):
        con.expect("42", timeout=0.2)
    with pytest.raises(SerialError, match="closed"):
        con.write(b"x")
    con.close()  # idempotent


def test_unconsumed_output_is_bounded(tmp_path):
    port = open_port(PortSpec.parse("loop://"), baudrate=9600)
    with Console(port, "loop", tmp_path / "loop.log", max_buffer=64) as con:
        con.write(b"x" * 1000 + b"END")
        con.expect("END")
        assert con.dropped >= 1003 - 64
        con.write(b"y" * 100)
        with pytest.raises(ExpectTimeout, match="older unconsumed bytes were dropped"):
            con.expect("never", timeout=0.2)
    assert (tmp_path / "loop.log").read_bytes().count(b"x") == 2000  # sent + received


def test_compile_pattern_and_printable():
    assert compile_pattern("a.c").pattern == b"a.c"
    assert compile_pattern(re.compile("abc", re.I | re.M)).flags & (re.I | re.M) == re.I | re.M
    assert compile_pattern(b"x").pattern == b"x"
    with pytest.raises(TypeError):
        compile_pattern(42)  # type: ignore[arg-type]
    raw = b"ok\r\n\t\x00\xff\\ " + "é".encode()
    assert printable(raw) == "ok\\r\\n\\t\\x00\\xff\\\\ é"
