"""The entry executor of ``dmct run`` (``harness.cli.entries``): entries in parallel, lines
whole, the catalogue handed down, and a pytest process killed mid-entry leaving its entry
resumable."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runkit import WHOLE_RUNS, dmct_environment

from harness.cli.entries import Entry, EntryFailed, LineAtomic, run_local
from harness.config.catalogue import (
    CATALOGUE_CACHE_ENV,
    load_catalogue,
    packaged_profiles_dir,
    write_catalogue_cache,
)
from harness.report.records import RECORDS_FILE, read_records


def _entries(n: int) -> list[Entry]:
    return [Entry(f"DMC-{i}", "dormant", Path(f"/nowhere/{i}")) for i in range(n)]


# -- the executor ---------------------------------------------------------------------------------

def test_parallel_entries_run_at_once_and_come_back_in_entry_order() -> None:
    both_started = threading.Barrier(2, timeout=30)  # deadlocks (times out) unless parallel

    def body(entry: Entry) -> str:
        both_started.wait()
        return entry.dmc

    assert run_local(_entries(4), body, jobs=2) == ["DMC-0", "DMC-1", "DMC-2", "DMC-3"]


def test_no_more_entries_run_at_once_than_jobs() -> None:
    lock = threading.Lock()
    running, most = [0], [0]

    def body(entry: Entry) -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        for _ in range(1000):
            threading.Event().wait(0)  # let another thread in, if one may run
        with lock:
            running[0] -= 1
        return entry.dmc

    assert len(run_local(_entries(9), body, jobs=3)) == 9
    assert 1 <= most[0] <= 3


def test_an_entry_pytest_could_not_run_stops_the_run_after_those_running() -> None:
    started: list[str] = []

    def body(entry: Entry) -> str:
        started.append(entry.dmc)
        if entry.dmc == "DMC-0":
            raise EntryFailed("pytest could not run the packs for DMC-0/dormant")
        return entry.dmc

    with pytest.raises(EntryFailed, match="DMC-0"):
        run_local(_entries(6), body, jobs=2)
    assert len(started) < 6


def test_lines_of_parallel_writers_never_mix() -> None:
    target = io.StringIO()
    atomic = LineAtomic(target)  # type: ignore[arg-type]
    writers = 4

    def write(name: str) -> None:
        for i in range(300):
            for piece in (name, "/", "dormant ", str(i), " PASSED"):  # print() writes in pieces
                atomic.write(piece)
            atomic.write("\n")
        atomic.write(f"{name} last, no newline")
        atomic.finish_thread()

    threads = [threading.Thread(target=write, args=(f"W{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = target.getvalue().splitlines()
    assert len(lines) == writers * 301
    for line in lines:
        name = line.split("/", 1)[0].split(" ", 1)[0]
        assert line in {f"{name}/dormant {i} PASSED" for i in range(300)} | {
            f"{name} last, no newline"}, line


# -- the catalogue, parsed once -------------------------------------------------------------------

def test_a_pytest_process_takes_the_catalogue_of_the_run(tmp_path, monkeypatch) -> None:
    catalogue = load_catalogue()
    marker = next(iter(catalogue.dmcs.values()))
    catalogue.dmcs["ONLY-IN-THE-CACHE"] = marker  # proves the cache, not the files, answered
    path = tmp_path / "catalogue.pickle"
    write_catalogue_cache(catalogue, path)
    monkeypatch.setenv(CATALOGUE_CACHE_ENV, str(path))
    assert "ONLY-IN-THE-CACHE" in load_catalogue().dmcs
    # Parsed from other directories: the cache is not that catalogue, the files are parsed.
    extra = tmp_path / "lab-profiles"
    extra.mkdir()
    assert "ONLY-IN-THE-CACHE" not in load_catalogue([extra]).dmcs
    assert load_catalogue([extra]).roots == [packaged_profiles_dir(), extra]
    # A broken cache is no cache.
    path.write_bytes(b"not a pickle")
    assert "ONLY-IN-THE-CACHE" not in load_catalogue().dmcs


# -- a pytest process killed mid-entry ------------------------------------------------------------

SELECTION = ["--dmc", "REF-DMC-001", "--status", "dormant", "--status", "active",
             "--pack", "smoke", "--format", "json"]
KILL_AFTER = 2


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux: read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def _entry_pids(dmct_pid: int) -> list[int]:
    """The pytest processes of a ``dmct run``: its children running pytest, or the children
    of its fork server."""
    pids = []
    for child in _children(dmct_pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"forkserver" in cmdline:
            pids += _children(child)
        elif b"pytest" in cmdline:
            pids.append(child)
    return pids


def _cases(out: Path) -> dict[str, tuple[str, str | None]]:
    report = json.loads((out / "dmct-report.json").read_text())
    return {c["id"]: (c["outcome"], c["testing_issue"]) for c in report["cases"]} | {
        "verdict": (report["verdict"], None)}


@WHOLE_RUNS
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_entry_process_leaves_its_entry_resumable(tmp_path) -> None:
    through, killed = tmp_path / "through", tmp_path / "killed"
    env = dmct_environment()
    command = [sys.executable, "-m", "harness.cli", "run", *SELECTION, "--jobs", "2"]
    uninterrupted = subprocess.Popen([*command, "--out", str(through)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    victim = subprocess.Popen([*command, "--out", str(killed)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    entries = [killed / "REF-DMC-001" / status for status in ("dormant", "active")]
    try:
        # Polling another process's files (not a device): one entry's pytest process is killed
        # once both entries have a few records, while the other goes on.
        while victim.poll() is None:
            counts = [len((e / RECORDS_FILE).read_text().splitlines())
                      if (e / RECORDS_FILE).exists() else 0 for e in entries]
            pids = _entry_pids(victim.pid)
            # Both part-way, so whichever process is killed is cut mid-entry (which pid runs
            # which entry cannot be told from outside a forked process).
            if min(counts) >= KILL_AFTER and max(counts) < 8 and len(pids) == 2:
                os.kill(pids[0], signal.SIGKILL)
                break
            time.sleep(0.01)
        output, _ = victim.communicate(timeout=600)
        assert uninterrupted.wait(timeout=600) == 0
    finally:
        for process in (uninterrupted, victim):
            if process.poll() is None:
                process.kill()
    assert victim.returncode == 1, output  # the killed entry has no report: not met
    [cut] = [e for e in entries if not (e / "dmct-report.json").exists()]
    [other] = [e for e in entries if e != cut]
    kept = [r.id for r in read_records(cut)]
    assert KILL_AFTER <= len(kept) < 8, "the entry was killed part-way"
    assert _cases(other) == _cases(through / "REF-DMC-001" / other.name)
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume",
                              str(killed)], env=env, capture_output=True, text=True,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"REF-DMC-001 / {other.name}: kept" in resumed.stdout
    ids = [r.id for r in read_records(cut)]
    assert ids[:len(kept)] == kept and len(ids) == len(set(ids)) == 8
    for entry in entries:
        assert _cases(entry) == _cases(through / "REF-DMC-001" / entry.name)


# -- an entry's directory, to and from a Dask worker ----------------------------------------------

def test_an_entry_directory_round_trips_with_its_hard_links_stored_once(tmp_path) -> None:
    import zipfile

    from harness.cli.entries import _unzip, _zip_dir

    source = tmp_path / "source"
    (source / "evidence" / "case").mkdir(parents=True)
    (source / "allure-results").mkdir()
    dcc = source / "evidence" / "case" / "dcc.json"
    dcc.write_text('{"kind": "request"}' * 1000)
    os.link(dcc, source / "allure-results" / "a-attachment.json")
    (source / RECORDS_FILE).write_text('{"id": "x"}\n')
    data = _zip_dir(source)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sum(1 for n in archive.namelist() if n.endswith(".json")) == 2  # dcc + links
    copy = tmp_path / "copy"
    _unzip(data, copy)
    linked = copy / "allure-results" / "a-attachment.json"
    assert linked.read_text() == dcc.read_text()
    assert linked.stat().st_ino == (copy / "evidence" / "case" / "dcc.json").stat().st_ino
    assert (copy / RECORDS_FILE).read_text() == '{"id": "x"}\n'


def test_an_archive_member_outside_the_entry_directory_is_refused(tmp_path) -> None:
    import zipfile

    from harness.cli.entries import _unzip

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escaped.txt", "no")
    with pytest.raises(ValueError, match="outside"):
        _unzip(buffer.getvalue(), tmp_path / "entry")
    assert not (tmp_path / "escaped.txt").exists()


# -- compact evidence -----------------------------------------------------------------------------

@WHOLE_RUNS
def test_only_failed_cases_keep_their_frames_by_default_and_allure_links_them(tmp_path) -> None:
    """Itron's SR 6.7 repeated in one day fails (91333) beside cases that pass."""
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--dmc", "ITRON-DMC-001", "--status",
         "active", "--pack", "srv", "--out", str(tmp_path), "--format", "json", "--", "-k",
         "6.7"], env=dmct_environment(), capture_output=True, text=True, timeout=300,
        check=False)
    out = tmp_path / "ITRON-DMC-001" / "active"
    records = list(read_records(out))
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [r for r in records if r.outcome == "failed"]
    passed = [r for r in records if r.outcome == "passed" and r.evidence.get("frame_count")]
    assert failed and passed
    for record in failed:  # everything a failed case needs
        for kind in ("frames", "pcap", "events", "dcc"):
            assert (out / record.evidence[kind]).is_file(), (record.id, kind)
    for record in passed:  # its events and Service Requests, and how many frames there were
        assert "frames" not in record.evidence and "pcap" not in record.evidence
        assert (out / record.evidence["dcc"]).is_file()
    # Allure's attachments are the evidence files themselves (hard links), not copies.
    inodes = {p.stat().st_ino for p in (out / "evidence").rglob("*") if p.is_file()}
    attached = [p for p in (out / "allure-results").glob("*-attachment.pcap")]
    assert len(attached) == len(failed)
    assert all(p.stat().st_ino in inodes for p in attached)


