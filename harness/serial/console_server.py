"""The emulated debug console of a bench device, sans-IO: a prompt, commands, terminal echo.

Behaves like the small command shells meters and comms hubs have on their debug UART, so the
same ``Console.expect`` code drives a real device and an emulated one:

- input is echoed as typed; CR, LF or CR LF ends a line (CR LF counts once);
- the first word selects the command, the others are its arguments; the reply is the command's
  output, CR LF, and the prompt again; an empty line just gives a new prompt;
- ``help`` lists the commands; an unknown word answers ``unknown command: X (try help)``;
- backspace/DEL edits the line, Ctrl-C abandons it;
- a line longer than :data:`MAX_LINE` bytes is discarded with an error line when it ends;
- a handler that raises answers ``error: <message>``; arbitrary bytes (non-UTF-8 included)
  never raise out of :meth:`LineConsoleServer.feed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["MAX_LINE", "Command", "LineConsoleServer"]

MAX_LINE = 256

Command = Callable[[list[str]], str]

_CR, _LF, _BS, _DEL, _CTRL_C, _TAB = 0x0D, 0x0A, 0x08, 0x7F, 0x03, 0x09


def _crlf(text: str) -> str:
    """Terminal line ends: every line break becomes CR LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


class LineConsoleServer:
    """A line-oriented console; see the module docstring for its behaviour."""

    def __init__(self, prompt: str, commands: Mapping[str, Command], banner: str = "") -> None:
        self.prompt = prompt
        self.commands: dict[str, Command] = dict(commands)
        self.banner = banner
        self._line = bytearray()
        self._overflow = False
        self._after_cr = False
        self.history: list[str] = []  # lines run, for tests and diagnostics

    def greeting(self) -> bytes:
        """What the device prints when it starts: the banner, then the prompt."""
        banner = _crlf(self.banner)
        if banner and not banner.endswith("\r\n"):
            banner += "\r\n"
        return (banner + self.prompt).encode("utf-8", errors="replace")

    def feed(self, data: bytes) -> bytes:
        """Consume typed bytes; return the echo and the output of any completed command."""
        out = bytearray()
        for byte in data:
            if byte in (_CR, _LF):
                if byte == _LF and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = byte == _CR
                out += self._end_of_line()
                continue
            self._after_cr = False
            if byte in (_BS, _DEL):
                out += self._backspace()
            elif byte == _CTRL_C:
                self._line.clear()
                self._overflow = False
                out += b"^C\r\n" + self.prompt.encode("utf-8", errors="replace")
            elif byte < 0x20 and byte != _TAB:
                continue  # other control bytes (escape sequences' ESC included) are ignored
            elif self._overflow:
                continue
            elif len(self._line) >= MAX_LINE:
                self._overflow = True
                self._line.clear()
            else:
                self._line.append(byte)
                out.append(byte)
        return bytes(out)

    def _backspace(self) -> bytes:
        if self._overflow or not self._line:
            return b""
        # Remove a whole UTF-8 character: continuation bytes first, then its lead byte.
        while self._line and (self._line[-1] & 0xC0) == 0x80:
            self._line.pop()
        if self._line:
            self._line.pop()
        return b"\b \b"

    def _end_of_line(self) -> bytes:
        prompt = self.prompt
        if self._overflow:
            self._overflow = False
            self._line.clear()
            reply = f"\r\nerror: line too long (max {MAX_LINE} characters)\r\n{prompt}"
            return reply.encode("utf-8", errors="replace")
        text = self._line.decode("utf-8", errors="replace")
        self._line.clear()
        words = text.split()
        if not words:
            return f"\r\n{prompt}".encode("utf-8", errors="replace")
        self.history.append(text)
        output = _crlf(self._run(words[0], words[1:])).rstrip("\r\n")
        body = f"{output}\r\n" if output else ""
        return f"\r\n{body}{prompt}".encode("utf-8", errors="replace")

    def _run(self, name: str, args: list[str]) -> str:
        handler = self.commands.get(name)
        if handler is None:
            if name == "help":
                return "commands: " + ", ".join(sorted({*self.commands, "help"}))
            return f"unknown command: {name} (try help)"
        try:
            result = handler(args)
        except Exception as exc:  # a broken handler is the device's error, not the harness's
            return f"error: {str(exc) or type(exc).__name__}"
        return "" if result is None else str(result)
