"""``dmct run --scheduler``: the entries as tasks of a Dask distributed cluster. A
``LocalCluster`` on loopback with two worker processes runs them; one worker is killed while it
runs an entry; the entry runs again on a worker and the run's reports equal a local run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runkit import WHOLE_RUNS, dmct_environment

from harness.report.records import RECORDS_FILE, read_records

distributed = pytest.importorskip("distributed")

#: Two packs, so that each entry is two tasks (harness.cli.parts) on the two workers, and the
#: local run (--jobs 1) runs each entry whole: the reports must not tell them apart.
SELECTION = ["--dmc", "REF-DMC-001", "--status", "dormant", "--status", "active",
             "--pack", "smoke", "--pack", "dormant", "--format", "json"]
STATUSES = ("dormant", "active")
CASES = 8 + 10  # the smoke and dormant packs' cases for the reference DMC
KILL_AFTER = 2


def _report(out: Path) -> dict[str, object]:
    report = json.loads((out / "dmct-report.json").read_text())
    return {"cases": [(c["id"], c["outcome"], c["testing_issue"]) for c in report["cases"]],
            "verdict": report["verdict"], "complete": report["complete"]}


def _scratch_records(tmp: Path) -> list[Path]:
    """records.jsonl of the entries the workers are running (their scratch directories)."""
    return [p for p in tmp.glob(f"dmct-entry-*/REF-DMC-001/*/{RECORDS_FILE}")
            if p.is_file()]


@WHOLE_RUNS
def test_a_worker_lost_mid_entry_has_its_entry_run_again_with_nothing_duplicated(
        tmp_path, monkeypatch) -> None:
    scratch = tmp_path / "worker-tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the workers' scratch entry directories
    env = dmct_environment()
    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    local_log = (tmp_path / "local.log").open("w")
    local = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *SELECTION,
                              "--jobs", "1", "--out", str(local_out)], env=env,
                             stdout=local_log, stderr=subprocess.STDOUT)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *SELECTION,
                                "--out", str(dask_out), "-v", "--scheduler",
                                cluster.scheduler_address], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        killed: tuple[str, int] | None = None
        try:
            # Polling the workers' files (not a device): kill the worker whose entry has a few
            # records, while it runs.
            while run.poll() is None and killed is None:
                for records in _scratch_records(scratch):
                    if len(records.read_text().splitlines()) < KILL_AFTER:
                        continue
                    status = records.parent.name
                    pids = client.run(os.getpid)
                    for address, keys in client.processing().items():
                        if any(f"-{status}-" in str(key) for key in keys):
                            os.kill(pids[address], signal.SIGKILL)
                            killed = (status, pids[address])
                            break
                    break
                time.sleep(0.01)
            output, _ = run.communicate(timeout=300)
        finally:
            if run.poll() is None:
                run.kill()
        assert killed is not None, "no worker was killed mid-entry: " + output
        # The nanny restarted the killed worker: a new process.
        client.wait_for_workers(2, timeout=60)
        assert killed[1] not in client.run(os.getpid).values()
    assert local.wait(timeout=300) == 0, (tmp_path / "local.log").read_text()[-3000:]
    local_log.close()
    assert run.returncode == 0, output
    assert "entries on the Dask cluster" in output and "(4 tasks)" in output, output
    for status in STATUSES:
        ids = [r.id for r in read_records(dask_out / "REF-DMC-001" / status)]
        assert len(ids) == len(set(ids)) == CASES, (status, ids)
        assert _report(dask_out / "REF-DMC-001" / status) == _report(
            local_out / "REF-DMC-001" / status)
        assert (dask_out / "REF-DMC-001" / status / "dmct-report.html").exists() is False
        assert any((dask_out / "REF-DMC-001" / status / "evidence").iterdir())
    assert (dask_out / "epcl-summary.json").exists()
    # Rows (every one, with -v) printed as the entries came back, each whole and prefixed.
    rows = [line for line in output.splitlines() if line.startswith("REF-DMC-001/")]
    assert len(rows) == CASES * len(STATUSES)


def test_an_unreachable_scheduler_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    from harness.cli import entries, main

    monkeypatch.setattr(entries, "CONNECT_TIMEOUT", "1s")
    assert main(["run", "--pack", "smoke", "--out", str(tmp_path), "--scheduler",
                 "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmct: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"), err
    assert len(err.strip().splitlines()) == 1


def test_jobs_and_scheduler_do_not_go_together(tmp_path) -> None:
    from harness.cli import main

    assert main(["run", "--pack", "smoke", "--out", str(tmp_path), "--jobs", "2",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
