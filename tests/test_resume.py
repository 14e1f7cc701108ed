"""Nothing lost: a ``dmct run`` killed part-way keeps every case it finished, and
``dmct run --resume DIR`` runs only the missing ones, giving the report an uninterrupted run gives.

One small selection (smoke and srv packs, dormant, of the reference DMC and of Honeywell's
seeded DMC, so that some cases fail with Testing Issues) runs twice at once: once through, once
with ``dmct`` alone SIGKILLed (as an OOM kill would) after a few records of the reference DMC, so
that its directory is part-done and Honeywell's not started. Its orphaned pytest child stops by
itself and holds the directory's lock until it has: a resume started at once is refused, the
resume after it is not. A rival run started into the uninterrupted run's directory at the same
moment is refused (one of the two is: whichever locked first runs). A second resume (nothing
left to run) follows; every check of the module reads those runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runkit import WHOLE_RUNS, dmct_environment

from harness.cli import main
from harness.report.lock import LOCK_FILE, is_locked, read_lock
from harness.report.manifest import (
    MANIFEST_FILE,
    STATE_FILE,
    is_complete,
    read_manifest,
    run_dirs,
    run_state,
)
from harness.report.records import RECORDS_FILE, finished_records, read_records

pytestmark = WHOLE_RUNS

DMCS = ("REF-DMC-001", "HONEYWELL-ELSTER-DMC-001")
SELECTION = ["--dmc", DMCS[0], "--dmc", DMCS[1], "--status", "dormant",
             "--pack", "smoke", "--pack", "srv", "--format", "md",
             "--jobs", "1"]  # one entry at a time: Honeywell's not started at the kill
#: Records written when the run is killed: inside the reference DMC's smoke pack.
KILL_AFTER = 5
#: What a bench time looks like in a reason ("bench day 2026-01-05"): a resumed run's bench
#: clock starts afresh, so bench times differ from an uninterrupted run's and are not compared.
BENCH_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T[0-9:.+-]+)?")


@dataclass
class Dmct:
    """A ``dmct run`` in its own process group; its output goes to a file (a pipe nobody
    reads while the run is watched would fill and stall it)."""

    process: subprocess.Popen[str]
    log: Path

    @classmethod
    def start(cls, log: Path, *args: str) -> Dmct:
        with log.open("w") as handle:
            process = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *args],
                                       stdout=handle, stderr=subprocess.STDOUT, text=True,
                                       env=dmct_environment(), start_new_session=True)
        return cls(process, log)

    def wait(self) -> tuple[int, str]:
        """Exit code and output, once the run ends."""
        return self.process.wait(), self.log.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill_dmct_alone(self) -> None:
        """SIGKILL ``dmct`` itself; its pytest child (a process group of its own) lives on."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@dataclass
class Runs:
    """The runs the module's checks read."""

    through: Path
    through_exit: int
    killed: Path
    #: Per run directory, the ids of the cases recorded when the run was killed.
    at_kill: dict[str, list[str]]
    #: Outcome of each case recorded when the run was killed.
    outcomes_at_kill: dict[str, str]
    #: Per run directory, whether it was complete when the run was killed.
    complete_at_kill: dict[str, bool]
    resume_exit: int
    resume_output: str
    second_exit: int
    second_output: str
    records_before_second: dict[str, list[str]]
    #: The resume started while the killed run's orphaned child still ran.
    early_resume_exit: int
    early_resume_output: str
    #: The two runs started together into ``through``: (exit, output) of the one refused,
    #: and whether the other was still running when it was.
    rival_exit: int
    rival_output: str
    rival_refused_while_running: bool
    #: The killed run's state once its orphaned child had stopped.
    state_after_orphan: str | None


def _kill_after(run: Dmct, out: Path, records: Path, count: int) -> None:
    """SIGKILL ``dmct`` alone once ``records`` holds ``count`` lines and its pytest child is
    in the lock."""
    while run.process.poll() is None:
        owner = read_lock(out)
        if len(_lines(records)) >= count and owner is not None and owner.children:
            run.kill_dmct_alone()
            break
    assert len(_lines(records)) >= count, "the run ended before it was killed"


