"""The DMCT Testing Report's data: ``dmct-report.json``, built from the run record.

One report per DMC and installation status (the unit of an EPCL entry). Its fields are the
user-visible contract of ``shared/design.md`` section 5; renderers (HTML, Markdown) read this
JSON and nothing else.

Verdict: a DMC **meets its exit criteria** when its counted, open Testing Issues stay within the
Testing Issue Threshold for every severity and no applicable case was blocked (a blocked case
means testing did not complete). Threshold numbers are programme-set and not public: the
defaults below are UNVERIFIED and the report says so unless the lab config gives its own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report.files import write_atomic
from harness.report.issues import KnownIssue, attribute, case_id
from harness.report.model import DmctReport
from harness.report.records import OUTCOMES, TestRecord
from harness.report.review import coverage, exclusions_20_29, lsc5
from harness.report.timeline import failure_timeline
from harness.workdays import add_working_days

if TYPE_CHECKING:
    from harness.config.catalogue import Catalogue
    from harness.config.profiles import Dmc

SCHEMA = "smets1-dmct/dmct-report/1"
REPORT_FILE = "dmct-report.json"
#: Default Testing Issue Threshold: open counted issues allowed per severity. Programme-set and
#: not public (SVTAD 20.28): UNVERIFIED, replace with the programme's numbers in the lab config.
DEFAULT_THRESHOLD = {1: 0, 2: 0, 3: 10, 4: 25}
#: Suppliers have 10 Working Days to refer a draft report (SVTAD 20.37).
DEFAULT_REFERRAL_WORKING_DAYS = 10


@dataclass(frozen=True)
class Threshold:
    limits: dict[int, int]
    programme_set_default: bool

    def check(self, counts: dict[int, int]) -> bool:
        return all(counts.get(severity, 0) <= limit for severity, limit in self.limits.items())

    def as_dict(self, counts: dict[int, int]) -> dict[str, Any]:
        return {
            "limits": {str(k): v for k, v in sorted(self.limits.items())},
            "counts": {str(k): counts.get(k, 0) for k in sorted(self.limits)},
            "met": self.check(counts),
            "source": ("default (programme-set values are not public: UNVERIFIED)"
                       if self.programme_set_default else "lab config"),
        }


DEFAULT = Threshold(dict(DEFAULT_THRESHOLD), programme_set_default=True)


def build_report(
    records: list[TestRecord],
    *,
    dmc: Dmc,
    catalogue: Catalogue,
    status: str,
    registry: tuple[KnownIssue, ...],
    threshold: Threshold = DEFAULT,
    produced_at: datetime,
    bench: str,
    referral_working_days: int = DEFAULT_REFERRAL_WORKING_DAYS,
    complete: bool = True,
    selection: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    limitations: Sequence[str] = (),
    evidence_root: Path | None = None,
) -> dict[str, Any]:
    """The report dict for one DMC and installation status; ``selection``: what the run was
    asked to run (:func:`harness.report.manifest.report_selection`); ``provenance`` and
    ``limitations``: :mod:`harness.report.provenance`; ``evidence_root``: the run directory
    the evidence paths are relative to, for the timeline of each failure."""
    faulted = [r for r in records if r.extra.get("bench_fault")]
    by_case, issues = attribute([r for r in records if not r.extra.get("bench_fault")],
                                dmc.id, status, registry)
    fault_cases, fault_issues = bench_fault_findings(faulted)
    by_case |= fault_cases
    issues += fault_issues
    counted = Counter(i.severity for i in issues if i.counted and i.status in
                      ("open", "awaiting_triage"))
    threshold_met = threshold.check(dict(counted))
    blocked = [case_id(r) for r in records
               if r.outcome == "blocked" and not r.extra.get("bench_fault")]
    ran = [r for r in records if r.outcome in ("passed", "failed")]
    reasons = []
    if not threshold_met:
        reasons.append("Testing Issues exceed the Testing Issue Threshold")
    if blocked:
        reasons.append(f"{len(blocked)} case(s) blocked: testing did not complete")
    if not ran:
        reasons.append("no applicable case ran")
    if not complete:
        reasons.append("the run did not finish: the report is partial")
    verdict = "fails_exit_criteria" if reasons else "meets_exit_criteria"

    issue_dicts = [i.as_dict() for i in issues]
    bench_kind = (provenance or {}).get("bench", {}).get("kind") or (
        "emulated" if bench == "emulated" else "real")
    packs: dict[str, Counter[str]] = {}
    for record in records:
        packs.setdefault(record.pack or "-", Counter())[record.outcome] += 1
    devices = report_devices(dmc, catalogue)
    report = {
        "schema": SCHEMA,
        "dmc": {
            "id": dmc.id, "name": dmc.name, "epcl_entry": dmc.epcl_id(status),
            "substantively_equivalent_to": dmc.substantively_equivalent_to,
            "devices": devices,
        },
        "installation_status": status,
        "bench": bench,
        "state": "draft",
        # Set by ``dmct report --final`` (harness.report.finalise); a draft has none.
        "finalised_at": None,
        "finalised_early": None,
        "final_reason": None,
        "complete": complete,
        # Packs, statuses and pytest arguments of the run; ``partial`` when they may leave
        # cases out (never finalised). ``None``: not run by ``dmct run`` (no run.json).
        "selection": selection,
        "produced_at": produced_at.isoformat(),
        # Working days are days in England: counted from the production date there (an aware
        # produced_at late in a summer evening, UTC, is already the next day).
        "referral_deadline": add_working_days(produced_at, referral_working_days).isoformat(),
        "packs": [
            {"name": name, **{o: counts.get(o, 0) for o in OUTCOMES},
             "cases": sum(counts.values())}
            for name, counts in sorted(packs.items())
        ],
        "cases": [
            {"id": case_id(r), "pack": r.pack, "srv": r.srv, "outcome": r.outcome,
             "testing_issue": by_case.get(case_id(r)), "reason": r.reason,
             "note": case_note(r), "refused_by": refused_by(r),
             "evidence": r.evidence, "bench_time_start": r.bench_time_start,
             "bench_time_end": r.bench_time_end, "traceback": r.traceback,
             "timeline": (failure_timeline(evidence_root, r.evidence, r.reason)
                          if evidence_root is not None and r.outcome in ("failed", "blocked")
                          else [])}
            for r in records
        ],
        "testing_issues": issue_dicts,
        "device_security": device_security(records, by_case),
        "dcc_access_control": dcc_access_control(records, by_case),
        "threshold": threshold.as_dict(dict(counted)),
        "verdict": verdict,
        "verdict_reasons": reasons,
        "lsc5": lsc5(records, issue_dicts, dmc=dmc.id, status=status, verdict=verdict,
                     threshold_met=threshold_met, complete=complete,
                     emulated=bench_kind in ("emulated", "fake")),
        "coverage": coverage(records, dmc.roles),
        "exclusions_20_29": exclusions_20_29(issue_dicts),
        "referral_working_days": referral_working_days,
        "referral_register": {"basis": "production", "provided": [], "referrals": []},
        "limitations": list(limitations),
        "provenance": provenance,
    }
    # Read back through the typed model: a report that does not fit it is never written.
    return DmctReport.from_json(report).to_json()


def bench_fault_findings(records: list[TestRecord]) -> tuple[dict[str, str], list[Any]]:
    """The cases that failed or were blocked while an injected bench fault was in effect
    (:mod:`harness.fault_injection`): one finding per fault, never counted against the DMC,
    instead of a Testing Issue per case. ``(case id -> finding id, findings)``."""
    from harness.report.issues import TestingIssue

    by_case: dict[str, str] = {}
    findings: dict[str, TestingIssue] = {}
    fired = {f["id"]: f for r in records for f in r.extra.get("bench_faults") or ()}
    for record in records:
        if record.outcome not in ("failed", "blocked"):
            continue
        fault_id = str(record.extra["bench_fault"])
        fault = fired.get(fault_id, {})
        finding_id = f"BENCH-FAULT-{fault_id}"
        finding = findings.setdefault(finding_id, TestingIssue(
            id=finding_id, severity=4, known=True, counted=False, status="bench_fault",
            title=f"bench fault {fault.get('spec', fault_id)} injected before "
                  f"{fault.get('case', 'a case')} (at bench time {fault.get('bench_time')})",
            source="injected by the run (lab config faults: or dmct run --fault): a fault of "
                   "the bench, not of the device"))
        finding.cases.append(case_id(record))
        by_case[case_id(record)] = finding_id
    return by_case, list(findings.values())


def case_note(record: TestRecord) -> str | None:
    """The case's evidence notes (``Bench.note``: how it observed) as one line, if any."""
    notes = (record.evidence or {}).get("notes")
    if not isinstance(notes, list) or not notes:
        return None
    return "; ".join(str(note) for note in notes)


