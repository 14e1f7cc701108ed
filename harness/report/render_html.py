"""``dmct-report.html``: the DMCT Testing Report as one self-contained page.

Rendered from the ``dmct-report.json`` dict alone, read as the typed model
(:mod:`harness.report.model`), by the template ``templates/report.html.j2``
(:mod:`harness.report.templating`). The page opens offline from ``file://``: styles and the
small filter script are inline, charts are inline SVG (``render_charts``), and nothing is
fetched; the only links are to the case's evidence files, relative to the report's directory,
and anchors within the page, so the folder can be moved or mailed. Failed and blocked cases come
first, each with its reason, traceback and timeline. An ``@media print`` stylesheet makes the
same page the compact PDF report. Every value from the data is HTML-escaped.

The ids, classes and data attributes on ``<main>``, the sections, chart bars, filters and case
rows are a contract with the browser tests (``docs/dmct-report.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.model import DmctReport, as_report
from harness.report.templating import render, static


def render_html(report: DmctReport | Mapping[str, Any]) -> str:
    """The whole page for one report (its dict read into the model)."""
    r = as_report(report)
    complete = "true" if r.complete else "false"
    title = (f"DMCT Testing Report: {r.dmc.id} {r.installation_status}"
             f" ({r.state}{'' if r.complete else ', incomplete'})")
    return render("report.html.j2", r=r, state=r.state, complete=complete, title=title,
                  style=static("report.css"), script=static("filter.js"))
