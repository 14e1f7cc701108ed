"""A serial console with expect semantics, in the spirit of pytest-embedded's ``dut.expect``.

A background thread reads the port all the time, so nothing a device prints is lost between two
``expect`` calls, and every byte lands in a per-device transcript file that the report links to.
``expect`` waits on a condition variable that the reader signals: no polling, no fixed sleeps.

Matching is on bytes. A ``str`` pattern is a regular expression encoded as UTF-8 (use
``re.escape`` for literal text); a compiled ``str`` pattern is recompiled as bytes with its flags.
Returned matches are therefore ``re.Match[bytes]``: ``m.group(1).decode()`` for text.

``expect`` consumes the output up to the end of its match; the next ``expect`` only sees what
came after. Output nobody consumed is kept up to ``max_buffer`` bytes (oldest dropped first: it
is all in the transcript anyway).

Transcript format (one file per device, switched per test with :meth:`Console.set_transcript`;
the file is made by the first byte the device sends or the harness writes, so a console that
stayed silent through a test leaves no file: hundreds of empty files per run, each a file to
create, link into Allure and list, said no more than their absence does):

- received bytes are written raw, exactly as they arrived;
- bytes the harness sent are written as one line ``>> <escaped bytes>`` (``\\r``, ``\\n`` and
  other control bytes escaped so the exact bytes are visible); the line always starts on a new
  line, inserting a newline if the device had not finished its line;
- harness notes (port lost, write failed) are lines starting with ``!! ``.

Timeouts are wall time: this is real I/O and the device does not run on the bench clock (bench
time stands still while the test thread talks to a serial port).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from harness.serial.errors import ExpectTimeout, PortLost, SerialError, UnexpectedOutput

__all__ = ["Console", "Pattern", "compile_pattern", "printable"]

LOGGER = logging.getLogger(__name__)

Pattern = str | bytes | re.Pattern[str] | re.Pattern[bytes]

#: How much output a failure message quotes.
TAIL_CHARS = 400
#: Default bound on unconsumed output kept in memory.
MAX_BUFFER = 1 << 20
#: Largest single read; the reader asks for what is waiting, at least one byte.
_READ_CHUNK = 1 << 16


class PortLike(Protocol):
    """What Console needs of a port: a pyserial port, or anything that quacks like one."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...


def compile_pattern(pattern: Pattern) -> re.Pattern[bytes]:
    """Turn any accepted pattern form into a bytes regex (see module docstring)."""
    if isinstance(pattern, re.Pattern):
        if isinstance(pattern.pattern, bytes):
            return pattern
        return re.compile(pattern.pattern.encode("utf-8"), pattern.flags & ~re.UNICODE)
    if isinstance(pattern, str):
        return re.compile(pattern.encode("utf-8"))
    if isinstance(pattern, (bytes, bytearray)):
        return re.compile(bytes(pattern))
    raise TypeError(f"pattern must be str, bytes or re.Pattern, not {type(pattern).__name__}")


def printable(data: bytes) -> str:
    """Render bytes for a one-line message: text stays text, everything else is escaped."""
    text = data.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")
    out: list[str] = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def _show(pattern: Pattern) -> str:
    raw = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return repr(raw)


