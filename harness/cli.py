"""``dmct``: run the packs, check a bench, validate profiles.

Exit codes: 0 success; 1 a test failed, a device is unreachable or a profile is invalid;
2 usage or configuration error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

PACK_ORDER = ("smoke", "dormant", "active", "mixed", "srv", "security")


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit 2."""


def _fail(message: str) -> int:
    print(f"dmct: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_lab(path: str | None) -> Any:
    from harness.config import default_lab_config_path, load_lab_config

    lab_path = Path(path) if path else Path(os.environ.get("DMCT_LAB") or default_lab_config_path())
    if not lab_path.exists():
        raise UsageError(f"lab config not found: {lab_path}")
    return load_lab_config(lab_path)


def packs_dir() -> Path:
    """The installed ``testpacks`` directory (works from any working directory)."""
    return Path(str(resources.files("testpacks")))


def available_packs() -> list[str]:
    root = packs_dir()
    found = [p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    return sorted(found, key=lambda n: (PACK_ORDER.index(n) if n in PACK_ORDER else 99, n))


# -- dmct run --------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from harness.report.records import read_records

    lab = _load_lab(args.lab)
    lab = lab.select(args.dmc or None, args.status or None)
    packs = args.pack or available_packs()
    unknown = [p for p in packs if p not in available_packs()]
    if unknown:
        raise UsageError(f"unknown pack {unknown[0]!r}; packs: {', '.join(available_packs())}")
    out_root = Path(args.out) if args.out else lab.output_dir
    worst = EXIT_OK
    summaries = []
    for dmc_id in lab.dmc_ids:
        for status in lab.installation_statuses:
            out = out_root / dmc_id / status
            out.mkdir(parents=True, exist_ok=True)
            (out / "records.jsonl").unlink(missing_ok=True)
            command = [
                sys.executable, "-m", "pytest", *[str(packs_dir() / p) for p in packs],
                "-p", "harness.pytest_plugin",
                "--lab", str(lab.path), "--dmc", dmc_id, "--status", status,
                "--dmct-out", str(out), "-q", "--no-header", "-p", "no:cacheprovider",
                "--rootdir", str(packs_dir().parent), "-o", "console_output_style=classic",
                *args.pytest_args,
            ]
            print(f"== {dmc_id} / {status}: packs {', '.join(packs)}", flush=True)
            completed = subprocess.run(command, check=False,
                                       stdout=None if args.verbose else subprocess.DEVNULL)
            records = list(read_records(out))
            if completed.returncode in (3, 4) or (completed.returncode == 2 and not records):
                return _fail(f"pytest could not run the packs for {dmc_id}/{status} "
                             f"(exit {completed.returncode}); rerun with --verbose")
            summaries.append((dmc_id, status, records))
            _print_table(records)
            if any(r.outcome in ("failed", "blocked") for r in records) or not records:
                worst = EXIT_FAILED
    _print_totals(summaries)
    return worst


def _print_table(records: Sequence[Any]) -> None:
    if not records:
        print("   (no test ran)")
        return
    width = min(max(len(_short(r.id)) for r in records), 78)
    for record in records:
        srv = ",".join(record.srv) or "-"
        line = f"   {_short(record.id):<{width}}  {srv:<8} {record.outcome.upper():<14}"
        if record.reason and record.outcome != "passed":
            line += f" {record.reason[:100]}"
        print(line)


def _short(nodeid: str) -> str:
    return nodeid.split("/")[-1] if "/" in nodeid else nodeid


def _print_totals(summaries: Sequence[tuple[str, str, Sequence[Any]]]) -> None:
    print()
    for dmc_id, status, records in summaries:
        counts = {o: sum(1 for r in records if r.outcome == o)
                  for o in ("passed", "failed", "blocked", "not_applicable")}
        print(f"{dmc_id} / {status}: " + ", ".join(f"{n} {o}" for o, n in counts.items()))


# -- dmct lab check --------------------------------------------------------------------------

def cmd_lab_check(args: argparse.Namespace) -> int:
    from harness.bench import Bench
    from harness.config import SecretStore

    lab = _load_lab(args.lab)
    lab = lab.select(args.dmc or None, None)
    for note in lab.warnings():
        print(f"note: {note}")
    SecretStore.load(lab).check(lab)  # raises the first secrets problem as a ConfigError
    ok = True
    with Bench.start(lab) as bench:
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

def cmd_profiles_validate(args: argparse.Namespace) -> int:
    from harness.config import load_catalogue, validate_all

    extra = [Path(p) for p in args.path]
    if args.lab:
        lab = _load_lab(args.lab)
        extra = [*lab.profile_paths, *extra]
    for path in extra:
        if not path.is_dir():
            raise UsageError(f"profile path is not a directory: {path}")
    errors = validate_all(extra)
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} problem(s) found")
        return EXIT_FAILED
    catalogue = load_catalogue(extra)
    print(f"{len(catalogue.profiles)} profiles and {len(catalogue.dmcs)} DMCs are valid")
    return EXIT_OK


# -- entry point -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dmct", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the DMCT packs and print a per-test summary")
    run.add_argument("--lab", help="lab config (default: the emulated bench)")
    run.add_argument("--dmc", action="append", default=[], help="DMC id (repeatable)")
    run.add_argument("--status", action="append", default=[],
                     choices=("dormant", "active", "mixed"),
                     help="installation status (repeatable)")
    run.add_argument("--pack", action="append", default=[], help="pack name (repeatable)")
    run.add_argument("--out", help="output directory (default: the lab config's output_dir)")
    run.add_argument("--verbose", "-v", action="store_true", help="show pytest's own output")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    run.set_defaults(func=cmd_run)

    lab = sub.add_parser("lab", help="lab bench commands")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    check = lab_sub.add_parser("check", help="bring the bench up and check every device")
    check.add_argument("--lab", help="lab config (default: the emulated bench)")
    check.add_argument("--dmc", action="append", default=[], help="DMC id (default: the lab's)")
    check.set_defaults(func=cmd_lab_check)

    profiles = sub.add_parser("profiles", help="device profile commands")
    profiles_sub = profiles.add_subparsers(dest="profiles_command", required=True)
    validate = profiles_sub.add_parser("validate", help="validate every profile and DMC")
    validate.add_argument("--lab", help="also validate this lab config's profile_paths")
    validate.add_argument("--path", action="append", default=[], help="extra profile directory")
    validate.set_defaults(func=cmd_profiles_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except UsageError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("dmct: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
