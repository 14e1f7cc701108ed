"""``dmct run``: every DMC x installation status of a lab config, and ``--resume``.

Everything a run is asked is checked before it writes anything; then it locks its results
directory (:func:`run_guard`: one run per directory, a stop signal ends the children and prints
the ``--resume`` command) and records what it was asked in ``run.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.cli import child
from harness.cli.child import pytest_error, read_records, run_one
from harness.cli.collect import lab_pack_paths
from harness.cli.common import UsageError, available_packs, fail, load_lab
from harness.cli.output import RunResult, print_interrupted, print_totals, say, totals_line
from harness.cli.parts import UnitTime, took, write_timings
from harness.cli.report import read_report, render_run_formats, report_formats, write_epcl_summary
from harness.report.provenance import harness_version

#: ``dmct run`` options that choose what runs: a resumed run takes them from its ``run.json``.
SELECTION_OPTIONS = ("lab", "dmc", "status", "pack", "pack_path", "out", "fault")


def cmd_run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from harness.report.manifest import RunManifest, partial_reasons, write_manifest

    if args.resume is not None:
        return _cmd_resume(args)
    if args.out:
        _refuse_if_locked(Path(args.out))  # at once, before the lab config is even read
    _warm(args)
    lab = load_lab(args.lab)
    lab = lab.select(args.dmc or None, args.status or None)
    packs = list(dict.fromkeys(args.pack)) or available_packs()
    unknown = [p for p in packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"unknown pack {unknown[0]!r} (given with --pack); packs: "
                         f"{', '.join(available_packs())}")
    report_formats(args.format)  # checked before anything is written
    _check_scheduling(args)
    _check_environment()
    _check_faults(args.fault, lab)
    out_root = Path(args.out) if args.out else lab.output_dir
    if out_root.exists() and not out_root.is_dir():
        raise UsageError(f"{out_root}: not a directory (given as the results directory)")
    partial = partial_reasons(packs, available_packs(), list(args.pytest_args))
    faults = [*lab.faults, *args.fault]
    if faults:  # a run with faults on purpose is an exercise of the bench, not a DMCT result
        partial.append(f"bench faults injected: {', '.join(faults)}")
    with run_guard(out_root, "dmct run") as stopped:
        say(f"dmct run: bench {lab.bench} ({lab.path}); DMC {', '.join(lab.dmc_ids)}; "
            f"status {', '.join(lab.installation_statuses)}; packs "
            f"{', '.join([*packs, *lab_pack_paths(args)])}; "
            f"results in {out_root}", flush=True)
        if partial:
            say(f"dmct run: PARTIAL selection ({'; '.join(partial)}): its reports say so "
                "and are never made final", flush=True)
        write_manifest(out_root, RunManifest(
            lab=str(Path(lab.path).absolute()), dmcs=list(lab.dmc_ids),
            statuses=list(lab.installation_statuses), packs=packs,
            pytest_args=list(args.pytest_args), started_at=datetime.now(UTC).isoformat(),
            version=harness_version(), formats=list(args.format),
            partial_reasons=partial, faults=list(args.fault),
            pack_paths=lab_pack_paths(args)))
        return _run_all(args, lab, packs, out_root, resume=False)
    return stopped.exit_code


def _warm(args: argparse.Namespace) -> None:
    """A run on this machine starts its fork server at once (``warm_pytest_server``)."""
    if not getattr(args, "scheduler", None):
        from harness.cli.entries import warm_pytest_server

        warm_pytest_server()


def _check_scheduling(args: argparse.Namespace) -> None:
    """``--jobs`` and ``--scheduler`` exclude each other, checked before anything is written."""
    if getattr(args, "scheduler", None) and getattr(args, "jobs", None):
        raise UsageError("--jobs and --scheduler do not go together: the cluster's workers "
                         "decide how many entries run at once")


def _check_environment() -> None:
    """The run's environment variables (``DMCT_FUZZ_EXAMPLES``), before anything is written."""
    from harness.config.environment import BadEnvironment, check_environment

    try:
        check_environment()
    except BadEnvironment as exc:
        raise UsageError(str(exc)) from None


def _check_faults(specs: Sequence[str], lab: Any) -> None:
    """Every ``--fault`` parses and can happen on the lab's bench, before anything is written."""
    from harness.fault_injection import FaultError, check_faults, parse_fault

    try:
        check_faults([parse_fault(spec) for spec in specs], lab)
    except FaultError as exc:
        raise UsageError(f"--fault {exc}") from None


