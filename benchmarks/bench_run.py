"""Run benchmark: the default ``dmct run`` on one core and on every core, CPU per entry against
the harness before issue 15 (measured in the same run), and a full run of one DMC.

Run: ``python benchmarks/bench_run.py [--dmc REF-DMC-001] [--no-baseline]``. Prints:

- the default ``dmct run`` (every pack, dormant, active and mixed, of the emulated bench's DMC)
  with ``--jobs 1`` and with ``--jobs 2``: wall time of each and their ratio (target: at least
  1.7x on 2 cores; the figure is only fair on an otherwise idle machine), and its
  load-independent side: the pytest processes' own CPU seconds summed against the makespan of
  the ``--jobs 2`` run's longest-first schedule of those seconds on 2 cores, per unit (entries
  cut into parts: ``harness.cli.parts``);
- CPU seconds per entry (the run's own and its pytest processes') of those runs against the
  same default run of the harness at :data:`BASELINE_REV` (its tree from ``git archive``, run
  beside this one; target: at least 30% less); with ``--repeat N`` the ``--jobs 1`` run and the
  baseline's run N times each, one after the other, and the medians are compared (CPU seconds
  swell when other processes load the machine: alternating spreads that over both);
- a full run (dormant, active, mixed and srv packs) of ``--dmc`` on every core: its wall time
  (target under 20 s on 2 cores) beside the bench time it covered.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness.cli import main as dmct
from harness.cli.parts import UnitTime, predicted_makespan, read_timings
from harness.report.records import read_records

PACKS = ("dormant", "active", "mixed", "srv")
TARGET_S = 20.0
TARGET_SPEEDUP = 1.7
TARGET_CPU_SAVING = 0.30
#: The harness before issue 15 (entries one after another, no catalogue hand-down, every
#: evidence file copied into Allure's results).
BASELINE_REV = "7c2b4c5"
REPO = Path(__file__).resolve().parents[1]


def covered_bench_time(run_dir: Path) -> float:
    """Bench seconds a run covered: first test start to last test end, per DMC/status."""
    total = 0.0
    for records_dir in sorted(p.parent for p in run_dir.rglob("records.jsonl")):
        stamps = [(r.bench_time_start, r.bench_time_end) for r in read_records(records_dir)
                  if r.bench_time_start and r.bench_time_end]
        if stamps:
            start = min(datetime.fromisoformat(a) for a, _ in stamps)
            end = max(datetime.fromisoformat(b) for _, b in stamps)
            total += (end - start).total_seconds()
    return total


def _cpu() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _entries(out: Path) -> int:
    return sum(1 for _ in out.glob("*/*/dmct-report.json"))


def _cases(out: Path) -> int:
    """Cases that ran (passed, failed, blocked or not applicable: one record each)."""
    return sum(len(list(read_records(p.parent))) for p in out.glob("*/*/records.jsonl"))


@dataclass(frozen=True)
class Timed:
    """One default run: its wall and CPU seconds, entries, cases, exit code and units."""

    wall: float
    cpu: float
    entries: int
    cases: int
    exit_code: int = 0
    units: list[UnitTime] = field(default_factory=list)

    @property
    def cpu_per_entry(self) -> float:
        return self.cpu / max(self.entries, 1)

    @property
    def cpu_per_case(self) -> float:
        return self.cpu / max(self.cases, 1)


def timed_run(arguments: list[str]) -> Timed:
    """``dmct ARGUMENTS`` in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu, start = _cpu(), time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            exit_code = dmct([*arguments, "--out", tmp])
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
        out = Path(tmp)
        return Timed(wall, cpu, _entries(out), _cases(out), exit_code, read_timings(out))


