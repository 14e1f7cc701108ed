"""``dmct-report.md``: the DMCT Testing Report as GitHub-flavoured Markdown.

The same sections as the HTML page, from the same ``dmct-report.json`` dict and the same
template set (``templates/report.md.j2``, :mod:`harness.report.templating`), for a terminal
(``less dmct-report.md``) and for GitHub. Charts become small text tables with bar glyphs.
Free text from the data (reasons, titles) is backslash-escaped so that a ``<``, ``|`` or ``*``
in a reason is shown, never interpreted; ids go in code spans.
"""

from __future__ import annotations

from typing import Any

from harness.report.model import DmctReport
from harness.report.render_charts import SEVERITIES
from harness.report.templating import code, md, render

__all__ = ["code", "render_markdown", "text"]

#: Kept for callers of the old name: free text, escaped.
text = md


def render_markdown(report: dict[str, Any]) -> str:
    """The whole Markdown document for one report dict."""
    packs = report.get("packs") or []
    severities = {s: 0 for s in SEVERITIES}
    for issue in report.get("testing_issues") or []:
        if issue.get("severity") in severities:
            severities[issue["severity"]] += 1
    rendered = render(
        "report.md.j2", r=DmctReport.from_json(report),
        state="final" if report.get("state") == "final" else "draft",
        severities=severities, largest_severity=max(severities.values()),
        largest_pack=max((int(p.get("cases", 0)) for p in packs), default=0),
        largest_failures=max((int(p.get("failed", 0)) + int(p.get("blocked", 0))
                              for p in packs), default=0),
    )
    return rendered.rstrip("\n") + "\n"
