"""What ``dmct`` prints: the live view of one DMC/status run, its totals line, the run's closing
list of failures and verdict, and the message of an interrupted run.

On a terminal (rich decides: a TTY, not ``TERM=dumb``; ``NO_COLOR`` turns colour off) the view is
a live progress line (done/total, failed so far, ETA) with one row per case that did not pass,
each row cut to the terminal's width so none wraps. Anywhere else (a pipe, a CI log), and
whenever entries or their parts run in parallel (their lines share one stdout), it is plain
whole lines: one per case that did not pass, in full (``DMC/status  OUTCOME  test  SRVs
reason``), and a progress line every tenth of the run (of the cases its parts have planned so
far, for an entry cut into parts).
``-v`` shows the passed cases too.
"""

from __future__ import annotations

import os
import shlex
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from harness.cli.common import EXIT_FAILED, EXIT_OK, OUTCOME_ORDER

#: Outcome words as printed, and their colour on a terminal.
STYLES = {"passed": "green", "failed": "bold red", "blocked": "yellow",
          "not_applicable": "dim"}
#: Width of the outcome column (``NOT_APPLICABLE``).
OUTCOME_WIDTH = 14
#: The narrowest reason column worth printing on a terminal; narrower, the reason is left to
#: the closing list of failures and the report.
MIN_REASON_WIDTH = 12
#: Plain output prints a progress line every this share of the run (and only for runs this big).
PLAIN_PROGRESS_STEP = 0.1
PLAIN_PROGRESS_MIN_CASES = 20
#: A terminal this wide (or wider) shows the SRV column.
WIDE_TERMINAL = 120
#: Width of tables (``dmct list``) printed to a pipe or file.
PLAIN_WIDTH = 200


def console() -> Console:
    """A console on the current ``sys.stdout`` (pytest's capsys replaces it): markup and
    highlighting off (test ids hold brackets); off a terminal, lines are never wrapped."""
    out = Console(file=sys.stdout, markup=False, highlight=False, emoji=False)
    if not out.is_terminal:
        out.soft_wrap = True
        if "COLUMNS" not in os.environ:  # a pipe has no width: tables as wide as they need
            out.width = PLAIN_WIDTH
    return out


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


def short_id(nodeid: str) -> str:
    """A node id without the ``testpacks/`` prefix: ``smoke/test_smoke.py::test_x[ESME]``."""
    return nodeid.removeprefix("testpacks/")


def fit_id(test_id: str, width: int) -> str:
    """``test_id`` in at most ``width`` characters: without its directory, then without its
    file, then cut, always keeping its parameters (``[8.11-CHF]``), which tell the cases of one
    test apart."""
    forms = [test_id]
    if "::" in test_id:
        path, name = test_id.split("::", 1)
        forms += [f"{path.rsplit('/', 1)[-1]}::{name}", name]
    for form in forms:
        if len(form) <= width:
            return form
    form = forms[-1]
    tail = form[form.rfind("["):] if form.endswith("]") and "[" in form else ""
    if len(tail) > width // 2:
        tail = ""
    return form[: max(width - len(tail) - 1, 0)] + "…" + tail


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def outcome_text(outcome: str) -> Text:
    return Text(outcome.upper(), style=STYLES.get(outcome, ""))