class Console:
    """A named serial console: continuous reader, transcript, ``expect``.

    ``port`` must be open and should have a read timeout (``open_port`` sets 0.1 s): the reader
    thread checks for ``close()`` between reads. Ports with ``cancel_read`` (pyserial on POSIX
    and Windows) are woken at once on close.
    """

    def __init__(
        self,
        port: PortLike,
        name: str,
        transcript_path: Path,
        *,
        max_buffer: int = MAX_BUFFER,
    ) -> None:
        self._port = port
        self.name = name
        self._max_buffer = max_buffer
        self._cond = threading.Condition()
        self._buf = bytearray()  # unconsumed output
        self._history = bytearray()  # tail of consumed output, for failure messages
        self._dropped = 0
        self._error: BaseException | None = None
        self._closed = False
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._tlock = threading.Lock()
        self._tfile: IO[bytes] | None = None
        self._tpath = Path(transcript_path)
        self._t_line_start = True
        self._tdone = False  # closed: no file is made any more
        self._thread = threading.Thread(target=self._read_loop, name=f"console-{name}", daemon=True)
        self._thread.start()

    # -- properties --------------------------------------------------------------------------

    @property
    def port(self) -> PortLike:
        """The port this console reads; do not read it elsewhere while the console is open."""
        return self._port

    @property
    def transcript_path(self) -> Path:
        return self._tpath

    @property
    def dropped(self) -> int:
        """Bytes of unconsumed output dropped because the buffer was full."""
        return self._dropped

    @property
    def lost(self) -> BaseException | None:
        """The error that ended the reader, if the port went away."""
        return self._error

    # -- transcript --------------------------------------------------------------------------

    @staticmethod
    def _open_transcript(path: Path) -> IO[bytes]:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("ab")

    def set_transcript(self, path: Path) -> None:
        """Continue the transcript in ``path`` (appended to, made by its first byte); the
        pytest layer switches per test."""
        with self._tlock:
            old, self._tfile, self._tpath = self._tfile, None, Path(path)
            self._t_line_start = True
        if old is not None:
            with contextlib.suppress(OSError):
                old.close()

    def _transcript(self, raw: bytes) -> None:
        with self._tlock:
            self._transcript_locked(raw)

    def _transcript_locked(self, raw: bytes) -> None:
        if not raw or self._tdone:
            return
        try:
            if self._tfile is None:
                self._tfile = self._open_transcript(self._tpath)
            self._tfile.write(raw)
            self._tfile.flush()
        except (OSError, ValueError) as exc:
            LOGGER.warning("%s: cannot write transcript %s: %s", self.name, self._tpath, exc)
        self._t_line_start = raw.endswith(b"\n")

    def _note(self, prefix: str, text: str) -> None:
        """Write a harness line (sent bytes, notes) on a line of its own."""
        with self._tlock:
            start = b"" if self._t_line_start else b"\n"
            self._transcript_locked(start + f"{prefix}{text}\n".encode())

    # -- reader ------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        port = self._port
        while not self._stop.is_set():
            try:
                waiting = port.in_waiting
                data = port.read(max(1, min(waiting, _READ_CHUNK)))
            except Exception as exc:  # any failure ends the reader; report it, do not die silently
                if self._stop.is_set():
                    return
                self._lose(exc)
                return
            if data:
                self._received(data)

    def _received(self, data: bytes) -> None:
        # Transcript first: when expect returns, what it matched is already on disk.
        self._transcript(data)
        with self._cond:
            self._buf.extend(data)
            excess = len(self._buf) - self._max_buffer
            if excess > 0:
                self._remember(self._buf[:excess])
                del self._buf[:excess]
                self._dropped += excess
            self._cond.notify_all()

    def _lose(self, exc: BaseException) -> None:
        self._note("!! ", f"port lost: {exc}")
        LOGGER.warning("%s: port lost: %s", self.name, exc)
        with self._cond:
            if self._error is None:
                self._error = exc
            self._cond.notify_all()

    def _remember(self, consumed: bytes | bytearray) -> None:
        self._history.extend(consumed)
        if len(self._history) > TAIL_CHARS:
            del self._history[: len(self._history) - TAIL_CHARS]

    def _consume(self, end: int) -> None:
        self._remember(self._buf[:end])
        del self._buf[:end]

    # -- writing -----------------------------------------------------------------------------

    def write(self, data: bytes | str) -> None:
        """Send bytes (``str`` is encoded as UTF-8); recorded in the transcript as ``>> ``."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if self._closed:
            raise SerialError(f"{self.name}: console is closed")
        if self._error is not None:
            raise self._port_lost()
        self._note(">> ", printable(raw))
        try:
            with self._write_lock:
                self._port.write(raw)
        except Exception as exc:
            self._lose(exc)
            raise self._port_lost() from exc

    def send_line(self, line: str, eol: str = "\r\n") -> None:
        """Send ``line`` followed by ``eol`` (CR LF by default, what meter consoles expect)."""
        self.write(line + eol)

    # -- expect ------------------------------------------------------------------------------

    def discard(self) -> bytes:
        """Consume and return everything received so far (e.g. stale output before a command)."""
        with self._cond:
            data = bytes(self._buf)
            self._consume(len(data))
            return data

    def expect(
        self,
        pattern: Pattern,
        timeout: float = 5.0,
        *,
        not_matching: Sequence[Pattern] | None = None,
    ) -> re.Match[bytes]:
        """Wait until ``pattern`` matches unconsumed output; consume through the match.

        ``not_matching`` patterns fail the expect (``UnexpectedOutput``) when one of them
        appears before the match completes, i.e. starts before the end of the match (or
        anywhere, while there is no match yet). The output up to the end of the unexpected
        text is consumed.
        """
        regex = compile_pattern(pattern)
        return self._wait([pattern], [regex], timeout, not_matching)[0]

    def expect_all(
        self,
        patterns: Sequence[Pattern],
        timeout: float = 5.0,
        *,
        not_matching: Sequence[Pattern] | None = None,
    ) -> list[re.Match[bytes]]:
        """Wait until every pattern matched, in any order; consume through the last match.

        Matches come back in the order of ``patterns``. Each pattern is searched from the same
        start, so two patterns may match overlapping text.
        """
        regexes = [compile_pattern(p) for p in patterns]
        if not regexes:
            return []
        return self._wait(list(patterns), regexes, timeout, not_matching)

    def _wait(
        self,
        shown: list[Pattern],
        regexes: list[re.Pattern[bytes]],
        timeout: float,
        not_matching: Sequence[Pattern] | None,
    ) -> list[re.Match[bytes]]:
        bad = [(p, compile_pattern(p)) for p in not_matching or ()]
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                data = bytes(self._buf)
                found = [r.search(data) for r in regexes]
                complete = all(m is not None for m in found)
                limit = max(m.end() for m in found if m is not None) if complete else len(data)
                self._check_not_matching(bad, data, limit, shown)
                if complete:
                    self._consume(limit)
                    return [m for m in found if m is not None]
                if self._error is not None:
                    raise self._port_lost()
                if self._closed:
                    raise SerialError(f"{self.name}: console is closed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = [p for p, m in zip(shown, found, strict=True) if m is None]
                    raise ExpectTimeout(self._timeout_message(missing, len(shown), timeout))
                self._cond.wait(remaining)

    def _check_not_matching(
        self,
        bad: Iterable[tuple[Pattern, re.Pattern[bytes]]],
        data: bytes,
        limit: int,
        shown: list[Pattern],
    ) -> None:
        hits = [(m.start(), p, m) for p, r in bad if (m := r.search(data)) and m.start() < limit]
        if not hits:
            return
        _, pattern, hit = min(hits, key=lambda h: h[0])
        context = self._tail(data[: hit.end()])
        self._consume(hit.end())
        waited = ", ".join(_show(p) for p in shown)
        raise UnexpectedOutput(
            f"{self.name}: unexpected output {printable(hit.group())!r} "
            f"(not_matching {_show(pattern)}) while waiting for {waited}\n"
            f"  output: '{context}'\n"
            f"  transcript: {self._tpath}"
        )

    def _tail(self, data: bytes) -> str:
        return printable(data[-TAIL_CHARS:])

    def _timeout_message(self, missing: list[Pattern], total: int, timeout: float) -> str:
        what = ", ".join(_show(p) for p in missing)
        if total > 1:
            what = f"{len(missing)} of {total} patterns: {what}"
        data = bytes(self._buf)
        lines = [f"{self.name}: no match for {what} within {timeout:g} s"]
        lines.append(f"  unconsumed output ({len(data)} bytes): '{self._tail(data)}'")
        room = TAIL_CHARS - len(data)
        if room > 0 and self._history:
            lines.append(f"  before that (consumed): '{printable(bytes(self._history[-room:]))}'")
        if self._dropped:
            lines.append(f"  ({self._dropped} older unconsumed bytes were dropped)")
        lines.append(f"  transcript: {self._tpath}")
        return "\n".join(lines)

    def _port_lost(self) -> PortLost:
        return PortLost(f"{self.name}: port lost ({self._error}); transcript: {self._tpath}")

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the reader, close the port and the transcript. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        cancel = getattr(self._port, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(Exception):
                cancel()
        self._thread.join(timeout=2.0)
        with contextlib.suppress(Exception):
            self._port.close()
        with self._tlock:
            tfile, self._tfile = self._tfile, None
            self._tdone = True
        if tfile is not None:
            with contextlib.suppress(OSError):
                tfile.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Console {self.name} transcript={self._tpath}>"
