"""The srv pack (``testpacks/srv``): its plan and exercise table, and runs through ``dmct run``
on the emulated bench. The reference DMC passes every case; a seeded DMC fails exactly its
known cases; a device that breaks what its profile says fails the case that judges it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from labkit import LabFiles
from runkit import WHOLE_RUNS, seeded_runs

import testpacks.srv
from harness.cli import main
from harness.config import load_catalogue
from harness.config.environment import BadEnvironment, missing_code_rate
from harness.dcc.catalogue import load_sr_catalogue
from testpacks.srv import plan
from testpacks.srv.exercise import Unmodelled
from testpacks.srv.exercises import EXERCISES

PACK_DIR = Path(testpacks.srv.__file__).parent
#: The response-code case, its id stating its sampling (a 1% rate found with 95% confidence).
RESPONSE_CODE_CASE = ("test_every_response_carries_a_response_code"
                      "[detects-1pct-at-95pct-299-requests]")

pytestmark = WHOLE_RUNS


@pytest.fixture(autouse=True)
def _pack_run_env(clean_run_env, monkeypatch):
    """No settings from the calling shell; the pack runs do without hypothesis' plugin."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def run_srv(tmp_path: Path, dmc: str = "REF-DMC-001", *, lab: Path | None = None,
            select: str | None = None) -> tuple[int, dict[str, dict], dict]:
    """``dmct run --pack srv`` for ``dmc`` (dormant): exit code, records by test name, report."""
    out = tmp_path / "out"
    args = ["run", *(["--lab", str(lab)] if lab else []), "--pack", "srv", "--dmc", dmc,
            "--status", "dormant", "--out", str(out)]
    if select:
        args += ["--", "-k", select]
    code = main(args)
    run_dir = out / dmc / "dormant"
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    by_name = {r["name"]: r for r in records}
    assert len(by_name) == len(records), "a case has two records"
    return code, by_name, json.loads((run_dir / "dmct-report.json").read_text())


def made_dmc(lab: LabFiles, **profiles: str) -> str:
    """REF-DMC-001 with ``profiles`` (role -> profile id) swapped in, with a dormant EPCL entry
    (``dmct run`` runs only the statuses a DMC has an entry for)."""
    dmc = lab.dmc("SRV-TEST-DMC", profiles=profiles)
    path = lab.profiles / "dmcs" / f"{dmc}.yaml"
    if "\nepcl:" not in path.read_text():
        path.write_text(path.read_text() + "epcl: {dormant: PH-SRV-TEST-D}\n")
    return dmc


def outcomes(records: dict[str, dict], outcome: str) -> set[str]:
    return {name for name, r in records.items() if r["outcome"] == outcome}


# -- the plan and the table -------------------------------------------------------------------

def test_every_catalogue_srv_has_an_exercise():
    catalogue = load_sr_catalogue()
    assert set(catalogue.srvs) == set(EXERCISES)
    assert set(plan.CONFIGURATION_SRVS) <= set(catalogue.srvs)


def test_case_ids_pair_each_srv_with_each_device_type_it_targets():
    catalogue = load_sr_catalogue()
    ids = [t.id for t in plan.targets(catalogue)]
    assert len(ids) == len(set(ids)) == sum(len(d.device_types)
                                              for d in catalogue.srvs.values())
    assert {"8.9-CHF", "8.11-CHF", "6.7-GSME", "11.4-PPMID", "11.1-IHD"} <= set(ids)
    assert [t.id for t in plan.targets(catalogue, ("6.11",))] == ["6.11-ESME", "6.11-GSME"]


def test_srvs_for_every_model_come_from_the_catalogue():
    from harness.dcc.catalogue import load_sr_catalogue

    catalogue = load_sr_catalogue()
    everywhere = {srv for srv, d in catalogue.srvs.items() if d.all_models}
    assert everywhere == {"8.3"}
    reference_ihd = load_catalogue().profile("ref-ihd-1.0.0")
    assert "8.3" not in reference_ihd.srvs
    assert plan.support(reference_ihd, "8.3").supported