class Table:
    """The live view of one DMC/status run: feed it the plan, then each record as it finishes.

    Used as a context manager around the run: the live progress line ends with it.
    """

    HEADERS = ("OUTCOME", "TEST", "SRV", "REASON")

    def __init__(self, dmc: str, status: str, *, verbose: int = 0,
                 out: Console | None = None, live: bool | None = None) -> None:
        self.label = f"{dmc}/{status}"
        self.verbose = verbose
        self.console = out or console()
        # Entries run in parallel share the terminal through a line-atomic stdout
        # (harness.cli.entries.LineAtomic): none owns it, so plain whole lines, no live line.
        shared = bool(getattr(sys.stdout, "line_atomic", False))
        self.live = self.console.is_terminal and not shared if live is None else live
        self.printed: set[str] = set()
        self.total = 0
        self.failed = 0
        self.srv_width = 0
        self.header_printed = False
        self.progress: Progress | None = None
        self.task: Any = None
        self.started = time.monotonic()  # wall time: the ETA is for the engineer's day
        self.next_plain_progress = 0
        self.planned = False
        self._lock = threading.RLock()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def plan(self, tests: Sequence[dict[str, Any]]) -> None:
        """The run's cases, known once pytest has collected them (``printed``: cases a resumed
        run keeps, counted as done). The parts of a split entry each add theirs."""
        with self._lock:
            self._plan(tests)

    def _plan(self, tests: Sequence[dict[str, Any]]) -> None:
        done = len(self.printed)
        srv_width = max((len(",".join(t.get("srv", []))) for t in tests), default=0)
        if self.planned:  # another part of the entry
            self.total += len(tests)
            self.srv_width = max(self.srv_width, srv_width)
            self.next_plain_progress = done + max(int(self.total * PLAIN_PROGRESS_STEP), 1)
            if self.progress is not None:
                self.progress.update(self.task, total=self.total)
            return
        self.planned = True
        self.total = len(tests) + done
        self.srv_width = srv_width
        self.started = time.monotonic()
        step = max(int(self.total * PLAIN_PROGRESS_STEP), 1)
        self.next_plain_progress = done + step
        if self.live and self.total:
            self.progress = Progress(
                TextColumn(self.label, style="bold"), BarColumn(bar_width=None),
                MofNCompleteColumn(), TextColumn("{task.fields[failed]}"),
                TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=True)
            self.task = self.progress.add_task(self.label, total=self.total, completed=done,
                                               failed="0 failed")
            self.progress.start()

    def echo(self, line: str) -> None:
        """A line of pytest's own output (shown with ``-vv``)."""
        if self.verbose > 1:
            self.console.print(Text(line), soft_wrap=True)

    def row(self, record: Any) -> None:
        with self._lock:  # the parts of a split entry print from threads of their own
            self._add_row(record)

    def _add_row(self, record: Any) -> None:
        self.printed.add(record.id)
        if record.outcome in ("failed", "blocked"):
            self.failed += 1
        if record.outcome != "passed" or self.verbose:
            self._header()
            self.console.print(self._row(record), soft_wrap=not self.live)
        self._advance()

    def _advance(self) -> None:
        done = len(self.printed)
        if self.progress is not None:
            self.progress.update(self.task, completed=done, failed=f"{self.failed} failed")
        elif (not self.live and self.total >= PLAIN_PROGRESS_MIN_CASES
              and self.next_plain_progress <= done < self.total):
            self.next_plain_progress = done + max(int(self.total * PLAIN_PROGRESS_STEP), 1)
            self.console.print(self.progress_words(done))

    def progress_words(self, done: int) -> str:
        elapsed = time.monotonic() - self.started
        rate = elapsed / done if done else 0.0
        left = round(rate * (self.total - done))
        eta = f"{left // 60}:{left % 60:02d}" if done else "-"
        return (f"progress {self.label}: {done}/{self.total} done, {self.failed} failed, "
                f"ETA {eta}")

    def _widths(self) -> tuple[int, int, int]:
        """(test, srv, reason) widths of a terminal row; a plain row is never cut."""
        width = self.console.width - 1  # a full-width line wraps on some terminals
        # A case's parameters name its SRV already: the column only where there is room.
        srv = min(self.srv_width, 12) if width >= WIDE_TERMINAL else 0
        rest = width - OUTCOME_WIDTH - 1 - (srv + 1 if srv else 0)
        test = max(min(rest, 28), int(rest * 0.5))
        reason = rest - test - 1
        if reason < MIN_REASON_WIDTH:
            test, reason = rest, 0
        return test, srv, reason

    def _header(self) -> None:
        if self.header_printed:
            return
        self.header_printed = True
        if self.live:
            test, srv, reason = self._widths()
            cells = [("OUTCOME", OUTCOME_WIDTH), ("TEST", test)]
            cells += [("SRV", srv)] if srv else []
            cells += [("REASON", reason)] if reason else []
            line = " ".join(f"{name:<{w}}" for name, w in cells).rstrip()
            self.console.print(Text(line, style="dim"))
        else:
            self.console.print("  ".join(("DMC/STATUS", *self.HEADERS)))

    def _row(self, record: Any) -> Text:
        test_id = short_id(record.id)
        srv = ",".join(record.srv) or "-"
        reason = (record.reason or "") if record.outcome != "passed" else ""
        if not self.live:  # the DMC/status first: a CI log's lines can be grepped by it
            if self.console.is_terminal:  # a terminal shared by parallel entries: fitted
                return self._fitted_plain_row(record.outcome, test_id, reason)
            cells = [self.label, record.outcome.upper(), test_id, srv] + (
                [reason] if reason else [])
            return Text("  ".join(cells), style=STYLES.get(record.outcome, ""))
        test_w, srv_w, reason_w = self._widths()
        line = outcome_text(record.outcome)
        line.pad_right(OUTCOME_WIDTH - len(line))
        line.append(" " + f"{fit_id(test_id, test_w):<{test_w}}")
        if srv_w:
            line.append(" " + f"{fit_id(srv if srv != '-' else '', srv_w):<{srv_w}}",
                        style="cyan")
        if reason_w and reason:
            for said in ("not applicable: ", "blocked: "):  # the outcome says it already
                reason = reason.removeprefix(said)
            line.append(" " + cut(" ".join(reason.split()), reason_w),
                        style=STYLES.get(record.outcome, ""))
        line.rstrip()
        return line


    def _fitted_plain_row(self, outcome: str, test_id: str, reason: str) -> Text:
        """A whole line no wider than the terminal: DMC/status, outcome, test, reason."""
        width = self.console.width - 1
        head = f"{self.label}  {outcome.upper()}  "
        room = max(width - len(head), 20)
        test = fit_id(test_id, room if not reason else max(min(room, len(test_id)),
                                                           room - MIN_REASON_WIDTH - 2))
        line = head + test
        if reason and width - len(line) - 2 >= MIN_REASON_WIDTH:
            for said in ("not applicable: ", "blocked: "):  # the outcome says it already
                reason = reason.removeprefix(said)
            line += "  " + cut(" ".join(reason.split()), width - len(line) - 2)
        return Text(cut(line, width), style=STYLES.get(outcome, ""))


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


