"""``dmct``: run, lab check, profiles validate, help, and one-line errors.

``dmct run`` starts pytest on the packs in a subprocess of its own; the tests call
``harness.cli.main`` in-process (output through ``capsys``) and run the console script once as a
real subprocess from a directory outside the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from labkit import BROKEN_LABS, EMULATED_LAB, LabFiles, line_of

from harness.cli import main
from harness.config import load_catalogue, load_lab_config

OUTCOME_WORDS = ("PASSED", "FAILED", "BLOCKED", "NOT_APPLICABLE")


@pytest.fixture(autouse=True)
def _pack_run_env(clean_run_env, monkeypatch):
    """No settings from the calling shell; and the pack runs dmct starts do without
    hypothesis' pytest plugin (a second to import)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def rows(output: str) -> list[list[str]]:
    """The summary table's rows (plain output: a pipe), split into columns: outcome, test,
    SRVs, reason (the DMC/status column and the closing list of failures left out)."""
    output = output.split("== failed and blocked cases")[0]
    split = [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in output.splitlines()]
    return [cells[1:] for cells in split if len(cells) > 1 and cells[1] in OUTCOME_WORDS]


def records_of(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "records.jsonl").read_text().splitlines()]


# -- dmct run ----------------------------------------------------------------------------------

def test_run_on_the_emulated_bench_prints_a_line_per_test_and_totals(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--pack", "smoke", "--status", "dormant", "--out", "results", "-v"])
    out, err = capsys.readouterr()
    assert code == 0, out + err

    run_dir = tmp_path / "results" / "REF-DMC-001" / "dormant"
    records = records_of(run_dir)
    assert len(records) >= 8  # the smoke pack: 4 joins, 2 register reads, 2 refusals
    lines = out.splitlines()
    header = lines.index("DMC/STATUS  OUTCOME  TEST  SRV  REASON")
    table = rows(out)
    # -v: the passed cases too, in the order they finished, right under the header
    assert [row[1] for row in table] == [r["id"].removeprefix("testpacks/") for r in records]
    assert all(row[0] == "PASSED" and len(row) == 3 for row in table), table
    n = len(records)
    assert [line.split("  ")[:2] for line in lines[header + 1:header + 1 + n]] == [
        ["REF-DMC-001/dormant", "PASSED"]] * n
    assert (f"REF-DMC-001 / dormant: {n} tests: {n} passed, 0 failed, 0 blocked, "
            "0 not applicable") in out
    assert lines[-1].startswith("OK: ")
    assert list((run_dir / "allure-results").iterdir())  # Allure results beside the records
    assert err == ""


def test_console_script_runs_from_outside_the_repository(tmp_path):
    dmct = shutil.which("dmct")
    assert dmct is not None, "the dmct console script is not installed"
    completed = subprocess.run(
        [dmct, "run", "--pack", "smoke", "--status", "dormant", "--out", "out"], cwd=tmp_path,
        capture_output=True,
        text=True, timeout=180, check=False, env={**os.environ},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    records = records_of(tmp_path / "out" / "REF-DMC-001" / "dormant")
    assert {r["outcome"] for r in records} == {"passed"}
    assert rows(completed.stdout) == []  # every case passed: no row without -v
    assert "failed and blocked cases" not in completed.stdout
    assert not (tmp_path / "dmct-results").exists()  # --out is where results go


def test_a_failing_test_makes_run_exit_1(lab_files, tmp_path, capsys):
    esme = lab_files.esme_profile("test-esme-no-metering", without_cluster="metering")
    dmc = lab_files.dmc("TEST-NO-METERING-DMC", profiles={"ESME": esme})
    lab = lab_files.lab(dmc=dmc)
    # Extra pytest arguments after "--": only the register tests.
    code = main(["run", "--lab", str(lab), "--pack", "smoke", "--status", "dormant", "--out",
                 str(tmp_path / "out"), "--", "-k", "register"])
    out, err = capsys.readouterr()
    assert code == 1, out + err

    table = {row[1]: row for row in rows(out)}
    failed_id = "smoke/test_smoke.py::test_register_over_zigbee_equals_optical_readout[ESME]"
    assert set(table) == {failed_id}  # the passed GSME case is not shown without -v
    assert table[failed_id][0] == "FAILED"
    assert "metering" in table[failed_id][3]  # the reason: what the ESME could not do
    # the closing list: the failure again, its reason on the line under it
    closing = out[out.index("== failed and blocked cases (1)"):].splitlines()
    assert closing[1].split() == ["FAILED", f"{dmc}/dormant", failed_id]
    assert closing[2].startswith("    ") and "metering" in closing[2]
    assert f"{dmc} / dormant: 2 tests: 1 passed, 1 failed, 0 blocked, 0 not applicable" in out
    assert out.splitlines()[-1].startswith("FAILED: ")


# -- configuration and usage errors --------------------------------------------------------------

def _broken_lab(files: LabFiles, case: str) -> tuple[list[str], str]:
    """Arguments of a ``dmct run`` that must fail on ``case``, and the start of its one line."""
    if case in BROKEN_LABS:
        edit, append, fragment, occurrence, field = BROKEN_LABS[case]
        lab = files.lab(edit=edit, append=append)
        return ["--lab", str(lab)], f"{lab}:{line_of(lab, fragment, occurrence)}: {field}: "
    if case == "missing profile id":
        dmc = files.dmc("TEST-MISSING-PROFILE-DMC", profiles={"ESME": "no-such-esme"})
        lab = files.lab(dmc=dmc)
        dmc_file = files.profiles / "dmcs" / f"{dmc}.yaml"
        return ["--lab", str(lab)], f"{dmc_file}:{line_of(dmc_file, 'ESME:')}: devices.ESME: "
    if case == "missing lab file":
        missing = files.root / "no-such-lab.yaml"
        return ["--lab", str(missing)], f"{missing}: lab config file not found"
    if case == "unknown --pack":
        return ["--pack", "no-such-pack"], "unknown pack 'no-such-pack' (given with --pack); "
    if case == "unknown --dmc":
        return (["--dmc", "NO-SUCH-DMC"],
                f"{EMULATED_LAB}:{line_of(EMULATED_LAB, 'dmc: ')}: dmc: unknown DMC id "
                "'NO-SUCH-DMC'")
    assert case == "bad --status"
    return ["--status", "broken"], "argument --status: invalid choice: 'broken'"


@pytest.mark.parametrize("case", [*BROKEN_LABS, "missing profile id", "missing lab file",
                                  "unknown --pack", "unknown --dmc", "bad --status"])
def test_configuration_errors_exit_2_with_one_line(lab_files, tmp_path, capsys, case):
    args, start = _broken_lab(lab_files, case)
    code = main(["run", *args, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # nothing ran
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("dmct: error: " + start), err
    assert not (tmp_path / "out").exists()


def test_stray_argument_points_at_the_separator(capsys):
    assert main(["run", "-k", "register"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pytest arguments go after '--'" in err


# -- dmct lab check ------------------------------------------------------------------------------

def test_lab_check_reaches_every_device_of_the_emulated_bench(capsys):
    assert main(["lab", "check"]) == 0
    out = capsys.readouterr().out
    lab = load_lab_config(EMULATED_LAB)
    devices = {d.role: d.eui64 for d in lab.installations[0].devices}
    checked = {}
    for line in out.splitlines():
        role = line.split(" ", 1)[0]
        if role in devices:
            checked[role] = line
    assert set(checked) == set(devices)
    for role, line in checked.items():
        assert devices[role] in line
        assert "joined nwk 0x" in line and "interviewed" in line, line
        assert "NOT REACHABLE" not in line and "FAILED" not in line, line
    assert "optical" in checked["ESME"] and "optical" in checked["GSME"]
    assert out.splitlines()[-1] == "all devices reachable"


# -- dmct profiles validate ----------------------------------------------------------------------

def test_profiles_validate_accepts_the_shipped_catalogue(capsys):
    assert main(["profiles", "validate"]) == 0
    catalogue = load_catalogue()
    out = capsys.readouterr().out
    assert out.startswith(f"{len(catalogue.profiles)} profiles and {len(catalogue.dmcs)} DMCs "
                          "are valid")


def test_profiles_validate_lists_every_problem_of_an_extra_directory(lab_files, capsys):
    esme = lab_files.esme_profile("test-esme-typo", without_cluster="metering")
    model = lab_files.profiles / "models" / f"{esme}.yaml"
    model.write_text(model.read_text().replace("manufacturer:", "manufacturr:"))
    dmc = lab_files.dmc("TEST-BROKEN-DMC", profiles={"GSME": "no-such-gsme"})
    dmc_file = lab_files.profiles / "dmcs" / f"{dmc}.yaml"

    assert main(["profiles", "validate", "--path", str(lab_files.profiles)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"{len(lines) - 1} problem(s) found"
    assert any(line.startswith(f"{model}:{line_of(model, 'manufacturr:')}: manufacturr: ")
               for line in lines), lines
    assert any(line.startswith(f"{dmc_file}:{line_of(dmc_file, 'GSME:')}: devices.GSME: ")
               for line in lines), lines


def test_profiles_validate_with_a_lab_config_checks_its_profile_paths(lab_files, capsys):
    lab_files.dmc("TEST-BROKEN-DMC", profiles={"GSME": "no-such-gsme"})
    lab = lab_files.lab()  # still tests REF-DMC-001, but its profile_paths hold the broken DMC
    assert main(["profiles", "validate", "--lab", str(lab)]) == 1
    assert "no-such-gsme" in capsys.readouterr().out


# -- help ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["run"], ["lab"], ["lab", "check"], ["profiles"],
                                     ["profiles", "validate"]])
def test_help(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: dmct {' '.join(command)}".rstrip())
    assert "Exit status" in out or command in (["lab"], ["profiles"])
    if command == ["run"]:
        assert '"--" separator' in out and "-- -k register" in out
        for option in ("--lab", "--dmc", "--status", "--pack", "--out", "--verbose"):
            assert option in out


def test_a_broken_testing_issue_registry_stops_the_run_before_it_starts(lab_files, tmp_path,
                                                                         capsys):
    """Found when the lab config is loaded (file, line, field), not after every case ran."""
    registry = lab_files.root / "issues.yaml"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text('issues:\n- id: "X-1"\n  title: t\n  severity: 5\n  status: open\n'
                        '  cases: ["*"]\n  source: s\n')
    lab = lab_files.lab(append=f"report:\n  testing_issues: {registry}\n")
    code = main(["run", "--lab", str(lab), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"dmct: error: {registry}:4: "), err
    assert "severity" in err
    assert not (tmp_path / "out").exists()
