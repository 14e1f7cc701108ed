"""Catalogue benchmark: ``dmct run`` over a generated catalogue of many DMCs, to show that the
cost per entry does not grow with the number of entries.

Run: ``python benchmarks/bench_catalogue.py [--sizes 5 50] [--pack smoke] [--jobs N]``.
Generates that many DMCs (copies of the reference DMC under their own ids and EPCL entries, in
a lab ``profile_paths`` directory, so every pytest process's catalogue holds all of them), runs
each DMC's dormant entry, and prints per size: wall time per entry, the ``dmct run`` process's
peak memory, and output bytes and files per entry. Then the ratio of the per-entry figures at
the largest size to those at the smallest (target: within 10%: no superlinear term) and an
extrapolation to the 435 entries of the seeds' EPCL report, on this machine and on a 16-worker
Dask cluster of machines like it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config import default_lab_config_path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "device_profiles" / "dmcs" / "REF-DMC-001.yaml"
EPCL_ENTRIES = 435
DASK_WORKERS = 16
TARGET_GROWTH = 0.10

#: Runs ``dmct`` in a process of its own and prints its peak memory (KiB) last.
_RUNNER = """\
import contextlib, io, resource, sys
from harness.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
print(code, own.ru_maxrss, cpu)
"""


def generate(root: Path, count: int) -> tuple[Path, list[str]]:
    """A lab config whose catalogue adds ``count`` DMCs; their ids."""
    dmcs = root / "profiles" / "dmcs"
    dmcs.mkdir(parents=True)
    reference = REFERENCE.read_text()
    ids = []
    for n in range(1, count + 1):
        dmc_id = f"GEN-DMC-{n:03d}"
        text = reference.replace("REF-DMC-001", dmc_id).replace("PH-REF-001-", f"PH-GEN-{n:03d}-")
        (dmcs / f"{dmc_id}.yaml").write_text(text)
        ids.append(dmc_id)
    lab = root / "lab.yaml"
    lab.write_text(Path(default_lab_config_path()).read_text()
                   + f"\nprofile_paths: [{json.dumps(str(root / 'profiles'))}]\n")
    return lab, ids


def _tree(path: Path) -> tuple[int, int]:
    """Bytes (each file once: hard links count once) and files under ``path``."""
    seen: set[tuple[int, int]] = set()
    size = files = 0
    for item in path.rglob("*"):
        if item.is_file():
            files += 1
            stat = item.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                size += stat.st_size
    return size, files


def measure(count: int, packs: list[str], jobs: int | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lab, ids = generate(root, count)
        out = root / "out"
        command = ["run", "--lab", str(lab), "--status", "dormant", "--out", str(out)]
        command += [a for dmc in ids for a in ("--dmc", dmc)]
        command += [a for pack in packs for a in ("--pack", pack)]
        if jobs:
            command += ["--jobs", str(jobs)]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _RUNNER, *command], capture_output=True,
                              text=True, check=False)
        wall = time.perf_counter() - start
        code, peak_kib, cpu = done.stdout.split()[-3:]
        entries = sum(1 for _ in out.glob("*/*/dmct-report.json"))
        size, files = _tree(out)
    return {"entries": entries, "exit": int(code), "wall": wall, "per_entry_s": wall / entries,
            "cpu": float(cpu), "cpu_per_entry_s": float(cpu) / entries,
            "parent_mb": int(peak_kib) / 1024, "bytes": size / entries,
            "files": files / entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 50])
    parser.add_argument("--pack", action="append", default=[],
                        help="packs of each entry (default: smoke)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="dmct run --jobs (default: every core)")
    args = parser.parse_args()
    packs = args.pack or ["smoke"]
    cores = len(os.sched_getaffinity(0))
    print(f"generated catalogue, packs {', '.join(packs)}, dormant entries; {cores} cores, load "
          f"average now {os.getloadavg()[0]:.1f} (wall figures are only fair on an idle machine)")
    results = []
    for size in args.sizes:
        r = measure(size, packs, args.jobs)
        results.append(r)
        print(f"{r['entries']:>4} entries: {r['wall']:.1f} s wall, {r['per_entry_s']:.2f} s per "
              f"entry, {r['cpu_per_entry_s']:.2f} s CPU per entry; parent peak memory "
              f"{r['parent_mb']:.0f} MB; output "
              f"{r['bytes'] / 1e3:.0f} kB and {r['files']:.0f} files per entry; exit "
              f"{r['exit']}")
    small, large = results[0], results[-1]
    growth = {key: large[key] / small[key] - 1
              for key in ("per_entry_s", "cpu_per_entry_s", "bytes", "files")}
    worst = max(growth.values())
    verdict = "met" if worst <= TARGET_GROWTH else "NOT met"
    print(f"per entry at {large['entries']} against {small['entries']}: time "
          f"{growth['per_entry_s']:+.0%}, CPU {growth['cpu_per_entry_s']:+.0%}, bytes "
          f"{growth['bytes']:+.0%}, files {growth['files']:+.0%}; parent memory "
          f"{large['parent_mb'] - small['parent_mb']:+.0f} MB (target: within "
          f"{TARGET_GROWTH:.0%}: {verdict})")
    if large["entries"] > small["entries"]:
        # What one more entry costs (the run's fixed start-up left out), here and on one core.
        added = large["entries"] - small["entries"]
        wall = (large["wall"] - small["wall"]) / added
        cpu = (large["cpu"] - small["cpu"]) / added
        fixed = max(small["wall"] - wall * small["entries"], 0.0)
        here = fixed + wall * EPCL_ENTRIES
        cluster = fixed + cpu * EPCL_ENTRIES / DASK_WORKERS
        print(f"one more entry: {wall:.2f} s wall, {cpu:.2f} s CPU; extrapolated to "
              f"{EPCL_ENTRIES} entries of these packs: {here / 60:.1f} min here ({cores} "
              f"cores), {cluster / 60:.1f} min on {DASK_WORKERS} one-core Dask workers like "
              f"these cores; output {large['bytes'] * EPCL_ENTRIES / 1e9:.2f} GB, "
              f"{large['files'] * EPCL_ENTRIES:,.0f} files")


if __name__ == "__main__":
    main()