def say(text: str, *, flush: bool = True) -> None:
    """A message: word-wrapped on a terminal, as it is elsewhere (``flush``: print()'s
    keyword, for a drop-in; a console always flushes)."""
    console().print(Text(text))


def print_failures(results: Sequence[RunResult]) -> None:
    """The closing list: every failed or blocked case of the run with its reason, the reason
    wrapped under the case on a terminal rather than cut."""
    bad = [(r, rec) for r in results for rec in r.records
           if rec.outcome in ("failed", "blocked")]
    if not bad:
        return
    out = console()
    out.print(Text(f"\n== failed and blocked cases ({len(bad)})", style="bold"))
    for result, record in bad:
        head = outcome_text(record.outcome)
        head.append(f"  {result.dmc}/{result.status}  ")
        head.append(fit_id(short_id(record.id), max(out.width - 1 - len(head), 20))
                    if out.is_terminal else short_id(record.id))
        out.print(head)
        reason = " ".join((record.reason or "no reason recorded").split())
        # under the case, indented; on a terminal wrapped short of its last column
        lines = textwrap.wrap(reason, out.width - 5) if out.is_terminal else [reason]
        for line in lines:
            out.print(Text("    " + line))


def print_totals(results: Sequence[RunResult]) -> int:
    """The closing lines of ``dmct run``: the totals, the list of failures, the verdict; the
    exit code."""
    if not results:
        print("FAILED: nothing ran (no DMC has an EPCL entry for the statuses asked for)")
        return EXIT_FAILED
    if len(results) > 1:
        say("\n== totals")
        for result in results:
            say(totals_line(result))
    print_failures(results)
    bad = [f"{r.dmc}/{r.status}" for r in results if not r.ok]
    out = console()
    if bad:
        out.print(Text(f"FAILED: exit criteria not met in {', '.join(bad)}", style="bold red"))
        return EXIT_FAILED
    out.print(Text(f"OK: every DMC meets its exit criteria ({len(results)} run(s))",
                   style="bold green"))
    return EXIT_OK


def interrupted_message(out_root: Path | None, signal_name: str | None = None) -> str:
    """What an interrupted ``dmct run`` says (Ctrl-C, SIGTERM): that what finished is kept, and
    the command that runs the rest."""
    said = f"dmct: interrupted ({signal_name})" if signal_name else "dmct: interrupted"
    if out_root is None:
        return said
    return (f"{said}: every case that finished is kept in {out_root}; run the rest, resume "
            f"with: dmct run --resume {shlex.quote(str(out_root))}")


def print_interrupted(out_root: Path | None, signal_name: str | None = None) -> None:
    """On stderr, after a blank line (a live progress line may have been cut short)."""
    print("\n" + interrupted_message(out_root, signal_name), file=sys.stderr, flush=True)
