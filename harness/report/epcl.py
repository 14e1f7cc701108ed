"""The EPCL summary over a run of several DMCs: what the DCC could ask to add to the EPCL.

Seed 004 (the DCC's EPCL report) summarises its requested entries in tables of Installs and
Devices by Active, Dormant and Mixed, split into **Group 1** (entries tested via DMCT) and
**Group 2** (untested entries substantively equivalent to a Group 1 entry, Annex E), and lists
the entries themselves (Annex A). This module builds that summary from the DMCT Testing Reports
under an out root (``<dmc>/<status>/dmct-report.json``) and the catalogue:

- a tested DMC x status is **requested** (Group 1) when its report meets the exit criteria;
- a substantively equivalent child is requested (Group 2, under its tested parent) for a status
  only when the parent is requested for that status and the child has an EPCL entry for it;
- everything else in scope is listed as not requested, with the reason;
- the catalogue's ``population`` of each requested entry fills the tables (a missing one counts
  as 0 and the summary says so).

``build_epcl_summary`` is pure (reports in, a dict out); it reads each report through the typed
model every renderer shares (:class:`harness.report.model.DmctReport`), so a report dict is
validated once rather than read through string keys. ``write_epcl_summary`` reads an out root and
writes ``epcl-summary.{json,md,html}`` there. Fields: ``docs/epcl-summary.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harness.report.dmct_report import REPORT_FILE, report_devices
from harness.report.dmct_report import SCHEMA as REPORT_SCHEMA
from harness.report.files import write_atomic
from harness.report.model import DmctReport, as_report
from harness.report.templating import render, static

if TYPE_CHECKING:
    from harness.config.catalogue import Catalogue
    from harness.config.profiles import Dmc

__all__ = [
    "NOT_REQUESTED_REASONS",
    "ROWS",
    "SCHEMA",
    "STATUSES",
    "build_epcl_summary",
    "find_reports",
    "render_html",
    "render_markdown",
    "write_epcl_summary",
]

SCHEMA = "smets1-dmct/epcl-summary/1"
SUMMARY_STEM = "epcl-summary"
#: Installation statuses in the column order of the seed's tables.
STATUSES = ("active", "dormant", "mixed")
#: The seed's two rows of each table, and the catalogue population field each one reads.
ROWS = {
    "requested_at_target_firmware": "at_target_firmware",
    "potential_upgrades_to_target_firmware": "upgradable_to_target_firmware",
}
ROW_TITLES = {
    "requested_at_target_firmware": "Requested EPCL entries at target FW",
    "potential_upgrades_to_target_firmware": "Potential FW upgrades to target FW",
    "totals_by_installation_status": "Totals by Installation Status",
}
#: Why an entry in scope is not requested.
NOT_REQUESTED_REASONS = (
    "fails_exit_criteria",  # its DMCT Testing Report fails the exit criteria
    "incomplete",  # its run did not finish: the report is partial
    "not_tested",  # the DMC has an EPCL entry for the status but no report
    "report_unreadable",  # a report file is there but cannot be read
    "parent_not_requested",  # a Group 2 child whose tested parent is not requested
)
GROUP_TITLES = {1: "Group 1: tested via DMCT", 2: "Group 2: substantively equivalent (not tested)"}


# -- building -----------------------------------------------------------------------------------


def report_path(dmc_id: str, status: str) -> str:
    """Where a DMC's report for ``status`` sits, relative to the out root."""
    return f"{dmc_id}/{status}/{REPORT_FILE}"


def build_epcl_summary(
    reports: Iterable[DmctReport | Mapping[str, Any]],
    catalogue: Catalogue,
    *,
    unreadable: Mapping[tuple[str, str], str] | None = None,
    produced_at: datetime | None = None,
) -> dict[str, Any]:
    """The EPCL summary of ``reports`` (the model, or ``dmct-report.json`` dicts read through
    it) as a JSON-ready dict.

    ``unreadable`` maps ``(dmc id, status)`` to why a report file there could not be read: such
    an entry is in scope and not requested. Scope: every tested parent of a DMC that has a report
    (the top of its substantive-equivalence chain), and that parent's children.
    """
    models = [as_report(r) for r in reports]
    by_key = {(r.dmc.id, r.installation_status): r for r in models}
    broken = dict(unreadable or {})
    builder = _Builder(catalogue, by_key, broken)
    roots = sorted({builder.root_of(dmc_id) for dmc_id, _status in [*by_key, *broken]})
    for root in roots:
        builder.add_tested(root)
        for child in builder.children(root):
            builder.add_child(child, root)
    return builder.summary(produced_at or datetime.now(UTC))


