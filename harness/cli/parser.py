"""The ``dmct`` command line: every command, its options and its help."""

from __future__ import annotations

import argparse
from typing import NoReturn

from harness.cli.collect import run_or_collect
from harness.cli.common import UsageError, available_packs
from harness.cli.lab import cmd_lab_check, cmd_profiles_validate
from harness.cli.listing import cmd_list
from harness.cli.report import cmd_report


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error of every other dmct error."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message += " (pytest arguments go after '--': dmct run -- -k NAME)"
        raise UsageError(f"{message} (see '{self.prog} --help')")


_FORMATTER = argparse.RawDescriptionHelpFormatter


def _jobs(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1 is wanted, not "
                                         f"{value!r}")
    return int(value)


class _Version(argparse.Action):
    """``dmct --version``: the harness version and, from a source checkout, its git commit
    (looked up only when asked: git is not run for every command)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from harness.report.provenance import version_words

        print(f"dmct {version_words()}")
        parser.exit()

MAIN_EPILOG = """\
examples:
  dmct run                                    every pack on the emulated bench (no hardware)
  dmct run --dmc ITRON-DMC-001 --collect-only what would run, without running it
  dmct list dmcs                              the DMCs (also: packs, profiles)
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

The referral register (SVTAD 20.36-20.40, kept in each run directory's referrals.json):
  dmct report results --provided-to SUPPLIER-A --on 2026-04-02   the draft given to a supplier
  dmct report results --referral SUPPLIER-A --on 2026-04-10 --note "severity of 91342"
Once the draft was provided to suppliers, its referral deadline is 10 working days (the lab
config's referral_working_days) after the latest provision, not after production; a referral
made in time stops --final until the determination (then --force --reason TEXT).

Exit status: 0 every report meets its exit criteria; 1 one does not; 2 usage error, a missing
or broken directory, or a refused --final (nothing is written then).
"""

RUN_EPILOG = """\
Runs the packs once per DMC and installation status of the lab config (or of --dmc/--status),
each in its own pytest process. On a terminal: a live progress line (done/total, failed so far,
ETA) and one row per case that did not pass, fitted to the terminal's width: outcome (FAILED,
BLOCKED, NOT_APPLICABLE), test, reason; -v shows the passed cases too. Elsewhere (a pipe, a CI
log): the same rows in full, DMC/status first and with the SRVs, and a progress line every
tenth of the run. Then the totals,
every failed and blocked case with its reason, and the verdict. Ctrl-C stops the run and says
how to resume it.

Writes OUT/run.json (what was asked for), OUT/<dmc>/<status>/records.jsonl (one JSON record
per test, written as it finishes), run-state.json, evidence/ (ZigBee frames, HAN events,
serial transcripts per test) and allure-results/. A run killed part-way keeps every test it
finished; "dmct run --resume OUT" runs only the missing ones. After each DMC and status, the
DMCT Testing Report: dmct-report.json, .html and .md (--format; "dmct report OUT" re-renders).
At the end, OUT/timings.json: the wall and CPU seconds each entry (or part) took.

The entries run in parallel, one per core (--jobs N to choose); on an emulated bench an entry
is cut into parts (groups of its test files, each its own pytest process and bench) folded
back into the entry's one directory and report. Lines come as cases finish, each whole and
prefixed by its DMC/status. A real bench runs one entry at a time. --scheduler
tcp://HOST:8786 runs the same units on an existing Dask cluster instead: each unit's
directory comes back to this machine as it ends.

Extra pytest arguments go after a "--" separator, e.g.:
  dmct run --pack smoke -- -k register        only the tests matching "register"
  dmct run -- --timeout 900 -x                 another per-test timeout; stop at the first failure
  dmct run -vv -- -v                           show pytest's own output too

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
    parser.add_argument("--version", action=_Version,
                        help="print the harness version (and git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    run = sub.add_parser(
        "run", help="run the DMCT packs and print a per-test summary",
        description="Run the DMCT test packs against the bench of a lab config.",
        epilog=RUN_EPILOG, formatter_class=_FORMATTER,
        usage="dmct run [--lab FILE] [--dmc ID]... [--status STATUS]... [--pack NAME]... "
              "[--pack-path DIR]... [--out DIR] [--format FMT]... [--fault F]... "
              "[--evidence all] [--jobs N | --scheduler ADDRESS] [-v] [--collect-only]\n"
              "                [-- PYTEST_ARGS...]\n"
              "       dmct run --resume DIR [--format FMT]... [--evidence all] "
              "[--jobs N | --scheduler ADDRESS] [-v]",
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
    run.add_argument("--pack-path", action="append", default=[], metavar="DIR",
                     help="a lab's own pack directory (test files, or one directory of test "
                     "files per pack), run beside the packaged packs; repeatable")
    run.add_argument("--out", metavar="DIR",
                     help="results directory (default: the lab config's 'output_dir')")
    run.add_argument("--format", action="append", default=[], metavar="FMT",
                     help=FORMAT_HELP)
    run.add_argument("--fault", action="append", default=[], metavar="KIND[:TARGET]@WHEN",
                     help="inject a bench fault during the run, repeatable: power-off, "
                     "power-on or power-cycle:ROLE (relay), radio-silent, radio-back, "
                     "serial-gone:ADAPTER (emulated); WHEN is case:PATTERN or a bench time "
                     "(90s, 2h, 1d); e.g. power-off:ESME@case:test_register*")
    run.add_argument("--verbose", "-v", action="count", default=0,
                     help="-v: also show the cases that passed; -vv: and pytest's own output")
    run.add_argument("--collect-only", action="store_true",
                     help="dry run: list, per DMC and status, the cases that would run and "
                     "those that do not apply, and run nothing")
    run.add_argument("--evidence", choices=("failed", "all"), default="failed",
                     help="whose ZigBee frames (frames.json, frames.pcap) to keep: failed and "
                     "blocked cases only (default), or all; every case keeps its events, "
                     "Service Requests and transcripts")
    run.add_argument("--jobs", "-j", type=_jobs, metavar="N",
                     help="entries (DMC x status) run at once, each its own pytest process "
                     "(default: the number of cores)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the entries as tasks of the Dask distributed cluster at ADDRESS "
                     "(tcp://HOST:8786; needs the [cluster] extra)")
    run.add_argument("--resume", metavar="DIR",
                     help="resume the run whose results are in DIR (its run.json): keep every "
                     "case that finished, run only the missing ones (no other selection "
                     "option)")
    run.set_defaults(func=run_or_collect)

    report = sub.add_parser(
        "report", help="re-render a run's reports; finalise a draft (--final)",
        description="Rebuild the DMCT Testing Report of each <dmc>/<status> directory of DIR "
        "from its records.jsonl and render its formats. A run that did not finish gets a "
        "partial report marked INCOMPLETE. A final report is re-rendered from its JSON, never "
        "rebuilt.",
        epilog=REPORT_EPILOG, formatter_class=_FORMATTER,
        usage="dmct report DIR [--final [--force --reason TEXT]] [--format FMT]... "
              "[--lab FILE]\n"
              "       dmct report DIR --provided-to SUPPLIER [--on DATE]\n"
              "       dmct report DIR --referral SUPPLIER [--on DATE] [--note TEXT]",
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
    report.add_argument("--provided-to", metavar="SUPPLIER",
                        help="record that the draft was provided to SUPPLIER (SVTAD 20.36) on "
                        "--on DATE: the referral deadline then counts from provision (20.37)")
    report.add_argument("--referral", metavar="SUPPLIER",
                        help="record that SUPPLIER referred the draft to the Secretary of State "
                        "(20.40) on --on DATE (--note TEXT: what was referred); finalising then "
                        "waits for the determination")
    report.add_argument("--on", metavar="DATE",
                        help="with --provided-to or --referral: the date (default: today)")
    report.add_argument("--note", metavar="TEXT", help="with --referral: what was referred")
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
    from harness.cli.duis import add_parser as add_duis  # dmct duis send|serve

    add_duis(sub, _FORMATTER)

    listing = sub.add_parser(
        "list", help="list the DMCs, packs or device profiles a run can be asked for",
        description="List the DMCs (with their EPCL entries and devices), the test packs or the "
        "device profiles of the catalogue (packaged, plus a lab config's profile_paths).",
        epilog="Exit status: 0; 2 usage or configuration error.",
    )
    listing.add_argument("what", choices=("dmcs", "packs", "profiles"),
                         help="dmcs, packs or profiles")
    listing.add_argument("--lab", metavar="FILE",
                         help="also list the catalogue of this lab config's profile_paths")
    listing.set_defaults(func=cmd_list)
    return parser