def refused_by(record: TestRecord) -> str | None:
    """Who refuses a security case's attempt: ``device`` or ``dcc`` (``None``: not a security
    case, or one that does not say)."""
    if "refused_by_dcc" in record.markers:
        return "dcc"
    if "refused_by_device" in record.markers:
        return "device"
    return None


def device_security(records: list[TestRecord], by_case: dict[str, str]) -> dict[str, Any]:
    """The Device Security Testing summary (the seeds' "SMETS1 Device Security Testing
    Completion Report"): the negative tests the *device* refused (observed over the HAN or a
    serial port), those refused as expected, the anomalies. Cases the DCC side refuses before
    any device is contacted (marked ``refused_by_dcc``) are :func:`dcc_access_control`'s."""
    return _refusals([r for r in records
                      if (r.pack == "security" or "security" in r.markers)
                      and "refused_by_dcc" not in r.markers], by_case)


def dcc_access_control(records: list[TestRecord], by_case: dict[str, str]) -> dict[str, Any]:
    """The DCC-side access-control checks: security cases refused by the harness's S1SP model
    (User Roles, SRVs not available, parameter validation, registration data) before any device
    is contacted. No device defect can make one fail; they are not device security evidence."""
    return _refusals([r for r in records if "refused_by_dcc" in r.markers], by_case)


