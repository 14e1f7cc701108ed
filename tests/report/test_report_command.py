"""``dmct run`` writing every report format, and ``dmct report DIR`` on a real emulated run:
re-render, partial report of a run that did not finish, draft and final (with ``DMCT_NOW``
for the date), and broken directories as one line with exit 2.

One smoke run of REF-DMC-001 (dormant) is made per module; each test works on its own copy.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from runkit import WHOLE_RUNS

from harness.cli import main as dmct
from harness.cli.common import available_packs
from harness.report.manifest import read_manifest, write_run_state
from harness.workdays import add_working_days

pytestmark = WHOLE_RUNS

RUN = Path("REF-DMC-001") / "dormant"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("smoke-run")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DMCT_LAB", "DMCT_NOW", "PYTEST_ADDOPTS", "PYTEST_TIMEOUT",
                     "DMCT_SECRETS_FILE", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
            patch.delenv(name, raising=False)
        with contextlib.redirect_stdout(io.StringIO()):
            code = dmct(["run", "--pack", "smoke", "--dmc", "REF-DMC-001", "--status",
                         "dormant", "--out", str(out)])
    assert code == 0
    yield out


@pytest.fixture
def run(smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the smoke run's out root, for this test alone."""
    monkeypatch.delenv("DMCT_LAB", raising=False)
    monkeypatch.delenv("DMCT_NOW", raising=False)
    copy = tmp_path / "results"
    shutil.copytree(smoke_run, copy)
    # Stands in for a full run (every pack): a partial selection is never finalised
    # (tests/test_selection.py).
    manifest = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**manifest, "packs": available_packs(),
                                               "partial_reasons": [], "partial": False}))
    built = json.loads((copy / RUN / "dmct-report.json").read_text())
    built["selection"] = read_manifest(copy).selection()  # as the run would have built it
    (copy / RUN / "dmct-report.json").write_text(json.dumps(built))
    return copy


def report(run: Path) -> dict[str, Any]:
    return json.loads((run / RUN / "dmct-report.json").read_text())


