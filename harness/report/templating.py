"""The one template set every rendering comes from (Jinja2, ``harness/report/templates/``): the
DMCT Testing Report and the EPCL summary, in HTML and Markdown.

Two environments over the same templates and filters: HTML autoescapes every value (reasons
carry ``<``, ``&``, quotes), Markdown escapes free text with the ``md`` filter and puts ids in
code spans with ``code``. Templates read the report's JSON dict and nothing else.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader
from markupsafe import Markup

from harness.report import render_charts
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

#: Lines of a failure's traceback in the PDF (the HTML shows all the record keeps).
PRINT_TRACEBACK_LINES = 10
#: A Testing Issue's reviewer fields (the registry's), as the report labels them.
REVIEW_FIELDS = (("description", "Description"), ("root_cause", "Root cause"),
                 ("workaround", "Workaround"), ("fix", "Fix"),
                 ("regression", "Regression testing needed"),
                 ("not_counted_rationale", "Not counted (SVTAD 20.29) because"))
#: Marks of the coverage matrix's cells.
COVERAGE_MARKS = {"passed": "✓", "failed": "✗", "blocked": "⊘", "not_applicable": "n/a"}
#: Who refuses a security case's attempt (a case's ``refused_by``), as the report says it.
REFUSED_BY_WORDS = {"device": "the device (observed over the HAN or a serial port)",
                    "dcc": "the DCC side, before any device is contacted"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#!])")


def md(value: Any) -> str:
    """Free text for a Markdown table cell or line: escaped, on one line, ``-`` for nothing."""
    if value is None or value == "":
        return "-"
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: Any) -> str:
    """An id in a Markdown code span (no escapes inside one, except a table cell's pipe)."""
    if value is None or value == "":
        return "-"
    raw = " ".join(str(value).split()).replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", raw)), default=0) + 1)
    pad = " " if raw.startswith("`") or raw.endswith("`") else ""
    return f"{fence}{pad}{raw}{pad}{fence}"


def fence(value: Any) -> str:
    """A Markdown code fence long enough for ``value`` (a traceback may hold backticks)."""
    longest = max((len(m) for m in re.findall(r"`+", str(value or ""))), default=0)
    return "`" * max(3, longest + 1)


def words(value: Any) -> str:
    """``meets_exit_criteria`` -> ``meets exit criteria``."""
    return "-" if value is None else str(value).replace("_", " ")


def bar(count: int, largest: int, width: int = 30, glyph: str = "█") -> str:
    """A text bar for a Markdown chart; never empty for a count above 0 (a failure shows)."""
    if not count:
        return ""
    return glyph * max(1, round(width * count / max(largest, 1)))


def tail(value: Any, lines: int) -> str:
    """The last ``lines`` lines of a text (a traceback in print: where it failed and why)."""
    kept = str(value or "").rstrip().splitlines()
    return "\n".join((["..."] if len(kept) > lines else []) + kept[-lines:])


def thousands(value: Any) -> str:
    return f"{int(value):,}"


def _svg(value: str) -> Markup:
    return Markup(value)  # drawn by render_charts, which escapes every label


_FILTERS = {
    "md": md, "code": code, "fence": fence, "words": words, "when": when, "bar": bar,
    "thousands": thousands, "tail": tail, "anchor": issue_anchor, "evidence_links": evidence_links,
    "state_words": state_words, "completeness_words": completeness_words,
    "outcome_word": lambda o: OUTCOME_WORDS.get(str(o), str(o)),
    "verdict_word": lambda v: VERDICT_WORDS.get(str(v), str(v)),
    "security_without_anomaly": security_without_anomaly,
    "partial_selection_words": partial_selection_words,
    "refused_by_words": lambda who: REFUSED_BY_WORDS.get(str(who), str(who)),
}


@functools.cache
def environment(kind: str) -> Environment:
    """``html`` (autoescaped) or ``md``."""
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=kind == "html", undefined=ChainableUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    env.globals.update(
        outcomes_per_pack=lambda packs: _svg(render_charts.outcomes_per_pack(packs)),
        issues_by_severity=lambda issues: _svg(render_charts.issues_by_severity(issues)),
        failures_per_pack=lambda packs: _svg(render_charts.failures_per_pack(packs)),
        OUTCOMES=("passed", "failed", "blocked", "not_applicable"),
        OUTCOME_WORDS=OUTCOME_WORDS, SEVERITIES=render_charts.SEVERITIES,
        PRINT_TRACEBACK_LINES=PRINT_TRACEBACK_LINES, REVIEW_FIELDS=REVIEW_FIELDS,
        COVERAGE_MARKS=COVERAGE_MARKS,
        has_review=lambda issue: any(issue.get(key) for key, _ in REVIEW_FIELDS),
        any_ran=lambda section: bool(section and (section.cases_tried or section.not_applicable
                                                  or section.anomalies)),
    )
    return env


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` (``.html.j2`` autoescaped, ``.md.j2`` not)."""
    kind = "html" if template.endswith(".html.j2") else "md"
    return environment(kind).get_template(template).render(**context)


def static(name: str) -> str:
    """A file of the template directory as it is (the stylesheet and script pages inline)."""
    from importlib import resources

    return (resources.files("harness.report") / "templates" / name).read_text(encoding="utf-8")
