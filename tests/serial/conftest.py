"""Fixtures for the serial tests: an asyncio loop in a thread serving real pty ports.

The loop thread stands in for the bench runtime: emulated devices (``PtyPort`` + a sans-IO
server) live on it, and the test thread talks to them through pyserial like to real hardware.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import serial

from harness.emulator.pty import PortProtocol, PtyPort
from harness.serial import Console, PortSpec, open_port

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; ``run``/``call`` block until done."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="test-loop", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def _call() -> T:
            return fn(*args)

        return self.run(_call())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture
def serve(loop_thread: LoopThread) -> Iterator[Callable[..., PtyPort]]:
    """``serve(protocol, name=...)``: a started PtyPort, closed at teardown."""
    ports: list[PtyPort] = []

    def _serve(protocol: PortProtocol, name: str = "dev", *, start: bool = True) -> PtyPort:
        port = PtyPort(protocol, name=name)
        ports.append(port)
        if start:
            loop_thread.run(port.start())
        return port

    yield _serve
    for port in ports:
        loop_thread.call(port.close)


@pytest.fixture
def client() -> Iterator[Callable[..., serial.SerialBase]]:
    """``client(path, baudrate=9600)``: a port opened with open_port, closed at teardown."""
    opened: list[serial.SerialBase] = []

    def _open(path: str, baudrate: int = 9600, **kwargs: Any) -> serial.SerialBase:
        port = open_port(PortSpec.parse(path), baudrate=baudrate, **kwargs)
        opened.append(port)
        return port

    yield _open
    for port in opened:
        port.close()


@pytest.fixture
def console(
    client: Callable[..., serial.SerialBase], tmp_path: Path
) -> Iterator[Callable[..., Console]]:
    """``console(path, name=...)``: a Console on a client port, transcript under tmp_path."""
    consoles: list[Console] = []

    def _console(path: str, name: str = "dev-console", **kwargs: Any) -> Console:
        con = Console(client(path), name, tmp_path / f"{name}.log", **kwargs)
        consoles.append(con)
        return con

    yield _console
    for con in consoles:
        con.close()
