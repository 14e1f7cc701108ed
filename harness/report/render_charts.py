"""The report's charts as inline SVG: failures per pack, outcomes per pack, Testing Issues by
severity. Drawn so that failures show: failed and blocked bars are never thinner than
:data:`MIN_FAILURE_W` (2 failures of 111 stay visible), the failures chart is scaled to the
failures alone, and no chart is an empty axis (nothing to draw is said in words).

Drawn here, as plain SVG text, because the HTML report must open offline and print to PDF with
nothing fetched (no chart library, no CDN). Every bar is a ``<rect class="bar">`` carrying its
data (``data-pack``/``data-outcome`` or ``data-severity``, and ``data-count``) so a browser test
can check the picture against the report's numbers. Zero-count bars are left out.
"""

from __future__ import annotations

from html import escape
from typing import Any

from harness.report.records import OUTCOMES

#: Fill of each outcome's bars, shared with the HTML stylesheet's legend and table badges.
OUTCOME_COLOURS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "blocked": "#ef6c00",
    "not_applicable": "#9e9e9e",
}
#: Severity 1 is the worst (SVTAD): darker for more severe.
SEVERITY_COLOURS = {1: "#7f0000", 2: "#c62828", 3: "#ef6c00", 4: "#f9a825"}
SEVERITIES = (1, 2, 3, 4)

_LABEL_W = 110  # room for the pack names left of the bars
#: Narrowest failed or blocked bar, in SVG units: a failure is never a hairline.
MIN_FAILURE_W = 8.0
_BAR_W = 440
_ROW_H = 22
_FONT = 'font-family="sans-serif" font-size="12"'


def _label(outcome: str) -> str:
    return outcome.replace("_", " ")


def outcomes_per_pack(packs: list[dict[str, Any]]) -> str:
    """Horizontal stacked bars, one row per pack, scaled to the largest pack."""
    largest = max((int(p.get("cases", 0)) for p in packs), default=0) or 1
    legend_h = 24
    height = legend_h + _ROW_H * max(len(packs), 1) + 8
    width = _LABEL_W + _BAR_W + MIN_FAILURE_W * 2 + 190  # room for "111 (3 failed or blocked)"
    parts = [
        f'<svg class="chart" data-chart="outcomes-per-pack" '
        f'role="img" aria-labelledby="chart-packs-title" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        '<title id="chart-packs-title">Outcomes per pack</title>',
    ]
    x = _LABEL_W
    for outcome in OUTCOMES:  # legend
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" '
                     f'fill="{OUTCOME_COLOURS[outcome]}"/>')
        parts.append(f'<text x="{x + 16}" y="14" {_FONT}>{_label(outcome)}</text>')
        x += 24 + 8 * len(_label(outcome))
    if not packs:
        parts.append(f'<text x="{_LABEL_W}" y="{legend_h + 15}" {_FONT}>no cases</text>')
    for row, pack in enumerate(packs):
        y = legend_h + row * _ROW_H
        name = escape(str(pack.get("name", "-")))
        parts.append(f'<text x="{_LABEL_W - 6}" y="{y + 15}" text-anchor="end" {_FONT}>'
                     f'{name}</text>')
        x_at = float(_LABEL_W)
        for outcome in OUTCOMES:
            count = int(pack.get(outcome, 0))
            if not count:
                continue
            w = _BAR_W * count / largest
            if outcome in ("failed", "blocked"):
                w = max(w, MIN_FAILURE_W)
            parts.append(
                f'<rect class="bar" data-pack="{name}" data-outcome="{outcome}" '
                f'data-count="{count}" x="{x_at:.1f}" y="{y + 3}" width="{w:.1f}" '
                f'height="{_ROW_H - 6}" fill="{OUTCOME_COLOURS[outcome]}">'
                f'<title>{name}: {count} {_label(outcome)}</title></rect>')
            x_at += w
        bad = int(pack.get("failed", 0)) + int(pack.get("blocked", 0))
        note = (f' <tspan fill="{OUTCOME_COLOURS["failed"]}" font-weight="bold">({bad} failed '
                'or blocked)</tspan>' if bad else "")
        parts.append(f'<text x="{x_at + 4:.1f}" y="{y + 15}" {_FONT}>'
                     f'{int(pack.get("cases", 0))}{note}</text>')
    parts.append("</svg>")
    return "".join(parts)


