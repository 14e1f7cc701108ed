"""Writing a run's reports from its directory: used at the end of a run and by ``dmct report``.

Report dates (produced, referral deadline) are calendar dates of the run, not bench time: a
report is a document handed to the programme on a real day, whatever clock the bench ran on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report.dmct_report import DEFAULT, Threshold, build_report, write_report
from harness.report.issues import load_registry
from harness.report.manifest import report_selection
from harness.report.provenance import limitations, packs_root, run_provenance
from harness.report.records import read_records
from harness.report.referrals import apply_register, read_register

if TYPE_CHECKING:
    from harness.config import LabConfig


def threshold_of(lab: LabConfig) -> Threshold:
    if lab.thresholds is None:
        return DEFAULT
    return Threshold(lab.thresholds.limits(), programme_set_default=False)


def run_report(directory: Path, lab: LabConfig, *, complete: bool = True,
               produced_at: datetime | None = None) -> dict[str, Any]:
    """The report dict for the DMC and status of the run in ``directory``, not yet written
    (``dmct report`` checks every directory before it writes any)."""
    records = list(read_records(directory))
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    threshold = threshold_of(lab)
    selection = report_selection(directory)
    # the lab's own packs judged the device too: their content is in the packs' hash
    lab_packs = [Path(p) for p in (selection or {}).get("pack_paths") or ()]
    report = build_report(
        records, dmc=dmc,
        catalogue=lab.catalogue, status=lab.installation_statuses[0],
        registry=load_registry(lab.report.testing_issues), threshold=threshold,
        produced_at=produced_at or datetime.now(UTC), bench=lab.bench,
        referral_working_days=lab.report.referral_working_days, complete=complete,
        selection=selection,
        provenance=run_provenance(directory, lab, records,
                                  [packs_root(), *lab_packs] if lab_packs else ()),
        evidence_root=directory,
        limitations=limitations(lab, dmc, records, complete=complete,
                                status=lab.installation_statuses[0],
                                threshold_default=threshold.programme_set_default),
    )
    apply_register(report, read_register(directory))  # a deadline counted from provision
    return report


def write_run_report(directory: Path, lab: LabConfig, *, complete: bool = True,
                     produced_at: datetime | None = None) -> dict[str, Any]:
    """``dmct-report.json`` for the DMC and status of the run in ``directory``."""
    report = run_report(directory, lab, complete=complete, produced_at=produced_at)
    write_report(directory, report)
    return report
