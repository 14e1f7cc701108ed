"""What a reviewer of a DMCT Testing Report reads beyond the verdict: the statement against
LSC 5, the coverage matrix (packs x SRVs x devices, with the reason for every case that did not
apply) and the Testing Issues excluded from the threshold under SVTAD 20.29.

Built from the run's records and the Testing Issues the report attributed; the report carries
the results (``lsc5``, ``coverage``, ``exclusions_20_29``), renderers only show them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.report.records import OUTCOMES, TestRecord

#: An SR number in a reason ("SR 7.5", "SR 6.14.1"): reasons that differ only in it group.
_SR = re.compile(r"\bSR \d+(?:\.\d+)*")
#: The row of a case with no SRV, and the column of a case that needs no particular device.
NONE = "-"


def coverage(records: Sequence[TestRecord], roles: Sequence[str]) -> dict[str, Any]:
    """Packs x SRVs x devices: per (pack, SRV) row and device column, the outcome counts; and
    every not-applicable case's reason, grouped by its wording (SR numbers aside)."""
    devices = [*roles, NONE]
    rows: dict[tuple[str, str], dict[str, Counter[str]]] = {}
    for record in records:
        pack = record.pack or NONE
        for srv in record.srv or [NONE]:
            cells = rows.setdefault((pack, srv), {})
            for role in record.devices or [NONE]:
                if role not in devices:
                    devices.insert(-1, role)
                cells.setdefault(role, Counter())[record.outcome] += 1
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.outcome != "not_applicable":
            continue
        reason = (record.reason or "not applicable").removeprefix("not applicable: ")
        key = _SR.sub("SR …", reason)
        group = groups.setdefault(key, {"reason": key, "count": 0, "packs": [], "srvs": [],
                                        "devices": []})
        group["count"] += 1
        for name, values in (("packs", [record.pack or NONE]), ("srvs", record.srv),
                             ("devices", record.devices)):
            group[name] += [v for v in values if v not in group[name]]
    return {
        "devices": [d for d in devices if any(d in cells for cells in rows.values())],
        "rows": [
            {"pack": pack, "srv": srv,
             "cells": {role: {o: counts.get(o, 0) for o in OUTCOMES}
                       for role, counts in cells.items()}}
            for (pack, srv), cells in sorted(rows.items(), key=lambda kv: (
                kv[0][0], _srv_key(kv[0][1])))
        ],
        "not_applicable_reasons": sorted(groups.values(), key=lambda g: -g["count"]),
    }


def _srv_key(srv: str) -> tuple[int, ...]:
    return tuple(int(p) for p in srv.split(".") if p.isdigit()) if srv != NONE else (999,)


def exclusions_20_29(issues: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open Testing Issues the DCC holds should not count against the threshold (SVTAD 20.29),
    each with its rationale (``not_counted_rationale`` in the registry)."""
    return [
        {"id": i["id"], "title": i["title"], "severity": i["severity"],
         "rationale": i.get("not_counted_rationale")
         or "no rationale recorded in the Testing Issue registry (not_counted_rationale)"}
        for i in issues if not i.get("counted", True) and i.get("status") == "open"
    ]


def lsc5(records: Sequence[TestRecord], issues: Sequence[dict[str, Any]], *, dmc: str,
         status: str, verdict: str, threshold_met: bool, complete: bool,
         emulated: bool) -> dict[str, Any]:
    """The report's statement against LSC 5 ("Testing of SMETS1 Services for the relevant DMCs
    has completed successfully") and the issues whose fix needs regression testing (LSC 4)."""
    counts = Counter(r.outcome for r in records)
    met = verdict == "meets_exit_criteria" and complete
    regression = [i["id"] for i in issues if i.get("regression")]
    open_issues = [i for i in issues if i.get("status") in ("open", "awaiting_triage")]
    counted = sum(1 for i in open_issues if i.get("counted", True))
    text = (f"LSC 5 (testing of SMETS1 Services for the DMC has completed successfully): "
            f"{'met' if met else 'NOT met'} for {dmc}, {status} installations. "
            f"{len(records)} cases: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['blocked']} blocked, {counts['not_applicable']} not applicable; "
            f"{len(open_issues)} open Testing Issue{'' if len(open_issues) == 1 else 's'}, "
            f"{counted} counted against the Testing Issue Threshold, which is "
            f"{'met' if threshold_met else 'NOT met'}.")
    if not complete:
        text += " The run did not finish: testing has not completed."
    lsc4 = [i["id"] for i in issues if "LSC 4" in (i.get("regression") or "")]
    if regression:
        text += (f" Regression testing is needed once {', '.join(regression)} "
                 f"{'is' if len(regression) == 1 else 'are'} fixed (each issue's regression "
                 "field).")
    if lsc4:
        text += (f" Under LSC 4, {', '.join(lsc4)} need{'s' if len(lsc4) == 1 else ''} further "
                 "regression testing with the DCC's standard regression test pack: the DMC "
                 "should be added to the EPCL only once that has passed.")
    if emulated:
        text += (" Run on an emulated bench: this is a rehearsal of the statement, not "
                 "evidence for LSC 5 (see Limitations).")
    return {"met": met, "regression_needed": regression, "lsc4_regression": lsc4,
            "statement": text}
