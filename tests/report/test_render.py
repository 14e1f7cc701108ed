"""The report's HTML and Markdown renderings (``harness.report.render*``): self-contained,
every section, charts that match the data, filters and case rows of the DOM contract, hostile
text escaped, and the formats registry.

Unit tests: a report dict built by ``build_report`` from records made here (failures attributed
to known and new Testing Issues, a blocked case, reasons full of markup) in, text out.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from harness.config import load_catalogue
from harness.report.dmct_report import build_report
from harness.report.issues import KnownIssue
from harness.report.records import OUTCOMES, TestRecord
from harness.report.render import FORMATS, FormatError, parse_formats, write_formats
from harness.report.render_html import render_html
from harness.report.render_markdown import render_markdown

CATALOGUE = load_catalogue()
PRODUCED = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
SECTIONS = ["verdict", "failures", "limitations", "dmc", "packs", "coverage", "charts",
            "threshold", "referrals", "testing-issues", "device-security", "cases",
            "provenance"]
HOSTILE = ("""</td></tr><script>alert("x")</script> <img src=http://evil.example/x.png> """
           """& 'q' | *b*""")


def rec(case: str, outcome: str = "passed", reason: str | None = None,
        srv: tuple[str, ...] = (), evidence: dict[str, Any] | None = None) -> TestRecord:
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", case)
    return TestRecord(
        id=f"testpacks/{case}", name=case.split("::")[-1], pack=case.split("/")[0],
        outcome=outcome, srv=list(srv),  # type: ignore[arg-type]
        reason=reason or (None if outcome == "passed" else "why"),
        bench_time_start="2026-01-05T09:00:00+00:00", bench_time_end="2026-01-05T09:00:01+00:00",
        evidence=evidence if evidence is not None else {
            "frame_count": 2, "frames": f"evidence/{slug}/frames.json",
            "pcap": f"evidence/{slug}/frames.pcap", "events": f"evidence/{slug}/events.json",
            "dcc": f"evidence/{slug}/dcc.json",
            "transcripts": [f"evidence/{slug}/esme-optical.log"]})


def known(issue_id: str, case: str, severity: int) -> KnownIssue:
    return KnownIssue(id=issue_id, title=f"title of {issue_id} <b>&", severity=severity,
                      status="open", counted=True, dmcs=("*",), statuses=(),
                      cases=(f"*::{case}",), reason=None, source="a seed")


RECORDS = [
    rec("smoke/test_smoke.py::test_join[ESME]"),
    rec("smoke/test_smoke.py::test_join[GSME]"),
    rec("srv/test_srv.py::test_repeat[6.7-GSME]", "failed", "second 6.7 refused", srv=("6.7",)),
    rec("srv/test_srv.py::test_flood[6.14.1-ESME]", "failed", HOSTILE, srv=("6.14.1",)),
    rec("dormant/test_dormant.py::test_cos", "failed", "6 of 12 CoS events raised no alert"),
    rec("dormant/test_dormant.py::test_new_defect", "failed", "a <new> & unknown defect"),
    rec("active/test_active.py::test_supply", "blocked", "blocked: no console"),
    rec("mixed/test_mixed.py::test_x", "not_applicable", "not applicable: dormant DMC"),
    rec("security/test_security.py::test_replay", "failed", "replayed envelope accepted"),
    rec("security/test_security.py::test_old_key"),
    # Evidence paths a report must never turn into links out of its directory.
    rec("security/test_security.py::test_paths", evidence={
        "frames": "../../etc/passwd", "pcap": "/abs/frames.pcap",
        "events": "//evil.example/events.json", "dcc": "http://evil.example/dcc.json"}),
]
REGISTRY = (known("91333", "test_repeat*", 2), known("RISK-11", "test_flood*", 3),
            known("61224", "test_cos", 2), known("SEC-9", "test_replay", 1))


def make_report(**changes: Any) -> dict[str, Any]:
    report = build_report(RECORDS, dmc=CATALOGUE.dmc("REF-DMC-001"), catalogue=CATALOGUE,
                          status="dormant", registry=REGISTRY, produced_at=PRODUCED,
                          bench="emulated")
    return {**report, **changes}


