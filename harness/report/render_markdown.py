"""``dmct-report.md``: the DMCT Testing Report as GitHub-flavoured Markdown.

The same sections as the HTML page, from the same ``dmct-report.json`` dict, for a terminal
(``less dmct-report.md``) and for GitHub. Charts become small text tables with bar glyphs.
Free text from the data (reasons, titles) is backslash-escaped so that a ``<``, ``|`` or ``*``
in a reason is shown, never interpreted; ids go in code spans.
"""

from __future__ import annotations

import re
from typing import Any

from harness.report.records import OUTCOMES
from harness.report.render_charts import SEVERITIES
from harness.report.render_common import (
    OUTCOME_WORDS,
    VERDICT_WORDS,
    completeness_words,
    evidence_links,
    partial_selection_words,
    security_without_anomaly,
    state_words,
    when,
)

#: Width, in glyphs, of the longest bar of a text chart.
BAR_WIDTH = 30
_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#!])")


def text(value: Any) -> str:
    """Free text for a table cell or a line: escaped, on one line, ``-`` for nothing."""
    if value is None or value == "":
        return "-"
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: Any) -> str:
    """An id in a code span (no escapes inside one, except the pipe of a table cell)."""
    if value is None or value == "":
        return "-"
    raw = " ".join(str(value).split()).replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", raw)), default=0) + 1)
    pad = " " if raw.startswith("`") or raw.endswith("`") else ""
    return f"{fence}{pad}{raw}{pad}{fence}"


