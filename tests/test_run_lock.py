"""One run per results directory (``OUT/dmct.lock``), and a run stopped by a signal.

The lock's rules are checked in-process; a stop signal on a real ``dmct run`` (SIGTERM as a CI
cancel sends it, SIGINT as Ctrl-C does) in a subprocess. Two runs racing for one directory and
a ``dmct`` killed under its pytest child are in ``tests/test_resume.py``, whose runs they reuse.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runkit import RUN_TIMEOUT_S, dmct_environment

from harness.cli import main
from harness.report.lock import (
    LOCK_FILE,
    LockHeld,
    LockOwner,
    Process,
    RunLock,
    is_locked,
    lock_root,
    pid_alive,
    process_start,
    read_lock,
)
from harness.report.manifest import MANIFEST_FILE, run_state
from harness.report.records import RECORDS_FILE, read_records


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dmct: error: "), err
    return err[0]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_owner(root: Path, **fields: object) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started":
             process_start(os.getpid()), "since": "2026-01-05T09:00:00+00:00",
             "command": "dmct run", **fields}
    root.mkdir(parents=True, exist_ok=True)
    (root / LOCK_FILE).write_text(json.dumps(owner))


# -- the lock ----------------------------------------------------------------------------------

def test_a_held_lock_refuses_a_second_owner_and_names_the_first(tmp_path):
    with RunLock(tmp_path / "out", "dmct run") as lock:
        owner = read_lock(tmp_path / "out")
        assert owner is not None and owner.pid == os.getpid()
        assert owner.host == socket.gethostname() and owner.started == process_start(os.getpid())
        assert is_locked(tmp_path / "out")
        with pytest.raises(LockHeld) as refused:
            RunLock(tmp_path / "out", "dmct run").acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
        assert "\n" not in message
        assert lock.fd is not None
    assert not (tmp_path / "out" / LOCK_FILE).exists()  # released: the file goes
    assert not is_locked(tmp_path / "out")
    RunLock(tmp_path / "out", "dmct run").acquire().release()  # and can be taken again


def test_a_lock_left_by_a_dead_owner_is_recovered(tmp_path):
    _write_owner(tmp_path, pid=_dead_pid(), started=None)
    with RunLock(tmp_path, "dmct run") as lock:
        assert lock.recovered is not None and not lock.recovered.alive()
        owner = read_lock(tmp_path)
        assert owner is not None and owner.pid == os.getpid()


def test_a_reused_pid_does_not_keep_a_lock(tmp_path):
    """The recorded pid is alive, but it is another process (started at another time)."""
    started = process_start(os.getpid())
    assert started is not None
    _write_owner(tmp_path, started=started + 1)
    with RunLock(tmp_path, "dmct run") as lock:
        assert lock.recovered is not None and lock.recovered.pid == os.getpid()


def test_a_live_owner_without_flock_still_holds_the_lock(tmp_path):
    """The content alone (a filesystem with no flock) keeps a live owner's lock."""
    _write_owner(tmp_path)
    with pytest.raises(LockHeld, match="one run per results directory"):
        RunLock(tmp_path, "dmct run").acquire()


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    _write_owner(tmp_path, host="bench-7", pid=_dead_pid())
    with pytest.raises(LockHeld) as refused:
        RunLock(tmp_path, "dmct run").acquire()
    assert "host bench-7" in str(refused.value)
    assert f"remove {tmp_path / LOCK_FILE}" in str(refused.value)


@pytest.mark.parametrize("content", ["", "{", "[]", '{"pid": "x"}', "\x00" * 100])
def test_a_lock_file_of_garbage_is_recovered(tmp_path, content):
    (tmp_path / LOCK_FILE).write_text(content)
    RunLock(tmp_path, "dmct run").acquire().release()


def test_a_child_that_inherited_the_lock_holds_it_after_its_owner_let_go(tmp_path):
    """An orphaned pytest child keeps the directory locked until it ends."""
    lock = RunLock(tmp_path, "dmct run").acquire()
    assert lock.fd is not None
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE, pass_fds=(lock.fd,))
    try:
        lock.add_child(child.pid)
        os.close(lock.fd)  # the owner dies without releasing: its file stays, its flock goes
        lock.fd = None
        with pytest.raises(LockHeld) as refused:
            RunLock(tmp_path, "dmct run --resume").acquire()
        assert f"pytest process {child.pid} still running" in str(refused.value)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    # The owner (this test's process) lives on: make its record that of a dead process.
    record = json.loads((tmp_path / LOCK_FILE).read_text())
    (tmp_path / LOCK_FILE).write_text(json.dumps({**record, "pid": _dead_pid()}))
    with RunLock(tmp_path, "dmct run --resume") as again:
        assert again.recovered is not None and again.recovered.children == (
            Process(child.pid, again.recovered.children[0].started),)


def test_pid_alive_compares_the_start_time():
    me = os.getpid()
    started = process_start(me)
    assert pid_alive(me, started) and pid_alive(me, None)
    assert started is not None and not pid_alive(me, started + 1)
    assert not pid_alive(_dead_pid(), None) and not pid_alive(0, None)


def test_an_owner_describes_itself_in_one_bounded_line():
    owner = LockOwner.from_dict({"pid": 12, "host": "h" * 10_000, "since": "x\ny" * 1000,
                                 "command": "dmct run"})
    assert owner is not None and len(owner.describe()) < 400


