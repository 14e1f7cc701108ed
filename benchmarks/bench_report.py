"""Report rendering benchmark: the DMCT Testing Report of 50 DMCs, every status, as JSON, HTML
and Markdown.

Run: ``python benchmarks/bench_report.py [--from dmct-report.json] [--dmcs 50]``. The reports
are varied from a real one: by default a run of ITRON-DMC-001 (dormant; smoke, dormant, active,
mixed and srv packs: failures, known Testing Issues, ~145 cases) on the emulated bench. Each of
the 50 DMCs gets a report per installation status (150 reports) with its own id, EPCL entry,
failures (reasons with markup to escape), Testing Issues and counts, consistent with its cases.

Prints the wall time of writing every report in the three formats (``render.write_formats``,
files included) against the target (under 10 s on 2 cores, one process), the time per report,
and the ratio against a baseline measured in the same run: ``json.dumps`` of the same dicts
(what writing ``dmct-report.json`` alone costs). PDF is excluded: it is one headless Chromium
print per report, bounded by the browser, not by the harness's rendering.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.cli import main as dmct
from harness.report.records import OUTCOMES
from harness.report.render import write_formats
from harness.report.render_html import render_html
from harness.report.render_markdown import render_markdown

TARGET_S = 10.0
STATUSES = ("dormant", "active", "mixed")
PACKS = ("smoke", "dormant", "active", "mixed", "srv")
#: Testing Issues a varied DMC may have: (id, severity, known).
ISSUE_POOL = (("91333", 2, True), ("61224", 2, True), ("RISK-11", 3, True),
              ("110031", 3, True), ("91342", 1, True), ("NEW-001", 2, False))


def real_report(tmp: Path) -> dict[str, Any]:
    """The dmct-report.json of a real emulated run (ITRON-DMC-001, dormant)."""
    command = ["run", "--dmc", "ITRON-DMC-001", "--status", "dormant", "--out", str(tmp)]
    for pack in PACKS:
        command += ["--pack", pack]
    with contextlib.redirect_stdout(io.StringIO()):
        dmct(command)
    return json.loads((tmp / "ITRON-DMC-001" / "dormant" / "dmct-report.json").read_text())


def vary(base: dict[str, Any], index: int, status: str) -> dict[str, Any]:
    """A report of DMC ``index`` for ``status``: the base's cases with other failures."""
    rng = random.Random(f"{index}/{status}")
    report = copy.deepcopy(base)
    dmc_id = f"BENCH-DMC-{index:03d}"
    report["dmc"].update(id=dmc_id, name=f"Bench DMC {index} <{status}> & co",
                         epcl_entry=f"PH-BENCH-{index:03d}-{status[0].upper()}")
    report["installation_status"] = status
    issues: dict[str, dict[str, Any]] = {}
    for case in report["cases"]:
        if case["outcome"] == "passed" and rng.random() < 0.06:
            issue_id, severity, is_known = rng.choice(ISSUE_POOL)
            case.update(outcome="failed", testing_issue=issue_id,
                        reason=f"expected <I0> & got 'E{rng.randint(100, 999)}' | retry "
                               f"{rng.randint(1, 5)} of \"5\"")
            issue = issues.setdefault(issue_id, {
                "id": issue_id, "title": f"title of {issue_id} <from the registry>",
                "severity": severity, "known": is_known, "counted": True,
                "status": "open" if is_known else "awaiting_triage", "cases": [],
                "source": "bench variation"})
            issue["cases"].append(case["id"])
        elif case["outcome"] == "passed" and rng.random() < 0.01:
            case.update(outcome="blocked", reason="blocked: console <timeout>")
    packs: dict[str, Counter[str]] = {}
    for case in report["cases"]:
        packs.setdefault(case["pack"] or "-", Counter())[case["outcome"]] += 1
    report["packs"] = [{"name": name, **{o: counts.get(o, 0) for o in OUTCOMES},
                        "cases": sum(counts.values())} for name, counts in sorted(packs.items())]
    report["testing_issues"] = [*base["testing_issues"], *issues.values()]
    counts = Counter(i["severity"] for i in report["testing_issues"] if i["counted"])
    limits = report["threshold"]["limits"]
    report["threshold"]["counts"] = {k: counts.get(int(k), 0) for k in limits}
    report["threshold"]["met"] = all(counts.get(int(k), 0) <= v for k, v in limits.items())
    reasons = [] if report["threshold"]["met"] else [
        "Testing Issues exceed the Testing Issue Threshold"]
    if any(c["outcome"] == "blocked" for c in report["cases"]):
        reasons.append("case(s) blocked: testing did not complete")
    report["verdict_reasons"] = reasons
    report["verdict"] = "fails_exit_criteria" if reasons else "meets_exit_criteria"
    return report


def timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", metavar="FILE",
                        help="a dmct-report.json to vary (default: make one with a run)")
    parser.add_argument("--dmcs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = (json.loads(Path(args.source).read_text()) if args.source
                else real_report(root / "run"))
        reports = [vary(base, i, s) for i in range(args.dmcs) for s in STATUSES]
        directories = [root / "out" / r["dmc"]["id"] / r["installation_status"]
                       for r in reports]
        for directory in directories:
            directory.mkdir(parents=True)
        baseline = timed(lambda: [json.dumps(r, indent=2) for r in reports])
        html_s = timed(lambda: [render_html(r) for r in reports])
        md_s = timed(lambda: [render_markdown(r) for r in reports])
        wall = timed(lambda: [write_formats(d, r, ("json", "html", "md"))
                              for d, r in zip(directories, reports, strict=True)])
        size = sum(p.stat().st_size for p in (root / "out").rglob("dmct-report.*"))
    n = len(reports)
    cases = sum(len(r["cases"]) for r in reports) / n
    failed = sum(p["failed"] for r in reports for p in r["packs"]) / n
    print(f"reports of {args.dmcs} DMCs x {len(STATUSES)} statuses ({n} reports, {cases:.0f} "
          f"cases and {failed:.1f} failures each on average): json+html+md written in "
          f"{wall:.2f} s of wall time, one process (target < {TARGET_S:.0f} s: "
          f"{'met' if wall < TARGET_S else 'NOT met'}); PDF excluded (one Chromium print each)")
    print(f"  per report: {1000 * wall / n:.1f} ms (html {1000 * html_s / n:.1f} ms, "
          f"md {1000 * md_s / n:.1f} ms); {size / n / 1024:.0f} KiB of files")
    print(f"  baseline json.dumps of the same dicts: {baseline:.2f} s; "
          f"rendering/baseline {wall / baseline:.1f}x")


if __name__ == "__main__":
    main()
