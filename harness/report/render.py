"""The report formats and writing them: ``dmct-report.{json,html,md,pdf}`` in a run directory.

Every format is rendered from the same ``dmct-report.json`` dict, so JSON is always written
first and the others follow from it. ``pdf`` is the HTML page printed by headless Chromium
(``harness.report.browser``), so asking for it writes the HTML too. Each file is replaced
atomically: a reader (or a kill) never sees half a report, and an existing one stays until its
replacement is whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.report.dmct_report import REPORT_FILE, write_report
from harness.report.files import write_atomic
from harness.report.render_html import render_html
from harness.report.render_markdown import render_markdown

#: Format name -> file name, in the order they are written.
FORMATS: dict[str, str] = {
    "json": REPORT_FILE,
    "html": "dmct-report.html",
    "md": "dmct-report.md",
    "pdf": "dmct-report.pdf",
}
DEFAULT_FORMATS: tuple[str, ...] = ("json", "html", "md")
_TEXT_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "html": render_html,
    "md": render_markdown,
}


class FormatError(ValueError):
    """An unknown format name; the message is one line."""


def parse_formats(values: Iterable[str]) -> tuple[str, ...]:
    """Formats from ``--format`` values (repeatable, each may be comma-separated), in the
    order of :data:`FORMATS`, with ``json`` always in (everything is rendered from it) and
    ``html`` whenever ``pdf`` is (the PDF is printed from it). No values: the defaults."""
    asked = [name.strip().lower() for value in values for name in value.split(",")
             if name.strip()]
    for name in asked:
        if name not in FORMATS:
            raise FormatError(f"unknown report format {name!r}; formats: {', '.join(FORMATS)}")
    chosen = set(asked or DEFAULT_FORMATS) | {"json"}
    if "pdf" in chosen:
        chosen.add("html")
    return tuple(name for name in FORMATS if name in chosen)


def write_formats(directory: Path, report: dict[str, Any],
                  formats: Iterable[str] = DEFAULT_FORMATS, *,
                  write_json: bool = True) -> list[Path]:
    """Write the report in each format beside each other; the paths written, in order.

    ``write_json=False`` renders from a ``dmct-report.json`` that is left as it is (a final
    report is never rewritten). Raises ``harness.report.browser.BrowserError`` (its
    ``BrowserUnavailable`` when no Chromium is found) when ``pdf`` cannot be printed; the
    other formats are written by then.
    """
    chosen = parse_formats(formats)
    written = [write_report(directory, report)] if write_json else []
    for name in chosen:
        if name in _TEXT_RENDERERS:
            path = directory / FORMATS[name]
            write_atomic(path, _TEXT_RENDERERS[name](report))
            written.append(path)
    if "pdf" in chosen:
        from harness.report.browser import print_pdf

        pdf = directory / FORMATS["pdf"]
        print_pdf(directory / FORMATS["html"], pdf)
        written.append(pdf)
    return written