def _first_to_end(*runs: Dmct) -> Dmct:
    while True:
        for run in runs:
            if run.process.poll() is not None:
                return run
        time.sleep(0.01)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("resume")
    through, killed = root / "through", root / "killed"
    one = Dmct.start(root / "through.log", *SELECTION, "--out", str(through))
    two = Dmct.start(root / "rival.log", *SELECTION, "--out", str(through))
    victim = Dmct.start(root / "killed.log", *SELECTION, "--out", str(killed))
    try:
        rival = _first_to_end(one, two)
        uninterrupted = two if rival is one else one
        rival_running = uninterrupted.process.poll() is None
        rival_exit, rival_output = rival.wait()
        _kill_after(victim, killed, killed / DMCS[0] / "dormant" / RECORDS_FILE, KILL_AFTER)
        owner = read_lock(killed)
        assert owner is not None and owner.children
        early_exit, early_output = Dmct.start(root / "early.log", "--resume",
                                              str(killed)).wait()
        while any(child.alive() for child in owner.children):
            time.sleep(0.05)  # the orphan records the case it was in and stops its bench
        assert not is_locked(killed)
        orphan_state = run_state(killed / DMCS[0] / "dormant")
        at_kill = {f"{d}/{s}": [r.id for r in finished_records(p / RECORDS_FILE)]
                   for d, s, p in run_dirs(killed)}
        complete_at_kill = {f"{d}/{s}": is_complete(p) for d, s, p in run_dirs(killed)}
        outcomes = {r.id: r.outcome for _d, _s, p in run_dirs(killed)
                    for r in finished_records(p / RECORDS_FILE)}
        # A kill can also cut a record short: the resume must not glue its first record to it.
        with (killed / DMCS[0] / "dormant" / RECORDS_FILE).open("a") as handle:
            handle.write('{"id": "testpacks/smoke/test_smoke.py::torn", "na')
        # -v: every case that runs is shown (without it, only those that did not pass)
        resume_exit, resume_output = Dmct.start(root / "resume.log", "--resume",
                                                str(killed), "-v").wait()
        before_second = {f"{d}/{s}": _lines(p / RECORDS_FILE) for d, s, p in run_dirs(killed)}
        second_exit, second_output = Dmct.start(root / "second.log", "--resume",
                                                str(killed)).wait()
        through_exit, through_output = uninterrupted.wait()
        assert through_exit in (0, 1), through_output[-3000:]
        yield Runs(through, through_exit, killed, at_kill, outcomes, complete_at_kill,
                   resume_exit, resume_output, second_exit, second_output, before_second,
                   early_exit, early_output, rival_exit, rival_output, rival_running,
                   orphan_state.state if orphan_state else None)
    finally:
        one.kill()
        two.kill()
        victim.kill()


def _report(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "dmct-report.json").read_text())


def normalised(report: dict[str, Any]) -> dict[str, Any]:
    """What must not change between an uninterrupted run and a resumed one: the cases, their
    outcomes, reasons (bench times masked) and issues, the Testing Issues and the verdict."""
    return {
        "cases": [(c["id"], c["pack"], c["srv"], c["outcome"], c["testing_issue"],
                   BENCH_TIME.sub("<bench time>", c["reason"] or ""))
                  for c in report["cases"]],
        "packs": report["packs"],
        "testing_issues": [{k: i[k] for k in ("id", "severity", "known", "counted", "status",
                                              "cases")} for i in report["testing_issues"]],
        "threshold": report["threshold"],
        "verdict": (report["verdict"], report["verdict_reasons"], report["complete"]),
        "dmc": report["dmc"],
        "device_security": report["device_security"],
    }


# -- the killed run -------------------------------------------------------------------------------

