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


#: A run of hex digits, written together or with one separator throughout: ``:`` or ``-``
#: between groups of any size (``83FE-D340-...``, ``5a:5a:...`` as zigpy prints a key), a
#: space between octets (``5a 5a ...``, as radio libraries print one).
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})+"
                      r"|[0-9A-Fa-f]+(?:([:-])[0-9A-Fa-f]+(?:\1[0-9A-Fa-f]+)*)?)(?![0-9A-Fa-f])")
#: Digits from which a run may be an install code (16, 20, 28 or 36 digits with its CRC) or a
#: key (32 and up). An EUI-64 (16), which errors and logs do name, stays; so does a DUIS
#: RequestID (EUI-64s joined by ``:``, octets by ``-``: the separators change every 16 digits).
SECRET_DIGITS = 18
MASKED = "(a long hex string, not shown)"


def _masked(match: re.Match[str]) -> str:
    run = match.group()
    digits = sum(char not in ":- " for char in run)
    return MASKED if digits >= SECRET_DIGITS else run


def mask_secrets(text: str) -> str:
    """``text`` with every run that could be an install code or key replaced by a mask: the
    one rule for errors, reports and logs (:mod:`harness.log_redaction`)."""
    return _HEX_RUN.sub(_masked, text)


def clip(text: str, limit: int) -> str:
    """``text`` on one line, printable, at most about ``limit`` characters (the middle cut):
    an error quoting what it was given (a 1 MB id) stays one readable line."""
    text = printable(" ".join(str(text).split()))
    if len(text) <= limit:
        return text
    keep = max(limit - 30, 10)
    return f"{text[:keep]}... ({len(text) - keep} characters cut)"