class Page(HTMLParser):
    """Every start tag with its attributes, the text of <style>, and which element each
    section's first heading is."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return make_report()


@pytest.fixture(scope="module")
def html(report: dict[str, Any]) -> str:
    return render_html(report)


@pytest.fixture(scope="module")
def page(html: str) -> Page:
    return Page(html)


# -- HTML ---------------------------------------------------------------------------------------

def test_the_html_fetches_nothing(page: Page, html: str):
    external = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "data", "action", "poster", "xlink:href"):
            value = attrs.get(name)
            if value is not None and not value.startswith("#"):
                assert not external.match(value), (tag, name, value)
        assert not (tag == "link" and "stylesheet" in (attrs.get("rel") or "")), attrs
        assert not (tag == "script" and "src" in attrs), attrs
    assert [t for t, _ in page.tags].count("script") == 1  # ours, inline
    assert page.find("img") == []  # the hostile reason's <img> stayed text
    style = "".join(page.styles)
    assert "@import" not in style and "url(" not in style and "@font-face" not in style
    assert "http://" not in html.replace("http://evil.example", "")  # only in escaped text


def test_every_section_is_there_in_order_with_a_heading(page: Page, html: str):
    assert [a["id"] for a in page.find("section")] == SECTIONS
    for section in SECTIONS:
        body = html.split(f'<section id="{section}">', 1)[1]
        assert body.startswith("<h2>"), section


def test_main_carries_verdict_state_and_completeness(page: Page, report: dict[str, Any]):
    [main] = page.find("main", id="dmct-report")
    assert report["verdict"] == "fails_exit_criteria"
    assert (main["data-verdict"], main["data-state"], main["data-complete"]) == (
        "fails_exit_criteria", "draft", "true")


def test_outcome_bars_match_the_packs(page: Page, report: dict[str, Any]):
    [chart] = page.find("svg", data_chart="outcomes-per-pack")
    assert chart["class"] == "chart"
    bars = {(a["data-pack"], a["data-outcome"]): int(a["data-count"] or 0)
            for a in page.find("rect") if a.get("data-outcome")}
    expected = {(p["name"], o): p[o] for p in report["packs"] for o in OUTCOMES if p[o]}
    assert bars == expected
    assert ("active", "blocked") in bars and ("mixed", "not_applicable") in bars


def test_severity_bars_match_the_testing_issues(page: Page, report: dict[str, Any]):
    assert page.find("svg", data_chart="issues-by-severity")
    bars = {int(a["data-severity"] or 0): int(a["data-count"] or 0)
            for a in page.find("rect") if a.get("data-severity")}
    expected: dict[int, int] = {}
    for issue in report["testing_issues"]:
        expected[issue["severity"]] = expected.get(issue["severity"], 0) + 1
    assert bars == expected == {1: 1, 2: 3, 3: 1}  # 91333, 61224 and the new one at 2


def test_case_rows_and_filters_follow_the_contract(page: Page, report: dict[str, Any],
                                                   html: str):
    rows = [a for t, a in page.tags if t == "tr" and "data-outcome" in a]
    assert len(rows) == len(report["cases"])
    for row, case in zip(rows, report["cases"], strict=True):
        assert row["data-outcome"] == case["outcome"]
        assert row["data-pack"] == case["pack"]
        assert row["data-issue"] == (case["testing_issue"] or "")
        assert row["data-srv"] == ",".join(case["srv"])
    assert page.find("table", id="cases-table")
    assert page.find("input", id="case-filter", type="search")
    options = re.search(r'<select id="outcome-filter">(.*?)</select>', html).group(1)
    assert re.findall(r'value="([^"]*)"', options) == ["", *OUTCOMES]
    packs = re.search(r'<select id="pack-filter">(.*?)</select>', html).group(1)
    assert re.findall(r'value="([^"]*)"', packs) == ["", *sorted({c["pack"] for c in
                                                                  report["cases"]})]
    issues = re.search(r'<select id="issue-filter">(.*?)</select>', html).group(1)
    assert set(re.findall(r'value="([^"]*)"', issues)) == {
        "", *(i["id"] for i in report["testing_issues"])}
    assert f'<span id="cases-shown">{len(report["cases"])}</span>' in html


def test_evidence_links_are_relative_to_the_report_and_never_leave_it(page: Page,
                                                                      report: dict[str, Any]):
    hrefs = [a["href"] for a in page.find("a") if a.get("href") and
             not a["href"].startswith("#")]
    case = report["cases"][0]["evidence"]
    for path in (case["frames"], case["pcap"], case["events"], case["dcc"],
                 *case["transcripts"]):
        assert quote(path, safe="/") in hrefs
    assert all(h.startswith("evidence/") for h in hrefs), hrefs
    assert not any("passwd" in h or "evil" in h or "abs" in h for h in hrefs)


def test_hostile_text_is_escaped(html: str, page: Page):
    assert '<script>alert("x")</script>' not in html
    # markupsafe escapes a double quote as &#34;
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "a &lt;new&gt; &amp; unknown defect" in html
    assert "title of 91333 &lt;b&gt;&amp;" in html
    assert 'alert("x")' not in "".join(page.scripts)


def test_a_tracker_url_is_shown_as_text_never_linked():
    report = make_report()
    report["testing_issues"][0]["url"] = "https://tracker.example/issues/91333"
    page = Page(render_html(report))
    assert not [a for a in page.find("a") if "tracker" in (a.get("href") or "")]
    assert "tracker: https://tracker.example/issues/91333" in render_html(report)
    assert "tracker: `https://tracker.example/issues/91333`" in render_markdown(report)


def test_the_threshold_and_its_unverified_source_are_shown(html: str):
    section = html.split('<section id="threshold">', 1)[1].split("</section>", 1)[0]
    assert "NOT met" in section and "UNVERIFIED" in section
    assert section.count("<tr>") == 1 + 4  # header and severities 1..4


def test_an_incomplete_report_has_a_banner():
    report = make_report(complete=False)
    page = Page(render_html(report))
    assert page.find("main", data_complete="false")
    assert page.find("p", **{"class": "banner incomplete"})
    assert "INCOMPLETE" in render_html(report)
    assert render_markdown(report).startswith("# DMCT Testing Report: REF-DMC-001 dormant "
                                              "(draft, INCOMPLETE)")


def test_a_final_report_shows_when_and_why_it_was_finalised():
    report = make_report(state="final", finalised_at="2026-04-02T10:00:00+01:00",
                         finalised_early=True, final_reason="programme asked <early> & now")
    html = render_html(report)
    assert Page(html).find("main", data_state="final")
    assert "programme asked &lt;early&gt; &amp; now" in html
    assert "before the referral deadline 2026-04-17" in html
    markdown = render_markdown(report)
    assert "Reason for finalising early: programme asked \\<early\\> \\& now" in markdown
    assert "**FINAL**" in markdown


def test_a_report_with_no_case_still_renders():
    report = build_report([], dmc=CATALOGUE.dmc("REF-DMC-001"), catalogue=CATALOGUE,
                          status="dormant", registry=(), produced_at=PRODUCED, bench="emulated")
    page = Page(render_html(report))
    assert [a["id"] for a in page.find("section")] == SECTIONS
    assert page.find("rect", **{"class": "bar"}) == []
    assert "## Cases" in render_markdown(report)


# -- Markdown -----------------------------------------------------------------------------------

def test_markdown_has_every_section_and_a_row_per_case(report: dict[str, Any]):
    markdown = render_markdown(report)
    headings = re.findall(r"^## (.+)$", markdown, re.MULTILINE)
    assert headings == ["Verdict", "Failed and blocked cases", "Limitations", "DMC and devices",
                        "Packs run", "Coverage: packs, SRVs and devices", "Charts",
                        "Testing Issue Threshold", "Referral register (SVTAD 20.36-20.40)",
                        "Testing Issues", "Device security testing", "Cases", "Provenance"]
    cases = markdown.split("## Cases", 1)[1].split("## Provenance")[0].strip().splitlines()
    assert cases[0].startswith("| Case | Pack | SRV | Outcome | Testing Issue | Reason |")
    rows = cases[2:]
    assert len(rows) == len(report["cases"])
    for line in rows:  # an escaped pipe in a reason does not add a column
        assert len(re.findall(r"(?<!\\)\|", line)) == 8, line
    assert "Fails exit criteria" in markdown and "2026-04-17" in markdown


def test_markdown_escapes_free_text(report: dict[str, Any]):
    markdown = render_markdown(report)
    ours = {"<br>", "</a>", *(f'<a id="issue-{i["id"]}">' for i in report["testing_issues"])}
    assert set(re.findall(r"(?<!\\)<[^>]*>", markdown)) <= ours  # line breaks, issue anchors
    assert '\\<script\\>alert("x")\\</script\\>' in markdown
    assert "\\| \\*b\\*" in markdown
    assert "[frames.json](evidence/" in markdown
    assert "passwd" not in markdown.split("## Cases", 1)[1].split("test_paths", 1)[1]


def test_a_case_note_is_in_the_json_and_shown_under_the_reason():
    """A case's evidence notes (``Bench.note``) are its ``note``: a passed case judged by its
    response code only says so in every rendering; its outcome stays passed."""
    note = "response code only: the harness does not model the body of SR 6.12"
    records = [rec("srv/test_srv.py::test_supported_srv_executes[6.12-ESME]", srv=("6.12",),
                   evidence={"notes": [note]}),
               rec("srv/test_srv.py::test_supported_srv_executes[7.12-ESME]", "failed",
                   "answered E21", srv=("7.12",), evidence={"notes": [note, "second"]}),
               rec("srv/test_srv.py::test_supported_srv_executes[7.4-ESME]", srv=("7.4",))]
    report = build_report(records, dmc=CATALOGUE.dmc("REF-DMC-001"), catalogue=CATALOGUE,
                          status="dormant", registry=(), produced_at=PRODUCED, bench="emulated")
    cases = {c["id"].split("[")[1].split("-")[0]: c for c in report["cases"]}
    assert (cases["6.12"]["outcome"], cases["6.12"]["note"]) == ("passed", note)
    assert cases["7.12"]["note"] == f"{note}; second" and cases["7.4"]["note"] is None
    assert report["packs"][0]["passed"] == 2
    html = render_html(report)
    assert html.count(f'<span class="note">{note}</span>') == 1
    assert html.count('<dd class="note">') == 1  # the failed case's details
    markdown = render_markdown(report)
    assert f"- Note: {note}; second" in markdown
    row = next(line for line in markdown.splitlines() if "6.12-ESME" in line)
    assert f"| {note} |" in row
    assert "| answered E21; response code only" in markdown


# -- formats ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "expected"), [
    ([], ("json", "html", "md")),
    (["md"], ("json", "md")),
    (["pdf"], ("json", "html", "pdf")),
    (["md,html", "json"], ("json", "html", "md")),
    ([" PDF , md "], ("json", "html", "md", "pdf")),
])
def test_formats_parse(given, expected):
    assert parse_formats(given) == expected


def test_an_unknown_format_is_one_line():
    with pytest.raises(FormatError, match=r"^unknown report format 'docx'; formats: json, html, "
                                          r"md, pdf$"):
        parse_formats(["html,docx"])


def test_write_formats_renders_beside_the_json(tmp_path: Path, report: dict[str, Any]):
    written = write_formats(tmp_path, report, ["html", "md"])
    assert [p.name for p in written] == [FORMATS["json"], FORMATS["html"], FORMATS["md"]]
    assert json.loads((tmp_path / FORMATS["json"]).read_text()) == report
    assert (tmp_path / FORMATS["html"]).read_text() == render_html(report)
    assert (tmp_path / FORMATS["md"]).read_text() == render_markdown(report)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


def test_write_formats_can_leave_the_json_untouched(tmp_path: Path, report: dict[str, Any]):
    (tmp_path / FORMATS["json"]).write_text("kept as it is")
    written = write_formats(tmp_path, report, ["md"], write_json=False)
    assert [p.name for p in written] == [FORMATS["md"]]
    assert (tmp_path / FORMATS["json"]).read_text() == "kept as it is"
