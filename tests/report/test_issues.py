"""Testing Issues (``harness.report.issues``): attributing failed cases to known issues, new
issues for the rest, and the registry file (its checks, and the shipped one).

Pure unit tests on lists of :class:`TestRecord`: no bench.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labkit import line_of

from harness.config import ConfigError, load_catalogue
from harness.report.issues import (
    PROVISIONAL_SEVERITY,
    KnownIssue,
    attribute,
    case_id,
    default_registry_path,
    load_registry,
)
from harness.report.records import TestRecord

DMC = "REF-DMC-001"
CASE = "dormant/test_dormant.py::test_key_rotation_confirmed_on_first_attempt"


def rec(case: str, outcome: str = "failed", reason: str | None = "it broke") -> TestRecord:
    """A record as the plugin writes it: node id under ``testpacks/``."""
    return TestRecord(id=f"testpacks/{case}", name=case.split("::")[-1],
                      pack=case.split("/")[0], outcome=outcome,  # type: ignore[arg-type]
                      reason=None if outcome == "passed" else reason)


def known(issue_id: str = "K-1", *, cases: tuple[str, ...] = ("*",), dmcs: tuple[str, ...] = ("*",),
          statuses: tuple[str, ...] = (), reason: str | None = None, status: str = "open",
          severity: int = 3, counted: bool = True) -> KnownIssue:
    return KnownIssue(id=issue_id, title=f"title of {issue_id}", severity=severity,
                      status=status, counted=counted, dmcs=dmcs, statuses=statuses,
                      cases=cases, reason=reason, source=f"source of {issue_id}")


def attributed(records: list[TestRecord], registry: tuple[KnownIssue, ...], *, dmc: str = DMC,
               status: str = "dormant") -> dict[str, str]:
    return attribute(records, dmc, status, registry)[0]


# -- attribution ----------------------------------------------------------------------------------

def test_case_id_is_the_node_id_below_testpacks():
    assert case_id(rec(CASE)) == CASE
    assert case_id(TestRecord(id="tests/x.py::test_y", name="test_y", pack=None,
                              outcome="failed")) == "tests/x.py::test_y"


@pytest.mark.parametrize(("pattern", "matches"), [
    ("*::test_key_rotation_confirmed_on_first_attempt", True),
    ("dormant/*", True),
    ("dormant/test_dormant.py::test_key_rotation_*", True),
    ("active/*", False),
    ("*::test_key_rotation_within_7_days", False),
    ("test_key_rotation_confirmed_on_first_attempt", False),  # a glob on the whole id
])
def test_attribution_by_case_glob(pattern, matches):
    by_case = attributed([rec(CASE)], (known(cases=(pattern,)),))
    assert by_case[CASE] == ("K-1" if matches else "NEW-001")


def test_a_case_glob_matches_parameters_too():
    case = "srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]"
    registry = (known(cases=("srv/test_srv.py::test_srv_repeat_in_one_day*6.7*",)),)
    other = "srv/test_srv.py::test_srv_repeat_in_one_day[6.11-GSME]"
    assert attributed([rec(case), rec(other)], registry) == {case: "K-1", other: "NEW-001"}


@pytest.mark.parametrize(("dmcs", "dmc", "matches"), [
    (("ITRON-DMC-001",), "ITRON-DMC-001", True),
    (("ITRON-DMC-001", "HONEYWELL-ELSTER-DMC-001"), "HONEYWELL-ELSTER-DMC-001", True),
    (("ITRON-DMC-001",), "REF-DMC-001", False),
    (("*",), "ANY-DMC", True),
])
def test_attribution_by_dmc(dmcs, dmc, matches):
    by_case = attributed([rec(CASE)], (known(dmcs=dmcs),), dmc=dmc)
    assert by_case[CASE] == ("K-1" if matches else "NEW-001")


@pytest.mark.parametrize(("statuses", "status", "matches"), [
    (("mixed",), "mixed", True),
    (("mixed",), "dormant", False),
    (("dormant", "active"), "active", True),
    ((), "mixed", True),  # no statuses: every status
])
def test_attribution_by_installation_status(statuses, status, matches):
    by_case = attributed([rec(CASE)], (known(statuses=statuses),), status=status)
    assert by_case[CASE] == ("K-1" if matches else "NEW-001")


@pytest.mark.parametrize(("pattern", "reason", "matches"), [
    ("(?i)no (response )?code", "SR 3.1: No Response Code in the Service Response", True),
    ("(?i)no (response )?code", "SR 6.23 answered: no code", True),
    ("(?i)no (response )?code", "expected I0, answered E4", False),
    ("no code", "SR 6.23 answered: No code", False),  # case-sensitive unless (?i)
    ("^the", "not at the start", False),  # searched, anchors mean what they say
    ("cannot be identified", None, False),  # a failure without a reason matches no regex
])
def test_attribution_by_reason_regex(pattern, reason, matches):
    by_case = attributed([rec(CASE, reason=reason)], (known(reason=pattern),))
    assert by_case[CASE] == ("K-1" if matches else "NEW-001")


def test_the_first_matching_known_issue_wins():
    first, second = known("FIRST", cases=("dormant/*",)), known("SECOND", cases=("*",))
    assert attributed([rec(CASE)], (first, second)) == {CASE: "FIRST"}
    assert attributed([rec(CASE)], (second, first)) == {CASE: "SECOND"}
    # An earlier entry that does not match (another DMC, another reason) is passed over.
    other_dmc = known("OTHER-DMC", dmcs=("ITRON-DMC-001",))
    other_reason = known("OTHER-REASON", reason="never said")
    assert attributed([rec(CASE)], (other_dmc, other_reason, second)) == {CASE: "SECOND"}


@pytest.mark.parametrize("status", ["fixed", "accepted"])
def test_issues_that_are_not_open_never_match(status):
    by_case, issues = attribute([rec(CASE)], DMC, "dormant", (known(status=status),))
    assert by_case == {CASE: "NEW-001"}
    assert [(i.id, i.known) for i in issues] == [("NEW-001", False)]
    # ... and a later open entry still can.
    assert attributed([rec(CASE)], (known(status=status), known("OPEN"))) == {CASE: "OPEN"}


def test_unmatched_failures_become_new_issues_awaiting_triage():
    first = "dormant/test_dormant.py::test_migration_completes"
    second = "srv/test_srv.py::test_supported_srv_executes[7.4-GSME]"
    records = [rec(first, reason="the migration did not complete\nsecond line"),
               rec(second, reason="SR 7.4 to the GSME: expected I0, answered E20 " + "x" * 300)]
    by_case, issues = attribute(records, DMC, "dormant", ())
    assert by_case == {first: "NEW-001", second: "NEW-002"}
    assert [i.id for i in issues] == ["NEW-001", "NEW-002"]
    for issue, case in zip(issues, (first, second), strict=True):
        assert issue.severity == PROVISIONAL_SEVERITY == 2
        assert (issue.known, issue.counted, issue.status) == (False, True, "awaiting_triage")
        assert issue.cases == [case]
        assert issue.source.startswith("new")
    assert issues[0].title == "test_migration_completes: the migration did not complete"
    assert issues[1].title.startswith("test_supported_srv_executes[7.4-GSME]: SR 7.4 to the GSME")
    assert len(issues[1].title) < 200  # the first line of the reason, cut short


def test_a_known_issue_collects_its_cases_and_keeps_its_attributes():
    cases = ["dormant/test_dormant.py::test_a", "dormant/test_dormant.py::test_b"]
    registry = (known("K-1", severity=4, counted=False),)
    by_case, issues = attribute([rec(c) for c in cases], DMC, "dormant", registry)
    assert by_case == dict.fromkeys(cases, "K-1")
    [issue] = issues
    assert issue.as_dict() == {
        "id": "K-1", "title": "title of K-1", "severity": 4, "known": True, "counted": False,
        "status": "open", "cases": cases, "source": "source of K-1", "url": None,
        "description": None, "root_cause": None, "workaround": None, "fix": None,
        "regression": None, "not_counted_rationale": None}


def test_reviewer_fields_come_from_the_registry_and_110031_needs_regression_testing():
    [issue] = [i for i in load_registry() if i.id == "110031"]
    review = dict(issue.review)
    assert set(review) == {"description", "root_cause", "workaround", "fix", "regression"}
    assert review["regression"].startswith("LSC 4: ")
    assert "five minutes" in review["workaround"]
    record = rec("active/test_active.py::test_key_rotation_confirmed_on_first_attempt")
    record.reason = "first key rotation attempt not confirmed"
    _, [found] = attribute([record], "ACLARA-IOC-DMC-001", "active", (issue,))
    assert found.as_dict()["regression"] == review["regression"]


def test_a_reviewer_field_must_be_text(tmp_path):
    path = tmp_path / "issues.yaml"
    path.write_text('issues:\n- id: "X-1"\n  title: t\n  severity: 3\n  cases: ["*"]\n'
                    '  fix: 2026\n')
    with pytest.raises(ConfigError, match=r"issues.yaml:6: issues\[0\]\.fix: fix is text"):
        load_registry(path)


def test_a_known_issue_passes_its_url_on_and_a_new_one_has_none():
    registry = (KnownIssue(id="K-2", title="t", severity=3, status="open", counted=True,
                           dmcs=("*",), statuses=(), cases=("*::test_a",), reason=None,
                           source="", url="https://issues.example.org/K-2"),)
    records = [rec("dormant/test_dormant.py::test_a"), rec("dormant/test_dormant.py::test_b")]
    _, issues = attribute(records, DMC, "dormant", registry)
    assert {i.id: i.as_dict()["url"] for i in issues} == {
        "K-2": "https://issues.example.org/K-2", "NEW-001": None}


def test_only_failed_cases_are_attributed():
    records = [rec(f"dormant/test_dormant.py::test_{outcome}", outcome=outcome)
               for outcome in ("passed", "blocked", "not_applicable")]
    assert attribute(records, DMC, "dormant", (known(),)) == ({}, [])


def test_issues_are_listed_by_severity_then_id():
    registry = (known("B", cases=("*::test_b",), severity=3),
                known("A", cases=("*::test_a",), severity=3),
                known("Z", cases=("*::test_z",), severity=1))
    records = [rec(f"dormant/test_dormant.py::{name}")
               for name in ("test_b", "test_new", "test_a", "test_z")]
    issues = attribute(records, DMC, "dormant", registry)[1]
    assert [(i.id, i.severity) for i in issues] == [("Z", 1), ("NEW-001", 2), ("A", 3), ("B", 3)]


# -- the registry file ----------------------------------------------------------------------------

VALID_ENTRY = """\
- id: "K-1"
  title: something
  severity: 2
  cases: ["*::test_x"]
