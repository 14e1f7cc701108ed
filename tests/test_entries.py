"""The entry executor of ``dmct run`` (``harness.cli.entries``): entries in parallel, lines
whole, the catalogue handed down, and a pytest process killed mid-entry leaving its entry
resumable."""

from __future__ import annotations

import contextlib
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

from harness.cli.entries import Entry, EntryFailed, LineAtomic, free_core, run_local
from harness.cli.parts import SPLIT_ENV
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


def test_an_entry_that_freed_its_core_lets_the_next_start_before_it_returns() -> None:
    """An entry whose pytest process has ended (``free_core``) gives its core to the next
    while it writes its reports; the other keeps its own."""
    third_started = threading.Event()
    waited: dict[str, bool] = {}

    def body(entry: Entry) -> str:
        if entry.dmc == "DMC-2":
            third_started.set()
        else:
            if entry.dmc == "DMC-0":
                free_core()
            # both time out (DMC-2 waits for a core) unless DMC-0's core was given back
            waited[entry.dmc] = third_started.wait(10)
        return entry.dmc

    assert run_local(_entries(3), body, jobs=2) == ["DMC-0", "DMC-1", "DMC-2"]
    assert waited == {"DMC-0": True, "DMC-1": True}


def test_no_more_entries_hold_a_core_than_jobs() -> None:
    """However many entries have freed their core and are still writing reports, no more
    than ``jobs`` hold one."""
    lock = threading.Lock()
    holding, most = [0], [0]
    finishing = threading.Event()

    def body(entry: Entry) -> str:
        with lock:
            holding[0] += 1
            most[0] = max(most[0], holding[0])
        for _ in range(200):
            threading.Event().wait(0)
        with lock:
            holding[0] -= 1
        free_core()
        finishing.wait(0.01)  # its reports, without a core
        return entry.dmc

    assert len(run_local(_entries(12), body, jobs=3)) == 12
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

#: The srv pack too, so that both entries are part-way for long enough to kill one there.
SELECTION = ["--dmc", "REF-DMC-001", "--status", "dormant", "--status", "active",
             "--pack", "smoke", "--pack", "srv", "--format", "json"]
KILL_AFTER = 2
#: The srv pack's cases for the reference DMC (beside the smoke pack's 8).
SRV_CASES = 136


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
    env = {**dmct_environment(), SPLIT_ENV: "0"}  # whole entries: a pytest process each
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
            if min(counts) >= KILL_AFTER and max(counts) < 8 + SRV_CASES and len(pids) == 2:
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
    assert KILL_AFTER <= len(kept) < 8 + SRV_CASES, "the entry was killed part-way"
    assert _cases(other) == _cases(through / "REF-DMC-001" / other.name)
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume",
                              str(killed)], env=env, capture_output=True, text=True,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"REF-DMC-001 / {other.name}: kept" in resumed.stdout
    ids = [r.id for r in read_records(cut)]
    assert ids[:len(kept)] == kept and len(ids) == len(set(ids)) == 8 + SRV_CASES
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


# -- entries cut into parts (harness.cli.parts) ---------------------------------------------------

ALL_PACKS = ["smoke", "dormant", "active", "mixed", "srv", "security"]


def test_the_test_files_are_listed_in_the_order_pytest_collects_them() -> None:
    """The order a split entry's records are merged in: pytest's own, asked of pytest."""
    import argparse

    from harness.cli.collect import collect
    from harness.cli.common import load_lab
    from harness.cli.parts import test_files

    lab = load_lab(None).select(["REF-DMC-001"], ["dormant"])
    tests = collect(argparse.Namespace(pytest_args=[], pack_path=[]), lab, ALL_PACKS,
                    "REF-DMC-001", "dormant")
    collected = list(dict.fromkeys(t["id"].split("::")[0].removeprefix("testpacks/")
                                   for t in tests))
    assert test_files(ALL_PACKS) == collected


