"""Allure results of a real emulated run tell the report's story (``harness.report.allure``).

One small ``dmct run`` shared by the module: Itron's DMC, active installations, the srv pack's
SR 6.7 cases, where the seeded once-a-day limit fails ``test_srv_repeat_in_one_day[6.7-GSME]``
with Testing Issue 91333 (severity 2). Its ``allure-results`` are read as Allure reads them:
the ``*-result.json`` files and the attachment files they name. ``allure serve`` itself needs
Java and the Allure CLI, which CI does not have: the results format is what is tested, and the
last test generates the Allure report from them where an ``allure`` CLI is on ``PATH``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from runkit import WHOLE_RUNS, dmct_environment
from tools import require_tool

from harness.report.allure import (
    CASE_LABEL,
    NO_ISSUE_SEVERITY,
    PCAP_MIME,
    SEVERITY_BY_ISSUE,
    annotate_results,
    report_anchor,
)
from harness.report.issues import load_registry

pytestmark = WHOLE_RUNS

DMC = "ITRON-DMC-001"
STATUS = "active"
FAILING = "srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]"
PASSING = "srv/test_srv.py::test_supported_srv_executes[6.7-GSME]"
ISSUE = "91333"


class Run:
    """The run's directory, report and Allure results (by case id)."""

    def __init__(self, directory: Path, exit_code: int) -> None:
        self.directory = directory
        self.exit_code = exit_code
        self.results_dir = directory / "allure-results"
        self.report: dict[str, Any] = json.loads((directory / "dmct-report.json").read_text())
        self.results: dict[str, list[dict[str, Any]]] = {}
        for path in self.results_dir.glob("*-result.json"):
            result = json.loads(path.read_text())
            self.results.setdefault(label(result, CASE_LABEL) or "", []).append(result)

    def result(self, case: str) -> dict[str, Any]:
        [result] = self.results[case]
        return result


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [lb["value"] for lb in result.get("labels", []) if lb["name"] == name]


def label(result: dict[str, Any], name: str) -> str | None:
    values = labels(result, name)
    assert len(values) <= 1, f"{name} labels: {values}"
    return values[0] if values else None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("allure-run")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--dmc", DMC, "--status", STATUS,
         "--pack", "srv", "--out", str(out), "--evidence", "all", "--", "-k", "6.7"],
        cwd=out, env=dmct_environment(), capture_output=True, text=True, timeout=300, check=False)
    assert (out / DMC / STATUS / "allure-results").is_dir(), done.stdout + done.stderr
    return Run(out / DMC / STATUS, done.returncode)


def test_every_case_of_the_report_has_one_result_with_its_labels(run: Run) -> None:
    assert run.exit_code == 1  # 91333 fails the exit criteria
    cases = run.report["cases"]
    assert {c["outcome"] for c in cases} >= {"passed", "failed", "not_applicable"}
    assert set(run.results) == {c["id"] for c in cases}
    for case in cases:
        result = run.result(case["id"])
        assert label(result, "epic") == DMC
        assert label(result, "feature") == case["pack"] == "srv"
        assert labels(result, "story") == case["srv"] == ["6.7"]
        assert label(result, "parentSuite") == f"{DMC} / {STATUS}"
        assert label(result, "suite") == "srv"
        assert label(result, "subSuite") == "test_srv"
        assert STATUS in labels(result, "tag")
        assert label(result, "severity") is not None


def test_a_failed_case_has_the_severity_and_link_of_its_testing_issue(run: Run) -> None:
    [case] = [c for c in run.report["cases"] if c["outcome"] == "failed"]
    assert (case["id"], case["testing_issue"]) == (FAILING, ISSUE)
    known = {i.id: i for i in load_registry()}[ISSUE]
    result = run.result(FAILING)
    assert result["status"] == "failed"
    assert label(result, "severity") == SEVERITY_BY_ISSUE[known.severity] == "critical"
    assert result["links"] == [{"name": ISSUE, "url": f"../dmct-report.html#issue-{ISSUE}",
                                "type": "issue"}]