"""


def registry_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "issues.yaml"
    path.write_text(text)
    return path


def test_a_valid_registry_loads_with_its_defaults(tmp_path):
    path = registry_file(tmp_path, "issues:\n" + VALID_ENTRY + """\
- id: 4711
  title: another
  severity: 4
  status: accepted
  counted: false
  dmcs: [A-DMC, B-DMC]
  statuses: [mixed]
  cases: ["srv/*"]
  reason: "(?i)e4"
  source: a seed
  notes: why it does not count
  url: https://issues.example.org/4711
""")
    first, second = load_registry(path)
    assert first == KnownIssue(id="K-1", title="something", severity=2, status="open",
                               counted=True, dmcs=("*",), statuses=(), cases=("*::test_x",),
                               reason=None, source="")
    assert second == KnownIssue(id="4711", title="another", severity=4, status="accepted",
                                counted=False, dmcs=("A-DMC", "B-DMC"), statuses=("mixed",),
                                cases=("srv/*",), reason="(?i)e4", source="a seed",
                                url="https://issues.example.org/4711")
    assert load_registry(registry_file(tmp_path, "issues: []\n")) == ()


#: Broken registries: (text, fragment on the offending line, field, words of the message).
BROKEN = {
    "unknown key": (VALID_ENTRY + "  colour: red\n", "colour", "issues[0].colour",
                    "unknown key"),
    "severity 5": (VALID_ENTRY.replace("severity: 2", "severity: 5"), "severity: 5",
                   "issues[0].severity", "1 (most severe) to 4"),
    "severity true": (VALID_ENTRY.replace("severity: 2", "severity: true"), "severity",
                      "issues[0].severity", "1 (most severe) to 4"),
    "bad regex": (VALID_ENTRY + '  reason: "(unclosed"\n', "unclosed", "issues[0].reason",
                  "not a regular expression"),
    "reason not a string": (VALID_ENTRY + "  reason: 5\n", "reason", "issues[0].reason",
                            "regular expression"),
    "cases a lone string": (VALID_ENTRY.replace('["*::test_x"]', '"*::test_x"'), "cases",
                            "issues[0].cases", "list of case patterns"),
    "cases empty": (VALID_ENTRY.replace('["*::test_x"]', "[]"), "cases", "issues[0].cases",
                    "non-empty list"),
    "counted not a bool": (VALID_ENTRY + "  counted: no\n", "counted", "issues[0].counted",
                           "true or false"),
    "unknown status": (VALID_ENTRY + "  status: closed\n", "closed", "issues[0].status",
                       "open, fixed, accepted"),
    "unknown installation status": (VALID_ENTRY + "  statuses: [dormnt]\n", "dormnt",
                                    "issues[0].statuses[0]", "dormant, active, mixed"),
    "statuses a lone string": (VALID_ENTRY + "  statuses: mixed\n", "statuses",
                               "issues[0].statuses", "list of statuses"),
    "missing title": (VALID_ENTRY.replace("  title: something\n", ""), '- id: "K-1"',
                      "issues[0]", "title is required"),
    "duplicate id": (VALID_ENTRY + VALID_ENTRY, '- id: "K-1"', "issues[1].id", "duplicate id"),
    "an entry not a mapping": ("- just a string\n", "just a string", "issues[0]",
                               "mapping"),
    "url not a web address": (VALID_ENTRY + "  url: issues/4711\n", "url", "issues[0].url",
                              "web address"),
    "url with a space": (VALID_ENTRY + '  url: "https://x.org/a b"\n', "url", "issues[0].url",
                         "no spaces"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_registry_entry_is_a_config_error_with_file_and_line(tmp_path, case):
    text, fragment, field, words = BROKEN[case]
    path = registry_file(tmp_path, "issues:\n" + text)
    occurrence = 2 if case == "duplicate id" else 1
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), line_of(path, fragment,
                                                                      occurrence), field)
    assert words in error.message
    assert str(error).startswith(f"{path}:{error.line}: {field}: ")


@pytest.mark.parametrize(("text", "line", "field"), [
    ("issues:\n  K-1: {title: x}\n", 1, "issues"),  # a mapping, not a list
    ("issues: []\nextra: 1\n", 2, "extra"),
    ("issue:\n" + VALID_ENTRY, 1, "issue"),  # misspelt: an unknown key
    ("- id: x\n", 1, "(document)"),  # not a mapping at all
])
def test_a_registry_without_a_list_under_issues_is_a_config_error(tmp_path, text, line, field):
    path = registry_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)


# -- the shipped registry -------------------------------------------------------------------------

def test_the_shipped_registry_loads_and_names_shipped_dmcs():
    registry = load_registry(default_registry_path())
    catalogue = load_catalogue()
    assert {i.id for i in registry} == {"91342", "110031", "91333", "61224", "91339/91340",
                                        "ACLARA-MIXED", "RISK-11", "RISK-9",
                                        "KEY-ROTATION-FIRST-ATTEMPT"}
    for issue in registry:
        # A residual risk of SMETS1 devices in general, and 110031's behaviour on any DMC.
        if issue.id in ("RISK-9", "KEY-ROTATION-FIRST-ATTEMPT"):
            assert issue.dmcs == ("*",), issue.dmcs
            continue
        assert issue.dmcs and "*" not in issue.dmcs, issue.id  # each seeded issue names its DMCs
        unknown = [d for d in issue.dmcs if d not in catalogue.dmcs]
        assert not unknown, f"{issue.id} names DMCs not in the catalogue: {unknown}"
        # ... and only statuses those DMCs have an EPCL entry for.
        for dmc in issue.dmcs:
            for status in issue.statuses:
                assert catalogue.dmc(dmc).epcl_id(status), (issue.id, dmc, status)
        assert issue.status == "open" and issue.counted and issue.source, issue.id


HEL, ACL, ITR = "HONEYWELL-ELSTER-DMC-001", "ACLARA-IOC-DMC-001", "ITRON-DMC-001"
PPMID_JOIN = "dormant/test_dormant.py::test_ppmid_joins_after_migration"
COS = "{}/test_{}.py::test_change_of_supplier_alert_every_time"
FIRST_ROTATION = "{}/test_{}.py::test_key_rotation_confirmed_on_first_attempt"
NOT_MIGRATED = "the migration did not complete: rolled_back at step post_checks: ..."

#: (DMC, status, case, failure reason, the issue the shipped registry attributes it to)
SHIPPED = [
    (HEL, "dormant", PPMID_JOIN,
     "JoinTimePeriod 300: the CHF refused SR 8.11 Add: E081101 (limit 255 s)", "91342"),
    (HEL, "dormant", PPMID_JOIN, "JoinTimePeriod 300: the PPMID did not join within the period",
     "91342"),
    # 91342 is a period above 255 s: the same words for 255 s are another issue.
    (HEL, "dormant", PPMID_JOIN, "JoinTimePeriod 255: the PPMID did not join within the period",
     "NEW-001"),
    (ACL, "active", FIRST_ROTATION.format("active", "active"),
     "first key rotation attempt not confirmed: {'GSME': {'code': 'E061501'}}", "110031"),
    (ITR, "active", "srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]",
     "request 2 of SR 6.7 to the GSME refused: E060701; observed limit: 1 a day (of 12 sent)",
     "91333"),
    # A limit of two a day is not 91333's.
    (ITR, "active", "srv/test_srv.py::test_srv_repeat_in_one_day[6.7-GSME]",
     "request 3 of SR 6.7 to the GSME refused: E060701; observed limit: 2 a day (of 12 sent)",
     "NEW-001"),
    (ITR, "dormant", COS.format("dormant", "dormant"),
     "4 of 12 change of supplier events raised no CoS loss alert (events [2, 4, 5, 6])",
     "61224"),
    (HEL, "dormant", "srv/test_srv.py::test_supported_srv_executes[3.1-GSME]",
     "SR 3.1 to the GSME: no response code in the Service Response", "91339/91340"),
    (ACL, "mixed", "mixed/test_mixed.py::test_migration_completes",
     "rolled_back at step post_checks: GSME: responsible supplier cannot be identified",
     "ACLARA-MIXED"),
    (ITR, "active", "active/test_active.py::test_no_alert_flood_after_migration",
     "96 Power/Voltage alerts in 24 h of steady supply", "RISK-11"),
    (ITR, "dormant", "srv/test_srv.py::test_supported_srv_executes[6.5-ESME]",
     "expected I0, answered E060501 (the device refused the voltage configuration)",
     "RISK-11"),
    # A CoS case failing on a response without its code (no alert missing) is 91339/91340 on
    # Honeywell, where both are known; with alerts missing too the first entry, 61224, wins.
    (HEL, "dormant", COS.format("dormant", "dormant"),
     "ESME event 7: SR 6.23 ...: no response code", "91339/91340"),
    (HEL, "dormant", COS.format("dormant", "dormant"),
     "5 of 12 change of supplier events raised no CoS loss alert; event 7: SR 6.23: no code",
     "61224"),
    # The same symptoms on a DMC, or in a status, the issue does not name: a new issue.
    ("REF-DMC-001", "dormant", COS.format("dormant", "dormant"),
     "4 of 12 change of supplier events raised no CoS loss alert", "NEW-001"),
    (ACL, "dormant", "dormant/test_dormant.py::test_migration_completes",
     "GSME: responsible supplier cannot be identified", "NEW-001"),
    # A case of a known issue failing for another reason (the migration did not complete) is
    # not taken for the known issue either.
    (HEL, "dormant", PPMID_JOIN, NOT_MIGRATED, "NEW-001"),
    (ITR, "dormant", COS.format("dormant", "dormant"), NOT_MIGRATED, "NEW-001"),
    (ACL, "dormant", FIRST_ROTATION.format("dormant", "dormant"), NOT_MIGRATED, "NEW-001"),
]


@pytest.mark.parametrize(("dmc", "status", "case", "reason", "issue"), SHIPPED)
def test_the_shipped_registry_attributes_the_seeded_symptoms(dmc, status, case, reason, issue):
    by_case = attributed([rec(case, reason=reason)], load_registry(default_registry_path()),
                         dmc=dmc, status=status)
    assert by_case == {case: issue}