def test_a_cut_makes_the_heaviest_contiguous_run_as_light_as_it_can_be() -> None:
    import itertools

    from harness.cli.parts import cut

    weights = [0.2, 0.6, 0.1, 3.7, 0.2, 0.4, 5.4, 1.1, 2.2]
    for count in range(1, len(weights) + 1):
        starts = cut(weights, count)
        bounds = [*starts, len(weights)]
        assert starts[0] == 0 and len(starts) == count
        assert all(a < b for a, b in itertools.pairwise(bounds))
        heaviest = max(sum(weights[a:b]) for a, b in itertools.pairwise(bounds))
        # no other cut into as many runs does better (every cut tried)
        best = min(max(sum(weights[a:b]) for a, b in itertools.pairwise([0, *inner,
                                                                         len(weights)]))
                   for inner in itertools.combinations(range(1, len(weights)), count - 1))
        assert heaviest == pytest.approx(best)


def _plan(tmp_path: Path, *, workers: int, may_split: bool = True, action: str = "run",
          statuses: tuple[str, ...] = ("dormant", "active", "mixed")) -> list:
    from harness.cli.parts import plan_units

    entries = [Entry("REF-DMC-001", s, tmp_path / s, action) for s in statuses]  # type: ignore[arg-type]
    return plan_units(entries, ALL_PACKS, workers=workers, may_split=may_split)


def test_entries_are_cut_into_contiguous_parts_started_longest_first(tmp_path) -> None:
    from harness.cli.parts import predicted_makespan, test_files

    units = _plan(tmp_path, workers=2)
    assert len(units) > 3
    assert [u.estimate for u in units] == sorted((u.estimate for u in units), reverse=True)
    for status in ("dormant", "active", "mixed"):
        parts = sorted((u.part for u in units if u.entry.status == status),
                       key=lambda p: p.index)
        assert [p.index for p in parts] == list(range(len(parts)))
        assert [f for p in parts for f in p.targets] == test_files(ALL_PACKS)
    whole = _plan(tmp_path, workers=2, may_split=False)
    assert predicted_makespan((u.estimate for u in units), 2) < predicted_makespan(
        (u.estimate for u in whole), 2)


def test_the_previous_runs_durations_size_the_parts(tmp_path) -> None:
    from harness.cli.parts import estimates, test_files

    files = test_files(["smoke", "dormant"])
    (tmp_path / RECORDS_FILE).write_text("".join(
        json.dumps({"id": f"testpacks/{f}::test_{i}", "name": "x", "pack": None,
                    "outcome": "passed", "wall_s": 2.0}) + "\n"
        for f in files for i in range(3)))
    assert estimates(files, "dormant", tmp_path) == {f: 6.0 for f in files}
    # records that do not cover every file: the static estimates
    assert estimates([*files, "srv/test_srv.py"], "active", tmp_path)["smoke/test_smoke.py"] \
        < 1.0


@pytest.mark.parametrize("case", ["one job", "may not", "resumed"])
def test_an_entry_is_run_whole_when_splitting_gains_nothing_or_is_not_safe(tmp_path,
                                                                            case) -> None:
    units = _plan(tmp_path, workers=1 if case == "one job" else 2,
                  may_split=case != "may not", action="resume" if case == "resumed" else "run")
    assert len(units) == 3 and all(u.part is None for u in units)


def test_what_may_be_split(monkeypatch) -> None:
    import argparse

    from harness.cli.common import load_lab
    from harness.cli.parts import SPLIT_ENV, splittable

    lab = load_lab(None)
    plain = argparse.Namespace(pytest_args=[], fault=[], pack_path=[])
    assert splittable(plain, lab)
    for name, value in (("pytest_args", ["-x"]), ("fault", ["radio-silence:case:x"]),
                        ("pack_path", ["/lab/packs"])):
        assert not splittable(argparse.Namespace(**{**vars(plain), name: value}), lab), name
    real = lab.model_copy(update={"radio": lab.radio.model_copy(update={"type": "znp"})})
    assert not real.is_emulated and not splittable(plain, real)  # one physical bench
    monkeypatch.setenv(SPLIT_ENV, "0")
    assert not splittable(plain, lab)


