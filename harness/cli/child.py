"""One pytest process per DMC and installation status: its command line, its live output and
how it is stopped."""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cli.collect import lab_pack_args
from harness.cli.common import packs_dir
from harness.cli.output import Table

#: How long an interrupted pack run may take to stop its bench before it is killed.
STOP_GRACE_S = 60.0
#: How long an interrupted pack run gets to notice Ctrl-C by itself before it is sent SIGINT.
INTERRUPT_WAIT_S = 5.0


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
        *args.pytest_args,
    ]


def run_one(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
             status: str, out: Path, *, kept: Sequence[str] = ()) -> tuple[int, list[str]]:
    """Run the packs for one DMC and status; print the table live. (returncode, output tail).

    ``kept``: a resumed run's cases that already have a record; only the others run (and are
    printed).
    """
    from harness.pytest_plugin import PLAN_PREFIX, PROGRESS_PREFIX
    from harness.report.records import TestRecord

    table = Table(dmc_id, status, verbose=args.verbose)
    table.printed.update(kept)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = _pytest_command(args, lab, packs, dmc_id, status, out, resume=bool(kept))
    with table, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, encoding="utf-8", errors="replace", env=env) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                if (at := line.find(PLAN_PREFIX)) >= 0:
                    table.plan(json.loads(line[at + len(PLAN_PREFIX):])["tests"])
                elif (at := line.find(PROGRESS_PREFIX)) >= 0:
                    data = json.loads(line[at + len(PROGRESS_PREFIX):])
                    table.row(TestRecord.from_dict(data))
                elif args.verbose > 1:
                    table.echo(line)
                elif line.strip():
                    tail.append(line)
            returncode = proc.wait()
        except KeyboardInterrupt:
            _stop(proc)
            raise
    for record in read_records(out):  # anything the live table missed
        if record.id not in table.printed:
            table.row(record)
    return returncode, list(tail)


def _stop(proc: subprocess.Popen[str]) -> None:
    """Let an interrupted pytest stop its bench, kill it only if it will not.

    Ctrl-C in a terminal reaches pytest too, and a second SIGINT could cut its bench shutdown
    short; so pytest gets a moment to stop by itself before it is sent one.
    """
    for attempt in range(3):
        try:
            proc.wait(INTERRUPT_WAIT_S if attempt == 0 else STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            if attempt == 0:
                with contextlib.suppress(OSError, ValueError):
                    proc.send_signal(signal.SIGINT)
            else:
                proc.kill()


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


