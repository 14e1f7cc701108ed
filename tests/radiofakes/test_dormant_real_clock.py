"""The dormant pack on a real-clock lab whose radio is the ZNP fake (zigpy-znp).

On a real clock the migration's process waits (15 working days of notice, the 7-day key
rotation window) pass on the process timeline, and the day of steady supply watched for alerts
is watched for the lab's ``process.watch_s`` of wall time only. The run must end with a verdict
for every case (the scripted devices model Basic and part of Metering, not the DCC's tunnel, so
cases that need more fail: that is the device's verdict, not a lost case) and never sleep
longer than a device's own response (``DMCT_WALL_SLEEP_LOG`` records each wall sleep).

On the fake the migration gets through its pre-checks and the 15 working days of notice (on the
timeline) and fails at replace_credentials (a scripted device answers no DCC tunnel), so its
cases fail with that reason; the rollback case is blocked until a person switches the GSME (no
relay). The watch window itself is proved in ``tests/migration/test_process_watch.py`` and the
bounded rotation repeats in ``tests/migration/test_migration.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.runtime import WALL_SLEEP_LOG_ENV
from tests.radiofakes.conftest import ZnpLab, needs_znp

pytestmark = needs_znp

#: The longest a scripted device takes to answer a request here, with zigpy's margin: no wall
#: sleep of the run may be longer (a process wait that slept would be hours).
DEVICE_RESPONSE_BOUND_S = 5.0
WATCH_S = 1.0


def test_the_dormant_pack_completes_on_a_real_clock(znp_lab: ZnpLab, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    znp_lab.path.write_text(znp_lab.path.read_text() + f"process:\n  watch_s: {WATCH_S}\n")
    sleeps = tmp_path / "wall-sleeps.txt"
    monkeypatch.setenv(WALL_SLEEP_LOG_ENV, str(sleeps))
    out = tmp_path / "results"
    code = main(["run", "--lab", str(znp_lab.path), "--pack", "dormant", "--status", "dormant",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code in (0, 1), printed  # a verdict either way, not a crash or an interrupted run
    report = json.loads((out / "REF-DMC-001" / "dormant" / "dmct-report.json").read_text())
    assert report["verdict"] in ("meets_exit_criteria", "fails_exit_criteria"), report
    cases = {c["id"].split("::")[-1]: c for c in report["cases"]}
    assert "test_no_alert_flood_after_migration" in cases, sorted(cases)
    lost = {k: c["reason"] for k, c in cases.items()
            if c["outcome"] not in ("passed", "failed", "skipped", "not_applicable", "blocked")
            or "timed out" in str(c.get("reason")) or "wall time" in str(c.get("reason"))}
    assert not lost, lost
    migrated = cases["test_migration_completes"]
    assert migrated["outcome"] == "failed" and "replace_credentials" in migrated["reason"], (
        migrated)  # past the notice period: 15 working days passed without sleeping them
    walls = [float(line) for line in sleeps.read_text().split()] if sleeps.exists() else []
    assert max(walls, default=0.0) <= DEVICE_RESPONSE_BOUND_S, sorted(walls)[-5:]