def test_support_follows_srvs_and_restricted_srvs():
    catalogue = load_catalogue()
    liberty = catalogue.profile("secure-liberty110-esme-ph1")
    found = plan.support(liberty, "7.9")
    assert not found.supported and "restricted_srvs" in found.why
    assert plan.support(liberty, "7.11").supported
    assert plan.support(catalogue.profile("ref-esme-1.0.0"), "7.9").supported
    assert plan.support(catalogue.profile("itron-esme-ph1"), "6.5").supported
    assert plan.support(catalogue.profile("ref-ppmid-1.0.0"), "8.3").supported  # DCC only


def test_the_permitted_role_is_the_devices_supplier_then_its_network_operator():
    catalogue = load_sr_catalogue()
    assert plan.permitted_role(catalogue["6.7"], "GSME") == "GS"
    assert plan.permitted_role(catalogue["6.5"], "ESME") == "ED"
    assert plan.permitted_role(catalogue["8.9"], "CHF") == "IS"
    assert plan.permitted_role(catalogue["2.2"], "GSME") == "GS"


def test_applicability_says_why_a_case_does_not_apply():
    sr_catalogue, catalogue = load_sr_catalogue(), load_catalogue()
    liberty = catalogue.dmc("SECURE-LIBERTY110-DMC-001")
    target = plan.Target("7.9", "ESME")
    supported = plan.applicability(target, sr_catalogue, liberty, catalogue,
                                   want_supported=True)
    assert supported.skip is not None and supported.skip.startswith("not applicable:")
    assert plan.applicability(target, sr_catalogue, liberty, catalogue,
                              want_supported=False).skip is None


def test_the_response_code_sampling_states_itself_in_the_case_id():
    from testpacks.srv.test_srv import DEFAULT_MISSING_CODE_RATE, Sampling

    assert f"[{Sampling(DEFAULT_MISSING_CODE_RATE).id}]" in RESPONSE_CODE_CASE
    assert (Sampling(0.05).requests, Sampling(0.05).id) == (59, "detects-5pct-at-95pct-59-"
                                                            "requests")


@pytest.mark.parametrize("value", ["abc", "0", "1", "1.5", "-0.01", "nan", "inf", "1e-9",
                                   "\u0665", "0.01\x1b[2J"])
def test_a_bad_missing_code_rate_is_one_line_naming_the_variable(value):
    with pytest.raises(BadEnvironment) as bad:
        missing_code_rate(0.01, {"DMCT_MISSING_CODE_RATE": value})
    message = str(bad.value)
    assert message.startswith("environment variable DMCT_MISSING_CODE_RATE=")
    assert "\n" not in message and "\x1b" not in message and len(message) < 200
    assert missing_code_rate(0.01, {"DMCT_MISSING_CODE_RATE": " 0.05 "}) == 0.05
    assert missing_code_rate(0.01, {}) == 0.01