def _refuse_if_locked(out_root: Path) -> None:
    from harness.report.lock import LockHeld, check_free

    try:
        check_free(out_root)
    except LockHeld as exc:
        raise UsageError(str(exc)) from None


def take_lock(out_root: Path, command: str, *, create: bool = True) -> Any:
    """``out_root``'s :class:`~harness.report.lock.RunLock`, taken; held by a live run, a
    usage error naming it. ``create=False``: a directory that does not exist is not made."""
    from harness.report.lock import LockHeld, RunLock

    lock = RunLock(out_root, command)
    try:
        lock.acquire() if create else lock.acquire_existing()
    except LockHeld as exc:
        raise UsageError(str(exc)) from None
    if lock.recovered is not None:
        print(f"dmct: note: {out_root}: took over the lock left by {lock.recovered.describe()}, "
              "which has ended", file=sys.stderr, flush=True)
    return lock


@contextlib.contextmanager
def results_locked(directory: Path, command: str) -> Iterator[None]:
    """The lock of the results directory holding ``directory``, for a command that writes
    there without running anything (``dmct report --final``)."""
    from harness.report.lock import lock_root

    lock = take_lock(lock_root(directory), command, create=False)
    try:
        yield
    finally:
        lock.release()


class Stopped:
    """How a run guarded by :func:`run_guard` was stopped (``exit_code`` 0: it was not)."""

    exit_code = 0


@contextlib.contextmanager
def run_guard(out_root: Path, command: str) -> Iterator[Stopped]:
    """Hold ``out_root``'s lock for the block, children included; a stop signal (Ctrl-C,
    SIGTERM, SIGHUP) ends the block once the children have stopped, prints the command that
    resumes the run and sets the :class:`Stopped`'s exit code (128 + the signal)."""
    from harness.cli.signals import Interrupted, stop_signals_raise

    lock = take_lock(out_root, command)
    stopped = Stopped()
    child.share_lock(lock)
    try:
        with stop_signals_raise():
            yield stopped
    except Interrupted as exc:
        stopped.exit_code = exc.exit_code
        print_interrupted(out_root, exc.name)
    finally:
        child.share_lock(None)
        lock.release()


def _cmd_resume(args: argparse.Namespace) -> int:
    """``dmct run --resume DIR``: the run of ``DIR/run.json`` again, running only what is
    missing from each DMC and status."""
    from harness.report.manifest import MANIFEST_FILE, ManifestError, read_manifest

    given = [f"--{name.replace('_', '-')}" for name in SELECTION_OPTIONS
             if getattr(args, name, None)]
    if args.pytest_args:
        given.append("pytest arguments after '--'")
    if given:
        raise UsageError(f"--resume runs the selection recorded in {MANIFEST_FILE}: "
                         f"{', '.join(given)} cannot be given with it")
    out_root = Path(args.resume)
    _refuse_if_locked(out_root)
    if not (out_root / MANIFEST_FILE).is_file():
        raise UsageError(f"cannot resume {out_root}: no {MANIFEST_FILE} there (not the results "
                         "directory of a dmct run)")
    report_formats(args.format)
    _check_scheduling(args)
    _check_environment()
    _warm(args)
    with run_guard(out_root, "dmct run --resume") as stopped:  # the run.json of no live run
        try:
            manifest = read_manifest(out_root)
        except ManifestError as exc:
            raise UsageError(f"cannot resume: {exc}") from None
        if manifest is None:
            raise UsageError(f"cannot resume {out_root}: no {MANIFEST_FILE} there")
        lab = load_lab(manifest.lab).select(manifest.dmcs, manifest.statuses)
        unknown = [p for p in manifest.packs if p not in available_packs()]
        if unknown:
            raise UsageError(f"cannot resume: {out_root / MANIFEST_FILE}: unknown pack "
                             f"{unknown[0]!r}")
        gone = [p for p in manifest.pack_paths if not Path(p).is_dir()]
        if gone:
            raise UsageError(f"cannot resume: {out_root / MANIFEST_FILE}: pack_paths: "
                             f"{gone[0]}: not a directory (the lab's own packs of the run)")
        args.pytest_args = list(manifest.pytest_args)
        args.fault = list(manifest.faults)
        args.pack_path = list(manifest.pack_paths)
        args.format = list(args.format) or list(manifest.formats)  # else the run's own
        report_formats(args.format)
        say(f"dmct run --resume: bench {lab.bench} ({lab.path}); DMC "
            f"{', '.join(lab.dmc_ids)}; status {', '.join(lab.installation_statuses)}; packs "
            f"{', '.join([*manifest.packs, *manifest.pack_paths])}; results in {out_root} "
            f"(started {manifest.started_at})", flush=True)
        return _run_all(args, lab, manifest.packs, out_root, resume=True)
    return stopped.exit_code


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
    """Run (or resume) every DMC and status of ``lab``; print the totals; the exit code."""
    from harness.cli.entries import (
        EntryFailed,
        catalogue_handed_down,
        environment,
        pytest_server,
    )
    from harness.cli.parts import plan_units, splittable

    _check_scheduling(args)
    entries = _plan_entries(lab, out_root, resume=resume)
    scheduler = getattr(args, "scheduler", None)
    try:
        with environment(DMCT_EVIDENCE=getattr(args, "evidence", None) or "failed"):
            if scheduler:
                results = _run_on_cluster(args, lab, packs, entries, scheduler)
            else:
                jobs = _jobs(args, lab)
                units = plan_units(entries, packs, workers=jobs,
                                   may_split=splittable(args, lab))
                times: list[UnitTime] = []
                try:
                    with catalogue_handed_down(lab.catalogue), pytest_server():
                        results = _run_units(args, lab, packs, entries, units, jobs, times)
                finally:
                    write_timings(out_root, times)  # those that ended, on a stop too
    except EntryFailed as exc:
        return fail(str(exc))
    write_epcl_summary(out_root, lab.catalogue)
    return print_totals(results)


