"""The security pack (``testpacks/security``): its pieces, and runs through ``dmct run`` on the
emulated bench.

- REF-DMC-001 passes the whole pack (dormant) and its report's ``device_security`` summary
  counts the cases;
- HONEYWELL-ELSTER-DMC-001 fails exactly the JoinTimePeriod cases above 255 s (256 and 3600,
  the "just before" cases), attributed to 91342, and nothing else;
- SECURE-LIBERTY110-DMC-001 passes its restriction cases;
- a Liberty 110 ESME whose emulation no longer restricts anything (boost writable through the
  DCC) while its expectations still document the restriction fails the restriction cases; an
  ESME whose wrong DNO certificate cannot be replaced (risk 9) fails the DNO case, attributed
  to RISK-9; a meter obeying supply changes on the HAN (``accepts_han_supply_change``) fails
  the targeted cases and the ``state_changing`` fuzz case, which the reference ESME passes;
- the harness survives a device that answers garbage (fault injection on the emulated ESME's
  console): requests end as E21 or a ZigBee error, nothing hangs, the run goes on, and the
  garbage is in the test's evidence.

One ``dmct run`` per DMC (or pair of variant DMCs), started together in subprocesses and shared
by the module's tests (under pytest-xdist the first worker to need a run makes it while holding
its lock; the others read it). The fuzz cases run 2 examples each here (``DMCT_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase
from labkit import LabFiles
from runkit import WHOLE_RUNS, run_once_each, shared_root
from zigpy.zcl import foundation

import testpacks.security
from harness.han.clusters import cluster_by_name
from harness.report.issues import default_registry_path, load_registry
from testpacks.security import frames
from testpacks.security.test_malformed import types_a_command

pytestmark = WHOLE_RUNS

PACK_DIR = Path(testpacks.security.__file__).parent
REPO = PACK_DIR.parents[1]
#: Examples per fuzz case in these runs (the pack's default is larger).
FUZZ_EXAMPLES = "2"

JTP = "security/test_join_time_period.py::"
RESTRICTED = "security/test_restrictions.py::test_restricted_srv_is_refused_and_changes_nothing"
BOOST = "security/test_restrictions.py::test_boost_keeps_working_per_the_han_configuration"
DNO = ("security/test_dno_certificate.py::"
       "test_a_wrong_dno_certificate_can_be_replaced_by_the_right_dno")
HONEYWELL_FAILURES = {
    f"{JTP}test_a_ppmid_starting_to_join_just_before_the_period_ends_joins[256]",
    f"{JTP}test_a_ppmid_starting_to_join_just_before_the_period_ends_joins[3600]",
}
LIBERTY_RESTRICTED = {f"{RESTRICTED}[{srv}-ESME]" for srv in ("7.5", "7.6", "7.9", "7.10")}


# -- the pack's pieces ----------------------------------------------------------------------------

def pack_modules() -> list[Path]:
    return sorted(PACK_DIR.glob("test_*.py"))


def test_every_module_is_marked_security_and_the_pack_has_its_cases():
    names = {p.name for p in pack_modules()}
    assert {"test_join_time_period.py", "test_device_log.py", "test_keys.py",
            "test_restrictions.py", "test_roles.py", "test_dno_certificate.py",
            "test_malformed.py"} <= names
    for path in pack_modules():
        module = importlib.import_module(f"testpacks.security.{path.stem}")
        marks = module.pytestmark if isinstance(module.pytestmark, list) else [module.pytestmark]
        assert {m.name for m in marks} >= {"security", "pack"}, path.name
        assert next(m for m in marks if m.name == "pack").args == ("security",), path.name
    assert testpacks.security.__doc__ and "refused, and nothing changed" in " ".join(
        testpacks.security.__doc__.split())


def test_the_pack_never_reaches_into_the_emulator():
    for path in sorted(PACK_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("harness.emulator") for n in names), path.name
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("emulation", "_emulator"), f"{path.name}:{node.lineno}"


def test_fuzzing_is_bounded_reproducible_and_documented():
    from testpacks.security import test_malformed

    settings = test_malformed.fuzz
    assert settings.derandomize is True and settings.database is None
    assert settings.deadline is None
    # A failure stops the case unshrunk: the device is not reset between examples.
    assert Phase.shrink not in settings.phases and Phase.explain not in settings.phases
    assert settings.report_multiple_bugs is False
    assert test_malformed.DEFAULT_FUZZ_EXAMPLES <= 10
    command = "DMCT_FUZZ_EXAMPLES=500 dmct run --pack security -- -k malformed"
    assert command in (REPO / "README.md").read_text()
    assert command in (REPO / "docs" / "security-pack.md").read_text()
    assert command in test_malformed.__doc__


def test_the_registry_attributes_the_dno_case_to_risk_9():
    risk9 = next(i for i in load_registry(default_registry_path()) if i.id == "RISK-9")
    assert (risk9.severity, risk9.dmcs, risk9.cases) == (
        3, ("*",), ("security/test_dno_certificate.py::*",))
    assert "risk 9" in risk9.source


METERING = frames.Cluster(0x0702, True, cluster_by_name("metering"))
CLUSTERS = {(0x0702, True): METERING}


def test_a_well_formed_command_that_acts_is_never_sent():
    """A LocalChangeSupply (would switch the supply off) and a correctly typed write act on a
    device; a read, a truncated command and a write with the wrong type do not."""
    local_change = frames.header(0x0C, cluster_specific=True,
                                 direction=foundation.Direction.Client_to_Server) + b"\x00"
    assert frames.acts_on_device(local_change, 0x0702, CLUSTERS)
    assert not frames.acts_on_device(local_change[:-1], 0x0702, CLUSTERS)
    read = frames.valid_frames(METERING)[0]
    assert not frames.acts_on_device(read, 0x0702, CLUSTERS)
    attribute = METERING.attributes()[0]
    write = frames.header(foundation.GeneralCommand.Write_Attributes, cluster_specific=False,
                          direction=foundation.Direction.Client_to_Server)
    right = write + attribute.id.to_bytes(2, "little") + bytes([int(attribute.zcl_type)])
    right += b"\x00" * frames.FIXED_SIZE_TYPES[attribute.zcl_type]
    assert frames.acts_on_device(right, 0x0702, CLUSTERS)
    wrong = write + attribute.id.to_bytes(2, "little") + bytes([0x42, 1]) + b"x"
    assert not frames.acts_on_device(wrong, 0x0702, CLUSTERS)
    # A side of the cluster the device does not have: nothing acts.
    assert not frames.acts_on_device(local_change, 0x0702, {})


def test_every_kind_of_frame_can_be_drawn_for_a_cluster():
    from hypothesis import find

    for name, kind in frames.KINDS.items():
        frame = find(kind(METERING), lambda f: True)
        sent = frame if name in frames.ACTING_KINDS else [frame]  # (every request of it)
        assert sent and all(isinstance(f, bytes) for f in sent), name
    truncated = find(frames.truncated_frames(METERING), lambda f: len(f) > 3)
    assert any(v.startswith(truncated) and v != truncated
               for v in frames.valid_frames(METERING))


def test_state_changing_is_not_applicable_to_a_device_that_takes_no_such_request():
    """A device with nothing that acts on it gets no ``state_changing`` frame: the case is
    not applicable (not a pass that observed nothing)."""
    from types import SimpleNamespace

    empty = frames.Cluster(0xFC00, True, SimpleNamespace(  # type: ignore[arg-type]
        name="Empty", server_commands={}, client_commands={}, attributes={}))
    assert not frames.takes_state_changing_requests([empty])
    assert frames.state_changing_requests(empty).zero_valued == []
    assert frames.takes_state_changing_requests([empty, METERING])
    zero = frames.state_changing_requests(METERING).zero_valued
    assert zero and all(frames.acts_on_device(f, 0x0702, CLUSTERS) for f in zero)


def test_the_simplest_state_changing_example_is_every_request_with_zero_values():
    """What finds a meter obeying any request at the first example: every command of the
    cluster with zero-valued fields (TSNs counting up), and a write of its first attribute."""
    from hypothesis import find

    requests = frames.state_changing_requests(METERING)
    simplest = find(frames.every_state_changing_request(METERING), lambda f: True)
    expected = [c.zero_valued() for c in requests.commands] + [requests.writes[0].zero_valued()]
    assert len(simplest) == len(expected) == len(requests.commands) + 1
    assert [f[1] for f in simplest] == list(range(len(simplest)))  # the TSNs
    assert [f[:1] + f[2:] for f in simplest] == [f[:1] + f[2:] for f in expected]
    assert sum(frames.acts_on_device(f, 0x0702, CLUSTERS) for f in simplest) > 10


def test_random_console_input_never_types_a_command():
    words = frozenset({"status", "boost", "power"})
    assert types_a_command(b"xx boost", words)
    assert types_a_command(b"boox\x08st", words)  # as the console edits it
    assert types_a_command(b"POWER off", words)
    assert not types_a_command(b"\x00\xff garbage-free", words)


# -- runs on the emulated bench -----------------------------------------------------------------

def _variant_lab(root: Path) -> Path:
    """Two variant DMCs: the Liberty 110 ESME no longer restricting anything while its
    expectations still document the restriction; the reference ESME whose wrong DNO certificate
    cannot be replaced (risk 9)."""
    files = LabFiles(root / "variant-lab")
    liberty = files.profile_variant("secure-liberty110-esme", "sec-test-liberty-unrestricted",
                                    emulation={"restricted_srvs": []})
    files.dmc("SEC-TEST-UNRESTRICTED", profiles={"ESME": liberty})
    risk9 = files.profile_variant("ref-esme", "sec-test-esme-risk9",
                                  emulation={"dno_certificate_replaceable": False})
    files.dmc("SEC-TEST-RISK9", profiles={"ESME": risk9})
    han_supply = files.profile_variant("ref-esme", "sec-test-esme-han-supply",
                                       emulation={"accepts_han_supply_change": True})
    files.dmc("SEC-TEST-HAN-SUPPLY", profiles={"ESME": han_supply})
    old_key = files.profile_variant("ref-gsme", "sec-test-gsme-old-key",
                                    emulation={"key_rotation": {"old_key_accepted": True}})
    files.dmc("SEC-TEST-OLD-KEY", profiles={"GSME": old_key})
    return files.lab(dmc="[SEC-TEST-UNRESTRICTED, SEC-TEST-RISK9, SEC-TEST-HAN-SUPPLY, "
                     "SEC-TEST-OLD-KEY]")


def _chf_lab(root: Path) -> Path:
    """Two CHFs that cannot serve a JoinTimePeriod above 255 s: one clamps it to 255 s and says
    so in the 8.11 response (91342's agreed fix), one cuts it silently."""
    files = LabFiles(root / "chf-lab")
    for mode in ("clamp", "cut"):
        chf = files.profile_variant("ref-chf", f"sec-test-chf-{mode}", emulation={
            "chf": {"join_time_period_limit": {"max_s": 255, "over_limit": mode}}})
        files.dmc(f"SEC-TEST-CHF-{mode.upper()}", profiles={"CHF": chf})
    return files.lab(dmc="[SEC-TEST-CHF-CLAMP, SEC-TEST-CHF-CUT]")


#: Run name -> (DMCs, dmct run arguments after them).
RUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reference": (("REF-DMC-001",), ()),
    "honeywell": (("HONEYWELL-ELSTER-DMC-001",), ()),
    "liberty": (("SECURE-LIBERTY110-DMC-001",), ("--", "-k", "restrict or boost")),
    "variants": (("SEC-TEST-UNRESTRICTED", "SEC-TEST-RISK9", "SEC-TEST-HAN-SUPPLY",
                  "SEC-TEST-OLD-KEY"),
                 ("--", "-k", "restrict or boost or dno or supply_change_on_the_han or "
                  "old_management_key or (state_changing and ESME)")),
    "chf": (("SEC-TEST-CHF-CLAMP", "SEC-TEST-CHF-CUT"), ("--", "-k", "period_ends")),
}


