"""The HTML and PDF reports checked as a person would see them, in a real headless Chromium.

One small real run on the emulated bench (the Honeywell Elster DMC, smoke and srv packs: it
fails cases and finds a Testing Issue) gives a real ``dmct-report.json``; its HTML report is
opened in one browser shared by the module. The page must render with no console error, its
verdict, sections, charts and filters must agree with the JSON, and its PDF (printed by
``print_pdf``) must turn into non-blank PNG pages whose text shows every section heading in
order. The screenshot, the PDF and its pages are kept in ``test-artifacts/browser/`` (or
``$DMCT_TEST_ARTIFACTS/browser/``) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from runkit import WHOLE_RUNS
from tools import require_tool

from harness.report import browser
from harness.report.browser import BrowserPage, BrowserUnavailable, Chromium, print_pdf
from harness.report.render import FORMATS, write_formats
from harness.report.render_html import render_html

pytestmark = WHOLE_RUNS

REPO = Path(__file__).resolve().parents[2]
DMC = "HONEYWELL-ELSTER-DMC-001"
STATUS = "dormant"
#: The report's sections, in the order the page shows them (the DOM contract).
SECTIONS = ("verdict", "failures", "limitations", "dmc", "packs", "coverage", "charts",
            "threshold", "referrals", "testing-issues", "device-security", "cases",
            "provenance")
OUTCOMES = ("passed", "failed", "blocked", "not_applicable")


# --- fixtures: one run, one rendered report, one browser, one printed PDF ----------------------

@pytest.fixture(scope="module")
def chromium_path() -> str:
    return require_tool("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    root = Path(os.environ.get("DMCT_TEST_ARTIFACTS") or REPO / "test-artifacts")
    directory = root / "browser"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``dmct run`` of the Honeywell Elster DMC's smoke and srv packs (a few seconds)."""
    out = tmp_path_factory.mktemp("browser-run")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DMCT_LAB", "PYTEST_TIMEOUT", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                        "DMCT_SECRETS_FILE", "PYTEST_XDIST_WORKER",
                        "PYTEST_XDIST_WORKER_COUNT")}
    env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest"
    command = [sys.executable, "-m", "harness.cli", "run", "--dmc", DMC, "--status", STATUS,
               "--pack", "smoke", "--pack", "srv", "--out", str(out)]
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    return out / DMC / STATUS


@pytest.fixture(scope="module")
def report(run_dir: Path) -> dict[str, Any]:
    data = json.loads((run_dir / "dmct-report.json").read_text(encoding="utf-8"))
    # The run is what the checks below need: failures, a Testing Issue, more than one pack.
    assert data["verdict"] == "fails_exit_criteria"
    assert data["testing_issues"] and len(data["packs"]) >= 2
    assert any(case["outcome"] == "failed" for case in data["cases"])
    return data


@pytest.fixture(scope="module")
def html_path(run_dir: Path, report: dict[str, Any]) -> Path:
    return render_html_report(run_dir, report)


@pytest.fixture(scope="module")
def chrome(chromium_path: str) -> Iterator[Chromium]:
    with Chromium(chromium_path) as running:
        yield running


@pytest.fixture(scope="module")
def page(chrome: Chromium, html_path: Path, artifacts: Path) -> Iterator[BrowserPage]:
    with chrome.page(html_path) as opened:
        opened.screenshot(artifacts / "report.png")
        yield opened


@pytest.fixture
def filters_cleared(page: BrowserPage) -> Iterator[BrowserPage]:
    """The shared page with every filter cleared before and after the test."""
    _clear_filters(page)
    yield page
    _clear_filters(page)


@pytest.fixture(scope="module")
def pdf(run_dir: Path, report: dict[str, Any], html_path: Path, artifacts: Path,
        chromium_path: str) -> Path:
    """The report printed as ``--format pdf`` prints it (``print_pdf`` of the HTML)."""
    require_tool("pdftoppm")
    require_tool("pdftotext")
    written = write_formats(run_dir, report, ["pdf"], write_json=False)
    printed = run_dir / FORMATS["pdf"]
    assert printed in written
    shutil.copyfile(printed, artifacts / "report.pdf")
    return printed