class _Builder:
    """Collects requested and not-requested entries, then the tables; one summary per builder."""

    def __init__(
        self,
        catalogue: Catalogue,
        reports: dict[tuple[str, str], DmctReport],
        unreadable: dict[tuple[str, str], str],
    ) -> None:
        self.catalogue = catalogue
        self.reports = reports
        self.unreadable = unreadable
        self.requested: list[dict[str, Any]] = []
        self.not_requested: list[dict[str, Any]] = []
        self.notes: list[str] = []
        #: (parent id, status) -> why that Group 1 entry is not requested.
        self.parent_refusals: dict[tuple[str, str], str] = {}

    # scope

    def dmc(self, dmc_id: str) -> Dmc | None:
        return self.catalogue.dmcs.get(dmc_id)

    def root_of(self, dmc_id: str) -> str:
        """The tested parent at the top of ``dmc_id``'s chain (itself when not a child)."""
        if self.dmc(dmc_id) is None:
            return dmc_id
        return self.catalogue.tested_parent(dmc_id).id

    def children(self, root: str) -> list[Dmc]:
        """Every DMC whose substantive-equivalence chain ends at ``root`` (children first)."""
        found: list[Dmc] = []
        todo = [root]
        while todo:
            for child in sorted(self.catalogue.children_of(todo.pop(0)), key=lambda d: d.id):
                found.append(child)
                todo.append(child.id)
        return found

    # entries

    def add_tested(self, dmc_id: str) -> None:
        """The Group 1 entries of a tested DMC, one per status with an EPCL entry or a report."""
        dmc = self.dmc(dmc_id)
        if dmc is None:
            self.notes.append(
                f"{dmc_id} is not in the catalogue: its entries come from its reports alone, "
                "with no population and no substantively equivalent children"
            )
        for status in STATUSES:
            report = self.reports.get((dmc_id, status))
            entry_id = _entry_id(dmc, status, report)
            if entry_id is None and (dmc_id, status) not in self.unreadable:
                continue
            base = _entry_base(entry_id, dmc_id, dmc, report, status, group=1, parent=None)
            refusal = self._refusal(dmc_id, status, report)
            if refusal is not None:
                reason, details = refusal
                self.parent_refusals[(dmc_id, status)] = (
                    f"{reason.replace('_', ' ')}: {'; '.join(details)}")
                self.not_requested.append({**base, "reason": reason, "details": details,
                                           "report": _path_if(report, dmc_id, status)})
                continue
            assert report is not None
            self.requested.append({
                **base,
                "devices": _devices(report),
                **_report_facts(report, dmc_id, status),
                "tested_directly": True,
                "population": self._population(dmc, dmc_id, status),
            })

    def add_child(self, child: Dmc, root: str) -> None:
        """The Group 2 entries of ``child``, each resting on ``root``'s entry for its status."""
        for status in STATUSES:
            entry_id = child.epcl_id(status)
            if entry_id is None:
                continue
            base = _entry_base(entry_id, child.id, child, None, status, group=2, parent=root)
            own = self.reports.get((child.id, status))
            parent_report = self.reports.get((root, status))
            details: list[str] = []
            reason = None
            root_dmc = self.dmc(root)
            if root_dmc is not None and root_dmc.epcl_id(status) is None:
                reason = "parent_not_requested"
                details.append(f"{root} has no EPCL entry for {status} installations")
            elif (root, status) in self.parent_refusals:
                reason = "parent_not_requested"
                details.append(f"{root}/{status} is not requested: "
                               f"{self.parent_refusals[(root, status)]}")
            elif (child.id, status) in self.unreadable:
                reason = "report_unreadable"
                details.append(f"its own report: {self.unreadable[(child.id, status)]}")
            elif own is not None and own.verdict != "meets_exit_criteria":
                reason = "fails_exit_criteria"
                details += [f"its own DMCT Testing Report: {r}" for r in _fail_details(own)]
            if reason is not None:
                self.not_requested.append({**base, "reason": reason, "details": details,
                                           "report": _path_if(own, child.id, status)})
                continue
            assert parent_report is not None  # the parent is requested, so it has a report
            self.requested.append({
                **base,
                "devices": _catalogue_devices(child, self.catalogue),
                **_report_facts(parent_report, root, status),
                "tested_directly": own is not None,
                "own_report": _path_if(own, child.id, status),
                "population": self._population(child, child.id, status),
            })

    def _refusal(self, dmc_id: str, status: str,
                 report: DmctReport | None) -> tuple[str, list[str]] | None:
        if (dmc_id, status) in self.unreadable:
            return "report_unreadable", [self.unreadable[(dmc_id, status)]]
        if report is None:
            return "not_tested", [f"no DMCT Testing Report for {dmc_id}/{status} in this run"]
        if not report.complete:
            return "incomplete", _fail_details(report)
        if report.verdict != "meets_exit_criteria":
            return "fails_exit_criteria", _fail_details(report)
        return None

    def _population(self, dmc: Dmc | None, dmc_id: str, status: str) -> dict[str, Any] | None:
        population = dmc.population_for(status) if dmc is not None else None
        if population is None:
            self.notes.append(f"{dmc_id}/{status}: no population in the catalogue; its installs "
                              "and devices count as 0")
            return None
        return population.model_dump(mode="json")

    # the summary

    def summary(self, produced_at: datetime) -> dict[str, Any]:
        group_1 = [e for e in self.requested if e["group"] == 1]
        group_2 = [e for e in self.requested if e["group"] == 2]
        group_2.sort(key=lambda e: (e["parent"], e["dmc"],
                                    STATUSES.index(e["installation_status"])))
        requested = [*group_1, *group_2]
        drafts = sorted({e["report"] for e in requested if e.get("state") != "final"})
        notes = list(self.notes)
        if drafts:
            notes.append(
                f"{len(drafts)} requested entr{'y rests' if len(drafts) == 1 else 'ies rest'} on "
                "draft DMCT Testing Reports; the EPCL request needs them final (SVTAD 20.39): "
                + ", ".join(drafts)
            )
        if any((e["population"] or {}).get("placeholder") for e in requested):
            notes.append("some figures are placeholders (invented, not from a source): see each "
                         "entry's population")
        return {
            "schema": SCHEMA,
            "produced_at": produced_at.isoformat(),
            "counts": {
                "requested": len(requested),
                "group_1": len(group_1),
                "group_2": len(group_2),
                "not_requested": len(self.not_requested),
            },
            "tables": {
                "overall": _table(requested),
                "group_1": _table(group_1),
                "group_2": _table(group_2),
            },
            "requested": requested,
            "not_requested": self.not_requested,
            "dmcs_requested_at_target_firmware": _dmcs_at_target(requested),
            "notes": notes,
        }


