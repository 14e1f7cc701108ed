"""Text from outside (a device's strings, a config value) made safe for a terminal or a report.

A device under test is not trusted: its Basic cluster strings, console output or an error it
provokes may hold terminal escape sequences (ESC [ ... moves the cursor, rewrites lines, sets
the window title) or other control characters. Everything shown to a person goes through
:func:`printable` first.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

#: C0 controls but tab and newline, DEL, C1 controls, and lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
#: ANSI escape sequences (CSI ... final byte, OSC ... BEL/ST, two-character ESC x), removed whole.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with escape sequences removed and every other control character shown as
    ``\\xNN`` (a lone surrogate as ``\\udNNN``); tabs and, unless ``keep_newlines`` is false,
    newlines are kept."""
    text = _ESCAPE.sub("", str(text))

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    text = _CONTROL.sub(escape, text)
    return text if keep_newlines else text.replace("\n", "\\n")