def test_the_issue_link_points_at_the_issue_row_of_the_html_report(run: Run) -> None:
    from harness.report.render_html import render_html

    html = render_html(run.report)
    for issue in run.report["testing_issues"]:
        fragment = report_anchor(issue["id"]).split("#", 1)[1]
        assert f'id="{fragment}"' in html
    assert report_anchor("91339/91340") == "../dmct-report.html#issue-91339_91340"


def test_cases_without_an_issue_are_normal_and_link_nothing(run: Run) -> None:
    for case in run.report["cases"]:
        if case["testing_issue"] is None:
            result = run.result(case["id"])
            assert label(result, "severity") == NO_ISSUE_SEVERITY
            assert not [lk for lk in result.get("links", []) if lk["type"] == "issue"]


STEP = re.compile(r"^SR 6\.7 Update Device Configuration \(Gas Flow\) to GSME as gas-supplier "
                  r"\(GS\) → (?P<code>\w+)$")


def attachment(run: Run, attached: dict[str, Any]) -> bytes:
    path = run.results_dir / attached["source"]
    assert path.is_file(), attached
    return path.read_bytes()


def test_each_service_request_is_a_step_pointing_into_the_cases_one_sr_bundle(run: Run) -> None:
    [case] = [c for c in run.report["cases"] if c["id"] == FAILING]
    kept = json.loads((run.directory / case["evidence"]["dcc"]).read_text())
    by_seq = {item["seq"]: item for item in kept}
    steps = [s for s in run.result(FAILING).get("steps", []) if STEP.match(s["name"])]
    # Accepted once, refused the second time the same bench day (91333).
    assert [STEP.match(s["name"])["code"] for s in steps] == ["I0", "E060701"]
    for step in steps:
        # No attachment per SR: the case's dcc.json (attached once, linked) holds them all,
        # and the step names its items there.
        assert not step.get("attachments")
        parameters = {p["name"]: p["value"] for p in step["parameters"]}
        first, last = map(int, parameters["dcc.json"].removeprefix("seq ").split(".."))
        items = [by_seq[seq] for seq in range(first, last + 1)]
        request = next(i for i in items if i["kind"] == "request")
        response = next(i for i in items if i["kind"] == "response")
        # The tunnel's envelopes to and from the GSME, as dcc.json has them.
        assert {i["kind"] for i in items} >= {"envelope_out", "envelope_in"}
        assert request["srv"] == "6.7" and request["role"] == "GS"
        assert response["code"] == STEP.match(step["name"])["code"]
        assert response["request_id"] == request["request_id"] == parameters["RequestID"]
    attached = [a["name"] for a in run.result(FAILING)["attachments"]]
    assert sum(name.endswith("(dcc.json)") for name in attached) == 1
    passing = [STEP.match(s["name"]) for s in run.result(PASSING)["steps"]]
    assert [m["code"] for m in passing if m] == ["I0"]


def test_the_evidence_files_are_attached_with_their_mime_types(run: Run) -> None:
    expected = {"frames": "application/json", "pcap": PCAP_MIME, "events": "application/json",
                "dcc": "application/json"}
    for case in run.report["cases"]:
        if case["outcome"] == "not_applicable":
            continue
        evidence = case["evidence"]
        attached = {a["name"]: a for a in run.result(case["id"]).get("attachments", [])}
        for kind, mime in expected.items():
            name = Path(evidence[kind]).name
            [item] = [a for n, a in attached.items() if n.endswith(f"({name})")]
            assert item["type"] == mime
            assert item["source"].endswith(".pcap" if kind == "pcap" else ".json")
            assert attachment(run, item) == (run.directory / evidence[kind]).read_bytes()