def command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            *args: str, today: date | None = None) -> tuple[int, str, str]:
    if today is not None:
        monkeypatch.setenv("DMCT_NOW", f"{today.isoformat()}T12:00:00+00:00")
    code = dmct(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.startswith("dmct: error: ") and err.count("\n") == 1, err
    return err


def deadline(run: Path) -> date:
    return date.fromisoformat(report(run)["referral_deadline"])


# -- dmct run -----------------------------------------------------------------------------------

def test_run_writes_every_default_format(smoke_run: Path):
    directory = smoke_run / RUN
    assert sorted(p.name for p in directory.glob("dmct-report.*")) == [
        "dmct-report.html", "dmct-report.json", "dmct-report.md"]
    data = json.loads((directory / "dmct-report.json").read_text())
    html = (directory / "dmct-report.html").read_text()
    assert (f'<main id="dmct-report" data-verdict="{data["verdict"]}" data-state="draft" '
            'data-complete="true">') in html
    assert html.count("<tr data-outcome=") == len(data["cases"]) == 8
    assert (directory / "dmct-report.md").read_text().count("| `smoke/test_smoke.py::") == 8
    assert data["state"] == "draft" and data["finalised_at"] is None


def test_run_writes_the_epcl_summary_at_the_out_root(smoke_run: Path):
    summary = json.loads((smoke_run / "epcl-summary.json").read_text())
    assert [(e["dmc"], e["installation_status"], e["group"]) for e in summary["requested"]] == [
        ("REF-DMC-001", "dormant", 1), ("REF-DMC-001-SE1", "dormant", 2)]
    assert {p.name for p in smoke_run.glob("epcl-summary.*")} == {
        "epcl-summary.json", "epcl-summary.md", "epcl-summary.html"}


def test_report_rewrites_the_epcl_summary_from_the_reports(run, capsys, monkeypatch):
    for path in run.glob("epcl-summary.*"):
        path.unlink()
    code, out, _ = command(capsys, monkeypatch, str(run / RUN))  # one run directory: its root
    assert code == 0 and f"EPCL summary: {run / 'epcl-summary.json'}" in out
    assert (run / "epcl-summary.html").exists()


def test_run_refuses_an_unknown_format_before_running(tmp_path, capsys):
    code = dmct(["run", "--pack", "smoke", "--format", "html,docx", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown report format 'docx'" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "REF-DMC-001").exists()


# -- re-render ------------------------------------------------------------------------------------

def test_report_rerenders_and_keeps_the_draft_dates(run, capsys, monkeypatch):
    before = report(run)
    for name in ("dmct-report.html", "dmct-report.md"):
        (run / RUN / name).unlink()
    later = deadline(run) + timedelta(days=30)  # a later re-render does not move the deadline
    code, out, _ = command(capsys, monkeypatch, str(run), today=later)
    assert code == 0
    after = report(run)
    assert after == before
    assert (run / RUN / "dmct-report.html").read_text().count("<tr data-outcome=") == 8
    assert (run / RUN / "dmct-report.md").exists()
    assert out.startswith("REF-DMC-001/dormant: meets exit criteria; draft; referral deadline "
                          f"{before['referral_deadline']}; rebuilt from the records")


def test_report_takes_one_run_directory_and_the_formats_asked_for(run, capsys, monkeypatch):
    (run / RUN / "dmct-report.html").unlink()
    (run / RUN / "dmct-report.md").unlink()
    code, out, _ = command(capsys, monkeypatch, str(run / RUN), "--format", "md")
    assert code == 0 and "wrote dmct-report.json, dmct-report.md" in out
    assert not (run / RUN / "dmct-report.html").exists()


# -- partial --------------------------------------------------------------------------------------

def _kill_mid_run(run: Path, *, keep: int = 3, state_file: bool = True) -> None:
    """What a run killed outright leaves: some records, no report, a run still "running"."""
    directory = run / RUN
    lines = (directory / "records.jsonl").read_text().splitlines(keepends=True)
    (directory / "records.jsonl").write_text("".join(lines[:keep]) + lines[keep][:20])
    (directory / "dmct-report.json").unlink()
    planned = json.loads((directory / "run-state.json").read_text())["planned"]
    if state_file:
        write_run_state(directory, "running", planned)
    else:
        (directory / "run-state.json").unlink()


@pytest.mark.parametrize("state_file", [True, False])
def test_a_run_that_did_not_finish_gets_a_partial_report(run, capsys, monkeypatch, state_file):
    _kill_mid_run(run, state_file=state_file)
    code, out, _ = command(capsys, monkeypatch, str(run))
    assert code == 1  # a partial report fails the exit criteria
    partial = report(run)
    assert partial["complete"] is False and len(partial["cases"]) == 3  # the torn line skipped
    assert partial["verdict"] == "fails_exit_criteria"
    assert "the run did not finish: the report is partial" in partial["verdict_reasons"]
    html = (run / RUN / "dmct-report.html").read_text()
    assert 'data-complete="false"' in html and '<p class="banner incomplete"' in html
    assert "(draft, INCOMPLETE)" in (run / RUN / "dmct-report.md").read_text()
    assert "draft, INCOMPLETE" in out and "(run not finished)" in out


def test_an_incomplete_report_is_never_finalised(run, capsys, monkeypatch):
    _kill_mid_run(run)
    command(capsys, monkeypatch, str(run))
    before = (run / RUN / "dmct-report.json").read_bytes()
    late = deadline(run) + timedelta(days=60)
    for extra in ([], ["--force", "--reason", "programme asked"]):
        code, _, err = command(capsys, monkeypatch, str(run), "--final", *extra, today=late)
        assert code == 2 and "never final while incomplete" in one_line(err)
    assert (run / RUN / "dmct-report.json").read_bytes() == before


# -- draft and final ------------------------------------------------------------------------------

def test_final_before_the_deadline_is_refused_and_nothing_changes(run, capsys, monkeypatch):
    before = (run / RUN / "dmct-report.json").read_bytes()
    day_before = deadline(run) - timedelta(days=1)
    code, out, err = command(capsys, monkeypatch, str(run), "--final", today=day_before)
    assert code == 2 and out == ""
    assert f"the referral deadline is {deadline(run).isoformat()}" in one_line(err)
    assert (run / RUN / "dmct-report.json").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--final", "--force"], "--force needs --reason TEXT"),
    (["--final", "--force", "--reason", "  "], "--force needs --reason TEXT"),
    (["--final", "--reason", "why"], "--reason goes with --force"),
    (["--force", "--reason", "why"], "--force and --reason go with --final"),
])
def test_force_and_reason_go_together(run, capsys, monkeypatch, args, message):
    code, _, err = command(capsys, monkeypatch, str(run), *args)
    assert code == 2 and message in one_line(err)
    assert report(run)["state"] == "draft"


def test_forced_early_final_records_the_reason_and_is_never_rebuilt(run, capsys, monkeypatch):
    produced = report(run)["produced_at"]
    code, out, _ = command(capsys, monkeypatch, str(run), "--final", "--force", "--reason",
                           "programme board <asked> & agreed", today=deadline(run) - timedelta(1))
    assert code == 0 and "finalised early (forced)" in out
    final = report(run)
    assert (final["state"], final["finalised_early"], final["final_reason"]) == (
        "final", True, "programme board <asked> & agreed")
    assert final["produced_at"] == produced
    html = (run / RUN / "dmct-report.html").read_text()
    assert 'data-state="final"' in html and "programme board &lt;asked&gt; &amp; agreed" in html
    assert "programme board \\<asked\\> \\& agreed" in (run / RUN / "dmct-report.md").read_text()

    # A final report is re-rendered from its JSON, never rebuilt: even with records changed.
    json_before = (run / RUN / "dmct-report.json").read_bytes()
    (run / RUN / "records.jsonl").write_text("")
    (run / RUN / "dmct-report.md").unlink()
    code, out, _ = command(capsys, monkeypatch, str(run))
    assert code == 0 and "already final: re-rendered from its JSON, not rebuilt" in out
    assert (run / RUN / "dmct-report.json").read_bytes() == json_before
    assert (run / RUN / "dmct-report.md").exists()


def test_on_the_deadline_final_needs_no_force(run, capsys, monkeypatch):
    code, out, _ = command(capsys, monkeypatch, str(run), "--final", today=deadline(run))
    assert code == 0 and "; finalised;" in out
    final = report(run)
    assert (final["state"], final["finalised_early"], final["final_reason"]) == (
        "final", False, None)
    assert final["finalised_at"].startswith(deadline(run).isoformat())


def test_a_rebuilt_report_counts_its_deadline_from_today_over_easter(run, capsys, monkeypatch):
    # The run finished but its report was lost: rebuilt, it is produced "now" (DMCT_NOW).
    (run / RUN / "dmct-report.json").unlink()
    monkeypatch.setenv("DMCT_NOW", "2026-04-01T14:00:00+00:00")
    assert command(capsys, monkeypatch, str(run))[0] == 0
    assert report(run)["referral_deadline"] == "2026-04-17" == add_working_days(
        date(2026, 4, 1), 10).isoformat()
    code, _, err = command(capsys, monkeypatch, str(run), "--final", today=date(2026, 4, 16))
    assert code == 2 and "2026-04-17 (1 working day from today, 2026-04-16)" in one_line(err)
    assert command(capsys, monkeypatch, str(run), "--final", today=date(2026, 4, 17))[0] == 0
    assert report(run)["state"] == "final"


# -- broken directories ---------------------------------------------------------------------------

def test_a_missing_directory_is_one_line(tmp_path, capsys, monkeypatch):
    code, _, err = command(capsys, monkeypatch, str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere: no such directory" in one_line(err)


def test_a_directory_with_no_run_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "some" / "thing").mkdir(parents=True)
    code, _, err = command(capsys, monkeypatch, str(tmp_path))
    assert code == 2 and "no run directory found" in one_line(err)


def test_a_corrupt_report_is_one_line_and_nothing_is_written(run, capsys, monkeypatch):
    (run / RUN / "dmct-report.json").write_text('{"schema": "smets1-dmct/dmct-rep')
    (run / RUN / "dmct-report.html").unlink()
    code, _, err = command(capsys, monkeypatch, str(run))
    assert code == 2 and "dmct-report.json: not readable as JSON" in one_line(err)
    assert not (run / RUN / "dmct-report.html").exists()


def test_a_run_json_naming_a_lost_lab_config_is_one_line(run, capsys, monkeypatch):
    manifest = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**manifest, "lab": str(run / "gone.yaml")}))
    code, _, err = command(capsys, monkeypatch, str(run))
    assert code == 2 and "gone.yaml: the run's lab config" in one_line(err)
    assert command(capsys, monkeypatch, str(run), "--lab",
                   manifest["lab"])[0] == 0  # --lab overrides it