def _command(root: Path, name: str) -> list[str]:
    dmcs, extra = RUNS[name]
    lab = (["--lab", str(_variant_lab(root))] if name == "variants"
           else ["--lab", str(_chf_lab(root))] if name == "chf" else [])
    return [sys.executable, "-m", "harness.cli", "run", *lab,
            *[a for d in dmcs for a in ("--dmc", d)], "--pack", "security",
            "--status", "dormant", "--out", str(root / "out" / name), *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each run's exit code, output and dormant report per DMC."""
    root = shared_root(tmp_path_factory, "security-pack-runs")
    done = run_once_each(root, {name: _command(root, name) for name in RUNS},
                         env={"DMCT_FUZZ_EXAMPLES": FUZZ_EXAMPLES})
    runs = {}
    for name, (dmcs, _) in RUNS.items():
        reports = {}
        for dmc in dmcs:
            path = root / "out" / name / dmc / "dormant" / "dmct-report.json"
            if path.exists():
                reports[dmc] = json.loads(path.read_text())
        runs[name] = {**done[name], "reports": reports}
    return runs


def report_of(runs: dict[str, dict[str, Any]], name: str, dmc: str) -> dict[str, Any]:
    run = runs[name]
    assert dmc in run["reports"], f"{dmc}: no report (exit {run['exit_code']})\n" + (
        run["output"][-3000:])
    return run["reports"][dmc]


def cases(report: dict[str, Any], outcome: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["cases"] if c["outcome"] == outcome}


def test_the_reference_dmc_passes_the_whole_pack(runs):
    report = report_of(runs, "reference", "REF-DMC-001")
    assert runs["reference"]["exit_code"] == 0, runs["reference"]["output"][-3000:]
    assert report["verdict"] == "meets_exit_criteria", report["verdict_reasons"]
    assert not cases(report, "failed") and not cases(report, "blocked"), {
        c["id"]: c["reason"] for c in report["cases"] if c["outcome"] in ("failed", "blocked")}
    passed = cases(report, "passed")
    assert len(passed) > 80
    for module in ("test_join_time_period", "test_device_log", "test_keys", "test_roles",
                   "test_dno_certificate", "test_malformed"):
        assert any(f"security/{module}.py::" in case for case in passed), module
    not_applicable = cases(report, "not_applicable")
    assert f"{RESTRICTED}[none]" in not_applicable and BOOST in not_applicable
    assert all(c["reason"].startswith("not applicable:") for c in not_applicable.values())
    assert [p["name"] for p in report["packs"]] == ["security"]


def test_the_reports_device_security_summary_counts_device_refusals_only(runs):
    """Every case says who refused; the device security summary counts the device's, the
    DCC-side access-control section the rest."""
    report = report_of(runs, "reference", "REF-DMC-001")
    by = {who: [c for c in report["cases"] if c["refused_by"] == who] for who in ("device", "dcc")}
    assert len(by["device"]) + len(by["dcc"]) == len(report["cases"])
    for who, section in (("device", "device_security"), ("dcc", "dcc_access_control")):
        mine = by[who]
        assert report[section] == {
            "cases_tried": sum(c["outcome"] in ("passed", "failed") for c in mine),
            "refused_as_expected": sum(c["outcome"] == "passed" for c in mine),
            "not_applicable": sum(c["outcome"] == "not_applicable" for c in mine),
            "anomalies": [],
        }, section
    dcc_side = {c["id"].split("[")[0] for c in by["dcc"]}
    assert dcc_side == {
        "security/test_roles.py::test_srv_from_a_role_not_permitted_is_refused",
        RESTRICTED, DNO,
        f"{JTP}test_join_time_period_outside_the_range_is_refused",
        "security/test_device_log.py::test_an_install_code_with_a_bad_crc_is_refused"}


def test_every_case_of_the_pack_says_who_refuses_it():
    for path in pack_modules():
        module = importlib.import_module(f"testpacks.security.{path.stem}")
        module_marks = {m.name for m in (module.pytestmark if isinstance(
            module.pytestmark, list) else [module.pytestmark])}
        for name, function in vars(module).items():
            if not name.startswith("test_") or not callable(function):
                continue
            marks = module_marks | {m.name for m in getattr(function, "pytestmark", [])}
            who = marks & {"refused_by_device", "refused_by_dcc"}
            assert len(who) == 1, f"{path.name}::{name}: {sorted(who)}"


HAN_SUPPLY = "security/test_han_commands.py::test_a_supply_change_on_the_han_is_refused"
STATE_CHANGING = ("security/test_malformed.py::"
                  "test_malformed_zcl_frames_leave_the_device_unchanged[state_changing-ESME]")


def test_a_meter_that_obeys_supply_changes_on_the_han_fails_them(runs):
    """The defect the emulator had: a meter acting on ChangeSupply / LocalChangeSupply from
    any HAN node. Found by observation alone, one Testing Issue, a device anomaly (the fuzz
    case finds it too: its own Testing Issue, one check, next test)."""
    report = report_of(runs, "variants", "SEC-TEST-HAN-SUPPLY")
    failed = cases(report, "failed")
    expected = {f"{HAN_SUPPLY}[{attack}-ESME]" for attack in
                ("change_supply_off", "local_change_supply_off",
                 "local_restore_of_a_disabled_supply")}
    assert set(failed) == expected | {STATE_CHANGING}, {
        c: r["reason"] for c, r in failed.items()}
    for case in expected:
        reason = failed[case]["reason"]
        assert "acted on a ZCL" in reason and "Metering SupplyStatus" in reason
    issue = next(i for i in report["testing_issues"] if STATE_CHANGING not in i["cases"])
    assert set(issue["cases"]) == expected and issue["severity"] == 2
    assert {a["case"] for a in report["device_security"]["anomalies"]} == expected | {
        STATE_CHANGING}
    assert f"{HAN_SUPPLY}[change_supply_off-GSME]" in cases(report, "passed")


def test_the_state_changing_fuzz_finds_a_meter_obeying_supply_changes_on_the_han(runs):
    """``accepts_han_supply_change``, found by the fuzz alone: each example sends every
    command of every cluster, so the simplest one (zero-valued fields) switches the defective
    meter off; the healthy reference ESME (and a variant whose only defect is elsewhere)
    passes the same case."""
    report = report_of(runs, "variants", "SEC-TEST-HAN-SUPPLY")
    case = cases(report, "failed")[STATE_CHANGING]
    assert case["reason"].startswith("the ESME after malformed ZCL frames (state changing): "
                                     "its supply status went from 2 to "), case["reason"]
    issue = next(i for i in report["testing_issues"] if STATE_CHANGING in i["cases"])
    assert issue["cases"] == [STATE_CHANGING] and issue["severity"] == 2
    assert case["refused_by"] == "device"
    assert STATE_CHANGING in cases(report_of(runs, "reference", "REF-DMC-001"), "passed")
    assert STATE_CHANGING in cases(report_of(runs, "variants", "SEC-TEST-RISK9"), "passed")


def test_honeywell_fails_exactly_the_join_time_periods_above_255_s(runs):
    report = report_of(runs, "honeywell", "HONEYWELL-ELSTER-DMC-001")
    failed = cases(report, "failed")
    assert set(failed) == HONEYWELL_FAILURES, {c: r["reason"] for c, r in failed.items()}
    for case in failed.values():
        assert case["testing_issue"] == "91342"
        period = case["id"].rsplit("[", 1)[1].rstrip("]")
        assert case["reason"].startswith(f"JoinTimePeriod {period}: "), case["reason"]
    assert not cases(report, "blocked")
    assert [i["id"] for i in report["testing_issues"]] == ["91342"]
    anomalies = report["device_security"]["anomalies"]
    assert {a["case"] for a in anomalies} == HONEYWELL_FAILURES
    assert {a["testing_issue"] for a in anomalies} == {"91342"}
    assert report["verdict"] == "fails_exit_criteria"
    # The periods a single permit serves, and every "just after" case, pass.
    passed = cases(report, "passed")
    for period in (1, 254, 255):
        assert f"{JTP}test_a_ppmid_starting_to_join_just_before_the_period_ends_joins[{period}]" \
            in passed
    for period in (1, 254, 255, 256, 3600):
        assert (f"{JTP}test_a_ppmid_starting_to_join_just_after_the_period_ends_is_refused"
                f"[{period}]") in passed


def test_the_liberty_110_passes_its_restriction_cases(runs):
    report = report_of(runs, "liberty", "SECURE-LIBERTY110-DMC-001")
    passed = cases(report, "passed")
    assert LIBERTY_RESTRICTED | {BOOST} <= set(passed), {
        c["id"]: c["reason"] for c in report["cases"] if c["outcome"] != "passed"}
    assert not cases(report, "failed") and not cases(report, "blocked")
    assert report["verdict"] == "meets_exit_criteria"


def test_a_liberty_110_that_no_longer_restricts_fails_the_restriction_cases(runs):
    report = report_of(runs, "variants", "SEC-TEST-UNRESTRICTED")
    failed = cases(report, "failed")
    assert set(failed) == LIBERTY_RESTRICTED, {c: r["reason"] for c, r in failed.items()}
    for case in failed.values():
        assert "E11 was expected; answered I0" in case["reason"], case["reason"]
        assert "expectations.restricted_srvs" in case["reason"]
    assert "boost configuration (7.11) went from" in failed[f"{RESTRICTED}[7.9-ESME]"]["reason"]
    # The state was put back: the boost case that follows still finds the HAN configuration.
    assert BOOST in cases(report, "passed")
    assert DNO in cases(report, "passed")
    issues = report["testing_issues"]
    # One cause (the model no longer restricts), one new Testing Issue for its four cases.
    [issue] = issues
    assert not issue["known"] and set(issue["cases"]) == LIBERTY_RESTRICTED
    assert report["verdict"] == "fails_exit_criteria"


def test_a_wrong_dno_certificate_that_cannot_be_replaced_is_risk_9(runs):
    report = report_of(runs, "variants", "SEC-TEST-RISK9")
    failed = cases(report, "failed")
    assert set(failed) == {DNO}, {c: r["reason"] for c, r in failed.items()}
    reason = failed[DNO]["reason"]
    assert reason.startswith("risk 9: the ESME's registered DNO dno could not replace the "
                             "wrong DNO certificate (dno-b's)"), reason
    assert "locked out" in reason
    assert failed[DNO]["testing_issue"] == "RISK-9"
    [issue] = report["testing_issues"]
    assert (issue["id"], issue["severity"], issue["known"]) == ("RISK-9", 3, True)
    # The DCC side refuses it (registration data): not device security evidence.
    assert report["device_security"]["anomalies"] == []
    assert report["dcc_access_control"]["anomalies"] == [
        {"case": DNO, "outcome": "failed", "reason": reason, "testing_issue": "RISK-9"}]
    assert runs["variants"]["exit_code"] == 1


# -- a device that answers garbage --------------------------------------------------------------

GARBAGE_TESTS = '''
import pytest
from harness.han.device import ZclError


def test_a_device_answering_garbage(dcc, esme, esme_console):
    esme_console.send_line("garbage on")
    esme_console.expect("garbage on")
    try:
        response = dcc.send("7.4", "ESME", role="IS")
        assert response.code == "E21", response
        with pytest.raises((ZclError, TimeoutError)):
            esme.zigbee.read("basic", "model")
    finally:
        esme_console.send_line("garbage off")
        esme_console.expect("garbage off")


def test_the_run_goes_on(dcc, esme):
    assert dcc.send("7.4", "ESME", role="IS").code == "I0"
    assert esme.zigbee.read_one("basic", "model")
'''


def test_the_harness_survives_a_device_that_answers_garbage(pytester, clean_run_env):
    pytester.makepyfile(test_garbage=GARBAGE_TESTS)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--dmct-out", str(out),
        timeout=120)
    assert result.ret == 0, "\n".join(result.outlines[-40:])
    records = {json.loads(line)["name"]: json.loads(line)
               for line in (out / "records.jsonl").read_text().splitlines()}
    assert {n: r["outcome"] for n, r in records.items()} == {
        "test_a_device_answering_garbage": "passed", "test_the_run_goes_on": "passed"}
    evidence = records["test_a_device_answering_garbage"]["evidence"]
    frames_sent = json.loads((out / evidence["frames"]).read_text())
    requests = {(f["cluster_id"], bytes.fromhex(f["data"])[1]) for f in frames_sent
                if f["direction"] == "tx" and f["dst_ep"] == 1 and len(f["data"]) >= 6}
    from_esme = [f for f in frames_sent if f["direction"] == "rx" and f["src_ep"] == 1
                 and f["cluster_id"] in ("0x0702", "0x0000")]
    assert from_esme, "no frame from the ESME in the evidence"
    for frame in from_esme:  # none is a proper answer to what was asked
        data = bytes.fromhex(frame["data"])
        try:
            header, _ = foundation.ZCLHeader.deserialize(data)
        except ValueError:
            continue
        answer = (not header.frame_control.is_cluster
                  and header.command_id == foundation.GeneralCommand.Read_Attributes_rsp)
        assert not (answer and (frame["cluster_id"], header.tsn) in requests), frame