def test_the_killed_run_kept_every_finished_case_and_is_not_complete(runs: Runs) -> None:
    ref = f"{DMCS[0]}/dormant"
    assert set(runs.at_kill) == {ref}, "Honeywell's run had not started when the run was killed"
    assert len(runs.at_kill[ref]) >= KILL_AFTER
    assert runs.complete_at_kill == {ref: False}
    state = run_state(runs.through / DMCS[0] / "dormant")
    assert state is not None and state.finished
    # Each kept record is intact: the cases first planned, each once, with the outcome the
    # uninterrupted run gave it.
    through = {r.id: r.outcome for r in read_records(runs.through / DMCS[0] / "dormant")}
    kept = runs.at_kill[ref]
    assert kept == (state.planned or [])[:len(kept)]
    assert {case: runs.outcomes_at_kill[case] for case in kept} == {
        case: through[case] for case in kept}


def test_the_manifest_records_the_selection(runs: Runs) -> None:
    manifest = read_manifest(runs.killed)
    assert manifest is not None
    assert (manifest.dmcs, manifest.statuses, manifest.packs) == (
        list(DMCS), ["dormant"], ["smoke", "srv"])
    assert Path(manifest.lab).is_absolute() and manifest.pytest_args == []
    assert manifest.formats == ["md"]


def test_a_rival_run_into_the_same_directory_is_refused_at_once(runs: Runs) -> None:
    assert runs.rival_exit == 2, runs.rival_output[-3000:]
    assert runs.rival_refused_while_running
    lines = runs.rival_output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmct: error: "), lines
    assert "results directory in use by dmct run (pid " in lines[0]
    # The run that kept the directory wrote each case once, and no lock is left behind.
    for dmc in DMCS:
        ids = [r.id for r in read_records(runs.through / dmc / "dormant")]
        assert ids and len(ids) == len(set(ids))
    assert not (runs.through / LOCK_FILE).exists()


def test_the_orphaned_child_stopped_when_dmct_died(runs: Runs) -> None:
    """It got SIGINT from the kernel (PR_SET_PDEATHSIG) and stopped, interrupted, rather than
    running the rest of the packs with nobody to read its output."""
    assert runs.state_after_orphan == "interrupted"


def test_a_resume_while_the_killed_runs_child_lives_is_refused(runs: Runs) -> None:
    assert runs.early_resume_exit == 2, runs.early_resume_output[-3000:]
    lines = runs.early_resume_output.strip().splitlines()
    assert len(lines) == 1 and "still running" in lines[0] and "pytest process" in lines[0]


# -- the resume ----------------------------------------------------------------------------------

def test_the_resume_runs_exactly_the_missing_cases(runs: Runs) -> None:
    assert runs.resume_exit == runs.through_exit, runs.resume_output[-3000:]
    for dmc in DMCS:
        run_dir = runs.killed / dmc / "dormant"
        kept = runs.at_kill.get(f"{dmc}/dormant", [])
        ids = [json.loads(line)["id"] for line in _lines(run_dir / RECORDS_FILE)]
        state = run_state(run_dir)
        assert state is not None and state.finished and state.planned
        assert len(ids) == len(set(ids)), "a case ran twice"
        assert ids[:len(kept)] == kept, "the records of the killed run were not kept first"
        assert sorted(ids[len(kept):]) == sorted(set(state.planned) - set(kept))
        assert is_complete(run_dir)
        # The live table shows the cases that ran now, not the kept ones again.
        label = f"{dmc}/dormant "
        shown = [line for line in runs.resume_output.splitlines() if line.startswith(label)]
        assert len(shown) == len(ids) - len(kept), runs.resume_output[-3000:]
    assert f"== {DMCS[0]} / dormant: resumed: {len(runs.at_kill[f'{DMCS[0]}/dormant'])} of" in (
        runs.resume_output)


