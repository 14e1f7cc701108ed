"""What ``dmct run`` prints: the live table of one DMC/status, its totals line and the run's
closing lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_FAILED, EXIT_OK, OUTCOME_ORDER

#: Longest reason printed in the summary table; records.jsonl keeps the whole text.
REASON_WIDTH = 160


@dataclass
class RunResult:
    """One DMC / installation status run of the packs."""

    dmc: str
    status: str
    out: Path
    records: list[Any] = field(default_factory=list)
    #: ``dmct-report.json`` of the run (``None`` if the run wrote none).
    report: dict[str, Any] | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.records if r.outcome == outcome)

    @property
    def verdict(self) -> str:
        return str(self.report["verdict"]) if self.report else "no report"

    @property
    def ok(self) -> bool:
        """The DMC meets its exit criteria for this installation status."""
        return self.verdict == "meets_exit_criteria"


class Table:
    """The live summary table of one run: a header, then one line per test as it finishes."""

    HEADERS = ("DMC/STATUS", "TEST", "SRV", "OUTCOME", "REASON")

    def __init__(self, dmc: str, status: str) -> None:
        self.label = f"{dmc}/{status}"
        self.widths = [max(len(self.label), len("DMC/STATUS")), 60, 5, len("NOT_APPLICABLE")]
        self.printed: set[str] = set()
        self.header_printed = False

    def plan(self, tests: Sequence[dict[str, Any]]) -> None:
        if tests:
            self.widths[1] = max(len(short_id(t["id"])) for t in tests)
            self.widths[2] = max(5, *(len(",".join(t.get("srv", [])) or "-") for t in tests))
        self.header()

    def header(self) -> None:
        if not self.header_printed:
            self.header_printed = True
            print(self._line(*self.HEADERS).rstrip(), flush=True)

    def row(self, record: Any) -> None:
        self.header()
        self.printed.add(record.id)
        reason = (record.reason or "") if record.outcome != "passed" else ""
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 3] + "..."
        print(self._line(self.label, short_id(record.id), ",".join(record.srv) or "-",
                         record.outcome.upper(), reason).rstrip(), flush=True)

    def _line(self, *cells: str) -> str:
        fixed = [f"{cell:<{width}}" for cell, width in zip(cells, self.widths, strict=False)]
        return "  ".join([*fixed, *cells[len(self.widths):]])


def short_id(nodeid: str) -> str:
    """A node id without the ``testpacks/`` prefix: ``smoke/test_smoke.py::test_x[ESME]``."""
    return nodeid.removeprefix("testpacks/")


def totals_line(result: RunResult) -> str:
    counts = ", ".join(f"{result.count(o)} {o.replace('_', ' ')}" for o in OUTCOME_ORDER)
    n = len(result.records)
    issues = ""
    if result.report and result.report.get("testing_issues"):
        issues = "; testing issues: " + ", ".join(
            f"{i['id']} (severity {i['severity']}{'' if i['known'] else ', new'})"
            for i in result.report["testing_issues"])
    return (f"{result.dmc} / {result.status}: {n} test{'' if n == 1 else 's'}: {counts}; "
            f"{result.verdict.replace('_', ' ')}{issues}; "
            f"report: {result.out / 'dmct-report.json'}")



def print_totals(results: Sequence[RunResult]) -> int:
    if not results:
        print("FAILED: nothing ran (no DMC has an EPCL entry for the statuses asked for)")
        return EXIT_FAILED
    if len(results) > 1:
        print("\n== totals")
        for result in results:
            print(totals_line(result))
    bad = [f"{r.dmc}/{r.status}" for r in results if not r.ok]
    if bad:
        print(f"FAILED: exit criteria not met in {', '.join(bad)}")
        return EXIT_FAILED
    print(f"OK: every DMC meets its exit criteria ({len(results)} run(s))")
    return EXIT_OK


