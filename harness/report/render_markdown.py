"""``dmct-report.md``: the DMCT Testing Report as GitHub-flavoured Markdown.

The same sections as the HTML page, from the same ``dmct-report.json`` dict and the same
template set (``templates/report.md.j2``, :mod:`harness.report.templating`), for a terminal
(``less dmct-report.md``) and for GitHub. Charts become small text tables with bar glyphs.
Free text from the data (reasons, titles) is backslash-escaped so that a ``<``, ``|`` or ``*``
in a reason is shown, never interpreted; ids go in code spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.model import DmctReport, as_report
from harness.report.render_charts import SEVERITIES
from harness.report.templating import render

__all__ = ["render_markdown"]


def render_markdown(report: DmctReport | Mapping[str, Any]) -> str:
    """The whole Markdown document for one report (its dict read into the model)."""
    r = as_report(report)
    severities = {s: 0 for s in SEVERITIES}
    for issue in r.testing_issues:
        if issue.severity in severities:
            severities[issue.severity] += 1
    rendered = render(
        "report.md.j2", r=r, state=r.state, severities=severities,
        largest_severity=max(severities.values()),
        largest_pack=max((p.cases for p in r.packs), default=0),
        largest_failures=max((p.failed + p.blocked for p in r.packs), default=0),
    )
    return rendered.rstrip("\n") + "\n"