@pytest.fixture(scope="module")
def pdf_pages(pdf: Path, artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The PDF's pages as PNGs at 50 dpi (made apart, then kept: xdist workers share the
    artifacts directory)."""
    pages = tmp_path_factory.mktemp("pdf-pages")
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(pages / "report-page")],
                   check=True, timeout=120)
    for old in artifacts.glob("report-page-*.png"):
        old.unlink(missing_ok=True)
    made = sorted(pages.glob("report-page-*.png"))
    for png in made:
        shutil.copyfile(png, artifacts / png.name)
    return made


# --- the page as rendered ----------------------------------------------------------------------

def test_the_page_renders_with_no_console_error_and_fetches_nothing(page: BrowserPage):
    assert page.errors == []
    assert page.network_requests == []


def test_the_verdict_state_and_completeness_are_the_json_s(page: BrowserPage,
                                                           report: dict[str, Any]):
    main = page.evaluate("(() => { const m = document.querySelector('main#dmct-report');"
                         " return m && {...m.dataset}; })()")
    assert main == {"verdict": report["verdict"], "state": report["state"],
                    "complete": "true" if report["complete"] else "false"}


def test_every_section_is_there_visible_with_a_heading_verdict_first(page: BrowserPage):
    found = page.evaluate("""Array.from(document.querySelectorAll('#dmct-report section[id]'))
        .map(s => { const r = s.getBoundingClientRect(); const h = s.querySelector('h2');
                    return {id: s.id, width: r.width, height: r.height,
                            heading: h ? h.textContent.trim() : ''}; })""")
    by_id = {section["id"]: section for section in found}
    for name in SECTIONS:
        assert name in by_id, f"no section #{name}"
        assert by_id[name]["width"] > 0 and by_id[name]["height"] > 0, f"#{name} is not shown"
        assert by_id[name]["heading"], f"#{name} has no <h2>"
    assert next(s["id"] for s in found if s["id"] in SECTIONS) == "verdict"


def test_outcomes_per_pack_chart_draws_the_json_s_counts(page: BrowserPage,
                                                        report: dict[str, Any]):
    bars = _bars(page, "outcomes-per-pack")
    drawn = {(bar["pack"], bar["outcome"]): bar for bar in bars}
    assert len(drawn) == len(bars), "a pack and outcome drawn twice"
    for pack in report["packs"]:
        for outcome in OUTCOMES:
            bar = drawn.pop((pack["name"], outcome), None)
            if pack[outcome]:
                assert bar is not None, f"no bar for {pack['name']} {outcome}"
            if bar is not None:
                assert bar["count"] == str(pack[outcome]), (pack["name"], outcome)
    assert drawn == {}, f"bars for packs or outcomes the run does not have: {list(drawn)}"


def test_issues_by_severity_chart_draws_the_json_s_counts(page: BrowserPage,
                                                         report: dict[str, Any]):
    expected = Counter(str(issue["severity"]) for issue in report["testing_issues"])
    bars = _bars(page, "issues-by-severity")
    drawn = {bar["severity"]: int(bar["count"]) for bar in bars}
    assert len(drawn) == len(bars), "a severity drawn twice"
    assert {s: n for s, n in drawn.items() if n} == dict(expected)


def test_the_case_filter_hides_rows_that_do_not_match(filters_cleared: BrowserPage,
                                                      report: dict[str, Any]):
    page = filters_cleared
    issue = report["testing_issues"][0]["id"]
    failed = next(case for case in report["cases"] if case["outcome"] == "failed")
    # Needles matching through the id only, the reason only, the issue only, and an SRV (in
    # this run every case's SRVs are also in its id or reason, so SRV-only is not observable).
    assert failed["reason"] and failed["reason"].lower() not in failed["id"].lower()
    assert not any(issue.lower() in (case["id"] + (case.get("reason") or "")).lower()
                   for case in report["cases"])
    needles = ("test_srv_repeat_in_one_day", failed["id"], failed["reason"], issue,
               failed["srv"][0])
    for needle in needles:
        page.set_value("#case-filter", needle)
        expected = [case for case in report["cases"] if _matches(case, needle)]
        assert 0 < len(expected) < len(report["cases"]), needle
        rows = _rows(page)
        assert sum(row["shown"] for row in rows) == len(expected), needle
        assert _cases_shown(page) == len(expected), needle
        assert Counter(row["outcome"] for row in rows if row["shown"]) == Counter(
            case["outcome"] for case in expected), needle
    assert page.errors == []


def test_the_outcome_filter_shows_exactly_the_failed_cases(filters_cleared: BrowserPage,
                                                           report: dict[str, Any]):
    page = filters_cleared
    page.set_value("#outcome-filter", "failed")
    failed = [case for case in report["cases"] if case["outcome"] == "failed"]
    shown = [row for row in _rows(page) if row["shown"]]
    assert len(shown) == len(failed) == _cases_shown(page)
    assert {row["outcome"] for row in shown} == {"failed"}
    assert Counter(row["issue"] for row in shown) == Counter(
        case["testing_issue"] or "" for case in failed)
    assert page.errors == []


def test_the_pack_and_issue_filters_narrow_the_table(filters_cleared: BrowserPage,
                                                     report: dict[str, Any]):
    page = filters_cleared
    pack = report["packs"][0]
    page.set_value("#pack-filter", pack["name"])
    assert _cases_shown(page) == pack["cases"]
    assert {row["pack"] for row in _rows(page) if row["shown"]} == {pack["name"]}
    page.set_value("#pack-filter", "")
    issue = report["testing_issues"][0]
    page.set_value("#issue-filter", issue["id"])
    shown = [row for row in _rows(page) if row["shown"]]
    assert len(shown) == len(issue["cases"]) == _cases_shown(page)
    assert {row["issue"] for row in shown} == {issue["id"]}
    assert page.errors == []


def test_clearing_the_filters_shows_every_case_again(filters_cleared: BrowserPage,
                                                     report: dict[str, Any]):
    page = filters_cleared
    page.set_value("#outcome-filter", "failed")
    page.set_value("#case-filter", "srv")
    assert _cases_shown(page) < len(report["cases"])
    _clear_filters(page)
    rows = _rows(page)
    assert len(rows) == len(report["cases"]) == _cases_shown(page)
    assert all(row["shown"] for row in rows)


def test_the_screenshot_shows_the_whole_page(page: BrowserPage, artifacts: Path):
    width, height, colours = _png_summary((artifacts / "report.png").read_bytes())
    page_height = page.evaluate("document.documentElement.scrollHeight")
    assert width == page.evaluate("document.documentElement.clientWidth")
    assert height >= page_height > 900  # beyond the window: the whole table is in it
    assert colours > 1


# --- the PDF -----------------------------------------------------------------------------------

def test_the_pdf_turns_into_pages_that_are_not_blank(pdf_pages: list[Path]):
    assert pdf_pages, "pdftoppm made no page"
    # The footer's page number alone does not make a page: look above the bottom margin.
    footer = browser.MARGIN_INCHES / browser.A4_INCHES[1]
    for png in pdf_pages:
        width, height, colours = _png_summary(png.read_bytes(), ignore_bottom=footer)
        assert height > width > 0, f"{png.name} is not a portrait page"
        assert colours > 1, f"{png.name} is blank"


def test_the_pdf_shows_every_section_heading_in_order(pdf: Path, page: BrowserPage,
                                                      pdf_pages: list[Path]):
    headings = page.evaluate("""Array.from(document.querySelectorAll('#dmct-report section[id]'))
        .map(s => [s.id, s.querySelector('h2')?.textContent.trim() ?? ''])""")
    text = _words(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                                 capture_output=True, text=True, timeout=120).stdout)
    position = 0
    for section, heading in headings:
        found = text.find(_words(heading), position)
        assert found >= 0, f"#{section}'s heading {heading!r} is not in the PDF after " \
                            f"{text[max(0, position - 80):position]!r}"
        position = found + 1
    assert {section for section, _ in headings} >= set(SECTIONS)
    # The footer numbers the pages.
    assert f"page 1 of {len(pdf_pages)}" in text


# --- failures first, their timeline, links that survive a move ---------------------------------

def test_failures_come_first_each_with_its_reason_and_timeline(page: BrowserPage,
                                                                report: dict[str, Any]):
    order = page.evaluate("""Array.from(document.querySelectorAll('#dmct-report section[id]'))
        .map(s => s.id)""")
    assert order[:2] == ["verdict", "failures"]
    shown = page.evaluate("""Array.from(document.querySelectorAll('#failures article.failure'))
        .map(a => ({case: a.dataset.case, outcome: a.dataset.outcome,
                    reason: a.querySelector('.reason')?.textContent ?? '',
                    timeline: a.querySelectorAll('table.timeline tbody tr').length,
                    traceback: a.querySelector('details.traceback pre')?.textContent ?? '',
                    visible: a.getBoundingClientRect().height > 0}))""")
    bad = [c for c in report["cases"] if c["outcome"] in ("failed", "blocked")]
    assert [(a["case"], a["outcome"], a["reason"]) for a in shown] == [
        (c["id"], c["outcome"], c["reason"]) for c in bad]
    assert all(a["visible"] for a in shown)
    for article, case in zip(shown, bad, strict=True):
        assert article["timeline"] == len(case["timeline"])  # inline, as the JSON has it
        assert article["traceback"] == (case["traceback"] or "")
    failed = [a for a, c in zip(shown, bad, strict=True) if c["outcome"] == "failed"]
    assert failed and all(a["timeline"] > 0 for a in failed)  # frames and events on a bench
    assert all(a["traceback"].strip() for a in failed)  # pytest's traceback (or fail text)


def _hrefs(page: BrowserPage) -> list[str]:
    return page.evaluate("""Array.from(document.querySelectorAll('a[href]'))
        .map(a => a.getAttribute('href'))""")


def _relative(href: str) -> bool:
    return not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", href) and not href.startswith("/")


def test_every_link_of_the_html_and_the_pdf_is_relative(page: BrowserPage, pdf: Path,
                                                         run_dir: Path):
    from harness.report.pdf_links import pdf_uris

    hrefs = _hrefs(page)
    assert hrefs and all(_relative(h) for h in hrefs), [h for h in hrefs if not _relative(h)]
    uris = pdf_uris(pdf)
    assert uris, "the PDF links nothing"
    assert all(_relative(u) for u in uris), [u for u in uris if not _relative(u)][:5]
    for uri in uris:  # each names a file of the run directory
        assert (run_dir / unquote(uri.split("#")[0])).is_file(), uri


def test_a_moved_run_directory_still_opens_with_working_links(chrome: Chromium, run_dir: Path,
                                                              html_path: Path,
                                                              tmp_path: Path):
    moved = tmp_path / "mailed" / "report-copy"
    shutil.copytree(run_dir, moved)
    with chrome.page(moved / html_path.name) as opened:
        assert opened.errors == []
        resolved = opened.evaluate("""Array.from(document.querySelectorAll('a[href]'))
            .filter(a => !a.getAttribute('href').startsWith('#')).map(a => a.href)""")
        anchors = opened.evaluate("""Array.from(document.querySelectorAll('a[href^="#"]'))
            .map(a => document.getElementById(a.getAttribute('href').slice(1)) !== null)""")
    assert resolved and all(url.startswith(moved.as_uri() + "/") for url in resolved)
    for url in resolved:
        assert Path(unquote(urlsplit(url).path)).is_file(), url
    assert anchors and all(anchors)  # every in-page link (Testing Issues) has its target


def test_the_blank_check_can_fail():
    """The non-blank check above sees a blank page as blank."""
    assert _png_summary(_blank_png(40, 60))[2] == 1


# --- the browser itself ------------------------------------------------------------------------

def test_console_errors_exceptions_and_network_requests_are_caught(chrome: Chromium,
                                                                  tmp_path: Path):
    """The "no console error" check above can fail."""
    html = tmp_path / "broken.html"
    html.write_text(
        "<!doctype html><html><head><link rel=stylesheet href='https://example.invalid/x.css'>"
        "</head><body><p id=p>x</p><script>console.error('bad', 42); console.warn('meh');"
        " undefinedFunction();</script></body></html>", encoding="utf-8")
    with chrome.page(html) as broken:
        assert broken.evaluate("document.getElementById('p').textContent") == "x"
        errors = [(m.source, m.text) for m in broken.errors]
    assert ("console", "bad 42") in errors
    assert any(source == "exception" and "undefinedFunction" in text for source, text in errors)
    assert [m.text for m in broken.console if m.level == "warning"] == ["meh"]
    assert broken.network_requests == ["https://example.invalid/x.css"]


def test_a_missing_page_is_a_browser_error(chrome: Chromium, tmp_path: Path):
    with pytest.raises(browser.BrowserError, match="no such file"), \
            chrome.page(tmp_path / "missing.html"):
        pass


def test_evaluating_a_script_that_throws_raises(page: BrowserPage):
    with pytest.raises(browser.JavaScriptError, match="no element #no-such-thing"):
        page.click("#no-such-thing")


def test_no_chromium_is_browser_unavailable_and_keeps_an_existing_pdf(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("DMCT_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(BrowserUnavailable, match="DMCT_CHROMIUM") as raised:
        browser.find_chromium()
    assert "apt install chromium" in str(raised.value)
    assert isinstance(raised.value, RuntimeError)
    monkeypatch.delenv("DMCT_CHROMIUM")
    with pytest.raises(BrowserUnavailable, match="apt install chromium"):
        browser.find_chromium()
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    html.write_text("<p>report</p>", encoding="utf-8")
    pdf.write_bytes(b"%PDF an earlier print")
    with pytest.raises(BrowserUnavailable):
        print_pdf(html, pdf)
    assert pdf.read_bytes() == b"%PDF an earlier print"


def test_a_chromium_that_will_not_start_is_unavailable_and_leaves_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display :0' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("DMCT_CHROMIUM", str(fake))
    html = tmp_path / "r.html"
    html.write_text("<p>report</p>", encoding="utf-8")
    with pytest.raises(BrowserUnavailable, match=r"exited with code 3.*cannot open display"):
        print_pdf(html, tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    assert list(temp.iterdir()) == [], "the temporary profile was left behind"


def test_print_pdf_removes_its_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       chromium_path: str):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    html = tmp_path / "r.html"
    html.write_text("<h1>Report</h1>", encoding="utf-8")
    print_pdf(html, tmp_path / "out" / "r.pdf")
    assert (tmp_path / "out" / "r.pdf").read_bytes().startswith(b"%PDF")
    assert list(temp.iterdir()) == []


# --- helpers -----------------------------------------------------------------------------------

def render_html_report(run_dir: Path, report: dict[str, Any]) -> Path:
    """The run's HTML report, rendered afresh from its JSON by the harness's renderer, in the
    run directory (its evidence links are relative to it)."""
    path = run_dir / FORMATS["html"]
    path.write_text(render_html(report), encoding="utf-8")
    return path


def _bars(page: BrowserPage, chart: str) -> list[dict[str, Any]]:
    bars = page.evaluate(f"""Array.from(document.querySelectorAll(
        'svg.chart[data-chart="{chart}"] rect.bar')).map(b => {{
            const r = b.getBoundingClientRect();
            return {{...b.dataset, width: r.width, height: r.height}}; }})""")
    assert bars, f"the {chart} chart has no bars"
    for bar in bars:
        if int(bar["count"]):
            assert bar["width"] > 0 and bar["height"] > 0, f"{chart}: {bar} is not drawn"
    return bars


def _rows(page: BrowserPage) -> list[dict[str, Any]]:
    """Each case row: its data attributes, whether it is hidden, and whether it is displayed."""
    rows = page.evaluate("""Array.from(document.querySelectorAll('#cases-table tbody tr'))
        .map(r => ({...r.dataset, hidden: r.hasAttribute('hidden'),
                    shown: r.getClientRects().length > 0}))""")
    for row in rows:
        assert row["shown"] != row["hidden"], f"a row's hidden attribute and display differ: {row}"
    return rows


def _cases_shown(page: BrowserPage) -> int:
    return int(page.evaluate("document.getElementById('cases-shown').textContent.trim()"))


def _clear_filters(page: BrowserPage) -> None:
    for selector in ("#case-filter", "#outcome-filter", "#pack-filter", "#issue-filter"):
        page.set_value(selector, "")


def _matches(case: dict[str, Any], needle: str) -> bool:
    """The case filter's rule: the text is in the case's id, an SRV, its reason or its issue."""
    fields = [case["id"], *case["srv"], case.get("reason") or "", case["testing_issue"] or ""]
    return any(needle.lower() in field.lower() for field in fields)


def _words(text: str) -> str:
    return " ".join(text.split()).lower()


def _png_summary(data: bytes, *, ignore_bottom: float = 0.0) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours (1, or 2 for "more than one") of an
    8-bit PNG, leaving out the ``ignore_bottom`` fraction of its rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0, "only 8-bit, non-interlaced PNGs are read here"
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    first: bytes | None = None
    colours = 1
    for row in range(int(height * (1 - ignore_bottom))):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous,
                         channels)
        first = first if first is not None else bytes(line[:channels])
        if line != first * width:
            colours = 2
            break  # enough to know: decoding all of a long screenshot in Python is slow
        previous = line
    return width, height, colours


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> bytearray:
    """Undo one PNG row filter (None, Sub, Up, Average, Paeth)."""
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        corner = previous[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + predictor) & 0xFF
    return line


def _blank_png(width: int, height: int) -> bytes:
    """A white RGB PNG, each row Up-filtered as an encoder might."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    rows = b"\x00" + b"\xff" * width * 3 + (b"\x02" + b"\x00" * width * 3) * (height - 1)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