def _table(headers: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A GFM table; ``align`` has one letter per column, ``r`` for right-aligned numbers."""
    marks = ["---:" if align[i:i + 1] == "r" else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _bar(count: int, largest: int, glyph: str = "█") -> str:
    if not count:
        return ""
    return glyph * max(1, round(BAR_WIDTH * count / max(largest, 1)))


def _verdict(report: dict[str, Any]) -> list[str]:
    verdict = str(report.get("verdict", ""))
    lines = ["## Verdict", ""]
    if not report.get("complete", True):
        lines += [f"> **{text(completeness_words(report))}**", ""]
    if partial_selection_words(report):
        lines += [f"> **{text(partial_selection_words(report))}**", ""]
    lines += [f"**{VERDICT_WORDS.get(verdict, text(verdict))}**", ""]
    lines += [f"- {text(reason)}" for reason in report.get("verdict_reasons") or []]
    if report.get("verdict_reasons"):
        lines.append("")
    state = str(report.get("state", "draft"))
    lines += [f"- State: **{state.upper()}**: {text(state_words(report))}",
              f"- Referral deadline: {text(report.get('referral_deadline'))}"]
    if state == "final":
        lines.append(f"- Finalised: {text(when(report.get('finalised_at')))}"
                     f"{' (early)' if report.get('finalised_early') else ''}")
        if report.get("final_reason"):
            lines.append(f"- Reason for finalising early: {text(report.get('final_reason'))}")
    lines += [f"- Produced: {text(when(report.get('produced_at')))}",
              f"- Run: {text(completeness_words(report))}", ""]
    return lines


def _dmc(report: dict[str, Any]) -> list[str]:
    dmc = report.get("dmc") or {}
    lines = ["## DMC and devices", "",
             f"- DMC: {code(dmc.get('id'))}: {text(dmc.get('name'))}",
             f"- EPCL entry: {code(dmc.get('epcl_entry'))}",
             f"- Installation status: {text(report.get('installation_status'))}",
             "- Substantively equivalent to: "
             + (code(dmc["substantively_equivalent_to"])
                if dmc.get("substantively_equivalent_to") else "none (tested itself)"),
             f"- Bench: {text(report.get('bench'))}", ""]
    rows = [[text(d.get("role")), text(d.get("manufacturer")),
             text(d.get("model")), text(d.get("firmware")), text(d.get("target_firmware")),
             "yes" if d.get("placeholder") else "no"]
            for d in dmc.get("devices") or []]
    lines += _table(["Role", "Manufacturer", "Model", "Firmware", "Target firmware",
                     "Placeholder"], rows)
    return [*lines, ""]


def _packs(report: dict[str, Any]) -> list[str]:
    rows = [[text(p.get("name")), str(int(p.get("cases", 0))),
             *(str(int(p.get(o, 0))) for o in OUTCOMES)]
            for p in report.get("packs") or []]
    headers = ["Pack", "Cases", *(OUTCOME_WORDS[o].capitalize() for o in OUTCOMES)]
    return ["## Packs run", "", *_table(headers, rows, "lrrrrr"), ""]


def _charts(report: dict[str, Any]) -> list[str]:
    packs = report.get("packs") or []
    largest = max((int(p.get("cases", 0)) for p in packs), default=0)
    glyphs = {"passed": "█", "failed": "▓", "blocked": "▒", "not_applicable": "░"}
    rows = [[text(p.get("name")),
             "".join(_bar(int(p.get(o, 0)), largest, glyphs[o]) for o in OUTCOMES) or "-"]
            for p in packs]
    legend = ", ".join(f"{glyphs[o]} {OUTCOME_WORDS[o]}" for o in OUTCOMES)
    counts = {s: 0 for s in SEVERITIES}
    for issue in report.get("testing_issues") or []:
        if issue.get("severity") in counts:
            counts[issue["severity"]] += 1
    top = max(counts.values())
    severity_rows = [[str(s), str(counts[s]), _bar(counts[s], top) or "-"] for s in SEVERITIES]
    return ["## Charts", "", f"Outcomes per pack ({legend}):", "",
            *_table(["Pack", "Outcomes"], rows), "",
            "Testing Issues by severity (1 is the most severe):", "",
            *_table(["Severity", "Issues", "Bar"], severity_rows, "rr"), ""]


def _threshold(report: dict[str, Any]) -> list[str]:
    threshold = report.get("threshold") or {}
    limits, counts = threshold.get("limits") or {}, threshold.get("counts") or {}
    rows = [[text(s), text(limits[s]), text(counts.get(s, 0)),
             "yes" if counts.get(s, 0) <= limits[s] else "**NO**"]
            for s in sorted(limits, key=str)]
    met = "met" if threshold.get("met") else "**NOT met**"
    return ["## Testing Issue Threshold", "",
            *_table(["Severity", "Limit (open counted issues)", "Count", "Within limit"], rows,
                    "rrr"), "",
            f"Threshold {met}. Limits from: {text(threshold.get('source'))}", ""]


def _testing_issues(report: dict[str, Any]) -> list[str]:
    issues = report.get("testing_issues") or []
    if not issues:
        return ["## Testing Issues", "", "No Testing Issue found.", ""]
    rows = [[code(i.get("id")), text(i.get("title")), text(i.get("severity")),
             "known" if i.get("known") else "new (awaiting triage)",
             "yes" if i.get("counted") else "no", text(i.get("status")),
             "<br>".join(code(c) for c in i.get("cases") or []) or "-",
             text(i.get("source")) + (f"<br>tracker: {code(i['url'])}" if i.get("url") else "")]
            for i in issues]
    headers = ["Id", "Title", "Severity", "Known / new", "Counted", "Status", "Cases", "Source"]
    return ["## Testing Issues", "", *_table(headers, rows), ""]


def _device_security(report: dict[str, Any]) -> list[str]:
    return _refusals(report.get("device_security") or {}, "Device security testing",
                     "Negative cases tried")


def _dcc_access_control(report: dict[str, Any]) -> list[str]:
    section = report.get("dcc_access_control") or {}
    if not (section.get("cases_tried") or section.get("not_applicable")
            or section.get("anomalies")):  # none ran: no section (older reports have none)
        return []
    return _refusals(section, "DCC-side access-control checks (refused before any device is "
                     "contacted; not device security evidence)", "Checks tried")


def _refusals(security: dict[str, Any], title: str, tried: str) -> list[str]:
    lines = [f"## {title}", "",
             f"- {tried}: {text(security.get('cases_tried', 0))}",
             f"- Refused as expected: {text(security.get('refused_as_expected', 0))}",
             f"- Not applicable: {text(security.get('not_applicable', 0))}", ""]
    anomalies = security.get("anomalies") or []
    if not anomalies:
        return [*lines, security_without_anomaly(security), ""]
    rows = [[code(a.get("case")), text(a.get("outcome")), code(a.get("testing_issue")),
             text(a.get("reason"))] for a in anomalies]
    return [*lines, *_table(["Case", "Outcome", "Testing Issue", "Reason"], rows), ""]


def _cases(report: dict[str, Any]) -> list[str]:
    rows = []
    for case in report.get("cases") or []:
        links = " ".join(f"[{text(label)}]({href})"
                         for label, href in evidence_links(case.get("evidence")))
        rows.append([code(case.get("id")), text(case.get("pack")),
                     text(",".join(str(s) for s in case.get("srv") or [])),
                     text(OUTCOME_WORDS.get(str(case.get("outcome")), case.get("outcome"))),
                     code(case.get("testing_issue")), text(case.get("reason")),
                     links or "-"])
    return ["## Cases", "",
            *_table(["Case", "Pack", "SRV", "Outcome", "Testing Issue", "Reason", "Evidence"],
                    rows), ""]


def render_markdown(report: dict[str, Any]) -> str:
    """The whole Markdown document for one report dict."""
    dmc = report.get("dmc") or {}
    state = "final" if report.get("state") == "final" else "draft"
    lines = [f"# DMCT Testing Report: {text(dmc.get('id'))} "
             f"{text(report.get('installation_status'))} ({state}"
             f"{'' if report.get('complete', True) else ', INCOMPLETE'})", "",
             f"{text(dmc.get('name'))}; bench {text(report.get('bench'))}; rendered from "
             f"dmct-report.json ({text(report.get('schema'))}).", ""]
    for section in (_verdict, _dmc, _packs, _charts, _threshold, _testing_issues,
                    _device_security, _dcc_access_control, _cases):
        lines += section(report)
    return "\n".join(lines).rstrip("\n") + "\n"