def test_the_resumed_reports_are_those_of_an_uninterrupted_run(runs: Runs) -> None:
    verdicts = set()
    for dmc in DMCS:
        through = _report(runs.through / dmc / "dormant")
        resumed = _report(runs.killed / dmc / "dormant")
        assert normalised(resumed) == normalised(through), dmc
        assert resumed["complete"] is True
        verdicts.add(through["verdict"])
        # The resume renders the formats the run asked for (run.json), no others.
        assert {p.name for p in (runs.killed / dmc / "dormant").glob("dmct-report.*")} == {
            "dmct-report.json", "dmct-report.md"}
    # The selection shows both verdicts: Honeywell's seeded defects fail it, REF meets it.
    assert verdicts == {"meets_exit_criteria", "fails_exit_criteria"}


def test_the_evidence_of_kept_cases_is_kept(runs: Runs) -> None:
    run_dir = runs.killed / DMCS[0] / "dormant"
    for record in read_records(run_dir):
        for key in ("frames", "events", "dcc"):
            if key in record.evidence:
                assert (run_dir / record.evidence[key]).is_file(), (record.id, key)


def test_a_resume_of_a_complete_run_runs_nothing(runs: Runs) -> None:
    assert runs.second_exit == runs.through_exit, runs.second_output[-3000:]
    for dmc in DMCS:
        assert f"== {dmc} / dormant: kept: complete" in runs.second_output
        assert not [line for line in runs.second_output.splitlines()
                    if line.startswith(f"{dmc}/dormant ")], "a case ran again"
        after = _lines(runs.killed / dmc / "dormant" / RECORDS_FILE)
        assert after == runs.records_before_second[f"{dmc}/dormant"]


# -- bad input ---------------------------------------------------------------------------------

def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dmct: error: "), err
    return err[0]


def test_resume_without_a_manifest_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert MANIFEST_FILE in _one_error_line(capsys)


@pytest.mark.parametrize("content", ["{not json", '{"schema": "smets1-dmct/run/1"}', "[]"])
def test_resume_with_a_corrupt_manifest_is_a_usage_error(tmp_path, capsys, content):
    (tmp_path / MANIFEST_FILE).write_text(content)
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert str(tmp_path / MANIFEST_FILE) in _one_error_line(capsys)


@pytest.mark.parametrize("option", [["--dmc", "REF-DMC-001"], ["--pack", "smoke"],
                                    ["--out", "x"], ["--", "-k", "x"]])
def test_resume_with_a_selection_option_is_a_usage_error(tmp_path, capsys, option):
    assert main(["run", "--resume", str(tmp_path), *option]) == 2
    assert "--resume" in _one_error_line(capsys)


# -- the plugin's --dmct-resume ------------------------------------------------------------------

RESUME_TESTS = """
def test_a():
    pass

def test_b():
    pass

def test_c():
    assert False, "c fails"
"""


def test_dmct_resume_deselects_the_cases_recorded_as_finished(pytester, clean_run_env):
    pytester.makepyfile(test_resume=RESUME_TESTS)
    out = pytester.path / "out"
    out.mkdir()
    finished = {"id": "test_resume.py::test_a", "name": "test_a", "pack": None,
                "outcome": "passed"}
    interrupted = {"id": "test_resume.py::test_b", "name": "test_b", "pack": None,
                   "outcome": "blocked",
                   "reason": "blocked: run interrupted during the test (KeyboardInterrupt)"}
    (out / RECORDS_FILE).write_text(json.dumps(finished) + "\n" + json.dumps(interrupted)
                                    + "\n" + '{"id": "test_resume.py::test_c", "na')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                           "--dmct-out", str(out), "--dmct-resume", timeout=60)
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    records = [json.loads(line) for line in _lines(out / RECORDS_FILE)]
    assert [(r["name"], r["outcome"]) for r in records] == [
        ("test_a", "passed"), ("test_b", "passed"), ("test_c", "failed")]
    state = json.loads((out / STATE_FILE).read_text())
    assert state == {"state": "finished", "planned": [
        "test_resume.py::test_a", "test_resume.py::test_b", "test_resume.py::test_c"]}
    assert json.loads((out / "dmct-report.json").read_text())["complete"] is True
