"""What Allure shows beside the cases: ``environment.properties`` (the DMC, status, bench and
provenance of the run), ``executor.json`` (dmct, and a link back to the DMCT Testing Report) and
``categories.json`` (failures of the device apart from blocked, not applicable and broken
harness runs), written into ``allure-results`` from the report once it is built.

Links from the Allure report point at the DMCT Testing Report relative to the Allure report
generated in the run directory (``allure generate allure-results -o allure-report``, as
``docs/dmct-report.md`` says): ``../dmct-report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report.files import write_atomic
from harness.report.model import DmctReport, as_report

#: The DMCT Testing Report seen from ``<run>/allure-report/index.html``.
REPORT_FROM_ALLURE = "../dmct-report.html"

#: Allure categories, first match wins. allure-pytest marks an assertion failure ``failed``,
#: any other exception ``broken``, a skip ``skipped`` (the plugin's not applicable / blocked).
CATEGORIES: list[dict[str, Any]] = [
    {"name": "Device failures (a Testing Issue)", "matchedStatuses": ["failed"],
     "description": "The device did not do what the pack expects; the DMCT Testing Report "
                    "attributes each to a Testing Issue."},
    {"name": "Blocked: testing did not complete", "matchedStatuses": ["skipped", "broken"],
     "messageRegex": "(?s).*blocked.*"},
    {"name": "Not applicable to this DMC or status", "matchedStatuses": ["skipped"],
     "messageRegex": "(?s).*not applicable.*"},
    {"name": "Harness or bench errors", "matchedStatuses": ["broken"],
     "description": "An exception other than an assertion: the case could not judge the device."},
]


def environment(report: DmctReport | Mapping[str, Any]) -> dict[str, str]:
    """Allure's environment table: who was tested, on what, by which harness."""
    r = as_report(report)
    dmc = r.dmc
    prov = r.provenance or {}  # free-form by design (model.py)
    bench = prov.get("bench") or {}
    harness = prov.get("harness") or {}
    hashes = prov.get("hashes") or {}
    values = {
        "DMC": f"{dmc.id} ({dmc.name})",
        "EPCL entry": dmc.epcl_entry,
        "Installation status": r.installation_status,
        "Verdict": r.verdict.replace("_", " "),
        "Report state": r.state,
        "Bench": f"{bench.get('name', r.bench)} ({bench.get('kind', '-')}, radio "
                 f"{bench.get('radio', '-')}, {bench.get('clock', '-')} clock)",
        "Seed": prov.get("seed"),
        "Harness": f"smets1-dmct {harness.get('version', '-')}"
                   + (f" commit {harness['commit'][:12]}" if harness.get("commit") else ""),
        **{f"sha256 {name.replace('_', ' ')}": (digest or "-").removeprefix("sha256:")[:16]
           for name, digest in hashes.items()},
    }
    for device in dmc.devices:
        values[f"Device {device.role}"] = (
            f"{device.manufacturer} {device.model}, firmware "
            f"{device.firmware}" + (" (placeholder)" if device.placeholder else ""))
    return {k: " ".join(str(v).split()) for k, v in values.items() if v is not None}


def _properties(values: Mapping[str, str]) -> str:
    """Java properties text: backslashes doubled, a key's spaces, ``:`` and ``=`` escaped,
    anything beyond ASCII as a ``\\u`` escape."""
    def esc(text: str, key: bool) -> str:
        text = text.replace("\\", "\\\\")
        if key:
            for ch in (" ", ":", "="):
                text = text.replace(ch, "\\" + ch)
        return "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in text)

    return "".join(f"{esc(k, True)}={esc(v, False)}\n" for k, v in values.items())


def executor(report: DmctReport | Mapping[str, Any]) -> dict[str, Any]:
    r = as_report(report)
    dmc, status = r.dmc.id, r.installation_status
    return {"name": "dmct", "type": "dmct", "buildName": f"{dmc} / {status}",
            "reportName": f"DMCT Testing Report {dmc} {status}",
            "reportUrl": REPORT_FROM_ALLURE}


def write_allure_environment(results: Path,
                             report: DmctReport | Mapping[str, Any]) -> list[Path]:
    """``environment.properties``, ``executor.json`` and ``categories.json`` in ``results``
    (nothing when there is no such directory: Allure was not active)."""
    if not results.is_dir():
        return []
    written = [results / "environment.properties", results / "executor.json",
               results / "categories.json"]
    model = as_report(report)
    write_atomic(written[0], _properties(environment(model)))
    write_atomic(written[1], json.dumps(executor(model), indent=1))
    write_atomic(written[2], json.dumps(CATEGORIES, indent=1))
    return written