def _jobs(args: argparse.Namespace, lab: Any) -> int:
    """How many units run at once: ``--jobs``, else every core; one on a real bench, whose
    radio and serial ports its entries share."""
    from harness.cli.entries import default_jobs

    jobs: int = getattr(args, "jobs", None) or default_jobs()
    if jobs > 1 and not lab.is_emulated:
        if getattr(args, "jobs", None):
            say(f"dmct run: bench {lab.bench} is a real bench: its entries run one at a time "
                "(--jobs applies to emulated benches)", flush=True)
        return 1
    return jobs


class _Split:
    """The parts of the split entries of a run on this machine: which have started, how many
    are still to end, and each entry's one table (its parts print from threads of their
    own)."""

    def __init__(self, units: Sequence[Any]) -> None:
        import threading

        from harness.cli.parts import Part

        self.lock = threading.Lock()
        self.parts: dict[int, list[Part]] = {}
        for unit in units:
            if unit.part is not None:
                self.parts.setdefault(id(unit.entry), []).append(unit.part)
        self.left = {key: len(parts) for key, parts in self.parts.items()}
        self.tables: dict[int, Any] = {}

    def start(self, args: argparse.Namespace, entry: Any) -> Any:
        """The entry's table; before its first part: its header and its parts on disk."""
        from harness.cli.output import Table
        from harness.cli.parts import start_parts

        with self.lock:
            if id(entry) not in self.tables:
                _prepare_entry(entry)
                start_parts(entry.out, sorted(self.parts[id(entry)], key=lambda p: p.index))
                self.tables[id(entry)] = Table(entry.dmc, entry.status, verbose=args.verbose)
            return self.tables[id(entry)]

    def ended(self, entry: Any) -> bool:
        """One part of ``entry`` ended; whether it was the last."""
        with self.lock:
            self.left[id(entry)] -= 1
            return self.left[id(entry)] == 0


def _run_units(args: argparse.Namespace, lab: Any, packs: Sequence[str],
               entries: Sequence[Any], units: Sequence[Any], jobs: int,
               times: list[UnitTime]) -> list[RunResult]:
    """The units of a run on this machine, ``jobs`` at a time (``harness.cli.parts``); an
    entry's totals as its last unit ends. Results in entry order; what each unit took is
    appended to ``times`` as it ends."""
    from harness.cli.entries import free_core, run_local

    split = _Split(units)

    def run(unit: Any) -> RunResult | None:
        entry = unit.entry
        if unit.part is None:
            return _run_entry(args, lab, packs, entry, unit, times)
        table = split.start(args, entry)
        started = time.perf_counter()
        ran = run_one(args, lab, unit.part.targets, entry.dmc, entry.status,
                      unit.out.absolute(), table=table)
        times.append(took(unit, ran, started))
        _check_ran(entry, ran.returncode, ran.tail, read_records(unit.out))
        free_core()  # the next unit starts while this entry's parts are folded and rendered
        if not split.ended(entry):
            return None
        table.close()
        return _merge_and_finish(args, lab, entry)

    results = run_local(units, run, jobs=jobs)
    by_entry = {id(unit.entry): result for unit, result in zip(units, results, strict=True)
                if result is not None}
    return [by_entry[id(e)] for e in entries if id(e) in by_entry]