def test_dmct_run_refuses_a_bad_missing_code_rate_before_it_writes(tmp_path, capsys, monkeypatch):
    """Checked with the run's other settings: one line, exit 2, nothing written (it was read
    at the srv pack's import, a traceback in every entry)."""
    monkeypatch.setenv("DMCT_MISSING_CODE_RATE", "1%")
    assert main(["run", "--pack", "srv", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DMCT_MISSING_CODE_RATE=1%" in err
    assert not (tmp_path / "out").exists()


def test_the_pack_never_reaches_into_the_emulator():
    """The rule: no import of harness.emulator, no profile ``emulation`` section."""
    for path in sorted(PACK_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            assert not any(n.startswith("harness.emulator") for n in names), path.name
            if isinstance(node, ast.Attribute):
                assert node.attr != "emulation", f"{path.name}:{node.lineno}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value != "emulation", f"{path.name}:{node.lineno}"


# -- runs on the emulated bench -----------------------------------------------------------------

@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out root of the seeded-DMC runs (``runkit.seeded_runs``, shared with
    ``test_seeded_dmcs.py``): their srv pack cases are judged here."""
    out, done = seeded_runs(tmp_path_factory, list(SEEDED_SRV_DMCS))
    for dmc, run in done.items():
        assert run["exit_code"] in (0, 1), f"{dmc}: dmct exit {run['exit_code']}\n" + (
            run["output"][-3000:])
    return out


#: DMCs whose srv pack cases this module judges from the seeded runs (dormant).
SEEDED_SRV_DMCS = ("REF-DMC-001", "ITRON-DMC-001", "HONEYWELL-ELSTER-DMC-001")


def srv_of(out: Path, dmc: str) -> tuple[int, dict[str, dict], list[str]]:
    """The srv pack's part of a seeded run (dormant): the exit code an srv-only run would have
    (1 when a case failed), its records by test name, and the Testing Issues of its failures."""
    run_dir = out / dmc / "dormant"
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    srv = {r["name"]: r for r in records if r["pack"] == "srv"}
    assert len(srv) == len([r for r in records if r["pack"] == "srv"]), "a case has two records"
    report = json.loads((run_dir / "dmct-report.json").read_text())
    srv_ids = {c["id"] for c in report["cases"] if c["pack"] == "srv"}
    issues = sorted({i["id"] for i in report["testing_issues"] if set(i["cases"]) & srv_ids})
    failed = any(r["outcome"] in ("failed", "blocked") for r in srv.values())
    return int(failed), srv, issues


def test_the_reference_dmc_passes_every_case(seeded):
    code, records, _ = srv_of(seeded, "REF-DMC-001")
    assert code == 0, {n: r["reason"] for n, r in records.items() if r["outcome"] != "passed"}
    assert outcomes(records, "failed") == outcomes(records, "blocked") == set()
    assert {"test_supported_srv_executes[7.2-GSME]", "test_supported_srv_executes[8.11-CHF]",
            "test_supported_srv_executes[11.1-ESME]", "test_srv_repeat_in_one_day[6.7-GSME]",
            "test_supported_srv_executes[6.5-ESME]", "test_supported_srv_executes[2.2-ESME]",
            RESPONSE_CODE_CASE} <= outcomes(records, "passed")
    skipped = [r for r in records.values() if r["outcome"] == "not_applicable"]
    assert skipped and all(r["reason"].startswith("not applicable:") for r in skipped)
    assert records["test_supported_srv_executes[1.1.1-ESME]"]["srv"] == ["1.1.1"]


def test_srvs_judged_by_their_response_code_alone_say_so_in_the_report(seeded):
    """The SRVs whose body the harness does not model (``Unmodelled``) pass on their response
    code alone: each of their cases that ran carries the note "response code only" in the
    report, and no other srv case carries a note."""
    report = json.loads((seeded / "REF-DMC-001" / "dormant" / "dmct-report.json").read_text())
    unmodelled = {srv for srv, exercise in EXERCISES.items() if isinstance(exercise, Unmodelled)}
    assert unmodelled == {"6.12", "6.14.1", "6.14.2", "6.14.3", "6.22", "7.7", "7.8", "7.12",
                          "7.13"}
    ran = [c for c in report["cases"] if c["pack"] == "srv" and c["outcome"] == "passed"]
    noted = {c["id"] for c in ran if set(c["srv"]) & unmodelled}
    assert noted, "no case of an unmodelled SRV ran"
    for case in ran:
        if case["id"] in noted:
            assert case["note"].startswith("response code only: "), case
            assert f"SR {case['srv'][0]}" in case["note"]
        else:
            assert case["note"] is None, case
    html = (seeded / "REF-DMC-001" / "dormant" / "dmct-report.html").read_text()
    assert html.count('<span class="note">response code only: ') == len(noted)


def test_itron_fails_only_its_gas_flow_repeat_and_voltage_configuration(seeded):
    """91333: SR 6.7 runs once a day on the Itron GSME; risk 11: the DNO cannot set the
    ESME's voltage thresholds (6.5 refused). Nothing else of the pack fails."""
    code, records, issues = srv_of(seeded, "ITRON-DMC-001")
    assert code == 1
    assert outcomes(records, "failed") == {
        "test_srv_repeat_in_one_day[6.7-GSME]", "test_supported_srv_executes[6.5-ESME]",
        "test_srv_repeat_in_one_day[6.5-ESME]"}
    reason = records["test_srv_repeat_in_one_day[6.7-GSME]"]["reason"]
    assert "request 2 of SR 6.7" in reason and "E060701" in reason
    assert "E060501" in records["test_supported_srv_executes[6.5-ESME]"]["reason"]
    assert outcomes(records, "blocked") == set()
    assert issues == ["91333", "RISK-11"]


def test_honeywell_failures_all_lack_a_response_code(seeded):
    """91339/91340: the response code case fails, and any other case that fails does so for a
    response without a code, so the registry puts every failure on that one issue."""
    code, records, issues = srv_of(seeded, "HONEYWELL-ELSTER-DMC-001")
    assert code == 1
    failed = outcomes(records, "failed")
    assert RESPONSE_CODE_CASE in failed
    reason = records[RESPONSE_CODE_CASE]["reason"]
    assert "carried no response code" in reason
    # The sampling is stated: the case id and the reason name the rate it detects.
    assert "300 requests detect a rate of 1.0% with 95% confidence" in reason
    assert all("no response code" in records[name]["reason"] for name in failed), {
        name: records[name]["reason"] for name in failed}
    assert issues == ["91339/91340"]


def test_a_device_that_breaks_its_profile_fails_the_case_that_judges_it(tmp_path):
    """An ESME that refuses 7.9 although its profile lists it, and performs 7.10 although its
    expectations restrict it: the supported 7.9 and the unsupported 7.10 cases fail."""
    lab = LabFiles(tmp_path / "lab")
    esme = lab.profile_variant("ref-esme", "srv-test-esme",
                               emulation={"restricted_srvs": ["7.9"]},
                               expectations={"restricted_srvs": ["7.10"]})
    dmc = made_dmc(lab, ESME=esme)
    code, records, _ = run_srv(tmp_path, dmc, lab=lab.lab(dmc=dmc), select="7.9 or 7.10")
    assert code == 1
    assert outcomes(records, "failed") == {"test_supported_srv_executes[7.9-ESME]",
                                           "test_srv_repeat_in_one_day[7.9-ESME]",
                                           "test_unsupported_srv_is_refused[7.10-ESME]"}
    assert "answered E11" in records["test_supported_srv_executes[7.9-ESME]"]["reason"]
    assert "answered I0" in records["test_unsupported_srv_is_refused[7.10-ESME]"]["reason"]


def test_a_documented_daily_limit_is_checked_and_not_a_failure(tmp_path):
    """With 91333 accepted (``expectations.srv_daily_limits``), the second 6.7 of the day must
    be refused with the SRV's code and the next day's accepted: the Itron GSME passes."""
    lab = LabFiles(tmp_path / "lab")
    gsme = lab.profile_variant("itron-gsme", "srv-test-gsme",
                               expectations={"srv_daily_limits": {"6.7": 1}})
    dmc = made_dmc(lab, GSME=gsme)
    code, records, _ = run_srv(tmp_path, dmc, lab=lab.lab(dmc=dmc),
                               select="test_srv_repeat_in_one_day")
    assert code == 0, {n: r["reason"] for n, r in records.items()}
    assert records["test_srv_repeat_in_one_day[6.7-GSME]"]["outcome"] == "passed"


def test_a_device_executing_an_srv_its_documentation_leaves_out_fails_that_case(tmp_path):
    """``emulation.undocumented_srvs``: an ESME documented without 6.5 (``srvs``) that
    executes it all the same fails exactly the unsupported case, one Testing Issue."""
    lab = LabFiles(tmp_path / "lab")
    esme = lab.profile_variant("ref-esme", "srv-test-esme-undocumented", drop_srvs=["6.5"],
                               emulation={"undocumented_srvs": ["6.5"]})
    dmc = made_dmc(lab, ESME=esme)
    code, records, report = run_srv(tmp_path, dmc, lab=lab.lab(dmc=dmc), select="6.5")
    assert code == 1
    assert outcomes(records, "failed") == {"test_unsupported_srv_is_refused[6.5-ESME]"}
    assert "answered I0" in records["test_unsupported_srv_is_refused[6.5-ESME]"]["reason"]
    assert records["test_supported_srv_executes[6.5-ESME]"]["outcome"] == "not_applicable"
    [issue] = report["testing_issues"]
    assert issue["cases"] == ["srv/test_srv.py::test_unsupported_srv_is_refused[6.5-ESME]"]
