"""Full-run benchmark: every migration pack and the SRV pack for one DMC on the emulated bench.

Run: ``python benchmarks/bench_run.py [--dmc REF-DMC-001]``. Prints the wall time of the run
(``dmct run`` with the dormant, active, mixed and srv packs, for every installation status the
DMC has an EPCL entry for) beside the bench time the run covered, as their ratio: how many times
faster than real time the virtual clock made it. Target: under 20 s of wall time on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

from harness.cli import main as dmct
from harness.report.records import read_records

PACKS = ("dormant", "active", "mixed", "srv")
TARGET_S = 20.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dmc", default="REF-DMC-001")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        command = ["run", "--dmc", args.dmc, "--out", str(out)]
        for pack in PACKS:
            command += ["--pack", pack]
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            exit_code = dmct(command)
        wall = time.perf_counter() - start
        bench_s = covered_bench_time(out)
        verdicts = {str(p.parent.relative_to(out)): json.loads(p.read_text())["verdict"]
                    for p in sorted(out.rglob("dmct-report.json"))}
    print(f"full run of {args.dmc} (packs {', '.join(PACKS)}): {wall:.1f} s of wall time "
          f"(target < {TARGET_S:.0f} s: {'met' if wall < TARGET_S else 'NOT met'}); "
          f"bench time covered {bench_s / 86400:.1f} days; virtual/wall {bench_s / wall:,.0f}x; "
          f"dmct exit {exit_code}")
    for run, verdict in verdicts.items():
        print(f"  {run}: {verdict}")


if __name__ == "__main__":
    main()
