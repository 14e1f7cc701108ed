"""``dmct``: run the DMCT test packs, check a bench, validate device profiles.

Exit codes: 0 success; 1 a test failed or was blocked, a device is unreachable or a profile is
invalid; 2 usage or configuration error (one line on stderr, ``dmct: error: ...``, never a
traceback); 130 interrupted.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PACK_ORDER = ("smoke", "dormant", "active", "mixed", "srv", "security")
OUTCOME_ORDER = ("passed", "failed", "blocked", "not_applicable")
#: Longest reason printed in the summary table; records.jsonl keeps the whole text.
REASON_WIDTH = 160
#: How long an interrupted pack run may take to stop its bench before it is killed.
STOP_GRACE_S = 60.0
#: How long an interrupted pack run gets to notice Ctrl-C by itself before it is sent SIGINT.
INTERRUPT_WAIT_S = 5.0


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit 2."""


def _fail(message: str) -> int:
    print(f"dmct: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_lab(path: str | None) -> Any:
    from harness.config import default_lab_config_path, load_lab_config

    lab_path = Path(path) if path else Path(os.environ.get("DMCT_LAB") or default_lab_config_path())
    if not lab_path.is_file():
        what = "is a directory, not a lab config file" if lab_path.is_dir() else "not found"
        raise UsageError(f"{lab_path}: lab config file {what}")
    return load_lab_config(lab_path)


def packs_dir() -> Path:
    """The installed ``testpacks`` directory (works from any working directory)."""
    return Path(str(resources.files("testpacks")))


def available_packs() -> list[str]:
    root = packs_dir()
    # A pack is a package of test files; testpacks/common holds shared code, not cases.
    found = [p.name for p in root.iterdir()
             if p.is_dir() and (p / "__init__.py").exists() and any(p.glob("test_*.py"))]
    return sorted(found, key=lambda n: (PACK_ORDER.index(n) if n in PACK_ORDER else 99, n))


# -- dmct run --------------------------------------------------------------------------------

@dataclass
class RunResult:
    """One DMC / installation status run of the packs."""

    dmc: str
    status: str
    out: Path
    records: list[Any] = field(default_factory=list)
    #: ``dmct-report.json`` of the run (``None`` if the run wrote none).
    report: dict[str, Any] | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.records if r.outcome == outcome)

    @property
    def verdict(self) -> str:
        return str(self.report["verdict"]) if self.report else "no report"

    @property
    def ok(self) -> bool:
        """The DMC meets its exit criteria for this installation status."""
        return self.verdict == "meets_exit_criteria"


class Table:
    """The live summary table of one run: a header, then one line per test as it finishes."""

    HEADERS = ("DMC/STATUS", "TEST", "SRV", "OUTCOME", "REASON")

    def __init__(self, dmc: str, status: str) -> None:
        self.label = f"{dmc}/{status}"
        self.widths = [max(len(self.label), len("DMC/STATUS")), 60, 5, len("NOT_APPLICABLE")]
        self.printed: set[str] = set()
        self.header_printed = False

    def plan(self, tests: Sequence[dict[str, Any]]) -> None:
        if tests:
            self.widths[1] = max(len(_short(t["id"])) for t in tests)
            self.widths[2] = max(5, *(len(",".join(t.get("srv", [])) or "-") for t in tests))
        self.header()

    def header(self) -> None:
        if not self.header_printed:
            self.header_printed = True
            print(self._line(*self.HEADERS).rstrip(), flush=True)

    def row(self, record: Any) -> None:
        self.header()
        self.printed.add(record.id)
        reason = (record.reason or "") if record.outcome != "passed" else ""
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 3] + "..."
        print(self._line(self.label, _short(record.id), ",".join(record.srv) or "-",
                         record.outcome.upper(), reason).rstrip(), flush=True)

    def _line(self, *cells: str) -> str:
        fixed = [f"{cell:<{width}}" for cell, width in zip(cells, self.widths, strict=False)]
        return "  ".join([*fixed, *cells[len(self.widths):]])


def _short(nodeid: str) -> str:
    """A node id without the ``testpacks/`` prefix: ``smoke/test_smoke.py::test_x[ESME]``."""
    return nodeid.removeprefix("testpacks/")


