"""PtyPort: lifetime, reopen, bounded output, robustness, what a client sees when it vanishes."""

from __future__ import annotations

import os
import threading

import pytest
import serial

from harness.emulator.pty import PtyPort
from harness.serial import Console, LineConsoleServer, PortNotFoundError, PortSpec, open_port


class Echo:
    """Echoes input; ``boom`` makes it raise (a buggy emulated device)."""

    def __init__(self) -> None:
        self.raised = threading.Event()

    def feed(self, data: bytes) -> bytes:
        if b"boom" in data:
            self.raised.set()
            raise RuntimeError("emulated device bug")
        return data


def _read_exactly(port: serial.SerialBase, size: int) -> bytes:
    port.timeout = 2.0
    return port.read(size)


def test_client_can_close_and_reopen(serve, client):
    pty = serve(Echo())
    first = client(pty.path)
    first.write(b"one")
    assert _read_exactly(first, 3) == b"one"
    first.close()
    second = client(pty.path)
    second.write(b"two")
    assert _read_exactly(second, 3) == b"two"


def test_greeting_reaches_a_client_that_opened_first(loop_thread, client, tmp_path):
    pty = PtyPort(LineConsoleServer("ihd> ", {}, banner="IHD boot"), name="ihd")
    try:
        con = Console(client(pty.path), "ihd", tmp_path / "ihd.log")
        loop_thread.run(pty.start())
        con.expect("IHD boot\r\nihd> ")
        con.close()
    finally:
        loop_thread.call(pty.close)


def test_output_nobody_reads_is_bounded_and_not_delivered_stale(loop_thread, client):
    pty = PtyPort(Echo(), name="chatty", max_pending=1000)
    loop_thread.run(pty.start())
    try:
        for _ in range(100):
            pty.send(b"x" * 1024)  # nobody has the port open
        assert loop_thread.call(lambda: pty.pending) <= 1000
        assert loop_thread.call(lambda: pty.dropped) > 0
        port = client(pty.path)  # pyserial flushes input on open; the port drops its backlog
        port.write(b"fresh")
        assert _read_exactly(port, 5) == b"fresh"
        assert port.in_waiting == 0
    finally:
        loop_thread.call(pty.close)


def test_large_reply_is_delivered_in_order(serve, client):
    pty = serve(Echo())
    port = client(pty.path)
    payload = bytes(range(256)) * 600  # far more than the kernel's pty buffer
    port.write(payload)
    port.timeout = 5.0
    assert port.read(len(payload)) == payload


def test_protocol_errors_do_not_stop_the_port(serve, client):
    echo = Echo()
    pty = serve(echo)
    port = client(pty.path)
    port.write(b"boom")
    assert echo.raised.wait(2.0)
    port.write(b"after")
    assert _read_exactly(port, 5) == b"after"
    assert pty.rx_bytes == 9


def test_close_vanishes_the_device(serve, client, loop_thread):
    pty = serve(Echo())
    port = client(pty.path)
    loop_thread.call(pty.close)
    assert pty.closed and not os.path.exists(pty.path)
    with pytest.raises(serial.SerialException):
        port.read(1)
    with pytest.raises(serial.SerialException):
        port.write(b"x")
    with pytest.raises(PortNotFoundError, match="does not exist"):
        open_port(PortSpec.parse(pty.path), baudrate=9600)
    pty.send(b"ignored")  # sending to a closed port is a no-op
    loop_thread.call(pty.close)  # idempotent


def test_close_must_run_on_the_loop_thread(serve):
    pty = serve(Echo())
    with pytest.raises(RuntimeError, match="loop thread"):
        pty.close()


def test_start_twice_is_an_error(serve, loop_thread):
    pty = serve(Echo())
    with pytest.raises(RuntimeError, match="already started"):
        loop_thread.run(pty.start())


async def _serve_briefly() -> tuple[str, bool]:
    async with PtyPort(Echo(), name="ctx") as pty:
        path = pty.path
    return path, os.path.exists(path)


def test_async_context_manager(loop_thread):
    _, exists = loop_thread.run(_serve_briefly())
    assert not exists