def _part(directory: Path, ids: list[str], state: str | None, planned: list[str]) -> None:
    from harness.report.manifest import write_run_state

    (directory / "evidence" / ids[0]).mkdir(parents=True)
    (directory / "evidence" / ids[0] / "events.json").write_text("[]")
    (directory / RECORDS_FILE).write_text("".join(
        json.dumps({"id": i, "name": i, "pack": "smoke", "outcome": "passed",
                    "evidence": {"events": f"evidence/{ids[0]}/events.json"}}) + "\n"
        for i in ids))
    if state is not None:
        write_run_state(directory, state, planned)  # type: ignore[arg-type]


def test_a_part_that_died_leaves_its_entry_as_a_killed_run_leaves_it(tmp_path) -> None:
    from harness.cli.parts import PARTS_DIR, Part, merge_parts, part_dir, start_parts
    from harness.report.manifest import is_complete, run_state

    out = tmp_path / "REF-DMC-001" / "dormant"
    out.mkdir(parents=True)
    start_parts(out, [Part(0, ("smoke/test_smoke.py",), 1.0),
                      Part(1, ("dormant/test_dormant.py",), 1.0),
                      Part(2, ("srv/test_srv.py",), 1.0)])
    _part(part_dir(out, 0), ["a", "b"], "finished", ["a", "b"])
    _part(part_dir(out, 1), ["c"], "running", ["c", "d"])  # killed: no report, not finished
    # part 2 never started
    assert merge_parts(out, lab=None)  # no report is written: the lab is not asked for
    assert [r.id for r in read_records(out)] == ["a", "b", "c"]
    state = run_state(out)
    assert state is not None and state.state == "running" and state.planned is None
    assert not is_complete(out) and not (out / "dmct-report.json").exists()
    assert (out / "evidence" / "c" / "events.json").is_file()
    assert not (out / PARTS_DIR).exists()
    assert not merge_parts(out, lab=None)  # nothing left to fold


# Whole runs: the same entry split (--jobs 2) and whole (--jobs 1), and split with one part's
# pytest process killed, then resumed.
SPLIT_SELECTION = ["--dmc", "REF-DMC-001", "--status", "dormant", "--pack", "smoke", "--pack",
                   "dormant", "--format", "json"]
#: What differs between two runs of one entry however they ran: times and dates, the number
#: of pytest sessions, and whether the source tree was dirty.
_TIMES = ("time", "wall", "produced", "deadline", "_at", "windows", "dirty")


def _without_times(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if not any(t in k for t in _TIMES)}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _report_without_times(out: Path) -> object:
    """The report, times left out and object addresses in tracebacks blanked (they differ
    between any two processes)."""
    import re

    text = re.sub(r"0x[0-9a-f]+", "0x", (out / "dmct-report.json").read_text())
    return _without_times(json.loads(text))