def baseline_run(packs: list[str]) -> Timed | None:
    """The default run of the harness at :data:`BASELINE_REV`, or ``None`` when there is no
    git history to take it from."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", BASELINE_REV],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            return None
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
        out = Path(tmp) / "out"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        cpu, start = _cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness.cli", "run", *packs, "--out", str(out)],
                       cwd=tree, env=env, stdout=subprocess.DEVNULL, check=False)
        return Timed(time.perf_counter() - start, _cpu() - cpu, _entries(out), _cases(out))


def schedule_makespan(durations: list[float], workers: int) -> float:
    """The wall time of units of these durations started in this order, each on the first
    free one of ``workers`` (what ``dmct run --jobs`` does)."""
    loads = [0.0] * workers
    for duration in durations:
        loads[loads.index(min(loads))] += duration
    return max(loads)


def print_units(one: list[UnitTime], two: list[UnitTime]) -> None:
    """The load-independent side of the ratio: the pytest processes' own CPU seconds, summed,
    against the makespan of the ``--jobs 2`` run's longest-first schedule of those seconds."""
    if any(u.cpu_s is None for u in one + two):
        print("units: CPU per pytest process not known (not forked from the fork server)")
        return
    serial = sum(u.cpu_s or 0.0 for u in one)
    split = [u.cpu_s or 0.0 for u in sorted(two, key=lambda u: -u.estimate)]  # start order
    makespan = schedule_makespan(split, 2)
    best = predicted_makespan(split, 2)
    print(f"units: --jobs 1 ran {len(one)} pytest processes, {serial:.1f} CPU s; --jobs 2 ran "
          f"{len(two)} (parts of entries), {sum(split):.1f} CPU s, whose longest-first "
          f"schedule on 2 cores takes {makespan:.1f} s (in the best order {best:.1f} s): "
          f"ratio by CPU {serial / makespan:.2f}x (target >= {TARGET_SPEEDUP}x: "
          f"{'met' if serial / makespan >= TARGET_SPEEDUP else 'NOT met'}; the parent's own "
          "work and the fork server's start are not in it)")
    for unit in sorted(two, key=lambda u: -u.estimate):
        print(f"  {unit.label}: estimated {unit.estimate:.1f} s, {unit.cpu_s:.1f} CPU s, "
              f"{unit.wall_s:.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dmc", default="REF-DMC-001")
    parser.add_argument("--pack", action="append", default=[],
                        help="packs of the default runs (default: all; smaller for a smoke test)")
    parser.add_argument("--full-pack", action="append", default=[],
                        help=f"packs of the full run (default: {', '.join(PACKS)})")
    parser.add_argument("--no-baseline", action="store_true",
                        help=f"do not run the harness at {BASELINE_REV} for CPU per entry")
    parser.add_argument("--repeat", type=int, default=1,
                        help="CPU per entry: median of this many alternating runs of each")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average now {os.getloadavg()[0]:.1f} (figures are "
          "only fair on an idle machine)")

    packs = [a for pack in args.pack for a in ("--pack", pack)]
    full_packs = args.full_pack or list(PACKS)
    one = timed_run(["run", "--jobs", "1", *packs])
    two = timed_run(["run", "--jobs", "2", *packs])
    ratio = one.wall / two.wall
    print(f"default run --jobs 1: {one.wall:.1f} s wall, {one.entries} entries, exit "
          f"{one.exit_code}; --jobs 2: {two.wall:.1f} s wall, exit {two.exit_code}; ratio "
          f"{ratio:.2f}x (target >= "
          f"{TARGET_SPEEDUP}x: {'met' if ratio >= TARGET_SPEEDUP else 'NOT met'})")
    print_units(one.units, two.units)
    ours = [one.cpu_per_entry]
    per_entry_2 = two.cpu_per_entry
    base = None if args.no_baseline else baseline_run(packs)
    bases = [] if base is None else [base.cpu_per_entry]
    for _ in range(args.repeat - 1):
        again = timed_run(["run", "--jobs", "1", *packs])
        ours.append(again.cpu_per_entry)
        if base is not None:
            other = baseline_run(packs)
            if other is not None:
                bases.append(other.cpu_per_entry)
    per_entry = statistics.median(ours)
    runs = f" (median of {len(ours)})" if len(ours) > 1 else ""
    if base is None:
        print(f"CPU per entry: {per_entry:.2f} s (--jobs 1){runs}, {per_entry_2:.2f} s "
              f"(--jobs 2); baseline at {BASELINE_REV} not measured")
    else:
        base_per_entry = statistics.median(bases)
        saving = 1 - per_entry / base_per_entry
        print(f"CPU per entry: {per_entry:.2f} s (--jobs 1){runs}, {per_entry_2:.2f} s (--jobs 2) "
              f"against {base_per_entry:.2f} s at {BASELINE_REV} ({base.wall:.1f} s wall for "
              f"{base.entries} entries): {saving:.1%} less (target >= {TARGET_CPU_SAVING:.0%}: "
              f"{'met' if saving >= TARGET_CPU_SAVING else 'NOT met'})")
        # An entry holds more cases than it did at the baseline (packs grew since): the same
        # CPU per case, beside it, tells the harness's own cost from the packs' growth.
        ours_case, base_case = one.cpu_per_case, base.cpu_per_case
        print(f"  per case: {1000 * ours_case:.1f} ms ({one.cases / max(one.entries, 1):.0f} "
              f"cases an entry) against {1000 * base_case:.1f} ms "
              f"({base.cases / max(base.entries, 1):.0f} cases an entry) at {BASELINE_REV}: "
              f"{1 - ours_case / base_case:.1%} less (first runs)")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        command = ["run", "--dmc", args.dmc, "--out", str(out)]
        for pack in full_packs:
            command += ["--pack", pack]
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            exit_code = dmct(command)
        wall = time.perf_counter() - start
        bench_s = covered_bench_time(out)
        verdicts = {str(p.parent.relative_to(out)): json.loads(p.read_text())["verdict"]
                    for p in sorted(out.rglob("dmct-report.json"))}
    print(f"full run of {args.dmc} (packs {', '.join(full_packs)}): {wall:.1f} s of wall time "
          f"(target < {TARGET_S:.0f} s: {'met' if wall < TARGET_S else 'NOT met'}); "
          f"bench time covered {bench_s / 86400:.1f} days; virtual/wall {bench_s / wall:,.0f}x; "
          f"dmct exit {exit_code}")
    for run, verdict in verdicts.items():
        print(f"  {run}: {verdict}")


if __name__ == "__main__":
    main()
