"""``dmct run``: every DMC x installation status of a lab config, and ``--resume``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cli.child import pytest_error, read_records, run_one
from harness.cli.common import (
    EXIT_INTERRUPTED,
    UsageError,
    available_packs,
    fail,
    harness_version,
    load_lab,
)
from harness.cli.output import RunResult, print_interrupted, print_totals, say, totals_line
from harness.cli.report import read_report, render_run_formats, report_formats, write_epcl_summary

#: ``dmct run`` options that choose what runs: a resumed run takes them from its ``run.json``.
SELECTION_OPTIONS = ("lab", "dmc", "status", "pack", "out")


def cmd_run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from harness.report.manifest import RunManifest, write_manifest

    if args.resume is not None:
        return _cmd_resume(args)
    lab = load_lab(args.lab)
    lab = lab.select(args.dmc or None, args.status or None)
    packs = list(dict.fromkeys(args.pack)) or available_packs()
    unknown = [p for p in packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"unknown pack {unknown[0]!r} (given with --pack); packs: "
                         f"{', '.join(available_packs())}")
    out_root = Path(args.out) if args.out else lab.output_dir
    say(f"dmct run: bench {lab.bench} ({lab.path}); DMC {', '.join(lab.dmc_ids)}; status "
          f"{', '.join(lab.installation_statuses)}; packs {', '.join(packs)}; results in "
          f"{out_root}", flush=True)
    out_root.mkdir(parents=True, exist_ok=True)
    write_manifest(out_root, RunManifest(
        lab=str(Path(lab.path).absolute()), dmcs=list(lab.dmc_ids),
        statuses=list(lab.installation_statuses), packs=packs,
        pytest_args=list(args.pytest_args), started_at=datetime.now(UTC).isoformat(),
        version=harness_version(), formats=list(args.format)))
    return _run_all(args, lab, packs, out_root, resume=False)


def _cmd_resume(args: argparse.Namespace) -> int:
    """``dmct run --resume DIR``: the run of ``DIR/run.json`` again, running only what is
    missing from each DMC and status."""
    from harness.report.manifest import MANIFEST_FILE, ManifestError, read_manifest

    given = [f"--{name}" for name in SELECTION_OPTIONS if getattr(args, name)]
    if args.pytest_args:
        given.append("pytest arguments after '--'")
    if given:
        raise UsageError(f"--resume runs the selection recorded in {MANIFEST_FILE}: "
                         f"{', '.join(given)} cannot be given with it")
    out_root = Path(args.resume)
    try:
        manifest = read_manifest(out_root)
    except ManifestError as exc:
        raise UsageError(f"cannot resume: {exc}") from None
    if manifest is None:
        raise UsageError(f"cannot resume {out_root}: no {MANIFEST_FILE} there (not the results "
                         "directory of a dmct run)")
    lab = load_lab(manifest.lab).select(manifest.dmcs, manifest.statuses)
    unknown = [p for p in manifest.packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"cannot resume: {out_root / MANIFEST_FILE}: unknown pack "
                         f"{unknown[0]!r}")
    args.pytest_args = list(manifest.pytest_args)
    args.format = list(args.format) or list(manifest.formats)  # else the run's own
    say(f"dmct run --resume: bench {lab.bench} ({lab.path}); DMC {', '.join(lab.dmc_ids)}; "
          f"status {', '.join(lab.installation_statuses)}; packs {', '.join(manifest.packs)}; "
          f"results in {out_root} (started {manifest.started_at})", flush=True)
    return _run_all(args, lab, manifest.packs, out_root, resume=True)


def _resume_plan(out: Path) -> tuple[str, list[str]]:
    """What a resumed run does with one DMC/status directory: ``("kept", ids)`` for a complete
    one, ``("resume", ids of finished cases)`` for one that started, ``("run", [])`` else."""
    from harness.report.manifest import ManifestError, is_complete, run_state
    from harness.report.records import keep_finished

    if is_complete(out):
        return "kept", [r.id for r in read_records(out)]
    try:
        started = run_state(out) is not None
    except ManifestError:
        started = True  # a torn state file: the run got as far as writing it
    kept = keep_finished(out)
    if started or kept:
        return "resume", [r.id for r in kept]
    return "run", []


def _run_all(args: argparse.Namespace, lab: Any, packs: Sequence[str], out_root: Path, *,
             resume: bool) -> int:
    """Run (or resume) every DMC and status of ``lab``; print the totals; the exit code.
    Interrupted, say how to resume."""
    report_formats(args.format)  # a bad --format stops the run before it starts
    try:
        return _run_each(args, lab, packs, out_root, resume=resume)
    except KeyboardInterrupt:
        print_interrupted(out_root)
        return EXIT_INTERRUPTED


def _run_each(args: argparse.Namespace, lab: Any, packs: Sequence[str], out_root: Path, *,
              resume: bool) -> int:
    from harness.report.manifest import STATE_FILE, run_state
    from harness.report.records import RECORDS_FILE

    results: list[RunResult] = []
    for dmc_id in lab.dmc_ids:
        for status in lab.installation_statuses:
            if lab.catalogue.dmc(dmc_id).epcl_id(status) is None:
                say(f"\n== {dmc_id} / {status}: skipped: the DMC has no EPCL entry for "
                      f"{status} installations", flush=True)
                continue
            out = out_root / dmc_id / status
            out.mkdir(parents=True, exist_ok=True)
            action, kept = _resume_plan(out) if resume else ("run", [])
            if action == "kept":
                say(f"\n== {dmc_id} / {status}: kept: complete, {len(kept)} cases (nothing "
                      "to run)", flush=True)
                result = RunResult(dmc_id, status, out, read_records(out), read_report(out))
                render_run_formats(args, result)  # formats asked for now, if not there yet
                results.append(result)
                say(totals_line(result), flush=True)
                continue
            if action == "resume":
                state = run_state(out) if (out / STATE_FILE).exists() else None
                planned = f" of {len(state.planned)}" if state and state.planned else ""
                say(f"\n== {dmc_id} / {status}: resumed: {len(kept)}{planned} cases kept, "
                      "running the rest", flush=True)
            else:
                (out / RECORDS_FILE).unlink(missing_ok=True)  # even if pytest never starts
                (out / STATE_FILE).unlink(missing_ok=True)
                say(f"\n== {dmc_id} / {status}", flush=True)
            returncode, tail = run_one(args, lab, packs, dmc_id, status, out.absolute(),
                                        kept=kept)
            result = RunResult(dmc_id, status, out, read_records(out), read_report(out))
            if returncode in (3, 4) or (returncode == 2 and not result.records):
                return fail(f"pytest could not run the packs for {dmc_id}/{status} "
                             f"(pytest exit {returncode}): {pytest_error(tail)}")
            if not result.records:
                say("(no test ran)")
            render_run_formats(args, result)
            results.append(result)
            say(totals_line(result), flush=True)
    write_epcl_summary(out_root, lab.catalogue)
    return print_totals(results)