def _entry_id(dmc: Dmc | None, status: str, report: DmctReport | None) -> str | None:
    """The EPCL entry id a report was tested as, else the catalogue's."""
    if report is not None and report.dmc.epcl_entry:
        return report.dmc.epcl_entry
    return dmc.epcl_id(status) if dmc is not None else None


def _entry_base(entry_id: str | None, dmc_id: str, dmc: Dmc | None,
                report: DmctReport | None, status: str, *, group: int,
                parent: str | None) -> dict[str, Any]:
    if dmc is not None:
        name: str | None = dmc.name
    elif report is not None and "name" in report.dmc.model_fields_set:
        name = report.dmc.name
    else:
        name = dmc_id
    return {
        "epcl_entry": entry_id,
        "dmc": dmc_id,
        "name": name,
        "installation_status": status,
        "group": group,
        "parent": parent,
        "substantively_equivalent_to": dmc.substantively_equivalent_to if dmc else None,
    }


def _devices(report: DmctReport) -> list[dict[str, Any]]:
    """A report's devices as its JSON lists them (no field it did not have)."""
    return [d.model_dump(mode="json", exclude_unset=True) for d in report.dmc.devices]


def _report_facts(report: DmctReport, dmc_id: str, status: str) -> dict[str, Any]:
    """What Annex A says about the testing an entry rests on."""
    return {
        "verdict": report.verdict,
        "state": report.state,
        "produced_at": report.produced_at,
        "referral_deadline": report.referral_deadline,
        "testing_issues": [
            {"id": i.id, "title": i.title, "severity": i.severity, "known": i.known,
             "counted": i.counted, "status": i.status}
            for i in report.testing_issues
        ],
        "report": report_path(dmc_id, status),
    }