def _refusals(security: list[TestRecord], by_case: dict[str, str]) -> dict[str, Any]:
    anomalies = [
        {"case": case_id(r), "outcome": r.outcome, "reason": r.reason,
         "testing_issue": by_case.get(case_id(r))}
        for r in security if r.outcome in ("failed", "blocked")
    ]
    return {
        "cases_tried": sum(1 for r in security if r.outcome in ("passed", "failed")),
        "refused_as_expected": sum(1 for r in security if r.outcome == "passed"),
        "not_applicable": sum(1 for r in security if r.outcome == "not_applicable"),
        "anomalies": anomalies,
    }


def write_report(directory: Path, report: dict[str, Any]) -> Path:
    """Write ``dmct-report.json`` atomically (a reader never sees half a report)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REPORT_FILE
    return write_atomic(path, json.dumps(report, indent=2, sort_keys=False, default=str))


def report_devices(dmc: Dmc, catalogue: Catalogue) -> list[dict[str, Any]]:
    """``dmc.devices[]`` of a report: each role's model and firmware from the catalogue."""
    devices = []
    for role, profile_id in dmc.devices.items():
        profile = catalogue.profile(profile_id)
        devices.append({
            "role": role, "manufacturer": profile.manufacturer, "model": profile.model,
            "firmware": profile.firmware.version, "placeholder": profile.is_placeholder,
            "target_firmware": dmc.target_firmware.get(role),
        })
    return devices