OLD_KEY = ("security/test_keys.py::"
           "test_a_command_signed_with_the_old_management_key_is_refused")


def test_a_meter_still_accepting_its_old_management_key_fails_that_case(runs):
    """``key_rotation.old_key_accepted`` on the GSME: exactly the old-key case on the GSME
    fails, one Testing Issue, a device anomaly; the ESME's passes."""
    report = report_of(runs, "variants", "SEC-TEST-OLD-KEY")
    failed = cases(report, "failed")
    assert set(failed) == {f"{OLD_KEY}[GSME]"}, {c: r["reason"] for c, r in failed.items()}
    assert "acted on a Disable Supply signed with its old management key" in failed[
        f"{OLD_KEY}[GSME]"]["reason"]
    [issue] = report["testing_issues"]
    assert issue["cases"] == [f"{OLD_KEY}[GSME]"] and issue["severity"] == 2
    assert [a["case"] for a in report["device_security"]["anomalies"]] == [f"{OLD_KEY}[GSME]"]
    assert f"{OLD_KEY}[ESME]" in cases(report, "passed")


def test_a_clamp_to_255_s_reported_passes_as_91342s_agreed_fix(runs):
    report = report_of(runs, "chf", "SEC-TEST-CHF-CLAMP")
    assert not cases(report, "failed") and not cases(report, "blocked"), {
        c["id"]: c["reason"] for c in report["cases"] if c["outcome"] != "passed"}
    assert len(cases(report, "passed")) == 10


def test_a_silent_cut_of_the_join_window_still_fails(runs):
    """A CHF that says it granted the period but closes joining after 255 s fails exactly the
    "just before" cases above 255 s, one Testing Issue (one check, one cause)."""
    report = report_of(runs, "chf", "SEC-TEST-CHF-CUT")
    failed = cases(report, "failed")
    assert set(failed) == HONEYWELL_FAILURES, {c: r["reason"] for c, r in failed.items()}
    for case in failed.values():
        assert "did not join" in case["reason"] and "the CHF said it granted" in case["reason"]
    [issue] = report["testing_issues"]
    assert set(issue["cases"]) == HONEYWELL_FAILURES
