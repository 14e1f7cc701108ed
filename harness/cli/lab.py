"""``dmct lab check`` and ``dmct profiles validate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.common import EXIT_FAILED, EXIT_OK, UsageError, load_lab
from harness.text import clip, printable


def cmd_lab_check(args: argparse.Namespace) -> int:
    from harness.bench import Bench
    from harness.config import ConfigError, SecretStore
    from harness.han.radio import RadioUnavailable

    lab = load_lab(args.lab)
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
        print(printable(f"bench {lab.bench}: NOT STARTED: {type(exc).__name__}: "
                        f"{clip(str(exc), 300)}"))
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
                print(printable(f"{role:<6} {device.eui}  NOT REACHABLE  {outcome}"))
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
            register = device.profile.optical_register
            if device.has_optical and register is not None:
                try:
                    readout = device.read_optical()
                    line = readout.value(register)
                    checks.append(f"optical {line.value} {line.unit or ''}".rstrip())
                except Exception as exc:
                    ok = False
                    checks.append(f"optical FAILED: {exc}")
            # What a device sends (its Basic strings) may hold terminal escape codes.
            print(printable(f"{role:<6} {device.eui}  " + "; ".join(checks), keep_newlines=False))
    print("all devices reachable" if ok else "some devices are NOT reachable")
    return EXIT_OK if ok else EXIT_FAILED



def _lab_profile_paths(path: str) -> list[Path]:
    """A lab config's ``profile_paths`` (relative to the file), without loading the catalogue:
    ``profiles validate`` lists every catalogue problem instead of stopping at the first."""
    from harness.config import load_yaml

    lab_path = Path(path)
    if not lab_path.is_file():
        raise UsageError(f"{lab_path}: lab config file not found")
    paths = load_yaml(lab_path).data.get("profile_paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        load_lab(path)  # the lab config's own error, located
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


