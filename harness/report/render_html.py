"""``dmct-report.html``: the DMCT Testing Report as one self-contained page.

Rendered from the ``dmct-report.json`` dict alone. The page opens offline from ``file://``:
styles and the small filter script are inline, charts are inline SVG (``render_charts``), and
nothing is fetched; the only links are to the case's evidence files, relative to the report's
directory, and anchors within the page. An ``@media print`` stylesheet makes the same page the
PDF report. Every value from the data is HTML-escaped (reasons carry ``<``, ``&``, quotes).

The ids, classes and data attributes on ``<main>``, the sections, chart bars, filters and case
rows are a contract with the browser tests (``docs/dmct-report.md``).
"""

from __future__ import annotations

from html import escape
from typing import Any

from harness.report.records import OUTCOMES
from harness.report.render_charts import issues_by_severity, outcomes_per_pack
from harness.report.render_common import (
    OUTCOME_WORDS,
    VERDICT_WORDS,
    completeness_words,
    evidence_links,
    issue_anchor,
    partial_selection_words,
    security_without_anomaly,
    state_words,
    when,
)


def _e(value: Any) -> str:
    """Escape for text and double-quoted attributes; ``None`` shows as a dash."""
    return escape("-" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[str], *, attrs: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    return (f"<table{attrs}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _verdict(report: dict[str, Any]) -> str:
    verdict = str(report.get("verdict", ""))
    css = "meets" if verdict == "meets_exit_criteria" else "fails"
    parts = ['<section id="verdict"><h2>Verdict</h2>']
    if not report.get("complete", True):
        parts.append(f'<p class="banner incomplete" role="alert">'
                     f'{_e(completeness_words(report))}</p>')
    if partial_selection_words(report):
        parts.append(f'<p class="banner incomplete partial" role="alert">'
                     f'{_e(partial_selection_words(report))}</p>')
    parts.append(f'<p class="verdict {css}">{_e(VERDICT_WORDS.get(verdict, verdict))}</p>')
    reasons = report.get("verdict_reasons") or []
    if reasons:
        parts.append('<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in reasons)
                     + "</ul>")
    state = str(report.get("state", "draft"))
    parts.append('<dl class="facts">')
    parts.append(f'<dt>State</dt><dd><span class="state {_e(state)}">{_e(state.upper())}</span> '
                 f'{_e(state_words(report))}</dd>')
    parts.append(f"<dt>Referral deadline</dt><dd>{_e(report.get('referral_deadline'))}</dd>")
    if state == "final":
        parts.append(f"<dt>Finalised</dt><dd>{_e(when(report.get('finalised_at')))}"
                     f"{' (early)' if report.get('finalised_early') else ''}</dd>")
        if report.get("final_reason"):
            parts.append(f"<dt>Reason for finalising early</dt>"
                         f"<dd>{_e(report.get('final_reason'))}</dd>")
    parts.append(f"<dt>Produced</dt><dd>{_e(when(report.get('produced_at')))}</dd>")
    parts.append(f"<dt>Run</dt><dd>{_e(completeness_words(report))}</dd>")
    parts.append("</dl></section>")
    return "".join(parts)


def _dmc(report: dict[str, Any]) -> str:
    dmc = report.get("dmc") or {}
    parts = ['<section id="dmc"><h2>DMC and devices</h2><dl class="facts">',
             f"<dt>DMC</dt><dd>{_e(dmc.get('id'))}: {_e(dmc.get('name'))}</dd>",
             f"<dt>EPCL entry</dt><dd>{_e(dmc.get('epcl_entry'))}</dd>",
             f"<dt>Installation status</dt><dd>{_e(report.get('installation_status'))}</dd>",
             "<dt>Substantively equivalent to</dt>"
             f"<dd>{_e(dmc.get('substantively_equivalent_to') or 'none (tested itself)')}</dd>",
             f"<dt>Bench</dt><dd>{_e(report.get('bench'))}</dd></dl>"]
    rows = []
    for device in dmc.get("devices") or []:
        placeholder = ('<span class="tag placeholder">yes</span>'
                       if device.get("placeholder") else "no")
        rows.append(f"<tr><td>{_e(device.get('role'))}</td>"
                    f"<td>{_e(device.get('manufacturer'))}</td>"
                    f"<td>{_e(device.get('model'))}</td>"
                    f"<td>{_e(device.get('firmware'))}</td>"
                    f"<td>{_e(device.get('target_firmware'))}</td><td>{placeholder}</td></tr>")
    headers = ["Role", "Manufacturer", "Model", "Firmware", "Target firmware",
               '<abbr title="model or firmware invented, not from a public source">'
               "Placeholder</abbr>"]
    parts.append(_table(headers, rows, attrs=' class="devices"'))
    parts.append("</section>")
    return "".join(parts)


def _packs(report: dict[str, Any]) -> str:
    rows = []
    for pack in report.get("packs") or []:
        cells = "".join(f'<td class="num">{int(pack.get(o, 0))}</td>' for o in OUTCOMES)
        rows.append(f"<tr><td>{_e(pack.get('name'))}</td>"
                    f'<td class="num">{int(pack.get("cases", 0))}</td>{cells}</tr>')
    headers = ["Pack", "Cases", *(OUTCOME_WORDS[o].capitalize() for o in OUTCOMES)]
    return f'<section id="packs"><h2>Packs run</h2>{_table(headers, rows)}</section>'


def _charts(report: dict[str, Any]) -> str:
    return ('<section id="charts"><h2>Charts</h2><div class="charts">'
            '<figure>' + outcomes_per_pack(report.get("packs") or []) +
            '<figcaption>Outcomes per pack</figcaption></figure>'
            '<figure>' + issues_by_severity(report.get("testing_issues") or []) +
            '<figcaption>Testing Issues by severity (1 is the most severe)</figcaption>'
            '</figure></div></section>')


def _threshold(report: dict[str, Any]) -> str:
    threshold = report.get("threshold") or {}
    limits, counts = threshold.get("limits") or {}, threshold.get("counts") or {}
    rows = []
    for severity in sorted(limits, key=str):
        limit, count = limits[severity], counts.get(severity, 0)
        within = count <= limit
        rows.append(f"<tr><td>{_e(severity)}</td><td class=\"num\">{_e(limit)}</td>"
                    f'<td class="num">{_e(count)}</td>'
                    f'<td class="{"ok" if within else "bad"}">{"yes" if within else "NO"}</td>'
                    "</tr>")
    met = threshold.get("met")
    source = str(threshold.get("source", "-"))
    unverified = "UNVERIFIED" in source
    return ('<section id="threshold"><h2>Testing Issue Threshold</h2>'
            + _table(["Severity", "Limit (open counted issues)", "Count", "Within limit"], rows)
            + f'<p>Threshold <strong class="{"ok" if met else "bad"}">'
            f'{"met" if met else "NOT met"}</strong>. Limits from: '
            f'<span class="{"unverified" if unverified else "source"}">{_e(source)}</span></p>'
            "</section>")


def _tracker(issue: dict[str, Any]) -> str:
    """The issue's tracker page, as text: the report links to nothing outside itself."""
    url = issue.get("url")
    return f'<br><span class="id">tracker: {_e(url)}</span>' if url else ""


def _testing_issues(report: dict[str, Any]) -> str:
    issues = report.get("testing_issues") or []
    if not issues:
        return ('<section id="testing-issues"><h2>Testing Issues</h2>'
                "<p>No Testing Issue found.</p></section>")
    rows = []
    for issue in issues:
        cases = "".join(f"<li>{_e(c)}</li>" for c in issue.get("cases") or [])
        known = "known" if issue.get("known") else "new (awaiting triage)"
        rows.append(f'<tr id="{_e(issue_anchor(issue.get("id")))}"><td>{_e(issue.get("id"))}</td>'
                    f"<td>{_e(issue.get('title'))}</td>"
                    f'<td class="num sev sev{_e(issue.get("severity"))}">'
                    f"{_e(issue.get('severity'))}</td>"
                    f"<td>{_e(known)}</td><td>{'yes' if issue.get('counted') else 'no'}</td>"
                    f"<td>{_e(issue.get('status'))}</td>"
                    f'<td><ul class="ids">{cases}</ul></td><td>{_e(issue.get("source"))}'
                    f"{_tracker(issue)}</td>"
                    "</tr>")
    headers = ["Id", "Title", "Severity", "Known / new", "Counted", "Status", "Cases", "Source"]
    return ('<section id="testing-issues"><h2>Testing Issues</h2>'
            + _table(headers, rows, attrs=' class="issues"') + "</section>")


def _device_security(report: dict[str, Any]) -> str:
    return _refusals(report.get("device_security") or {}, "device-security",
                     "Device security testing", "Negative cases tried")


def _dcc_access_control(report: dict[str, Any]) -> str:
    section = report.get("dcc_access_control") or {}
    if not (section.get("cases_tried") or section.get("not_applicable")
            or section.get("anomalies")):  # none ran: no section (older reports have none)
        return ""
    return _refusals(section, "dcc-access-control", "DCC-side access-control checks "
                     "(refused before any device is contacted; not device security evidence)",
                     "Checks tried")


def _refusals(security: dict[str, Any], anchor: str, title: str, tried: str) -> str:
    parts = [f'<section id="{anchor}"><h2>{_e(title)}</h2><dl class="facts">',
             f"<dt>{_e(tried)}</dt><dd>{_e(security.get('cases_tried', 0))}</dd>",
             f"<dt>Refused as expected</dt><dd>{_e(security.get('refused_as_expected', 0))}</dd>",
             f"<dt>Not applicable</dt><dd>{_e(security.get('not_applicable', 0))}</dd>",
             "</dl>"]
    anomalies = security.get("anomalies") or []
    if anomalies:
        rows = [f"<tr><td class=\"id\">{_e(a.get('case'))}</td><td>{_e(a.get('outcome'))}</td>"
                f"<td>{_e(a.get('testing_issue'))}</td><td>{_e(a.get('reason'))}</td></tr>"
                for a in anomalies]
        parts.append(_table(["Case", "Outcome", "Testing Issue", "Reason"], rows))
    else:
        parts.append(f"<p>{_e(security_without_anomaly(security))}</p>")
    parts.append("</section>")
    return "".join(parts)


def _options(values: list[str], all_label: str) -> str:
    return (f'<option value="">{all_label}</option>'
            + "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values))


def _cases(report: dict[str, Any]) -> str:
    cases = report.get("cases") or []
    packs = sorted({str(c.get("pack") or "-") for c in cases})
    issues = sorted({str(c["testing_issue"]) for c in cases if c.get("testing_issue")})
    outcome_options = (
        '<option value="">all outcomes</option>'
        + "".join(f'<option value="{o}">{OUTCOME_WORDS[o]}</option>' for o in OUTCOMES))
    filters = (
        '<div class="filters">'
        '<label>Search <input id="case-filter" type="search" '
        'placeholder="id, SRV, reason or issue"></label>'
        f'<label>Outcome <select id="outcome-filter">{outcome_options}</select></label>'
        f'<label>Pack <select id="pack-filter">{_options(packs, "all packs")}</select></label>'
        f'<label>Testing Issue <select id="issue-filter">{_options(issues, "all")}</select>'
        f'</label><span class="count"><span id="cases-shown">{len(cases)}</span> of '
        f"{len(cases)} cases shown</span></div>")
    rows = []
    for case in cases:
        outcome = str(case.get("outcome", ""))
        issue = case.get("testing_issue")
        srv = ",".join(str(s) for s in case.get("srv") or [])
        links = " ".join(f'<a href="{_e(href)}">{_e(label)}</a>'
                         for label, href in evidence_links(case.get("evidence")))
        issue_cell = (f'<a href="#{_e(issue_anchor(issue))}">{_e(issue)}</a>' if issue else "")
        rows.append(
            f'<tr data-outcome="{_e(outcome)}" data-pack="{_e(case.get("pack") or "-")}" '
            f'data-issue="{_e(issue or "")}" data-srv="{_e(srv)}">'
            f'<td class="c-id id">{_e(case.get("id"))}</td>'
            f'<td>{_e(case.get("pack") or "-")}</td><td class="c-srv">{_e(srv)}</td>'
            f'<td><span class="outcome {_e(outcome)}">{_e(OUTCOME_WORDS.get(outcome, outcome))}'
            f'</span></td><td class="c-issue">{issue_cell}</td>'
            f'<td class="c-reason">{_e(case.get("reason") or "")}</td>'
            f'<td class="evidence">{links}</td></tr>')
    table = _table(["Case", "Pack", "SRV", "Outcome", "Testing Issue", "Reason", "Evidence"],
                   rows, attrs=' id="cases-table"')
    return f'<section id="cases"><h2>Cases</h2>{filters}{table}</section>'


def render_html(report: dict[str, Any]) -> str:
    """The whole page for one report dict."""
    dmc = report.get("dmc") or {}
    verdict = str(report.get("verdict", "fails_exit_criteria"))
    state = "final" if report.get("state") == "final" else "draft"
    complete = "true" if report.get("complete", True) else "false"
    title = (f"DMCT Testing Report: {dmc.get('id', '-')} {report.get('installation_status', '')}"
             f" ({state}{'' if complete == 'true' else ', incomplete'})")
    body = "".join([
        _verdict(report), _dmc(report), _packs(report), _charts(report), _threshold(report),
        _testing_issues(report), _device_security(report), _dcc_access_control(report),
        _cases(report),
    ])
    subtitle = (f"{_e(dmc.get('id'))} ({_e(dmc.get('name'))}), "
                f"{_e(report.get('installation_status'))} installations; "
                f"bench {_e(report.get('bench'))}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f'<main id="dmct-report" data-verdict="{_e(verdict)}" data-state="{state}" '
        f'data-complete="{complete}"><header><h1>DMCT Testing Report</h1>'
        f'<p class="subtitle">{subtitle}</p></header>{body}</main>'
        f'<footer>Rendered by smets1-dmct from dmct-report.json ({_e(report.get("schema"))}).'
        f"</footer><script>{SCRIPT}</script></body></html>\n"
    )


STYLE = """
:root{--ok:#2e7d32;--bad:#c62828;--warn:#ef6c00;--na:#757575;--line:#d0d0d0;--soft:#f4f4f4}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
margin:0;background:#fff}
main,footer{max-width:1200px;margin:0 auto;padding:0 16px}
header h1{margin:16px 0 0;font-size:24px}.subtitle{margin:2px 0 8px;color:#444}
h2{font-size:18px;border-bottom:2px solid var(--line);padding-bottom:2px;margin:24px 0 8px}
section{margin-bottom:8px}
.verdict{font-size:22px;font-weight:700;padding:10px 14px;border-radius:6px;margin:8px 0;
color:#fff}
.verdict.meets{background:var(--ok)}.verdict.fails{background:var(--bad)}
.banner.incomplete{background:#fff3e0;border:2px solid var(--warn);color:#8a3c00;
font-weight:700;padding:8px 12px;border-radius:6px}
.reasons{margin:4px 0 8px}
.state{font-weight:700;padding:1px 6px;border-radius:4px;border:1px solid #888}
.state.final{background:#e8f5e9}.state.draft{background:#fffde7}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dl.facts dt{font-weight:600;color:#333}dl.facts dd{margin:0}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:var(--soft)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.id,.c-id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;
overflow-wrap:anywhere}
.c-reason{overflow-wrap:anywhere}
#cases-table .c-id{width:32%}
ul.ids{margin:0;padding-left:16px;font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12px;overflow-wrap:anywhere}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:700}
.unverified{color:var(--warn);font-weight:700}
.tag{font-size:11px;padding:0 4px;border-radius:3px;background:#eee;color:#555}
.outcome{font-weight:600}.outcome.passed{color:var(--ok)}.outcome.failed{color:var(--bad)}
.outcome.blocked{color:var(--warn)}.outcome.not_applicable{color:var(--na)}
.charts{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0}figcaption{font-size:12px;color:#555}
svg.chart{max-width:100%;height:auto}
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:6px 0;
position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid var(--line)}
.filters input{min-width:240px}
.evidence a{margin-right:6px;white-space:nowrap}
tr[hidden]{display:none}
footer{color:#666;font-size:12px;margin:24px auto}
@media print{
@page{size:A4;margin:12mm}
body{font-size:11px}
main,footer{max-width:none;padding:0}
.filters{display:none}
a{color:inherit;text-decoration:none}
h2{break-after:avoid}
tr,figure,.verdict,.banner{break-inside:avoid}
thead{display:table-header-group}
#cases{break-before:page}
table{font-size:10px}
.verdict,.banner,.state,thead th,svg.chart{-webkit-print-color-adjust:exact;
print-color-adjust:exact}
}
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("cases-table");
  if (!table || !table.tBodies.length) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var search = document.getElementById("case-filter");
  var outcome = document.getElementById("outcome-filter");
  var pack = document.getElementById("pack-filter");
  var issue = document.getElementById("issue-filter");
  var shown = document.getElementById("cases-shown");
  var texts = rows.map(function (row) {
    return [".c-id", ".c-srv", ".c-reason", ".c-issue"].map(function (cls) {
      var cell = row.querySelector(cls);
      return cell ? cell.textContent : "";
    }).join("\\n").toLowerCase();
  });
  function matches(select, row, name) {
    return !select.value || row.getAttribute(name) === select.value;
  }
  function apply() {
    var needle = search.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row, i) {
      var visible = (!needle || texts[i].indexOf(needle) !== -1) &&
        matches(outcome, row, "data-outcome") && matches(pack, row, "data-pack") &&
        matches(issue, row, "data-issue");
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = String(count);
  }
  [search, outcome, pack, issue].forEach(function (control) {
    control.addEventListener("input", apply);
    control.addEventListener("change", apply);
  });
  apply();
}());
"""