@WHOLE_RUNS
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_split_entry_reports_as_a_whole_one_and_a_killed_part_leaves_it_resumable(
        tmp_path) -> None:
    from harness.cli.parts import PARTS_DIR

    env = dmct_environment()
    command = [sys.executable, "-m", "harness.cli", "run", *SPLIT_SELECTION]
    whole, split, killed = tmp_path / "whole", tmp_path / "split", tmp_path / "killed"
    runs = [subprocess.Popen([*command, "--jobs", "1", "--out", str(whole)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
            subprocess.Popen([*command, "--jobs", "2", "--out", str(split)], env=env,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
    # Fresh pytest processes (not forked), so the dormant part's can be told by its command.
    victim = subprocess.Popen([*command, "--jobs", "2", "--out", str(killed)],
                              env={**env, "DMCT_FORKSERVER": "0"}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    entry = killed / "REF-DMC-001" / "dormant"
    died = False
    try:
        # Polling another process's files (not a device): the dormant pack's part is killed
        # once it has records and has not finished.
        while victim.poll() is None and not died:
            for pid in _entry_pids(victim.pid):
                with contextlib.suppress(OSError):
                    if b"test_dormant.py" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    parts = list((entry / PARTS_DIR).glob(f"*/{RECORDS_FILE}"))
                    mine = [p for p in parts if "test_dormant.py" in p.read_text()]
                    if mine and len(mine[0].read_text().splitlines()) >= KILL_AFTER:
                        os.kill(pid, signal.SIGKILL)
                        died = True
            time.sleep(0.005)
        output, _ = victim.communicate(timeout=600)
        assert runs[0].wait(timeout=600) == 0
        split_output, _ = runs[1].communicate(timeout=600)
    finally:
        for process in (*runs, victim):
            if process.poll() is None:
                process.kill()
    assert runs[1].returncode == 0, split_output
    status = "REF-DMC-001/dormant"
    assert _report_without_times(split / status) == _report_without_times(whole / status)
    assert [r.id for r in read_records(split / status)] == [
        r.id for r in read_records(whole / status)]
    assert not (split / status / PARTS_DIR).exists()
    # where the time went: one unit per part, each with its wall and CPU seconds
    from harness.cli.parts import read_timings

    split_units = read_timings(split)
    assert sorted(u.label for u in split_units) == [
        f"{status} part {i}" for i in range(len(split_units))] and len(split_units) > 1
    assert all(u.wall_s > 0 and u.cpu_s is not None and u.cpu_s > 0 for u in split_units)
    assert [u.label for u in read_timings(whole)] == [status]
    # the killed part: the entry has what finished, no report, and resumes to the whole one
    assert died, output
    assert victim.returncode == 1, output
    assert not (entry / "dmct-report.json").exists() and not (entry / PARTS_DIR).exists()
    kept = [r.id for r in read_records(entry) if not r.interrupted]
    assert KILL_AFTER <= len(kept) < 18
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume",
                              str(killed)], env=env, capture_output=True, text=True,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "REF-DMC-001 / dormant: resumed" in resumed.stdout
    assert _cases(entry) == _cases(whole / status)
    assert sorted(r.id for r in read_records(entry)) == sorted(
        r.id for r in read_records(whole / status))


def test_dmct_report_folds_the_parts_a_killed_run_left(tmp_path, capsys) -> None:
    from harness.cli import main
    from harness.cli.parts import PARTS_DIR, Part, part_dir, start_parts
    from harness.report.manifest import run_state

    out = tmp_path / "REF-DMC-001" / "dormant"
    out.mkdir(parents=True)
    start_parts(out, [Part(0, ("smoke/test_smoke.py",), 1.0),
                      Part(1, ("dormant/test_dormant.py",), 1.0)])
    ids = [f"testpacks/smoke/test_smoke.py::test_{n}" for n in ("a", "b", "c")]
    _part(part_dir(out, 0), ids[:2], "finished", ids[:2])
    _part(part_dir(out, 1), ids[2:], "interrupted", ids[2:])  # stopped by a Ctrl-C
    assert main(["report", str(tmp_path), "--format", "json"]) == 1
    assert "INCOMPLETE" in capsys.readouterr().out
    assert [r.id for r in read_records(out)] == ids and not (out / PARTS_DIR).exists()
    state = run_state(out)
    assert state is not None and state.state == "interrupted" and state.planned == ids
    report = json.loads((out / "dmct-report.json").read_text())
    assert [c["id"] for c in report["cases"]] == [i.removeprefix("testpacks/") for i in ids]


def test_a_real_bench_runs_one_unit_at_a_time_whatever_jobs_says(capsys) -> None:
    import argparse

    from harness.cli.common import load_lab
    from harness.cli.run import _jobs

    lab = load_lab(None)
    real = lab.model_copy(update={"radio": lab.radio.model_copy(update={"type": "znp"})})
    assert _jobs(argparse.Namespace(jobs=4), lab) == 4
    assert _jobs(argparse.Namespace(jobs=4), real) == 1
    assert "real bench: its entries run one at a time" in capsys.readouterr().out
    assert _jobs(argparse.Namespace(jobs=None), real) == 1