def test_annotating_again_is_idempotent_and_follows_a_new_attribution(run: Run,
                                                                      tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    shutil.copytree(run.results_dir, results)
    assert annotate_results(results, run.report) == 0  # as a resumed run's sessionfinish would

    report = json.loads(json.dumps(run.report))
    url = "https://issues.example.org/K-9"
    report["testing_issues"] = [{"id": "K-9", "title": "a known issue", "severity": 4,
                                 "url": url, "cases": [FAILING]}]
    for case in report["cases"]:
        case["testing_issue"] = "K-9" if case["id"] == FAILING else None
    assert annotate_results(results, report) == 1
    assert annotate_results(results, report) == 0
    [path] = [p for p in results.glob("*-result.json")
              if label(json.loads(p.read_text()), CASE_LABEL) == FAILING]
    result = json.loads(path.read_text())
    assert label(result, "severity") == "minor"
    assert [lk for lk in result["links"] if lk["type"] == "issue"] == [
        {"name": "K-9", "url": url, "type": "issue"}]


def test_environment_executor_and_categories_describe_the_run(run: Run) -> None:
    results = run.results_dir
    lines = (results / "environment.properties").read_text(encoding="ascii").splitlines()
    environment = dict(line.split("=", 1) for line in lines)
    dmc = run.report["dmc"]
    assert environment["DMC"] == f"{dmc['id']} ({dmc['name']})"
    assert environment["Installation\\ status"] == STATUS
    assert environment["EPCL\\ entry"] == dmc["epcl_entry"]
    assert environment["Harness"].startswith("smets1-dmct ")
    assert environment["sha256\\ lab\\ config"] == (
        run.report["provenance"]["hashes"]["lab_config"].removeprefix("sha256:")[:16])
    assert {f"Device\\ {d['role']}" for d in dmc["devices"]} <= set(environment)
    executor = json.loads((results / "executor.json").read_text())
    assert executor["reportUrl"] == "../dmct-report.html" and executor["name"] == "dmct"
    categories = json.loads((results / "categories.json").read_text())
    assert categories[0]["matchedStatuses"] == ["failed"]
    assert {"skipped", "broken"} <= {s for c in categories for s in c["matchedStatuses"]}
    # the issue links resolve from <run>/allure-report/ to the report's row of that issue
    html = (run.directory / "dmct-report.html").read_text()
    for result in run.results.get(FAILING, []):
        for link in result.get("links", []):
            target = run.directory / "allure-report" / link["url"].split("#")[0]
            assert target.resolve() == (run.directory / "dmct-report.html").resolve()
            assert f'id="{link["url"].split("#")[1]}"' in html


STATUS_IN_ALLURE = {"passed": "passed", "failed": "failed", "not_applicable": "skipped"}


def test_the_allure_cli_reads_every_case_its_severity_steps_and_evidence(run: Run,
                                                                         tmp_path: Path) -> None:
    # The Allure CLI (npm allure-commandline, on the Java runtime): .ci/run installs it.
    allure_cli = require_tool("allure")
    generated = tmp_path / "allure-report"
    subprocess.run([allure_cli, "generate", str(run.results_dir), "-o", str(generated)],
                   check=True, capture_output=True, timeout=120)
    shown = {}
    for path in (generated / "data" / "test-cases").glob("*.json"):
        case = json.loads(path.read_text())
        shown[next(lb["value"] for lb in case["labels"] if lb["name"] == CASE_LABEL)] = case
    assert set(shown) == {c["id"] for c in run.report["cases"]}
    for case in run.report["cases"]:
        seen = shown[case["id"]]
        assert seen["status"] == STATUS_IN_ALLURE[case["outcome"]]
        assert not seen["beforeStages"] and not seen["afterStages"]  # no fixture entries
        issue = case["testing_issue"]
        assert seen["extra"]["severity"] == ("critical" if issue else NO_ISSUE_SEVERITY)
        assert [lk["name"] for lk in seen["links"] if lk["type"] == "issue"] == (
            [issue] if issue else [])
    failing = shown[FAILING]["testStage"]
    assert [m["code"] for m in map(STEP.match, (s["name"] for s in failing["steps"])) if m] == [
        "I0", "E060701"]
    attached = {a["name"]: a for a in failing["attachments"]}
    dcc = next(a for name, a in attached.items() if name.endswith("(dcc.json)"))
    [evidence] = [c["evidence"]["dcc"] for c in run.report["cases"] if c["id"] == FAILING]
    assert (generated / "data" / "attachments" / dcc["source"]).read_bytes() == (
        run.directory / evidence).read_bytes()
