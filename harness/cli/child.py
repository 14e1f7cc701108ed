"""One pytest process per DMC and installation status: its command line, its live output and
how it is stopped.

A child lives no longer than ``dmct``: it runs in a process group of its own (so a stop reaches
it from ``dmct``, once, not from the terminal too), and on Linux the kernel sends it SIGINT
when ``dmct`` dies, however it dies (``PR_SET_PDEATHSIG``): it records the case it was in as
interrupted and stops its bench. Elsewhere a thread of the child watches its parent and sends
it the same SIGINT (:data:`PARENT_WATCH_ENV`). It inherits the results directory's lock
(:mod:`harness.report.lock`), so the directory stays locked while an orphan still writes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.collect import lab_pack_args
from harness.cli.common import packs_dir
from harness.cli.output import Table
from harness.text import printable

if TYPE_CHECKING:
    from harness.cli.entries import Ran

#: How long an interrupted pack run may take to stop its bench before it is killed.
STOP_GRACE_S = 60.0
#: The signal a child gets when ``dmct`` dies (pytest stops as on Ctrl-C).
PARENT_DEATH_SIGNAL = signal.SIGINT
_PR_SET_PDEATHSIG = 1
#: Where the kernel cannot signal a child when its parent dies, the parent's pid, for the
#: child's own watch (:func:`harness.pytest_plugin.watch_parent`).
PARENT_WATCH_ENV = "DMCT_WATCH_PARENT"

#: The results directory's lock, inherited by every child started while it is set.
_lock: Any = None


def share_lock(lock: Any) -> None:
    """Children started from now on inherit ``lock`` (a :class:`~harness.report.lock.RunLock`,
    or ``None``) and are recorded in it."""
    global _lock
    _lock = lock


def parent_death_hook(parent: int, signum: int = PARENT_DEATH_SIGNAL
                      ) -> Callable[[], None] | None:
    """What a new child process of ``parent`` runs first (a ``preexec_fn``, or the first call
    of a forked process) so the kernel sends it ``signum`` when ``parent`` dies
    (``PR_SET_PDEATHSIG``); one whose parent already died gets it at once. ``None`` where there
    is no ``prctl`` (not Linux). ``prctl`` is looked up here, before the fork."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = getattr(libc, "prctl", None)
    if prctl is None:
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: stop now
            os.kill(os.getpid(), signum)

    return hook


def _pytest_command(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
                    status: str, out: Path, *, resume: bool = False) -> list[str]:
    """``resume``: run only the cases with no record in ``out``, adding to its records and
    Allure results (the plugin's ``--dmct-resume``)."""
    return [
        sys.executable, "-m", "pytest", *[str(packs_dir() / p) for p in packs],
        *lab_pack_args(args), "-p", "harness.pytest_plugin",
        "--lab", str(lab.path), "--dmc", dmc_id, "--status", status,
        "--dmct-out", str(out), "--dmct-progress",
        "--alluredir", str(out / "allure-results"),
        *(["--dmct-resume"] if resume else ["--clean-alluredir"]),
        # The packs run with the harness's settings, not those of whatever pytest config file
        # is near them (a source checkout's pyproject.toml is for the harness's own tests).
        "-c", os.devnull, "--rootdir", str(packs_dir().parent),
        "-q", "--no-header", "--color=no", "-p", "no:cacheprovider",
        *[f"--dmct-fault={spec}" for spec in getattr(args, "fault", None) or ()],
        *args.pytest_args,
    ]


def run_one(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
             status: str, out: Path, *, kept: Sequence[str] = (),
             table: Table | None = None) -> Ran:
    """Run the packs for one DMC and status; print the table live. Its exit code, output tail
    and CPU time.

    ``packs``: pack names, or test files (``security/test_keys.py``), under the packs
    directory. ``kept``: a resumed run's cases that already have a record; only the others run
    (and are printed). ``table``: the entry's table, shared by the processes of its parts
    (``harness.cli.parts``), ended by its owner.
    """
    from harness.report.records import PLAN_PREFIX, PROGRESS_PREFIX, TestRecord

    own = table is None
    if table is None:
        table = Table(dmc_id, status, verbose=args.verbose)
        table.printed.update(kept)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    preexec = parent_death_hook(os.getpid())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if preexec is None:  # no prctl (not Linux): the child watches its parent itself
        env[PARENT_WATCH_ENV] = str(os.getpid())
    command = _pytest_command(args, lab, packs, dmc_id, status, out, resume=bool(kept))
    lock = _lock
    from harness.cli.entries import CPU_PREFIX, Ran, spawn_pytest

    cpu_s: float | None = None

    with table if own else contextlib.nullcontext(), \
            spawn_pytest(command, env, preexec=preexec,
                         keep_fd=lock.fd if lock is not None else None) as proc:
        assert proc.stdout is not None
        _live.add(proc)
        if lock is not None:
            lock.add_child(proc.pid)
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                if (at := line.find(PLAN_PREFIX)) >= 0:
                    table.plan(json.loads(line[at + len(PLAN_PREFIX):])["tests"])
                elif (at := line.find(PROGRESS_PREFIX)) >= 0:
                    data = json.loads(line[at + len(PROGRESS_PREFIX):])
                    table.row(TestRecord.from_dict(data))
                elif line.startswith(CPU_PREFIX):
                    cpu_s = float(line[len(CPU_PREFIX):])
                elif args.verbose > 1:  # pytest's output quotes what devices sent
                    table.echo(printable(line))
                elif line.strip():
                    tail.append(line)
            returncode = proc.wait()
        except KeyboardInterrupt:
            stop(proc)
            raise
        finally:
            _live.discard(proc)
            if lock is not None and proc.poll() is not None:
                lock.remove_child(proc.pid)
    for record in read_records(out):  # anything the live table missed
        if record.id not in table.printed:
            table.row(record)
    return Ran(returncode, list(tail), cpu_s)


#: The pytest processes running now (several when entries run in parallel).
_live: set[Any] = set()


def stop_all() -> None:
    """Stop every running pytest process at once (SIGINT to each group), then wait for each
    as :func:`stop` does; from the main thread when a stop signal ends a parallel run."""
    procs = list(_live)
    for proc in procs:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGINT)
    for proc in procs:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """Let an interrupted pytest record its case and stop its bench; kill it only if it will
    not within :data:`STOP_GRACE_S`, or at once on a second stop signal."""
    try:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(STOP_GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def read_records(out: Path) -> list[Any]:
    from harness.report.records import read_records

    return list(read_records(out))


def pytest_error(tail: Sequence[str]) -> str:
    """The line of pytest's output that says why it could not run (usage, collection)."""
    lines = [" ".join(line.split()) for line in tail if line.strip()]
    for line in lines:  # argparse: "__main__.py: error: unrecognized arguments: --x"
        if ": error: " in line:
            return "pytest: error: " + line.split(": error: ", 1)[1]
    for line in reversed(lines):
        if line.startswith(("ERROR", "E ", "INTERNALERROR>")) and len(line) > 8:
            return line
    return lines[-1] if lines else "no output"