def failures_per_pack(packs: list[dict[str, Any]]) -> str:
    """Failed and blocked cases of each pack that has any, scaled to the largest count of
    failures (not of cases); a sentence when there is none."""
    bad = [p for p in packs if int(p.get("failed", 0)) + int(p.get("blocked", 0))]
    if not bad:
        return ('<p class="no-chart" data-chart="failures-per-pack">No case failed or was '
                "blocked.</p>")
    largest = max(int(p.get("failed", 0)) + int(p.get("blocked", 0)) for p in bad)
    height = _ROW_H * len(bad) + 8
    width = _LABEL_W + _BAR_W + 190  # room for "3 failed, 1 blocked of 111"
    parts = [
        f'<svg class="chart" data-chart="failures-per-pack" role="img" '
        f'aria-labelledby="chart-failures-title" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        '<title id="chart-failures-title">Failed and blocked cases per pack</title>',
    ]
    for row, pack in enumerate(bad):
        y = 4 + row * _ROW_H
        name = escape(str(pack.get("name", "-")))
        parts.append(f'<text x="{_LABEL_W - 6}" y="{y + 15}" text-anchor="end" {_FONT}>'
                     f'{name}</text>')
        x_at = float(_LABEL_W)
        for outcome in ("failed", "blocked"):
            count = int(pack.get(outcome, 0))
            if not count:
                continue
            w = _BAR_W * count / largest
            parts.append(
                f'<rect class="fbar" data-pack="{name}" data-outcome="{outcome}" '
                f'data-count="{count}" x="{x_at:.1f}" y="{y + 3}" width="{w:.1f}" '
                f'height="{_ROW_H - 6}" fill="{OUTCOME_COLOURS[outcome]}">'
                f'<title>{name}: {count} {_label(outcome)}</title></rect>')
            x_at += w
        words = ", ".join(f"{int(pack.get(o, 0))} {o}" for o in ("failed", "blocked")
                          if int(pack.get(o, 0)))
        parts.append(f'<text x="{x_at + 4:.1f}" y="{y + 15}" {_FONT}>{words} of '
                     f'{int(pack.get("cases", 0))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def issues_by_severity(testing_issues: list[dict[str, Any]]) -> str:
    """Vertical bars, one per severity 1..4: how many Testing Issues the run found; a sentence
    when it found none (not an empty axis)."""
    counts = {s: 0 for s in SEVERITIES}
    for issue in testing_issues:
        severity = issue.get("severity")
        if severity in counts:
            counts[severity] += 1
    if not any(counts.values()):
        return ('<p class="no-chart" data-chart="issues-by-severity">No Testing Issue found: '
                "nothing to chart by severity.</p>")
    largest = max(counts.values()) or 1
    plot_h, bar_w, gap, left, top = 120, 48, 28, 30, 18
    width = left + len(SEVERITIES) * (bar_w + gap)
    height = top + plot_h + 36
    parts = [
        f'<svg class="chart" data-chart="issues-by-severity" '
        f'role="img" aria-labelledby="chart-severity-title" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        '<title id="chart-severity-title">Testing Issues by severity</title>',
        f'<line x1="{left - 6}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}" '
        'stroke="#555"/>',
    ]
    for i, severity in enumerate(SEVERITIES):
        x = left + i * (bar_w + gap)
        count = counts[severity]
        h = plot_h * count / largest
        if count:
            parts.append(
                f'<rect class="bar" data-severity="{severity}" data-count="{count}" x="{x}" '
                f'y="{top + plot_h - h:.1f}" width="{bar_w}" height="{h:.1f}" '
                f'fill="{SEVERITY_COLOURS[severity]}"><title>severity {severity}: {count} '
                f'testing issue{"" if count == 1 else "s"}</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2}" y="{top + plot_h - h - 4:.1f}" '
                     f'text-anchor="middle" {_FONT}>{count}</text>')
        parts.append(f'<text x="{x + bar_w / 2}" y="{top + plot_h + 16}" '
                     f'text-anchor="middle" {_FONT}>severity {severity}</text>')
    parts.append("</svg>")
    return "".join(parts)
