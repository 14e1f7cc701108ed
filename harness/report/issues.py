"""Testing Issues: the registry of known ones, and attributing failing cases to them.

A failing case is attributed to the first known issue (``testing_issues.yaml``, or a lab's own
registry) whose DMC, installation status, case pattern and, if given, reason pattern match it.
Any other failure becomes a new Testing Issue awaiting triage, with a provisional severity that
blocks the exit criteria until someone triages it.

New failures with one cause make one new issue: failures of the same check (the test function,
whatever its other parameters: SRV, attack, kind) on the same device role are grouped
(:func:`cause_of`). One defect seen by many parametrisations of a check is one issue to triage,
not one per case; two checks failing, or one check on two device types, stay apart.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.config.source import YamlDocument, load_yaml
from harness.report.records import TestRecord
from harness.text import clip

#: Severity given to a failure no known issue explains, until it is triaged.
PROVISIONAL_SEVERITY = 2
STATUSES = ("open", "fixed", "accepted")
INSTALLATION_STATUSES = ("dormant", "active", "mixed")
#: What a reviewer reads of an issue (free text, all optional; docs/testing-issues.md).
#: ``not_counted_rationale``: why an issue should not count against the threshold (SVTAD 20.29).
REVIEW_KEYS = ("description", "root_cause", "workaround", "fix", "regression",
               "not_counted_rationale")
_KEYS = {"id", "title", "severity", "status", "counted", "dmcs", "statuses", "cases", "reason",
         "source", "notes", "url", *REVIEW_KEYS}
#: What an issue's optional ``url`` (its entry in the programme's issue tracker) starts with.
URL_SCHEMES = ("https://", "http://")


@dataclass(frozen=True)
class KnownIssue:
    id: str
    title: str
    severity: int
    status: str
    counted: bool
    dmcs: tuple[str, ...]
    statuses: tuple[str, ...]
    cases: tuple[str, ...]
    reason: str | None
    source: str
    #: The issue's page in the programme's tracker (Allure links to it), or None.
    url: str | None = None
    #: Reviewer fields present in the registry (:data:`REVIEW_KEYS`), in that order.
    review: tuple[tuple[str, str], ...] = ()

    def explains(self, record: TestRecord, dmc: str, status: str) -> bool:
        if self.status != "open":
            return False
        if "*" not in self.dmcs and dmc not in self.dmcs:
            return False
        if self.statuses and status not in self.statuses:
            return False
        case = case_id(record)
        if not any(fnmatch.fnmatchcase(case, pattern) for pattern in self.cases):
            return False
        return self.reason is None or bool(re.search(self.reason, record.reason or ""))


@dataclass
class TestingIssue:
    """A Testing Issue as it appears in a report: known or new, and the cases it explains."""

    id: str
    title: str
    severity: int
    known: bool
    counted: bool
    status: str
    cases: list[str] = field(default_factory=list)
    source: str = ""
    url: str | None = None
    review: dict[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity,
                "known": self.known, "counted": self.counted, "status": self.status,
                "cases": self.cases, "source": self.source, "url": self.url,
                **{key: self.review.get(key) for key in REVIEW_KEYS}}


def case_id(record: TestRecord) -> str:
    """``<pack>/<file>::<test>``: the node id from the packs directory down."""
    return case_id_of(record.id)


def case_id_of(nodeid: str) -> str:
    """A pytest node id as a case id (what reports, the registry and Allure call the case)."""
    if "testpacks/" in nodeid:
        return nodeid.split("testpacks/", 1)[1]
    return nodeid


#: Device roles a case's parameters may name (``[7.5-ESME]``, ``[state_changing-GSME]``).
ROLES = frozenset({"ESME", "GSME", "CHF", "PPMID", "IHD", "HCALCS"})


def cause_of(case: str) -> str:
    """What new failures are grouped by: ``<pack>/<file>::<test>`` and the device role its
    parameters name, if any (``srv/test_srv.py::test_x[ESME]`` for ``...::test_x[7.5-ESME]``)."""
    base, _, params = case.partition("[")
    roles = sorted({token for token in re.split(r"[-_\]|]", params) if token in ROLES})
    return base + (f"[{'-'.join(roles)}]" if roles else "")


def default_registry_path() -> Path:
    return Path(str(resources.files("harness.report"))) / "testing_issues.yaml"


def load_registry(path: Path | None = None) -> tuple[KnownIssue, ...]:
    """Load and check a registry file (ConfigError with file:line for a broken entry).

    Read afresh on every call (a small file, read once per report): a registry edited
    between two reports of one process is the edited one.
    """
    doc = load_yaml(path or default_registry_path(), packaged=path is None)
    extra = sorted(set(doc.data) - {"issues"}, key=str)
    if extra:
        raise doc.error((extra[0],), "unknown key; a testing issue registry has one key, "
                        "issues: a list of issues")
    entries = doc.data.get("issues")
    if not isinstance(entries, list):
        raise doc.error(("issues",) if "issues" in doc.data else (),
                        "a testing issue registry has one key, issues: a list of issues")
    issues: list[KnownIssue] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        issue = _issue(doc, ("issues", index), entry)
        if issue.id in seen:
            raise doc.error(("issues", index, "id"),
                            f"duplicate id {issue.id!r} (also issues[{seen[issue.id]}])")
        seen[issue.id] = index
        issues.append(issue)
    return tuple(issues)


def _issue(doc: YamlDocument, loc: tuple[Any, ...], entry: Any) -> KnownIssue:
    if not isinstance(entry, dict):
        raise doc.error(loc, "each issue is a mapping")
    unknown = sorted(set(entry) - _KEYS, key=str)
    if unknown:
        raise doc.error((*loc, unknown[0]), f"unknown key; allowed: {', '.join(sorted(_KEYS))}")
    for key in ("id", "title", "severity", "cases"):
        if key not in entry:
            raise doc.error(loc, f"{key} is required")
    issue_id = entry["id"]
    if isinstance(issue_id, bool) or not isinstance(issue_id, str | int) or not str(issue_id):
        raise doc.error((*loc, "id"), "id is a string (quote numbers: \"91342\")")
    severity = entry["severity"]
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 4:
        raise doc.error((*loc, "severity"), "severity is 1 (most severe) to 4")
    status = entry.get("status", "open")
    if status not in STATUSES:
        raise doc.error((*loc, "status"), f"status is one of {', '.join(STATUSES)}")
    counted = entry.get("counted", True)
    if not isinstance(counted, bool):
        raise doc.error((*loc, "counted"), "counted is true or false")
    reason = entry.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise doc.error((*loc, "reason"), "reason is a regular expression (a string)")
        try:
            re.compile(reason)
        except re.error as exc:
            raise doc.error((*loc, "reason"), f"not a regular expression: {exc}") from None
    url = entry.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(URL_SCHEMES)
                            or any(c.isspace() for c in url)):
        raise doc.error((*loc, "url"), "url is a web address (https://...) with no spaces")
    dmcs = entry.get("dmcs", ["*"])
    if dmcs == "*":
        dmcs = ["*"]
    cases = _strings(doc, (*loc, "cases"), entry["cases"], "case patterns", empty=False)
    statuses = _strings(doc, (*loc, "statuses"), entry.get("statuses", []), "statuses")
    for position, value in enumerate(statuses):
        if value not in INSTALLATION_STATUSES:
            raise doc.error((*loc, "statuses", position),
                            f"installation status is one of {', '.join(INSTALLATION_STATUSES)}")
    review = []
    for key in REVIEW_KEYS:
        said = entry.get(key)
        if said is not None and (not isinstance(said, str) or not said.strip()):
            raise doc.error((*loc, key), f"{key} is text")
        if said is not None:
            review.append((key, " ".join(said.split())))
    return KnownIssue(
        id=str(issue_id), title=str(entry["title"]), severity=severity, status=status,
        counted=counted, review=tuple(review),
        dmcs=tuple(_strings(doc, (*loc, "dmcs"), dmcs, 'DMC ids (or "*")', empty=False)),
        statuses=tuple(statuses), cases=tuple(cases), reason=reason,
        source=str(entry.get("source", "")), url=url,
    )


def _strings(doc: YamlDocument, loc: tuple[Any, ...], value: Any, what: str, *,
             empty: bool = True) -> list[str]:
    """A list of strings (a lone string would be taken letter by letter: refused)."""
    if not isinstance(value, list) or not (value or empty):
        raise doc.error(loc, f"a {'' if empty else 'non-empty '}list of {what}")
    for position, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise doc.error((*loc, position), f"a list of {what}: each is a string")
    return value


def attribute(
    records: list[TestRecord], dmc: str, status: str, registry: tuple[KnownIssue, ...]
) -> tuple[dict[str, str], list[TestingIssue]]:
    """``(case id -> testing issue id, issues)`` for the failed cases of one DMC run."""
    by_case: dict[str, str] = {}
    issues: dict[str, TestingIssue] = {}
    new_ids: dict[str, str] = {}
    new = 0
    for record in records:
        if record.outcome != "failed":
            continue
        case = case_id(record)
        known = next((i for i in registry if i.explains(record, dmc, status)), None)
        if known is not None:
            issue = issues.setdefault(known.id, TestingIssue(
                id=known.id, title=known.title, severity=known.severity, known=True,
                counted=known.counted, status=known.status, source=known.source,
                url=known.url, review=dict(known.review)))
        else:
            cause = cause_of(case)
            issue_id = new_ids.get(cause)
            if issue_id is None:
                new += 1
                issue_id = new_ids[cause] = f"NEW-{new:03d}"
            reason = clip((record.reason or "failed").splitlines()[0], 160)
            issue = issues.setdefault(issue_id, TestingIssue(
                id=issue_id, title=f"{record.name}: {reason}", severity=PROVISIONAL_SEVERITY,
                known=False, counted=True, status="awaiting_triage",
                source="new: found by this run, provisional severity until triaged"))
        issue.cases.append(case)
        by_case[case] = issue.id
    return by_case, sorted(issues.values(), key=lambda i: (i.severity, i.id))
