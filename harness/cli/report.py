"""``dmct report`` and the report formats every command renders."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_FAILED, EXIT_OK, UsageError, load_lab
from harness.cli.output import RunResult, say


def write_epcl_summary(out_root: Path, catalogue: Any) -> None:
    """``epcl-summary.{json,md,html}`` over every DMC report under ``out_root``."""
    from harness.report.epcl import write_epcl_summary as write_summary

    written = write_summary(out_root, catalogue)
    if written:
        say(f"EPCL summary: {', '.join(str(p) for p in written)}", flush=True)



def read_report(out: Path) -> dict[str, Any] | None:
    path = out / "dmct-report.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, json.JSONDecodeError):
        return None



def report_formats(values: Sequence[str]) -> tuple[str, ...]:
    """The formats of ``--format`` (default json, html, md), checked before anything runs: an
    unknown name, or ``pdf`` with no Chromium to print it, is a usage error."""
    from harness.report.render import FormatError, parse_formats

    try:
        formats = parse_formats(values)
    except FormatError as exc:
        raise UsageError(f"{exc} (given with --format)") from None
    if "pdf" in formats:
        from harness.report.browser import BrowserUnavailable, find_chromium

        try:
            find_chromium()
        except BrowserUnavailable as exc:
            raise UsageError(f"--format pdf: {exc}") from None
    return formats


def _write_formats(directory: Path, report: dict[str, Any], formats: Sequence[str], *,
                   write_json: bool = True) -> list[Path]:
    """Every format of one report; a browser that fails to print is one line, exit 2 (the
    formats before the PDF are written by then)."""
    from harness.report.browser import BrowserError
    from harness.report.render import write_formats

    try:
        return write_formats(directory, report, formats, write_json=write_json)
    except BrowserError as exc:
        raise UsageError(f"{directory}: PDF not printed: {exc}") from None


def render_run_formats(args: argparse.Namespace, result: RunResult) -> None:
    """After the pytest run of one DMC/status: ``dmct-report.{html,md,...}`` beside the JSON
    the pytest plugin wrote (nothing when pytest wrote no report)."""
    if result.report is not None:
        _write_formats(result.out, result.report, report_formats(args.format),
                       write_json=False)


def _report_lab(args: argparse.Namespace, root: Path) -> Any:
    """The lab config to rebuild reports with: ``--lab``, else the run's (``run.json``), else
    the default one."""
    from harness.report.rebuild import ReportDirError, out_root_lab

    if args.lab:
        return load_lab(args.lab)
    try:
        recorded = out_root_lab(root)
    except ReportDirError as exc:
        raise UsageError(str(exc)) from None
    if recorded is None:
        return load_lab(None)
    if not Path(recorded).is_file():
        raise UsageError(f"{recorded}: the run's lab config (recorded in run.json) is not found; "
                         "give the lab config with --lab FILE")
    return load_lab(recorded)


def _record_register(args: argparse.Namespace, root: Path, at: Any) -> None:
    """``--provided-to`` / ``--referral``: add to the referral register of every run directory
    of ``root`` (all checked before any is written)."""
    from datetime import date

    from harness.report.finalise import today_in_england
    from harness.report.rebuild import ReportDirError, find_run_dirs, read_existing
    from harness.report.referrals import (
        RegisterError,
        add_provision,
        add_referral,
        read_register,
        write_register,
    )

    if args.provided_to and args.referral:
        raise UsageError("--provided-to and --referral are recorded one at a time")
    if not (args.provided_to or args.referral):
        if args.on is not None or args.note is not None:
            raise UsageError("--on and --note go with --provided-to or --referral")
        return
    if args.note is not None and not args.referral:
        raise UsageError("--note goes with --referral")
    if args.final:
        raise UsageError("record the register first, then finalise (--final) in a second "
                         "command")
    try:
        on = date.fromisoformat(args.on) if args.on else today_in_england(at)
    except ValueError:
        raise UsageError(f"--on {args.on}: not a date (YYYY-MM-DD)") from None
    supplier = " ".join((args.provided_to or args.referral).split())
    if not supplier:
        raise UsageError("the supplier's name is empty")
    try:
        registers = []
        for _, _, directory in find_run_dirs(root):
            existing = read_existing(directory)
            if existing is not None and existing.get("state") == "final":
                raise UsageError(f"{directory}: the report is final: its referral register "
                                 "is closed")
            register = read_register(directory)
            if args.provided_to:
                add_provision(register, supplier, on)
            else:
                add_referral(register, supplier, on, args.note)
            registers.append((directory, register))
    except (ReportDirError, RegisterError) as exc:
        raise UsageError(str(exc)) from None
    for directory, register in registers:
        write_register(directory, register)


def _fold_parts(args: argparse.Namespace, root: Path) -> None:
    """The parts of split entries a killed ``dmct run`` left (``harness.cli.parts``), folded
    into their entries first, as ``dmct run --resume`` does: what they finished is reported."""
    from harness.cli.parts import PARTS_DIR, merge_parts
    from harness.config import ConfigError

    directories = [root] if (root / PARTS_DIR).is_dir() else sorted(
        p.parent for p in root.glob(f"*/*/{PARTS_DIR}") if p.is_dir())
    for directory in directories:
        lab = _report_lab(args, root)
        dmc, status = directory.parent.name, directory.name
        if dmc not in lab.catalogue.dmcs:
            raise UsageError(f"{directory}: DMC {dmc!r} is not in the catalogue of "
                             f"{lab.path}; give the run's lab config with --lab FILE")
        try:
            merge_parts(directory, lab.select([dmc], [status]))
        except ConfigError as exc:
            raise UsageError(f"{directory}: {exc}") from None


def cmd_report(args: argparse.Namespace) -> int:
    """``dmct report DIR``: rebuild, finalise and render the reports of a run's directory,
    only while no run holds the directory (:mod:`harness.report.lock`): a re-render racing a
    running ``dmct run`` would read its records half-written and overwrite its reports."""
    from harness.cli.run import results_locked

    with results_locked(Path(args.dir), "dmct report --final" if args.final else "dmct report"):
        return _cmd_report(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from datetime import datetime

    from harness.report.allure import annotate_results
    from harness.report.allure_env import write_allure_environment
    from harness.report.build import run_report
    from harness.report.finalise import FinaliseRefused, now
    from harness.report.rebuild import Plan, ReportDirError, find_run_dirs, plan

    if (args.force or args.reason is not None) and not args.final:
        raise UsageError("--force and --reason go with --final")
    if args.reason is not None and not args.force:
        raise UsageError("--reason goes with --force (finalising before the referral deadline)")
    if args.force and not (args.reason or "").strip():
        raise UsageError("--force needs --reason TEXT: finalising before the referral deadline "
                         "is recorded in the report with its reason")
    formats = report_formats(args.format)
    try:
        at = now()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    root = Path(args.dir)
    _fold_parts(args, root)
    _record_register(args, root, at)
    labs: list[Any] = []  # loaded once, only when a report is rebuilt from records

    def build(directory: Path, dmc: str, status: str, complete: bool,
              produced_at: datetime) -> dict[str, Any]:
        if not labs:
            labs.append(_report_lab(args, root))
        lab = labs[0]
        if dmc not in lab.catalogue.dmcs:
            raise ReportDirError(f"{directory}: DMC {dmc!r} is not in the catalogue of "
                                 f"{lab.path}; give the run's lab config with --lab FILE")
        return run_report(directory, lab.select([dmc], [status]), complete=complete,
                          produced_at=produced_at)

    try:
        plans: list[Plan] = [
            plan(directory, dmc, status, build=build, at=at, final=args.final,
                 force=args.force, reason=args.reason)
            for dmc, status, directory in find_run_dirs(root)
        ]
    except (ReportDirError, FinaliseRefused) as exc:
        raise UsageError(str(exc)) from None
    for item in plans:
        written = _write_formats(item.directory, item.report, formats,
                                 write_json=item.changed)
        report = item.report
        if item.changed:  # severities and issue links follow the rebuilt attribution
            annotate_results(item.directory / "allure-results", report)
            write_allure_environment(item.directory / "allure-results", report)
        say(f"{item.dmc}/{item.status}: {str(report['verdict']).replace('_', ' ')}; "
              f"{report.get('state')}{'' if report.get('complete', True) else ', INCOMPLETE'}"
              f"; referral deadline {report.get('referral_deadline')}; {item.action}; wrote "
              f"{', '.join(p.name for p in written)} in {item.directory}")
    single = [p.directory for p in plans] == [root]  # DIR is one run directory
    if not single or (root.parent.name, root.name) == (plans[0].dmc, plans[0].status):
        # the out root of dmct run's layout (a lab's own --dmct-out DIR has none)
        write_epcl_summary(root.parent.parent if single else root,
                           (labs[0] if labs else _report_lab(args, root)).catalogue)
    ok = all(p.report.get("verdict") == "meets_exit_criteria" for p in plans)
    return EXIT_OK if ok else EXIT_FAILED


