"""Emulated serial ports: a pty whose far end is a sans-IO protocol served by the bench loop.

A :class:`PtyPort` opens a pseudo-terminal pair. Its slave side (``port.path``, a
``/dev/pts/N``) is what the harness opens with pyserial exactly like a real ``/dev/ttyUSB0``;
its master side is served on the bench's asyncio loop: bytes the client writes go to
``protocol.feed()`` and whatever that returns is written back. The protocols are the sans-IO
servers of :mod:`harness.serial` (``MeterReadoutServer``, ``LineConsoleServer``,
``RelayServer``), so the emulated device speaks the same bytes as the client parses.

The port is passive: it only reacts to bytes arriving (``loop.add_reader``), it never waits
with a timeout, so it works the same under the virtual clock (see ``docs/architecture.md``).

Threads: ``await port.start()`` runs on the loop (``runtime.run(port.start())`` from a test);
``close()`` must be called on the loop thread (``runtime.call(port.close)``); ``send()`` may be
called from any thread.

Lifetime: the port keeps its own fd on the slave side, so the pty stays alive while clients
close and reopen it. ``close()`` closes both sides; the ``/dev/pts/N`` node then disappears.
That is also how a test simulates a vanished device (an unplugged USB adapter). A client that
still has the port open then sees, with pyserial 3.5 on Linux: ``read()`` raises
``SerialException("device reports readiness to read but returned no data ...")``,
``in_waiting`` and ``write()`` fail with EIO, and reopening the path fails with ENOENT
(``open_port`` raises ``PortNotFoundError``).

Output nobody reads (no client has the port open) first fills the kernel's pty buffer, then a
pending buffer of at most ``max_pending`` bytes, oldest bytes dropped first. When a client
flushes its input, as pyserial does when it opens a port, the kernel's buffer is emptied and the
port drops its pending output too (it learns of the flush through the pty's packet mode where
the OS has one): a client that opens the port sees only what the device says from then on, as
on a real UART. The protocol's greeting, sent at ``start()``, is therefore seen only by a client
that opened the port before; a client opening later sends a line to get a prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import struct
import termios
import tty
from types import TracebackType
from typing import Protocol

__all__ = ["PortProtocol", "PtyPort"]

LOGGER = logging.getLogger(__name__)

_READ_CHUNK = 4096
#: Large enough for any single reply (a long readout), small enough to bound a port nobody reads.
DEFAULT_MAX_PENDING = 1 << 20
_TIOCPKT = getattr(termios, "TIOCPKT", None)
_TIOCPKT_DATA = getattr(termios, "TIOCPKT_DATA", 0)
_TIOCPKT_FLUSHREAD = getattr(termios, "TIOCPKT_FLUSHREAD", 1)


class PortProtocol(Protocol):
    """A sans-IO device: received bytes in, bytes to send back out.

    A protocol may also have ``greeting() -> bytes``, sent once when the port starts (what a
    device prints when it boots).
    """

    def feed(self, data: bytes) -> bytes: ...


class PtyPort:
    """One emulated serial port; see the module docstring."""

    def __init__(
        self, protocol: PortProtocol, *, name: str, max_pending: int = DEFAULT_MAX_PENDING
    ) -> None:
        self.protocol = protocol
        self.name = name
        self.max_pending = max_pending
        self._master, self._slave = os.openpty()
        for fd in (self._master, self._slave):
            # No echo, no line editing, no CR/LF translation: the device sees the exact bytes.
            with contextlib.suppress(termios.error):
                tty.setraw(fd)
        os.set_blocking(self._master, False)
        self._packet_mode = self._enable_packet_mode()
        self._own_flush = False
        self._path = os.ttyname(self._slave)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = bytearray()
        self._writer_registered = False
        self._closed = False
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.dropped = 0

    def _enable_packet_mode(self) -> bool:
        """Packet mode reports the client's input flushes to us (see module docstring)."""
        if _TIOCPKT is None:
            return False
        try:
            fcntl.ioctl(self._master, _TIOCPKT, struct.pack("i", 1))
        except OSError:
            return False
        return True

    # -- properties --------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The device path a client opens (``/dev/pts/N``)."""
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Bytes waiting for the client to read (bounded by ``max_pending``)."""
        return len(self._pending)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the port on the running loop and send the protocol's greeting, if it has one."""
        if self._closed:
            raise RuntimeError(f"{self.name}: pty port is closed")
        if self._loop is not None:
            raise RuntimeError(f"{self.name}: pty port already started")
        self._loop = asyncio.get_running_loop()
        self._drain_input()
        self._loop.add_reader(self._master, self._on_readable)
        greeting = getattr(self.protocol, "greeting", None)
        if callable(greeting):
            self._write(greeting())
        if self._pending:
            self._want_writer()
        LOGGER.debug("%s: serving %s", self.name, self._path)

    def close(self) -> None:
        """Stop serving and close both sides (the device vanishes). Idempotent."""
        if self._closed:
            return
        loop = self._loop
        if loop is not None and loop.is_running() and not self._in_loop():
            raise RuntimeError(
                f"{self.name}: close() must run on the bench loop thread "
                "(e.g. runtime.call(port.close))"
            )
        self._closed = True
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._master)
            if self._writer_registered:
                loop.remove_writer(self._master)
        self._writer_registered = False
        self._pending.clear()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        LOGGER.debug("%s: closed %s", self.name, self._path)

    async def __aenter__(self) -> PtyPort:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- output ------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Push unsolicited output to the client (an alarm on the console). Any thread."""
        if self._closed or not data:
            return
        loop = self._loop
        if loop is None or self._in_loop():
            self._write(bytes(data))
        else:
            loop.call_soon_threadsafe(self._write, bytes(data))

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        if not self._pending:
            written = self._write_now(data)
            data = data[written:]
            if not data:
                return
        self._pending.extend(data)
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            del self._pending[:excess]
            if not self.dropped:
                LOGGER.info("%s: nobody reads %s; dropping old output", self.name, self._path)
            self.dropped += excess
        self._want_writer()

    def _write_now(self, data: bytes | bytearray) -> int:
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            LOGGER.warning("%s: write to %s failed: %s", self.name, self._path, exc)
            return len(data)  # nothing sensible to do with it: drop
        self.tx_bytes += written
        return written

    def _want_writer(self) -> None:
        if self._loop is not None and not self._writer_registered and not self._closed:
            self._loop.add_writer(self._master, self._on_writable)
            self._writer_registered = True

    def _client_flushed(self) -> None:
        """The client flushed its input: what we had not delivered yet is gone too.

        Output written between the client's flush and now (the writer may have run first) is
        stale as well, so flush the slave's input queue ourselves. That flush is reported back
        to us as one more packet, which :meth:`_on_readable` then ignores.
        """
        self._pending.clear()
        self._on_writable()
        try:
            termios.tcflush(self._slave, termios.TCIFLUSH)
        except termios.error:
            return
        self._own_flush = True

    def _drain_input(self) -> None:
        """Discard what arrived before the device started (a real device would miss it)."""
        while True:
            try:
                if not os.read(self._master, _READ_CHUNK):
                    return
            except OSError:
                return

    def _on_writable(self) -> None:
        if self._pending:
            written = self._write_now(self._pending)
            del self._pending[:written]
        if not self._pending and self._writer_registered and self._loop is not None:
            self._loop.remove_writer(self._master)
            self._writer_registered = False

    # -- input -------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO and self._loop is not None:
                # No slave side open at all; cannot happen while we hold ours, but never spin.
                self._loop.remove_reader(self._master)
            LOGGER.warning("%s: read from %s failed: %s", self.name, self._path, exc)
            return
        if self._packet_mode and data:
            control, data = data[0], data[1:]
            if control != _TIOCPKT_DATA:
                if control & _TIOCPKT_FLUSHREAD:
                    if self._own_flush:
                        self._own_flush = False
                    else:
                        self._client_flushed()
                return
        if not data:
            return
        self.rx_bytes += len(data)
        try:
            reply = self.protocol.feed(data)
        except Exception:  # a broken emulated device must not take the bench loop down
            LOGGER.exception("%s: protocol %r failed on %r", self.name, self.protocol, data[:64])
            return
        if reply:
            self._write(reply)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("serving" if self._loop else "not started")
        return f"<PtyPort {self.name} {self._path} {state}>"