def _merge_and_finish(args: argparse.Namespace, lab: Any, entry: Any) -> RunResult:
    """A split entry whose parts have all ended: its parts folded into it, then its formats
    and totals line as for an entry run whole."""
    from harness.cli.parts import merge_parts

    merge_parts(entry.out, lab.select([entry.dmc], [entry.status]))
    return _finish_entry(args, entry, 0, [])


def _plan_entries(lab: Any, out_root: Path, *, resume: bool) -> list[Any]:
    """The entries of a run in order (DMC, then status); a DMC with no EPCL entry for a status
    is said and skipped."""
    from harness.cli.entries import Entry
    from harness.cli.parts import PARTS_DIR, merge_parts

    entries: list[Entry] = []
    for dmc_id in lab.dmc_ids:
        for status in lab.installation_statuses:
            if lab.catalogue.dmc(dmc_id).epcl_id(status) is None:
                say(f"\n== {dmc_id} / {status}: skipped: the DMC has no EPCL entry for "
                      f"{status} installations", flush=True)
                continue
            out = out_root / dmc_id / status
            out.mkdir(parents=True, exist_ok=True)
            if resume and (out / PARTS_DIR).is_dir():  # left by a killed run: folded first
                merge_parts(out, lab.select([dmc_id], [status]))
            action, kept = _resume_plan(out) if resume else ("run", [])
            entries.append(Entry(dmc_id, status, out, action, tuple(kept)))  # type: ignore[arg-type]
    return entries


