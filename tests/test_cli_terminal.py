"""What ``dmct`` shows on a terminal and off it: the live view in an 80-column pty, ``--version``,
``dmct list``, ``dmct run --collect-only`` and the message of an interrupted run.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import termios
from pathlib import Path

import pytest
from runkit import RUN_TIMEOUT_S, dmct_environment

from harness.cli import main
from harness.cli.output import fit_id, interrupted_message, short_id

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
OUTCOMES = ("PASSED", "FAILED", "BLOCKED", "NOT_APPLICABLE")


def run_in_pty(command: list[str], cwd: Path, columns: int) -> tuple[int, str]:
    """``command`` with its stdout on a pty ``columns`` wide: (exit code, what it wrote)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in dmct_environment().items()
           if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    data = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], RUN_TIMEOUT_S)
            if not ready:
                proc.kill()
                pytest.fail(f"no output for {RUN_TIMEOUT_S} s from {command}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=RUN_TIMEOUT_S), data.decode("utf-8", "replace")


def screen_lines(written: str) -> list[str]:
    """What a terminal shows, line by line, and every state of a line rewritten in place (the
    progress line): colours and cursor moves dropped, each ``\\r`` starting a line anew."""
    plain = ANSI.sub("", written)
    return [part for line in plain.split("\n") for part in line.split("\r")]


def test_an_80_column_terminal_gets_fitted_rows_a_progress_line_and_the_failures(tmp_path):
    dmct = shutil.which("dmct")
    assert dmct is not None
    code, written = run_in_pty([dmct, "run", "--dmc", "ITRON-DMC-001", "--status", "dormant",
                                "--pack", "dormant", "--out", "out"], tmp_path, columns=80)
    assert code == 1, written[-3000:]
    assert "\x1b[" in written  # colour on a terminal
    lines = screen_lines(written)
    wide = [line for line in lines if len(line) > 80]
    assert not wide, wide  # nothing the terminal would wrap
    # the live progress line: done/total, failed so far, ETA
    assert any(re.search(r"ITRON-DMC-001/dormant .*\b10/10 2 failed ETA", line) for line in lines)
    table = lines[:lines.index("== failed and blocked cases (2)")]
    rows = [line for line in table if line.split(" ", 1)[0] in OUTCOMES]
    assert [row.split()[0] for row in rows] == ["FAILED", "FAILED"]  # passed ones: only with -v
    assert rows[0].split()[1].startswith("test_change_of_supplier_alert_")
    # the end: the list of failures with their reasons, then the verdict
    shown = [line.rstrip() for line in ANSI.sub("", written).replace("\r\n", "\n").split("\n")
             if line.strip() and "\r" not in line]
    at = shown.index("== failed and blocked cases (2)")
    closing = shown[at + 1:]
    assert closing[-1] == "FAILED: exit criteria not met in ITRON-DMC-001/dormant"
    assert closing[0].startswith("FAILED  ITRON-DMC-001/dormant  test_change_of_supplier")
    assert closing[1].startswith("    ESME: 2 of 12 change of supplier events raised no CoS")
    assert any(line.startswith("FAILED  ITRON-DMC-001/dormant  test_no_alert_flood")
               for line in closing)


def test_parallel_entries_on_an_80_column_terminal_print_whole_fitted_lines(tmp_path):
    """Two entries at once share the terminal: no live line, but every row still fits 80
    columns, and the run ends with its failures (both statuses' CoS alert cases)."""
    dmct = shutil.which("dmct")
    assert dmct is not None
    code, written = run_in_pty([dmct, "run", "--dmc", "ITRON-DMC-001", "--status", "dormant",
                                "--status", "active", "--pack", "dormant", "--pack", "active",
                                "--jobs", "2", "--out", "out"], tmp_path, columns=80)
    assert code == 1, written[-3000:]
    lines = screen_lines(written)
    wide = [line for line in lines if len(line) > 80]
    assert not wide, wide
    rows = [line for line in lines if line.startswith("ITRON-DMC-001/")]
    assert {row.split()[0] for row in rows} == {"ITRON-DMC-001/dormant", "ITRON-DMC-001/active"}
    shown = [line.rstrip() for line in ANSI.sub("", written).replace("\r\n", "\n").split("\n")
             if line.strip()]
    assert any(line.startswith("== failed and blocked cases") for line in shown)
    assert shown[-1].startswith("FAILED: exit criteria not met in ITRON-DMC-001/")


@pytest.mark.parametrize(("width", "expected"), [
    (80, "dormant/test_dormant.py::test_x[8.11-CHF]"),
    (33, "test_dormant.py::test_x[8.11-CHF]"),
    (30, "test_x[8.11-CHF]"),
    (12, "test_x[8.11…"),
])
def test_a_test_id_is_fitted_keeping_what_tells_cases_apart(width, expected):
    fitted = fit_id("dormant/test_dormant.py::test_x[8.11-CHF]", width)
    assert len(fitted) <= width
    assert fitted == expected


def test_fit_id_keeps_the_parameters_of_a_long_name():
    fitted = fit_id("srv/test_srv.py::test_supported_srv_executes[6.14.1-ESME]", 30)
    assert len(fitted) == 30 and fitted.endswith("…[6.14.1-ESME]")


def test_version_names_the_version_and_the_checkout(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"dmct \d+\.\d+\.\d+\S*( \(commit [0-9a-f]{12}(, with uncommitted "
                        r"changes)?\))?", out), out


@pytest.mark.parametrize(("what", "expected"), [
    ("packs", ["smoke", "dormant", "security"]),
    ("dmcs", ["ITRON-DMC-001", "PH-ITR-001-D", "ESME itron-esme-ph1"]),
    ("profiles", ["itron-esme-ph1", "* placeholder"]),
])
def test_list(what, expected, capsys):
    assert main(["list", what]) == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


def test_collect_only_says_what_would_run_and_runs_nothing(tmp_path, capsys, clean_run_env):
    code = main(["run", "--dmc", "ITRON-DMC-001", "--status", "dormant", "--pack", "smoke",
                 "--out", str(tmp_path / "out"), "--collect-only", "-v"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "== ITRON-DMC-001 / dormant (EPCL entry PH-ITR-001-D): 8 cases: 8 to run" in out
    assert "smoke/test_smoke.py::test_register_over_zigbee_equals_optical_readout[ESME]" in out
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_says_how_to_resume(tmp_path):
    message = interrupted_message(tmp_path / "results")
    assert f"dmct run --resume {tmp_path / 'results'}" in message


LONG_REASON = ("ESME: 2 of 12 change of supplier events raised no CoS alert within the "
               "JoinTimePeriod of 300 s; the last frame seen was a ZCL Default Response")


def test_every_case_of_a_whole_itron_run_fits_80_columns(monkeypatch, clean_run_env):
    """The pty runs above are one or two packs; this takes every case ``dmct run --dmc
    ITRON-DMC-001`` collects (every pack and status, the longest ids among them) through the
    same rows and closing list, each case failed, blocked or not applicable with a long
    reason: not one line is wider than the terminal's 80 columns."""
    import io

    from rich.console import Console

    from harness.cli import output
    from harness.cli.collect import collect
    from harness.cli.common import available_packs, load_lab
    from harness.cli.output import RunResult, Table, print_failures
    from harness.cli.parser import build_parser
    from harness.report.records import TestRecord

    args = build_parser().parse_args(["run", "--dmc", "ITRON-DMC-001"])
    args.pytest_args = []  # harness.cli.main sets them from what follows "--"
    lab = load_lab(None).select(["ITRON-DMC-001"], None)
    screen = io.StringIO()
    terminal = Console(file=screen, width=80, force_terminal=True, color_system=None,
                       markup=False, highlight=False, emoji=False)
    monkeypatch.setattr(output, "console", lambda: terminal)
    results, outcomes = [], ("failed", "blocked", "not_applicable")
    for status in lab.installation_statuses:
        if lab.catalogue.dmc("ITRON-DMC-001").epcl_id(status) is None:
            continue
        tests = collect(args, lab.select(["ITRON-DMC-001"], [status]), available_packs(),
                        "ITRON-DMC-001", status)
        records = [TestRecord(id=t["id"], name=t["id"].rsplit("::", 1)[-1], pack=t.get("pack"),
                              outcome=outcomes[i % 3], srv=list(t.get("srv") or ()),  # type: ignore[arg-type]
                              reason=LONG_REASON) for i, t in enumerate(tests)]
        for live in (True, False):  # a terminal of its own; one shared by parallel entries
            with Table("ITRON-DMC-001", status, verbose=1, out=terminal, live=live) as table:
                for record in records:
                    table.row(record)
        results.append(RunResult("ITRON-DMC-001", status, Path("out"), records, None))
    print_failures(results)
    lines = screen.getvalue().splitlines()
    records = [r for res in results for r in res.records]
    assert len(records) > 100 and max(len(short_id(r.id)) for r in records) > 80
    assert lines and not [line for line in lines if len(line) > 80]
    # and none was wrapped to fit: one line per row, nothing but rows, headers and reasons
    at = lines.index(f"== failed and blocked cases ({len(records) - len(records) // 3})")
    assert lines[at - 1] == ""
    table, closing = lines[:at - 1], lines[at + 1:]
    live_rows = [line for line in table if line.split(" ", 1)[0] in OUTCOMES]
    shared_rows = [line for line in table if line.startswith("ITRON-DMC-001/")]
    headers = [line for line in table if line.startswith(("OUTCOME ", "DMC/STATUS "))]
    assert len(live_rows) == len(shared_rows) == len(records)
    assert len(table) == len(live_rows) + len(shared_rows) + len(headers)
    heads = [line for line in closing if line.split(" ", 1)[0] in OUTCOMES]
    assert len(heads) == len(records) - len(records) // 3
    assert all(line.startswith("    ") for line in closing if line not in heads)
    assert closing[-1].startswith("    ")  # the closing list ends with a reason


def test_the_parts_of_an_entry_share_its_table_from_threads_of_their_own() -> None:
    """Each part plans its cases; rows come from two threads at once; the progress counts every
    planned case and each row is printed once."""
    import io
    import threading

    from rich.console import Console

    from harness.cli.output import Table
    from harness.report.records import TestRecord

    screen = io.StringIO()
    out = Console(file=screen, width=200, markup=False, highlight=False, emoji=False)
    parts = [[f"testpacks/srv/test_srv.py::test_{p}_{i}" for i in range(100)] for p in "ab"]
    table = Table("REF-DMC-001", "dormant", out=out, live=False)
    both = threading.Barrier(2, timeout=30)

    def part(ids: list[str]) -> None:
        table.plan([{"id": i, "srv": ["4.1.1"]} for i in ids])
        both.wait()
        for i in ids:
            table.row(TestRecord(id=i, name=i, pack="srv", outcome="failed", reason="no"))

    threads = [threading.Thread(target=part, args=(ids,)) for ids in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert table.total == 200 and len(table.printed) == 200 and table.failed == 200
    rows = [line for line in screen.getvalue().splitlines() if " FAILED " in line]
    assert sorted(r.split()[2] for r in rows) == sorted(short_id(i) for p in parts for i in p)
    assert "progress REF-DMC-001/dormant: 180/200 done, 180 failed" in screen.getvalue()
