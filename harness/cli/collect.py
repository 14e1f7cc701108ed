"""``dmct run --collect-only``: what a run would run, per DMC and installation status, without
starting a bench or writing anything.

pytest collects the packs for each DMC and status (``--collect-only``) and the plugin says of each
case whether it applies (:func:`harness.pytest_plugin.inapplicable`); a case can still find
itself not applicable once it runs (an SRV the DMC does not support, for example).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text

from harness.cli.common import EXIT_OK, UsageError, available_packs, load_lab, packs_dir
from harness.cli.output import console, fit_id, outcome_text, short_id


def run_or_collect(args: argparse.Namespace) -> int:
    """``dmct run``: the run itself, or with ``--collect-only`` the plan of it."""
    from harness.cli.run import cmd_run

    for path in getattr(args, "pack_path", None) or []:
        if not Path(path).is_dir():
            raise UsageError(f"--pack-path {path}: not a directory")
    if getattr(args, "collect_only", False):
        if args.resume is not None:
            raise UsageError("--collect-only cannot be given with --resume")
        return cmd_collect(args)
    return cmd_run(args)


def lab_pack_paths(args: argparse.Namespace) -> list[str]:
    """The ``--pack-path`` directories, absolute and each once (as ``run.json`` records them)."""
    return list(dict.fromkeys(str(Path(p).absolute())
                              for p in getattr(args, "pack_path", None) or []))


def lab_pack_args(args: argparse.Namespace) -> list[str]:
    """pytest arguments for ``--pack-path``: each directory to collect, and the plugin option
    that names its packs (``harness.pytest_plugin``)."""
    paths = lab_pack_paths(args)
    return [*paths, *(f"--dmct-pack-path={p}" for p in paths)]


def _collect_command(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
                     status: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", *[str(packs_dir() / p) for p in packs],
        *lab_pack_args(args), "-p", "harness.pytest_plugin",
        "--lab", str(lab.path), "--dmc", dmc_id, "--status", status,
        "--dmct-progress", "--collect-only",
        "-c", os.devnull, "--rootdir", str(packs_dir().parent),
        "-q", "--no-header", "--color=no", "-p", "no:cacheprovider", "-p", "no:allure_pytest",
        *args.pytest_args,
    ]


def collect(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
            status: str) -> list[dict[str, Any]]:
    """The cases of one DMC and status: ``id``, ``srv``, ``pack``, ``inapplicable``."""
    from harness.report.records import PLAN_PREFIX

    done = subprocess.run(_collect_command(args, lab, packs, dmc_id, status),
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in done.stdout.splitlines():
        if (at := line.find(PLAN_PREFIX)) >= 0:
            return list(json.loads(line[at + len(PLAN_PREFIX):])["tests"])
    from harness.cli.child import pytest_error

    tail = (done.stdout + done.stderr).splitlines()[-40:]
    raise UsageError(f"pytest could not collect the packs for {dmc_id}/{status} (pytest exit "
                     f"{done.returncode}): {pytest_error(tail)}")


def cmd_collect(args: argparse.Namespace) -> int:
    lab = load_lab(args.lab).select(args.dmc or None, args.status or None)
    packs = list(dict.fromkeys(args.pack)) or available_packs()
    unknown = [p for p in packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"unknown pack {unknown[0]!r} (given with --pack); packs: "
                         f"{', '.join(available_packs())}")
    out = console()
    out.print(Text(f"dmct run --collect-only: bench {lab.bench}; DMC {', '.join(lab.dmc_ids)};"
                   f" status {', '.join(lab.installation_statuses)}; packs "
                   f"{', '.join([*packs, *lab_pack_paths(args)])} (nothing is run)"))
    for dmc_id in lab.dmc_ids:
        for status in lab.installation_statuses:
            epcl = lab.catalogue.dmc(dmc_id).epcl_id(status)
            if epcl is None:
                out.print(Text(f"\n== {dmc_id} / {status}: would be skipped: the DMC has no "
                               f"EPCL entry for {status} installations"))
                continue
            tests = collect(args, lab.select([dmc_id], [status]), packs, dmc_id, status)
            runs = [t for t in tests if not t.get("inapplicable")]
            words = Counter("blocked" if (t["inapplicable"] or "").startswith("blocked")
                            else "not_applicable" for t in tests if t.get("inapplicable"))
            out.print(Text(f"\n== {dmc_id} / {status} (EPCL entry {epcl}): {len(tests)} cases: "
                           f"{len(runs)} to run, {words['not_applicable']} not applicable, "
                           f"{words['blocked']} blocked", style="bold"))
            per_pack = Counter(t.get("pack") or "-" for t in runs)
            out.print(Text("   " + ", ".join(f"{pack} {n}" for pack, n in per_pack.items())))
            for test in tests:
                reason = test.get("inapplicable")
                if reason is None and not args.verbose:
                    continue
                outcome = ("to run" if reason is None else "blocked"
                           if reason.startswith("blocked") else "not_applicable")
                line = outcome_text(outcome)
                line.pad_right(15 - len(line))
                test_id = short_id(test["id"])
                if out.is_terminal:
                    test_id = fit_id(test_id, out.width - 16)
                line.append(test_id)
                out.print(line)
                if reason is not None:
                    out.print(Text(f"               {reason}", style="dim"))
    return EXIT_OK