# -- PDF ----------------------------------------------------------------------------------------

def test_report_prints_the_pdf_from_the_html(run, capsys, monkeypatch):
    code, out, _ = command(capsys, monkeypatch, str(run), "--format", "pdf")
    assert code == 0 and "dmct-report.html, dmct-report.pdf" in out
    assert (run / RUN / "dmct-report.pdf").read_bytes().startswith(b"%PDF-")


def test_pdf_without_a_browser_is_one_line_before_anything_runs(run, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.setenv("DMCT_CHROMIUM", str(tmp_path / "no-such-chromium"))
    before = (run / RUN / "dmct-report.html").read_bytes()
    code, _, err = command(capsys, monkeypatch, str(run), "--format", "pdf")
    assert code == 2 and "--format pdf: DMCT_CHROMIUM=" in one_line(err)
    assert (run / RUN / "dmct-report.html").read_bytes() == before
    assert not (run / RUN / "dmct-report.pdf").exists()
    code = dmct(["run", "--pack", "smoke", "--format", "pdf", "--out", str(tmp_path / "out")])
    assert code == 2 and "apt install chromium" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out" / "REF-DMC-001").exists()


# -- the referral register (SVTAD 20.36-20.40) ---------------------------------------------------

def test_the_deadline_counts_from_provision_to_each_supplier(run, capsys, monkeypatch):
    produced = date.fromisoformat(report(run)["produced_at"][:10])
    first, second = produced + timedelta(days=7), produced + timedelta(days=14)
    code, _, err = command(capsys, monkeypatch, str(run), "--provided-to", "Supplier A",
                           "--on", first.isoformat())
    assert code == 0, err
    command(capsys, monkeypatch, str(run), "--provided-to", "Supplier B", "--on",
            second.isoformat())
    data = report(run)
    register = data["referral_register"]
    assert register["basis"] == "provision"
    assert [(p["supplier"], p["on"], p["deadline"]) for p in register["provided"]] == [
        ("Supplier A", first.isoformat(), add_working_days(first, 10).isoformat()),
        ("Supplier B", second.isoformat(), add_working_days(second, 10).isoformat())]
    assert data["referral_deadline"] == add_working_days(second, 10).isoformat()
    html = (run / RUN / "dmct-report.html").read_text()
    assert "Supplier B" in html and "after the latest provision" in html
    # not before the last supplier's deadline, then without force
    day_before = add_working_days(second, 9)
    code, _, err = command(capsys, monkeypatch, str(run), "--final", today=day_before)
    assert code == 2 and add_working_days(second, 10).isoformat() in one_line(err)
    code, _, _ = command(capsys, monkeypatch, str(run), "--final",
                         today=add_working_days(second, 10))
    assert code == 0 and report(run)["state"] == "final"
    code, _, err = command(capsys, monkeypatch, str(run), "--provided-to", "Supplier C")
    assert code == 2 and "final" in one_line(err)


def test_a_referral_in_time_stops_finalising_until_determined(run, capsys, monkeypatch):
    produced = date.fromisoformat(report(run)["produced_at"][:10])
    command(capsys, monkeypatch, str(run), "--provided-to", "Supplier A", "--on",
            produced.isoformat())
    code, _, err = command(capsys, monkeypatch, str(run), "--referral", "Supplier B")
    assert code == 2 and "--provided-to Supplier B" in one_line(err)  # never provided to B
    on = add_working_days(produced, 3)
    code, _, err = command(capsys, monkeypatch, str(run), "--referral", "Supplier A", "--on",
                           on.isoformat(), "--note", "severity of NEW-001")
    assert code == 0, err
    [referral] = report(run)["referral_register"]["referrals"]
    assert referral == {"supplier": "Supplier A", "on": on.isoformat(),
                        "note": "severity of NEW-001", "within_deadline": True}
    late = add_working_days(produced, 30)
    code, _, err = command(capsys, monkeypatch, str(run), "--final", today=late)
    assert code == 2 and "20.40" in one_line(err)
    code, _, _ = command(capsys, monkeypatch, str(run), "--final", "--force", "--reason",
                         "determined: severity stands", today=late)
    assert code == 0 and report(run)["final_reason"] == "determined: severity stands"


@pytest.mark.parametrize(("args", "message"), [
    (["--on", "2026-04-01"], "--on and --note go with"),
    (["--provided-to", "A", "--referral", "B"], "one at a time"),
    (["--provided-to", "A", "--on", "1 April"], "not a date"),
    (["--provided-to", "A", "--note", "x"], "--note goes with --referral"),
])
def test_register_options_are_checked(run, capsys, monkeypatch, args, message):
    code, _, err = command(capsys, monkeypatch, str(run), *args)
    assert code == 2 and message in one_line(err)