def _prepare_entry(entry: Any) -> None:
    """Before the pytest process of an entry: its header line; a fresh entry loses the records,
    state and parts of an earlier run in its directory."""
    import shutil

    from harness.cli.parts import PARTS_DIR
    from harness.report.manifest import STATE_FILE, run_state
    from harness.report.records import RECORDS_FILE

    dmc_id, status, out, kept = entry.dmc, entry.status, entry.out, entry.kept
    if entry.action == "kept":
        say(f"\n== {dmc_id} / {status}: kept: complete, {len(kept)} cases (nothing "
            "to run)", flush=True)
    elif entry.action == "resume":
        state = run_state(out) if (out / STATE_FILE).exists() else None
        planned = f" of {len(state.planned)}" if state and state.planned else ""
        say(f"\n== {dmc_id} / {status}: resumed: {len(kept)}{planned} cases kept, "
            "running the rest", flush=True)
    else:
        (out / RECORDS_FILE).unlink(missing_ok=True)  # even if pytest never starts
        (out / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
        say(f"\n== {dmc_id} / {status}", flush=True)


def _finish_entry(args: argparse.Namespace, entry: Any, returncode: int,
                  tail: Sequence[str]) -> RunResult:
    """After the pytest process of an entry: its report formats and totals line (raises
    ``EntryFailed`` when pytest could not run the packs)."""
    from harness.cli.entries import free_core

    result = RunResult(entry.dmc, entry.status, entry.out, read_records(entry.out),
                       read_report(entry.out))
    if entry.action != "kept":
        _check_ran(entry, returncode, tail, result.records)
        if not result.records:
            say("(no test ran)")
    free_core()  # (under parallel entries: the next starts while this one's formats are written)
    render_run_formats(args, result)  # a kept entry: formats asked for now, if not there yet
    say(totals_line(result), flush=True)
    return _compact(result)


def _check_ran(entry: Any, returncode: int, tail: Sequence[str], records: Sequence[Any]
               ) -> None:
    """Raises ``EntryFailed`` when pytest could not run the packs (usage, collection)."""
    from harness.cli.entries import EntryFailed

    if returncode in (3, 4) or (returncode == 2 and not records):
        raise EntryFailed(f"pytest could not run the packs for {entry.dmc}/{entry.status} "
                          f"(pytest exit {returncode}): {pytest_error(tail)}")


def _run_entry(args: argparse.Namespace, lab: Any, packs: Sequence[str],
               entry: Any, unit: Any, times: list[UnitTime]) -> RunResult:
    """One entry on this machine: its pytest process, its table printed live."""
    from harness.cli.entries import Ran

    _prepare_entry(entry)
    ran = Ran(0)
    if entry.action != "kept":
        started = time.perf_counter()
        ran = run_one(args, lab, packs, entry.dmc, entry.status, entry.out.absolute(),
                      kept=entry.kept)
        times.append(took(unit, ran, started))
    return _finish_entry(args, entry, ran.returncode, ran.tail)


def _run_on_cluster(args: argparse.Namespace, lab: Any, packs: Sequence[str],
                    entries: Sequence[Any], scheduler: str) -> list[RunResult]:
    """Every unit of the run (``harness.cli.parts``) as a task of the Dask cluster at
    ``scheduler``, longest first; each entry's table, report and totals as its last unit comes
    back (``harness.cli.entries``). Results in entry order."""
    from harness.cli.entries import Ran, connect, run_dask
    from harness.cli.output import Table
    from harness.cli.parts import merge_parts, plan_units, splittable, start_parts

    if not lab.is_emulated:
        raise UsageError(f"--scheduler: bench {lab.bench} is a real bench, whose radio and "
                         "serial ports are on this machine: run it without --scheduler")
    results: dict[int, RunResult] = {}
    left: dict[int, int] = {}

    def prepare(unit: Any) -> None:
        entry = unit.entry
        if id(entry) in left:
            return
        left[id(entry)] = unit.of
        _prepare_entry(entry)
        if unit.part is not None:
            start_parts(entry.out, sorted((u.part for u in units
                                           if u.entry is entry and u.part is not None),
                                          key=lambda p: p.index))

    def finish(unit: Any, ran: Ran) -> None:
        entry = unit.entry
        if unit.part is not None:
            _check_ran(entry, ran.returncode, ran.tail, read_records(unit.out))
        left[id(entry)] -= 1
        if left[id(entry)]:
            return
        if unit.part is not None:
            merge_parts(entry.out, lab.select([entry.dmc], [entry.status]))
            ran = Ran(0)
        if entry.action != "kept":
            # the entry is over: its rows at once, as plain lines (no live progress line)
            with Table(entry.dmc, entry.status, verbose=args.verbose, live=False) as table:
                table.printed.update(entry.kept)
                records = [r for r in read_records(entry.out) if r.id not in table.printed]
                table.plan([{"id": r.id, "srv": list(r.srv)} for r in records])
                for record in records:
                    table.row(record)
        results[id(entry)] = _finish_entry(args, entry, ran.returncode, ran.tail)

    try:
        client = connect(scheduler)
    except OSError as exc:
        raise UsageError(str(exc)) from None
    with client:
        workers = max(sum(client.nthreads().values()), 1)
        units = plan_units(entries, packs, workers=workers, may_split=splittable(args, lab))
        say(f"dmct run: {len(entries)} entries on the Dask cluster at {scheduler} "
            f"({len(units)} tasks)", flush=True)
        run_dask(client, units, prepare=prepare, finish=finish,
                 lab=str(Path(lab.path).absolute()), packs=packs,
                 pack_paths=lab_pack_paths(args), faults=list(args.fault or ()),
                 pytest_args=args.pytest_args, catalogue=lab.catalogue)
    return [results[id(e)] for e in entries if id(e) in results]


class _Outcome:
    """What the closing totals and list of failures need of a record (the parent keeps no more
    per case)."""

    __slots__ = ("id", "outcome", "reason")

    def __init__(self, record: Any) -> None:
        self.id = record.id
        self.outcome = record.outcome
        # the closing list of failures names why (a passed case's reason is never printed)
        self.reason = record.reason if record.outcome in ("failed", "blocked") else None


def _compact(result: RunResult) -> RunResult:
    """``result`` with only what the closing totals read: the parent's memory stays flat in
    the number of cases and entries."""
    report = result.report
    if report is not None:
        report = {k: report[k] for k in ("verdict", "testing_issues") if k in report}
    return RunResult(result.dmc, result.status, result.out,
                     [_Outcome(r) for r in result.records], report)
