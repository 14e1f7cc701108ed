"""The referral register of a draft DMCT Testing Report (SVTAD 20.36-20.40).

The DCC makes a draft available to each Supplier Party planning to enrol installations of the
DMC (20.36); a supplier may refer the matter to the Secretary of State within 10 Working Days of
the draft **being provided** (20.37, 20.40); the report is final once that time has passed with
no referral, or after the determination (20.38, 20.39). So the referral deadline counts from
each provision, not from production, and the register records who got the draft, when, and any
referral: ``dmct report DIR --provided-to SUPPLIER --on DATE`` and ``--referral SUPPLIER --on
DATE --note TEXT``. It is kept beside the records (``referrals.json``) so a rebuilt report keeps
it; with no provision recorded, the deadline stays counted from production.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from harness.report.files import write_atomic
from harness.workdays import add_working_days

REGISTER_FILE = "referrals.json"


class RegisterError(ValueError):
    """A register that cannot be read or an entry that cannot be added; one line."""


def read_register(directory: Path) -> dict[str, list[dict[str, Any]]]:
    path = directory / REGISTER_FILE
    if not path.exists():
        return {"provided": [], "referrals": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegisterError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RegisterError(f"{path}: not a referral register")
    return {"provided": list(data.get("provided") or []),
            "referrals": list(data.get("referrals") or [])}


def write_register(directory: Path, register: dict[str, list[dict[str, Any]]]) -> None:
    write_atomic(directory / REGISTER_FILE, json.dumps(register, indent=1) + "\n")


def add_provision(register: dict[str, list[dict[str, Any]]], supplier: str, on: date) -> None:
    """The draft was provided to ``supplier`` on ``on`` (a later provision to the same supplier
    replaces the earlier: the deadline counts from the draft the supplier holds)."""
    register["provided"] = [p for p in register["provided"] if p.get("supplier") != supplier]
    register["provided"].append({"supplier": supplier, "on": on.isoformat()})


def add_referral(register: dict[str, list[dict[str, Any]]], supplier: str, on: date,
                 note: str | None) -> None:
    """``supplier`` referred the draft to the Secretary of State on ``on`` (20.40)."""
    if not any(p.get("supplier") == supplier for p in register["provided"]):
        raise RegisterError(f"{supplier} has no provision recorded: record it first with "
                            f"--provided-to {supplier} --on DATE")
    register["referrals"].append({"supplier": supplier, "on": on.isoformat(), "note": note})


def apply_register(report: dict[str, Any], register: dict[str, list[dict[str, Any]]]) -> None:
    """Put the register in ``report`` (``referral_register``) and, once the draft was provided
    to a supplier, count ``referral_deadline`` from provision: the latest of each supplier's
    ``referral_working_days`` after they got it."""
    days = int(report.get("referral_working_days") or 10)
    provided = []
    for entry in sorted(register["provided"], key=lambda p: (p["on"], p["supplier"])):
        on = date.fromisoformat(str(entry["on"]))
        provided.append({"supplier": entry["supplier"], "on": on.isoformat(),
                         "deadline": add_working_days(on, days).isoformat()})
    referrals = sorted(register["referrals"], key=lambda r: (r["on"], r["supplier"]))
    late = []
    for referral in referrals:
        given = next((p for p in provided if p["supplier"] == referral["supplier"]), None)
        referral = {**referral, "within_deadline": bool(given and referral["on"]
                                                        <= given["deadline"])}
        late.append(referral)
    report["referral_register"] = {
        "basis": "provision" if provided else "production",
        "provided": provided, "referrals": late,
    }
    if provided:
        report["referral_deadline"] = max(p["deadline"] for p in provided)


def open_referrals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Referrals made in time: the report waits for the Secretary of State's determination."""
    register = report.get("referral_register") or {}
    return [r for r in register.get("referrals") or [] if r.get("within_deadline")]