def _pytest_command(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
                    status: str, out: Path, *, resume: bool = False) -> list[str]:
    """``resume``: run only the cases with no record in ``out``, adding to its records and
    Allure results (the plugin's ``--dmct-resume``)."""
    return [
        sys.executable, "-m", "pytest", *[str(packs_dir() / p) for p in packs],
        "-p", "harness.pytest_plugin",
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


def _run_one(args: argparse.Namespace, lab: Any, packs: Sequence[str], dmc_id: str,
             status: str, out: Path, *, kept: Sequence[str] = ()) -> tuple[int, list[str]]:
    """Run the packs for one DMC and status; print the table live. (returncode, output tail).

    ``kept``: a resumed run's cases that already have a record; only the others run (and are
    printed).
    """
    from harness.pytest_plugin import PLAN_PREFIX, PROGRESS_PREFIX
    from harness.report.records import TestRecord

    table = Table(dmc_id, status)
    table.printed.update(kept)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = _pytest_command(args, lab, packs, dmc_id, status, out, resume=bool(kept))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
                elif args.verbose:
                    print(line, flush=True)
                elif line.strip():
                    tail.append(line)
            returncode = proc.wait()
        except KeyboardInterrupt:
            _stop(proc)
            raise
    for record in _read_records(out):  # anything the live table missed
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


def _read_records(out: Path) -> list[Any]:
    from harness.report.records import read_records

    return list(read_records(out))


def _pytest_error(tail: Sequence[str]) -> str:
    """The line of pytest's output that says why it could not run (usage, collection)."""
    lines = [" ".join(line.split()) for line in tail if line.strip()]
    for line in lines:  # argparse: "__main__.py: error: unrecognized arguments: --x"
        if ": error: " in line:
            return "pytest: error: " + line.split(": error: ", 1)[1]
    for line in reversed(lines):
        if line.startswith(("ERROR", "E ", "INTERNALERROR>")) and len(line) > 8:
            return line
    return lines[-1] if lines else "no output"


#: ``dmct run`` options that choose what runs: a resumed run takes them from its ``run.json``.
SELECTION_OPTIONS = ("lab", "dmc", "status", "pack", "out")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smets1-dmct")
    except PackageNotFoundError:
        return "unknown"


def cmd_run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from harness.report.manifest import RunManifest, write_manifest

    if args.resume is not None:
        return _cmd_resume(args)
    lab = _load_lab(args.lab)
    lab = lab.select(args.dmc or None, args.status or None)
    packs = list(dict.fromkeys(args.pack)) or available_packs()
    unknown = [p for p in packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"unknown pack {unknown[0]!r} (given with --pack); packs: "
                         f"{', '.join(available_packs())}")
    out_root = Path(args.out) if args.out else lab.output_dir
    print(f"dmct run: bench {lab.bench} ({lab.path}); DMC {', '.join(lab.dmc_ids)}; status "
          f"{', '.join(lab.installation_statuses)}; packs {', '.join(packs)}; results in "
          f"{out_root}", flush=True)
    out_root.mkdir(parents=True, exist_ok=True)
    write_manifest(out_root, RunManifest(
        lab=str(Path(lab.path).absolute()), dmcs=list(lab.dmc_ids),
        statuses=list(lab.installation_statuses), packs=packs,
        pytest_args=list(args.pytest_args), started_at=datetime.now(UTC).isoformat(),
        version=_version(), formats=list(args.format)))
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
    lab = _load_lab(manifest.lab).select(manifest.dmcs, manifest.statuses)
    unknown = [p for p in manifest.packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"cannot resume: {out_root / MANIFEST_FILE}: unknown pack "
                         f"{unknown[0]!r}")
    args.pytest_args = list(manifest.pytest_args)
    args.format = list(args.format) or list(manifest.formats)  # else the run's own
    print(f"dmct run --resume: bench {lab.bench} ({lab.path}); DMC {', '.join(lab.dmc_ids)}; "
          f"status {', '.join(lab.installation_statuses)}; packs {', '.join(manifest.packs)}; "
          f"results in {out_root} (started {manifest.started_at})", flush=True)
    return _run_all(args, lab, manifest.packs, out_root, resume=True)


def _resume_plan(out: Path) -> tuple[str, list[str]]:
    """What a resumed run does with one DMC/status directory: ``("kept", ids)`` for a complete
    one, ``("resume", ids of finished cases)`` for one that started, ``("run", [])`` else."""
    from harness.report.manifest import ManifestError, is_complete, run_state
    from harness.report.records import keep_finished

    if is_complete(out):
        return "kept", [r.id for r in _read_records(out)]
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
    from harness.report.manifest import STATE_FILE, run_state
    from harness.report.records import RECORDS_FILE

    _report_formats(args.format)  # a bad --format stops the run before it starts
    results: list[RunResult] = []
    for dmc_id in lab.dmc_ids:
        for status in lab.installation_statuses:
            if lab.catalogue.dmc(dmc_id).epcl_id(status) is None:
                print(f"\n== {dmc_id} / {status}: skipped: the DMC has no EPCL entry for "
                      f"{status} installations", flush=True)
                continue
            out = out_root / dmc_id / status
            out.mkdir(parents=True, exist_ok=True)
            action, kept = _resume_plan(out) if resume else ("run", [])
            if action == "kept":
                print(f"\n== {dmc_id} / {status}: kept: complete, {len(kept)} cases (nothing "
                      "to run)", flush=True)
                result = RunResult(dmc_id, status, out, _read_records(out), _read_report(out))
                _render_run_formats(args, result)  # formats asked for now, if not there yet
                results.append(result)
                print(_totals_line(result), flush=True)
                continue
            if action == "resume":
                state = run_state(out) if (out / STATE_FILE).exists() else None
                planned = f" of {len(state.planned)}" if state and state.planned else ""
                print(f"\n== {dmc_id} / {status}: resumed: {len(kept)}{planned} cases kept, "
                      "running the rest", flush=True)
            else:
                (out / RECORDS_FILE).unlink(missing_ok=True)  # even if pytest never starts
                (out / STATE_FILE).unlink(missing_ok=True)
                print(f"\n== {dmc_id} / {status}", flush=True)
            returncode, tail = _run_one(args, lab, packs, dmc_id, status, out.absolute(),
                                        kept=kept)
            result = RunResult(dmc_id, status, out, _read_records(out), _read_report(out))
            if returncode in (3, 4) or (returncode == 2 and not result.records):
                return _fail(f"pytest could not run the packs for {dmc_id}/{status} "
                             f"(pytest exit {returncode}): {_pytest_error(tail)}")
            if not result.records:
                print("(no test ran)")
            _render_run_formats(args, result)
            results.append(result)
            print(_totals_line(result), flush=True)
    _write_epcl_summary(out_root, lab.catalogue)
    return _print_totals(results)


def _write_epcl_summary(out_root: Path, catalogue: Any) -> None:
    """``epcl-summary.{json,md,html}`` over every DMC report under ``out_root``."""
    from harness.report.epcl import write_epcl_summary

    written = write_epcl_summary(out_root, catalogue)
    if written:
        print(f"EPCL summary: {', '.join(str(p) for p in written)}", flush=True)


def _totals_line(result: RunResult) -> str:
    counts = ", ".join(f"{result.count(o)} {o.replace('_', ' ')}" for o in OUTCOME_ORDER)
    n = len(result.records)
    issues = ""
    if result.report and result.report.get("testing_issues"):
        issues = "; testing issues: " + ", ".join(
            f"{i['id']} (severity {i['severity']}{'' if i['known'] else ', new'})"
            for i in result.report["testing_issues"])
    return (f"{result.dmc} / {result.status}: {n} test{'' if n == 1 else 's'}: {counts}; "
            f"{result.verdict.replace('_', ' ')}{issues}; "
            f"report: {result.out / 'dmct-report.json'}")


def _read_report(out: Path) -> dict[str, Any] | None:
    path = out / "dmct-report.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, json.JSONDecodeError):
        return None


def _print_totals(results: Sequence[RunResult]) -> int:
    if not results:
        print("FAILED: nothing ran (no DMC has an EPCL entry for the statuses asked for)")
        return EXIT_FAILED
    if len(results) > 1:
        print("\n== totals")
        for result in results:
            print(_totals_line(result))
    bad = [f"{r.dmc}/{r.status}" for r in results if not r.ok]
    if bad:
        print(f"FAILED: exit criteria not met in {', '.join(bad)}")
        return EXIT_FAILED
    print(f"OK: every DMC meets its exit criteria ({len(results)} run(s))")
    return EXIT_OK


# -- report formats and dmct report ----------------------------------------------------------

def _report_formats(values: Sequence[str]) -> tuple[str, ...]:
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


def _render_run_formats(args: argparse.Namespace, result: RunResult) -> None:
    """After the pytest run of one DMC/status: ``dmct-report.{html,md,...}`` beside the JSON
    the pytest plugin wrote (nothing when pytest wrote no report)."""
    if result.report is not None:
        _write_formats(result.out, result.report, _report_formats(args.format),
                       write_json=False)


def _report_lab(args: argparse.Namespace, root: Path) -> Any:
    """The lab config to rebuild reports with: ``--lab``, else the run's (``run.json``), else
    the default one."""
    from harness.report.rebuild import ReportDirError, out_root_lab

    if args.lab:
        return _load_lab(args.lab)
    try:
        recorded = out_root_lab(root)
    except ReportDirError as exc:
        raise UsageError(str(exc)) from None
    if recorded is None:
        return _load_lab(None)
    if not Path(recorded).is_file():
        raise UsageError(f"{recorded}: the run's lab config (recorded in run.json) is not found; "
                         "give the lab config with --lab FILE")
    return _load_lab(recorded)


def cmd_report(args: argparse.Namespace) -> int:
    """``dmct report DIR``: rebuild, finalise and render the reports of a run's directory."""
    from datetime import datetime

    from harness.report.allure import annotate_results
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
    formats = _report_formats(args.format)
    try:
        at = now()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    root = Path(args.dir)
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
        print(f"{item.dmc}/{item.status}: {str(report['verdict']).replace('_', ' ')}; "
              f"{report.get('state')}{'' if report.get('complete', True) else ', INCOMPLETE'}"
              f"; referral deadline {report.get('referral_deadline')}; {item.action}; wrote "
              f"{', '.join(p.name for p in written)} in {item.directory}")
    single = [p.directory for p in plans] == [root]  # DIR is one <dmc>/<status> directory
    _write_epcl_summary(root.parent.parent if single else root,
                        (labs[0] if labs else _report_lab(args, root)).catalogue)
    ok = all(p.report.get("verdict") == "meets_exit_criteria" for p in plans)
    return EXIT_OK if ok else EXIT_FAILED


# -- dmct lab check --------------------------------------------------------------------------

def cmd_lab_check(args: argparse.Namespace) -> int:
    from harness.bench import Bench
    from harness.config import ConfigError, SecretStore
    from harness.han.radio import RadioUnavailable

    lab = _load_lab(args.lab)
    lab = lab.select(args.dmc or None, None)
    for note in lab.warnings():
        print(f"note: {note}")
    SecretStore.load(lab).check(lab)  # raises the first secrets problem as a ConfigError
    ok = True
    try:
        bench = Bench.start(lab)
    except ConfigError:
        raise
    except RadioUnavailable as exc:  # the radio's extra is not installed: a usage error
        raise UsageError(str(exc)) from None
    except Exception as exc:  # a missing dongle or port: one line, not a traceback
        print(f"bench {lab.bench}: NOT STARTED: {type(exc).__name__}: "
              f"{' '.join(str(exc).split())[:300]}")
        return EXIT_FAILED
    with bench:
        print(f"bench {lab.bench}: radio {lab.radio.type}, DMC {bench.dmc.id}, "
              f"clock {'virtual' if bench.clock.is_virtual else 'real'}")
        results = bench.bring_up()
        for role, device in bench.devices.items():
            outcome = results[role]
            checks: list[str] = []
            if isinstance(outcome, Exception):
                ok = False
                print(f"{role:<6} {device.eui}  NOT REACHABLE  {outcome}")
                continue
            checks.append(f"joined nwk 0x{outcome.nwk:04X}")
            checks.append(f"interviewed ({outcome.manufacturer} {outcome.model})")
            try:
                if device.profile.is_meter:
                    kwh = device.read_register_kwh()
                    checks.append(f"ZigBee register {kwh}")
                else:
                    checks.append(f"ZigBee model {outcome.read_one('basic', 'model')}")
            except Exception as exc:  # a device answering garbage is reported, not a crash
                ok = False
                checks.append(f"ZigBee read FAILED: {exc}")
            if device.has_optical:
                try:
                    readout = device.read_optical()
                    line = readout.value(device.profile.optical_register)
                    checks.append(f"optical {line.value} {line.unit or ''}".rstrip())
                except Exception as exc:
                    ok = False
                    checks.append(f"optical FAILED: {exc}")
            print(f"{role:<6} {device.eui}  " + "; ".join(checks))
    print("all devices reachable" if ok else "some devices are NOT reachable")
    return EXIT_OK if ok else EXIT_FAILED


# -- dmct profiles validate ------------------------------------------------------------------

def _lab_profile_paths(path: str) -> list[Path]:
    """A lab config's ``profile_paths`` (relative to the file), without loading the catalogue:
    ``profiles validate`` lists every catalogue problem instead of stopping at the first."""
    from harness.config import load_yaml

    lab_path = Path(path)
    if not lab_path.is_file():
        raise UsageError(f"{lab_path}: lab config file not found")
    paths = load_yaml(lab_path).data.get("profile_paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        _load_lab(path)  # the lab config's own error, located
        raise UsageError(f"{lab_path}: profile_paths: expected a list of directories")
    return [(lab_path.parent / p).expanduser() for p in paths]


def cmd_profiles_validate(args: argparse.Namespace) -> int:
    from harness.config import load_catalogue, validate_all

    extra = [Path(p) for p in args.path]
    if args.lab:
        extra = [*_lab_profile_paths(args.lab), *extra]
    for path in extra:
        if not path.is_dir():
            raise UsageError(f"{path}: profile directory not found")
    errors = validate_all(extra)
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} problem(s) found")
        return EXIT_FAILED
    catalogue = load_catalogue(extra)
    where = ", ".join(str(p) for p in extra)
    print(f"{len(catalogue.profiles)} profiles and {len(catalogue.dmcs)} DMCs are valid "
          f"(packaged catalogue{' + ' + where if where else ''})")
    return EXIT_OK


# -- entry point -----------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error of every other dmct error."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message += " (pytest arguments go after '--': dmct run -- -k NAME)"
        raise UsageError(f"{message} (see '{self.prog} --help')")


_FORMATTER = argparse.RawDescriptionHelpFormatter

MAIN_EPILOG = """\
examples:
  dmct run                                    every pack on the emulated bench (no hardware)
  dmct run --lab bench-1.yaml --dmc ITRON-DMC-001 --status dormant --out results
  dmct lab check --lab bench-1.yaml           before the first run on a real bench
  dmct profiles validate --path lab-profiles  after adding a model or a DMC
  dmct report results --final                 finalise the drafts once their deadline passed

Exit status: 0 success; 1 a test failed or was blocked, a device is not reachable or a profile
is invalid; 2 usage or configuration error (one line on stderr: dmct: error: ...); 130
interrupted. Run 'dmct COMMAND --help' for a command's options.
"""

FORMAT_HELP = ("report format, repeatable or comma-separated: json, html, md, pdf (default: "
               "json,html,md; json is always written, pdf is printed by headless Chromium)")

REPORT_EPILOG = """\
Working days are days in England; "today" is DMCT_NOW when set (an ISO date, for testing).
Re-rendering keeps the draft's production date and referral deadline. --final refuses before
the referral deadline unless --force --reason TEXT (recorded as final_reason), and always
refuses an INCOMPLETE report (resume the run first).

Exit status: 0 every report meets its exit criteria; 1 one does not; 2 usage error, a missing
or broken directory, or a refused --final (nothing is written then).
"""

RUN_EPILOG = """\
Runs the packs once per DMC and installation status of the lab config (or of --dmc/--status),
each in its own pytest process, and prints one line per test as it finishes: DMC/status, test,
SRVs, outcome (PASSED, FAILED, BLOCKED, NOT_APPLICABLE) and reason; then the totals.

Writes OUT/run.json (what was asked for), OUT/<dmc>/<status>/records.jsonl (one JSON record
per test, written as it finishes), run-state.json, evidence/ (ZigBee frames, HAN events,
serial transcripts per test) and allure-results/. A run killed part-way keeps every test it
finished; "dmct run --resume OUT" runs only the missing ones. After each DMC and status, the
DMCT Testing Report: dmct-report.json, .html and .md (--format; "dmct report OUT" re-renders).

Extra pytest arguments go after a "--" separator, e.g.:
  dmct run --pack smoke -- -k register        only the tests matching "register"
  dmct run -- --timeout 900 -x                 another per-test timeout; stop at the first failure
  dmct run --verbose -- -v                     show pytest's own output too

Exit status: 0 every test passed or was not applicable; 1 a test failed or was blocked (or no test
ran); 2 usage or configuration error; 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dmct",
        description="SMETS1 DMCT harness: run the test packs on a bench (real or emulated), "
        "check a bench, validate device profiles.",
        epilog=MAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    run = sub.add_parser(
        "run", help="run the DMCT packs and print a per-test summary",
        description="Run the DMCT test packs against the bench of a lab config.",
        epilog=RUN_EPILOG, formatter_class=_FORMATTER,
        usage="dmct run [--lab FILE] [--dmc ID]... [--status STATUS]... [--pack NAME]... "
              "[--out DIR] [--format FMT]... [--verbose] [-- PYTEST_ARGS...]\n"
              "       dmct run --resume DIR [--format FMT]... [--verbose]",
    )
    run.add_argument("--lab", metavar="FILE",
                     help="lab config (default: $DMCT_LAB, else the emulated bench)")
    run.add_argument("--dmc", action="append", default=[], metavar="ID",
                     help="DMC id to test, repeatable (default: the lab config's 'dmc')")
    run.add_argument("--status", action="append", default=[], metavar="STATUS",
                     choices=("dormant", "active", "mixed"),
                     help="installation status: dormant, active or mixed; repeatable "
                     "(default: the lab config's 'installation_status')")
    run.add_argument("--pack", action="append", default=[], metavar="NAME",
                     help=f"test pack, repeatable (default: all: {', '.join(available_packs())})")
    run.add_argument("--out", metavar="DIR",
                     help="results directory (default: the lab config's 'output_dir')")
    run.add_argument("--format", action="append", default=[], metavar="FMT",
                     help=FORMAT_HELP)
    run.add_argument("--verbose", "-v", action="store_true",
                     help="also show pytest's own output")
    run.add_argument("--resume", metavar="DIR",
                     help="resume the run whose results are in DIR (its run.json): keep every "
                     "case that finished, run only the missing ones (no other selection "
                     "option)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser(
        "report", help="re-render a run's reports; finalise a draft (--final)",
        description="Rebuild the DMCT Testing Report of each <dmc>/<status> directory of DIR "
        "from its records.jsonl and render its formats. A run that did not finish gets a "
        "partial report marked INCOMPLETE. A final report is re-rendered from its JSON, never "
        "rebuilt.",
        epilog=REPORT_EPILOG, formatter_class=_FORMATTER,
        usage="dmct report DIR [--final [--force --reason TEXT]] [--format FMT]... "
              "[--lab FILE]",
    )
    report.add_argument("dir", metavar="DIR",
                        help="a dmct run's results directory, or one <dmc>/<status> in it")
    report.add_argument("--final", action="store_true",
                        help="finalise the draft (refused before its referral deadline)")
    report.add_argument("--force", action="store_true",
                        help="with --final: finalise before the referral deadline")
    report.add_argument("--reason", metavar="TEXT",
                        help="with --force: why, recorded in the report")
    report.add_argument("--format", action="append", default=[], metavar="FMT",
                        help=FORMAT_HELP)
    report.add_argument("--lab", metavar="FILE",
                        help="lab config to rebuild with (default: the run's, from run.json; "
                        "else $DMCT_LAB or the emulated bench)")
    report.set_defaults(func=cmd_report)

    lab = sub.add_parser("lab", help="bench commands (lab check)",
                         description="Bench commands.")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND",
                                 parser_class=_Parser)
    check = lab_sub.add_parser(
        "check", help="bring the bench up and check that every device answers",
        description="Validate a lab config and its secrets, start its bench, commission every "
        "device and read each one over ZigBee (and its optical port when it has a probe). "
        "Prints one line per device.",
        epilog="Exit status: 0 every device reachable; 1 a device (or the bench) is not; 2 "
        "configuration error.",
    )
    check.add_argument("--lab", metavar="FILE",
                       help="lab config (default: $DMCT_LAB, else the emulated bench)")
    check.add_argument("--dmc", action="append", default=[], metavar="ID",
                       help="DMC whose devices to check (default: the lab config's first)")
    check.set_defaults(func=cmd_lab_check)

    profiles = sub.add_parser("profiles", help="device profile commands (profiles validate)",
                              description="Device profile and DMC catalogue commands.")
    profiles_sub = profiles.add_subparsers(dest="profiles_command", required=True,
                                           metavar="COMMAND", parser_class=_Parser)
    validate = profiles_sub.add_parser(
        "validate", help="validate every device profile and DMC",
        description="Validate the packaged catalogue (device_profiles/) plus extra directories "
        "(each with models/ and dmcs/), listing every problem as <file>:<line>: <field>: "
        "<message>.",
        epilog="Exit status: 0 all valid; 1 problems found; 2 usage error.",
    )
    validate.add_argument("--lab", metavar="FILE",
                          help="also validate this lab config's profile_paths")
    validate.add_argument("--path", action="append", default=[], metavar="DIR",
                          help="extra catalogue directory, repeatable")
    validate.set_defaults(func=cmd_profiles_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.config import ConfigError

    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if extra and args.command != "run":
            raise UsageError(f"unexpected arguments after '--': {' '.join(extra)} (only "
                             "'dmct run' passes arguments to pytest)")
        args.pytest_args = extra
        return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except UsageError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("dmct: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