def test_the_lock_of_a_run_directory_is_its_out_roots(tmp_path):
    run_dir = tmp_path / "REF-DMC-001" / "dormant"
    run_dir.mkdir(parents=True)
    (run_dir / RECORDS_FILE).write_text("")
    assert lock_root(run_dir) == tmp_path
    assert lock_root(tmp_path) == tmp_path


# -- commands on a locked directory --------------------------------------------------------------

def test_run_resume_and_final_report_refuse_a_locked_directory(tmp_path, capsys, clean_run_env):
    out = tmp_path / "out"
    run_dir = out / "REF-DMC-001" / "dormant"
    run_dir.mkdir(parents=True)
    (out / MANIFEST_FILE).write_text('{"schema": "smets1-dmct/run/1"}')
    (run_dir / RECORDS_FILE).write_text("")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with RunLock(out, "dmct run"):
        for argv in (["run", "--pack", "smoke", "--out", str(out)],
                     ["run", "--resume", str(out)],
                     ["report", str(out), "--final"],
                     ["report", str(run_dir), "--final"],
                     ["report", str(out)],  # a re-render races the run as much
                     ["report", str(run_dir), "--format", "md"]):
            assert main(argv) == 2, argv
            line = _one_error_line(capsys)
            assert f"results directory in use by dmct run (pid {os.getpid()}" in line, argv
        after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert {p: v for p, v in after.items() if p.name != LOCK_FILE} == before
    # Released: a re-render takes the lock in turn, and leaves none behind.
    main(["report", str(out), "--format", "md"])
    assert "in use" not in capsys.readouterr().err
    assert not (out / LOCK_FILE).exists() and not is_locked(out)


def test_a_final_report_of_a_missing_directory_makes_no_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere"), "--final"]) == 2
    assert "no such directory" in _one_error_line(capsys)
    assert not (tmp_path / "nowhere").exists()


# -- options checked before anything is written ---------------------------------------------------

@pytest.mark.parametrize("argv", [["--format", "pfd"], ["--pack", "smokey"],
                                  ["--dmc", "NO-SUCH-DMC"]])
def test_a_bad_option_writes_nothing(tmp_path, capsys, clean_run_env, argv):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_FILE).write_text("the manifest of an earlier run")
    assert main(["run", "--out", str(out), *argv]) == 2
    _one_error_line(capsys)
    assert [p.name for p in out.iterdir()] == [MANIFEST_FILE]
    assert (out / MANIFEST_FILE).read_text() == "the manifest of an earlier run"


def test_a_bad_format_on_resume_writes_nothing(tmp_path, capsys, clean_run_env):
    (tmp_path / MANIFEST_FILE).write_text("{}")
    assert main(["run", "--resume", str(tmp_path), "--format", "pfd"]) == 2
    assert "pfd" in _one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_FILE]


# -- stopped by a signal -------------------------------------------------------------------------

@pytest.mark.timeout(RUN_TIMEOUT_S)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_child_keeps_the_state_and_says_how_to_resume(tmp_path, signum):
    out = tmp_path / "out"
    records = out / "REF-DMC-001" / "dormant" / RECORDS_FILE
    log = tmp_path / "dmct.log"
    with log.open("w") as handle:
        run = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "--pack", "srv", "--status",
             "dormant", "--out", str(out)], stdout=handle, stderr=subprocess.STDOUT,
            env=dmct_environment(), start_new_session=True)
    try:
        owner = None
        while run.poll() is None and not (records.exists() and owner and owner.children):
            time.sleep(0.02)  # another process's files: nothing to wait on but them
            owner = read_lock(out)
        assert owner is not None and owner.children, log.read_text()[-2000:]
        child = owner.children[0]
        os.kill(run.pid, signum)  # dmct alone: it stops its child itself
        code = run.wait(RUN_TIMEOUT_S)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    output = log.read_text()
    assert code == 128 + signum, output[-2000:]
    assert f"resume with: dmct run --resume {out}" in output.splitlines()[-1]
    assert "Traceback" not in output
    assert not child.alive(), "the pytest child outlived dmct"
    assert not (out / LOCK_FILE).exists() and not is_locked(out)
    state = run_state(out / "REF-DMC-001" / "dormant")
    assert state is not None and state.state == "interrupted" and state.planned
    kept = list(read_records(out / "REF-DMC-001" / "dormant"))
    assert 0 < len(kept) < len(state.planned)


# -- a child whose kernel cannot signal it (not Linux) watches its parent -------------------------

WATCHED = """
import sys, threading
from harness.pytest_plugin import watch_parent
watch_parent(sys.argv[1], interval=0.02)
print("watching", flush=True)
try:
    threading.Event().wait()
except KeyboardInterrupt:
    print("stopped", flush=True)
"""
PARENT = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(os.getpid())],
                         stdout=open(sys.argv[1], "w"))
print(child.pid, flush=True)
child.wait()
"""


@pytest.mark.timeout(60)
def test_a_watching_child_stops_when_its_parent_is_killed(tmp_path):
    log = tmp_path / "child.log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(log), WATCHED],
                              stdout=subprocess.PIPE, text=True, env=dmct_environment())
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    while "watching" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.02)  # another process's output: nothing to wait on but it
    parent.kill()
    parent.wait()
    while pid_alive(child, None):
        time.sleep(0.02)
    assert log.read_text().split() == ["watching", "stopped"]


def test_no_parent_to_watch_starts_no_thread():
    from harness.pytest_plugin import watch_parent

    assert watch_parent(None) is None and watch_parent("x") is None