# -- pytest processes forked from the preloaded server --------------------------------------------

@pytest.mark.parametrize("forkserver", ["1", "0"])
def test_an_entry_pytest_forked_or_fresh_prints_and_exits_as_pytest(tmp_path, monkeypatch,
                                                                     forkserver) -> None:
    from harness.cli.entries import ForkedPytest, pytest_server, spawn_pytest

    (tmp_path / "test_x.py").write_text(
        "import os\n\ndef test_env():\n    assert os.environ['MARK'] == 'yes'\n\n"
        "def test_fails():\n    assert 1 == 2, 'one is not two'\n")
    monkeypatch.setenv("DMCT_FORKSERVER", forkserver)
    command = [sys.executable, "-m", "pytest", str(tmp_path / "test_x.py"), "-q", "-p",
               "no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path), "-n", "0"]
    env = {**os.environ, "MARK": "yes"}
    with pytest_server(), spawn_pytest(command, env) as proc:
        assert isinstance(proc, ForkedPytest) == (forkserver == "1")
        output = list(proc.stdout)
        code = proc.wait()
    assert code == 1
    text = "".join(output)
    assert "one is not two" in text and "1 failed, 1 passed" in text, text


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_jobs_is_a_whole_number_of_at_least_one(value, capsys) -> None:
    from harness.cli import main

    assert main(["run", "--jobs", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmct: error: argument --jobs/-j: a whole number of at least 1"), err
    assert len(err.strip().splitlines()) == 1
