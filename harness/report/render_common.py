"""What the HTML and Markdown renderings of a report say the same way: evidence links, dates,
the verdict and the draft/final state in words.

Both renderers read only the ``dmct-report.json`` dict; keeping these phrasings in one place
means the two forms never disagree about what a report says.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: Evidence kinds of a case record, in the order the report lists them (``records.py``).
EVIDENCE_KINDS = ("frames", "pcap", "events", "dcc")

VERDICT_WORDS = {
    "meets_exit_criteria": "Meets exit criteria",
    "fails_exit_criteria": "Fails exit criteria",
}
OUTCOME_WORDS = {
    "passed": "passed", "failed": "failed", "blocked": "blocked",
    "not_applicable": "not applicable",
}


def evidence_links(evidence: dict[str, Any] | None) -> list[tuple[str, str]]:
    """``(label, href)`` for each evidence file of a case, href relative to the report's
    directory and URL-quoted. A path that is absolute or leaves the directory is not linked:
    a report links to its own evidence and nothing else."""
    if not evidence:
        return []
    paths: list[str] = [evidence[k] for k in EVIDENCE_KINDS if isinstance(evidence.get(k), str)]
    transcripts = evidence.get("transcripts")
    if isinstance(transcripts, list):
        paths += [t for t in transcripts if isinstance(t, str)]
    links = []
    for path in paths:
        pure = PurePosixPath(path.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or not pure.parts or _SCHEME.match(path):
            continue
        links.append((pure.name, quote(str(pure), safe="/")))
    return links


def when(value: Any) -> str:
    """An ISO date-time as ``2026-04-01 14:00 UTC`` (or as given when it is not one)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = moment.tzname() or ""
    return moment.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


def state_words(report: dict[str, Any]) -> str:
    """The draft/final state in one sentence (finalisation details included)."""
    deadline = report.get("referral_deadline") or "-"
    if report.get("state") == "final":
        text = f"finalised {when(report.get('finalised_at'))}"
        if report.get("finalised_early"):
            text += (f", before the referral deadline {deadline}; reason: "
                     f"{report.get('final_reason') or '-'}")
        else:
            text += f" (referral deadline {deadline} passed)"
        return text
    return (f"suppliers may refer it until the referral deadline {deadline}; it can be "
            "finalised from then")


def completeness_words(report: dict[str, Any]) -> str:
    if report.get("complete", True):
        return "Complete: the run finished"
    return ("INCOMPLETE: the run did not finish; this report covers only the cases that "
            "finished")


def partial_selection_words(report: dict[str, Any]) -> str | None:
    """The top line of a report of a partial selection; ``None`` for a full one."""
    selection = report.get("selection") or {}
    if not selection.get("partial"):
        return None
    why = "; ".join(str(r) for r in selection.get("partial_reasons") or ()) or "cases left out"
    return f"PARTIAL SELECTION: {why}. This report is not a full DMCT result and is never final"


def security_without_anomaly(security: dict[str, Any]) -> str:
    """What the device security section says when it lists no anomaly: that every negative
    case was refused, or, when none ran, that there is nothing to say it with."""
    if not security.get("cases_tried"):
        return ("No device security case ran in this run (the security pack was not run, or "
                "none of its cases applied).")
    return "No anomaly: every negative case tried was refused with nothing changed."


def issue_anchor(issue_id: Any) -> str:
    """The element id of a Testing Issue's row in ``dmct-report.html`` (ids are free text in a
    lab's registry; Allure's issue links point at it too)."""
    return "issue-" + re.sub(r"[^A-Za-z0-9_-]", "_", str(issue_id))
