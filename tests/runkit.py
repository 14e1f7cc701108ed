"""``dmct run`` in subprocesses, shared by the test modules that judge whole runs.

Imported as ``runkit`` (``tests/`` is on ``sys.path``, as for ``labkit``). Whole runs are the
expensive part of the suite, so each is made once per session: the runs a module needs start
together (two cores), and under pytest-xdist the first worker to need a run makes it while
holding its lock; the others wait for the lock and read what it left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import pytest

#: Wall-clock bound of one run (real-world I/O: a subprocess, not a bench delay).
RUN_TIMEOUT_S = 600


def dmct_environment() -> dict[str, str]:
    """The runs see none of the calling shell's settings (as the ``clean_run_env`` fixture)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DMCT_LAB", "PYTEST_TIMEOUT", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                        "DMCT_SECRETS_FILE", "PYTEST_XDIST_WORKER",
                        "PYTEST_XDIST_WORKER_COUNT", "DMCT_NOW")}
    env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest"
    return env


def shared_root(factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory ``name`` that every xdist worker of this session sees."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    root = root / name
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_once_each(root: Path, commands: dict[str, list[str]], *,
                  env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Each command run once per session in ``root`` (those not yet made started together,
    each under its own lock), with ``env`` added to :func:`dmct_environment`; per name,
    ``{"exit_code": ..., "output": ...}``."""
    started: dict[str, tuple[subprocess.Popen[str], IO[str]]] = {}
    with ExitStack() as stack:
        for name, command in commands.items():
            lock = stack.enter_context((root / f"{name}.lock").open("a"))
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another worker is making it
            if (root / f"{name}.done.json").exists():
                fcntl.flock(lock, fcntl.LOCK_UN)
                continue
            log = stack.enter_context((root / f"{name}.log").open("w+"))
            process = subprocess.Popen(command, cwd=root, text=True, stdout=log,
                                       stderr=subprocess.STDOUT,
                                       env={**dmct_environment(), **(env or {})})
            started[name] = (process, log)
            stack.callback(fcntl.flock, lock, fcntl.LOCK_UN)
            stack.callback(_kill, process)
        for name, (process, log) in started.items():
            exit_code = process.wait(timeout=RUN_TIMEOUT_S)
            log.seek(0)
            done = {"exit_code": exit_code, "output": log.read()}
            (root / f"{name}.done.json").write_text(json.dumps(done))
    runs = {}
    for name in commands:
        with (root / f"{name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # wait for a run another worker is making
            fcntl.flock(lock, fcntl.LOCK_UN)
        runs[name] = json.loads((root / f"{name}.done.json").read_text())
    return runs


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


#: The packs of the seeded-DMC runs (:func:`seeded_runs`). The security pack has runs of its own
#: (tests/packs/test_security_pack.py): running it here too would double its cost.
SEEDED_PACKS = ("active", "dormant", "mixed", "smoke", "srv")


def seeded_runs(factory: pytest.TempPathFactory, dmcs: list[str]
                ) -> tuple[Path, dict[str, dict[str, Any]]]:
    """``dmct run --dmc DMC`` with :data:`SEEDED_PACKS`, every status the DMC has an EPCL
    entry for, once per session whichever module asks first: the out root (``<dmc>/<status>/``
    under it) and each DMC's exit code and output."""
    root = shared_root(factory, "seeded-dmct-runs")
    packs = [a for pack in SEEDED_PACKS for a in ("--pack", pack)]
    # One results directory per run (a results directory takes one dmct run at a time: its
    # lock), gathered under one out root as a multi-DMC run lays them out.
    done = run_once_each(root, {
        dmc: [sys.executable, "-m", "harness.cli", "run", "--dmc", dmc, "--out",
              str(root / "runs" / dmc), *packs]
        for dmc in dmcs})
    out = root / "out"
    out.mkdir(exist_ok=True)
    for dmc in dmcs:
        with contextlib.suppress(FileExistsError):
            (out / dmc).symlink_to(root / "runs" / dmc / dmc, target_is_directory=True)
    return out, done


#: For a module whose module-scoped fixture makes whole runs: pytest-timeout counts that set-up
#: against the module's first test, and on two busy cores (the other xdist worker running
#: tests beside the runs) it can take minutes, not the suite's per-test 120 s.
WHOLE_RUNS = pytest.mark.timeout(RUN_TIMEOUT_S)
