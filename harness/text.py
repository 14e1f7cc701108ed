"""Text from outside (a device's strings, a config value) made safe for a terminal or a report.

A device under test is not trusted: its Basic cluster strings, console output or an error it
provokes may hold terminal escape sequences (ESC [ ... moves the cursor, rewrites lines, sets
the window title) or other control characters. Everything shown to a person goes through
:func:`printable` first.
"""

from __future__ import annotations

import re

__all__ = ["MASKED", "clip", "mask_secrets", "printable"]

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


#: A run of 18 or more hex digits (``:``/``-`` between them allowed): an install code (16, 20,
#: 28 or 36 digits with its CRC) or key pasted somewhere, never shown in an error. An EUI-64
#: (16 digits), which errors do name, stays.
_SECRET_LIKE = re.compile(r"[0-9A-Fa-f](?:[:-]?[0-9A-Fa-f]){17,}")
MASKED = "(a long hex string, not shown)"


def mask_secrets(text: str) -> str:
    """``text`` with every run that could be an install code or key replaced by a mask."""
    return _SECRET_LIKE.sub(MASKED, text)


def clip(text: str, limit: int) -> str:
    """``text`` on one line, printable, at most about ``limit`` characters (the middle cut):
    an error quoting what it was given (a 1 MB id) stays one readable line."""
    text = printable(" ".join(str(text).split()))
    if len(text) <= limit:
        return text
    keep = max(limit - 30, 10)
    return f"{text[:keep]}... ({len(text) - keep} characters cut)"