def _path_if(report: DmctReport | None, dmc_id: str, status: str) -> str | None:
    return report_path(dmc_id, status) if report is not None else None


def _fail_details(report: DmctReport) -> list[str]:
    """The report's verdict reasons, then each counted open Testing Issue with its severity."""
    details = list(report.verdict_reasons)
    for issue in report.testing_issues:
        if issue.counted and issue.status in ("open", "awaiting_triage"):
            details.append(f"Testing Issue {issue.id} (severity {issue.severity}): "
                           f"{issue.title}")
    return details or [f"verdict {report.verdict}"]


def _catalogue_devices(dmc: Dmc, catalogue: Catalogue) -> list[dict[str, Any]]:
    """A Group 2 child's devices as a report lists them (it has no report of its own)."""
    return report_devices(dmc, catalogue)


def _table(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One of the seed's tables: Installs and Devices by status, per row, with the totals."""
    table: dict[str, Any] = {
        row: {"installs": dict.fromkeys(STATUSES, 0), "devices": dict.fromkeys(STATUSES, 0)}
        for row in (*ROWS, "totals_by_installation_status")
    }
    for entry in entries:
        population = entry["population"]
        if population is None:
            continue
        status = entry["installation_status"]
        for row, field in ROWS.items():
            for measure in ("installs", "devices"):
                count = population[field][measure]
                table[row][measure][status] += count
                table["totals_by_installation_status"][measure][status] += count
    by_status = table["totals_by_installation_status"]
    table["totals"] = {m: sum(by_status[m].values()) for m in ("installs", "devices")}
    table["placeholder_figures"] = any((e["population"] or {}).get("placeholder")
                                       for e in entries)
    table["entries_without_population"] = sum(1 for e in entries if e["population"] is None)
    return table


def _dmcs_at_target(requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each requested DMC once: its entries and its devices' firmware against the target."""
    by_dmc: dict[str, dict[str, Any]] = {}
    for entry in requested:
        item = by_dmc.setdefault(entry["dmc"], {
            "dmc": entry["dmc"], "name": entry["name"], "group": entry["group"],
            "parent": entry["parent"], "installation_statuses": [], "epcl_entries": [],
            "devices": [_at_target(d) for d in entry["devices"]],
        })
        item["installation_statuses"].append(entry["installation_status"])
        item["epcl_entries"].append(entry["epcl_entry"])
    for item in by_dmc.values():
        item["at_target_firmware"] = all(d["at_target_firmware"] for d in item["devices"])
    return list(by_dmc.values())


def _at_target(device: Mapping[str, Any]) -> dict[str, Any]:
    """A device with its target firmware: the DMC's ``target_firmware``, else what was tested."""
    target = device.get("target_firmware") or device.get("firmware")
    return {
        "role": device.get("role"), "manufacturer": device.get("manufacturer"),
        "model": device.get("model"), "firmware": device.get("firmware"),
        "target_firmware": target, "at_target_firmware": device.get("firmware") == target,
        "placeholder": bool(device.get("placeholder")),
    }


# -- reading an out root and writing ---------------------------------------------------------------


def find_reports(
    out_root: Path,
) -> tuple[list[DmctReport], dict[tuple[str, str], str]]:
    """The reports under ``out_root/<dmc>/<status>/``, and why any that is there cannot be read."""
    reports: list[DmctReport] = []
    unreadable: dict[tuple[str, str], str] = {}
    if not out_root.is_dir():
        return reports, unreadable
    for folder in sorted(p for p in out_root.iterdir() if p.is_dir()):
        for status in STATUSES:
            path = folder / status / REPORT_FILE
            if not path.is_file():
                continue
            key = (folder.name, status)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                unreadable[key] = f"cannot read {report_path(*key)}: {' '.join(str(exc).split())}"
                continue
            problem = _layout_problem(data, key)
            if problem is not None:
                unreadable[key] = f"{report_path(*key)}: {problem}"
                continue
            try:
                reports.append(DmctReport.from_json(data))
            except ValidationError as exc:
                unreadable[key] = f"{report_path(*key)}: {_first_error(exc)}"
    return reports, unreadable


def _first_error(exc: ValidationError) -> str:
    """``testing_issues.0.severity: Input should be a valid integer`` (one line, the first)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "report"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {' '.join(str(error['msg']).split())}{more}"


def _layout_problem(data: Any, key: tuple[str, str]) -> str | None:
    if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
        return f"not a DMCT Testing Report (schema {REPORT_SCHEMA} expected)"
    dmc = data.get("dmc")
    found = (dmc.get("id") if isinstance(dmc, dict) else None, data.get("installation_status"))
    if found != key:
        return f"the report is for {found[0]}/{found[1]}, not for the folder it is in"
    return None


def write_epcl_summary(out_root: Path, catalogue: Catalogue) -> list[Path]:
    """Write ``epcl-summary.{json,md,html}`` at ``out_root``; the paths written.

    Does nothing and returns ``[]`` when there is no report under ``out_root``. Each file is
    written atomically, so a reader never sees half of one.
    """
    reports, unreadable = find_reports(out_root)
    if not reports and not unreadable:
        return []
    summary = build_epcl_summary(reports, catalogue, unreadable=unreadable)
    written = []
    for suffix, text in (
        (".json", json.dumps(summary, indent=2) + "\n"),
        (".md", render_markdown(summary)),
        (".html", render_html(summary)),
    ):
        written.append(write_atomic(out_root / f"{SUMMARY_STEM}{suffix}", text))
    return written


# -- rendering ----------------------------------------------------------------------------------


def _entries(count: int) -> str:
    return f"{count} EPCL entr{'y' if count == 1 else 'ies'}"


def _device_text(device: Mapping[str, Any]) -> str:
    """``GSME: Itron GSME (Itron), FW 1.0 (target 1.1)``: the target only when it differs."""
    text = (f"{device.get('role')}: {device.get('model')} ({device.get('manufacturer')}), "
            f"FW {device.get('firmware')}")
    target = device.get("target_firmware")
    if target and target != device.get("firmware"):
        text += f" (target {target})"
    return text


def _issues_text(entry: Mapping[str, Any]) -> str:
    issues = entry.get("testing_issues") or []
    return "; ".join(f"{i['id']} (severity {i['severity']})" for i in issues) or "none"


def _table_rows(table: Mapping[str, Any]) -> list[tuple[str, list[int]]]:
    return [
        (ROW_TITLES[row], [table[row][m][s] for m in ("installs", "devices") for s in STATUSES])
        for row in (*ROWS, "totals_by_installation_status")
    ]


def _population_text(entry: Mapping[str, Any]) -> str:
    population = entry.get("population")
    if population is None:
        return "not in the catalogue (counted as 0)"
    at = population["at_target_firmware"]
    up = population["upgradable_to_target_firmware"]
    text = (f"{at['installs']:,} installs / {at['devices']:,} devices at target FW; "
            f"{up['installs']:,} / {up['devices']:,} upgradable")
    return text + (" (placeholder)" if population.get("placeholder") else "")


def _context(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "s": summary, "statuses": STATUSES, "group_titles": GROUP_TITLES,
        "tables": (("overall", "Overall"), ("group_1", GROUP_TITLES[1]),
                   ("group_2", GROUP_TITLES[2])),
        "entries": _entries, "device_text": _device_text, "issues_text": _issues_text,
        "table_rows": _table_rows, "population_text": _population_text,
    }


def render_markdown(summary: Mapping[str, Any]) -> str:
    """``epcl-summary.md``: the tables, Annex A, the DMCs at target firmware, what is not asked
    (``templates/epcl.md.j2``)."""
    return render("epcl.md.j2", **_context(summary)).rstrip("\n") + "\n"


def render_html(summary: Mapping[str, Any]) -> str:
    """``epcl-summary.html``: self-contained (inline CSS, no script, no external URL;
    ``templates/epcl.html.j2``)."""
    return render("epcl.html.j2", title="EPCL summary", style=static("epcl.css"), script="",
                  **_context(summary))
