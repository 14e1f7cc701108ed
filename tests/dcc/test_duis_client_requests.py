"""Every request the harness's own DCC client writes, judged by the DCC's tool.

The ``dcc`` fixture (and so every pack) sends its Service Requests as the DUIS documents
``Dcc.document`` writes. Here one request of every catalogued SRV (and of each 6.15.1
credential type) is written as the client writes it and run through DCC Boxed's ``Validate``
(XSD and signature, one JVM for all): each passes, except the bodies ``docs/duis.md`` lists as
the harness's own, which fail the XSD and nothing else.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from harness.bench import Bench
from harness.dcc.duis.tools import DuisTools

#: Requests whose body is the harness's own (docs/duis.md, "What is the harness's own"): a
#: management key rotation, which DUIS has no form for.
HARNESS_OWN = {"6.15.1 ManagementKey"}


def _requests(bench: Bench) -> dict[str, tuple[str, str, dict[str, object]]]:
    """``name: (SRV, target role, parameters)``, one per SRV (three for 6.15.1)."""
    eui = {role: device.eui for role, device in bench.devices.items()}
    image = bytes(range(64))
    firmware = {"FirmwareVersion": "1.2.3", "Image": image.hex(),
                "ImageHash": hashlib.sha256(image).hexdigest()}
    params: dict[str, dict[str, object]] = {
        "1.1.1": {"UnitRate": 1500, "StandingCharge": 2500},
        "2.2": {"Amount": 500},
        "3.1": {"Message": "Hello from the harness"},
        "6.5": {"AverageRmsOverVoltageThreshold": 253, "AverageRmsUnderVoltageThreshold": 216},
        "6.7": {"UncontrolledGasFlowThreshold": 10, "StabilisationPeriod": 5,
                "MeasurementPeriod": 10},
        "6.13": {"LogType": "Event"},
        "6.23": {"NewSupplier": "import-supplier-b"},
        "7.5": {"AuxiliaryLoad": 1}, "7.6": {"AuxiliaryLoad": 1}, "7.10": {"AuxiliaryLoad": 1},
        "7.9": {"AuxiliaryLoad": 1, "BoostDurationMinutes": 30},
        "8.7.1": {"OtherDeviceID": eui["PPMID"]}, "8.8.1": {"OtherDeviceID": eui["PPMID"]},
        "8.11": {"DeviceID": eui["PPMID"], "RequestType": "Add", "JoinTimePeriod": 300,
                 "InstallCode": "83FED3407A939723A5C639B26916D505"},
        "11.1": firmware, "11.4": firmware,
    }
    out: dict[str, tuple[str, str, dict[str, object]]] = {}
    for srv, definition in bench.dcc.catalogue.srvs.items():
        target = next(t for t in ("ESME", "GSME", "CHF", "PPMID", "IHD")
                      if t in definition.device_types and (t == "CHF" or t in eui))
        if srv == "6.15.1":
            for kind, owner in (("ManagementKey", None), ("SupplierCertificate", None),
                                ("NetworkOperatorCertificate", "dno")):
                extra = {"NewCredentialOwner": owner} if owner else {}
                out[f"6.15.1 {kind}"] = (srv, target, {"CredentialType": kind, **extra})
            continue
        out[srv] = (srv, target, params.get(srv, {}))
    return out


def test_every_request_the_client_writes_passes_the_dcc_tool(
        duis_tools: DuisTools, dcc_bench: Bench, tmp_path: Path) -> None:
    dcc = dcc_bench.dcc
    jobs = []
    for name, (srv, target, params) in _requests(dcc_bench).items():
        role = next(r for r in dcc.catalogue[srv].roles
                    if any(u.role == r for u in dcc.keystore.users.values()))
        request = dcc.build(srv, target, role=role, **params)
        sender = dcc.keystore.user_by_eui(request.request_id.originator, role)
        assert sender is not None and sender.certificate is not None
        certificate = tmp_path / f"{sender.name}.pem"
        certificate.write_bytes(sender.certificate.public_bytes(serialization.Encoding.PEM))
        document = tmp_path / f"{name.replace(' ', '-')}.xml"
        document.write_bytes(dcc.document(request))
        jobs.append((name, document, certificate))
    results = duis_tools.batch([("Validate", d, d.with_suffix(".out"), str(c))
                                for _, d, c in jobs])
    passed, xsd_only = set(), set()
    for (name, document, _), result in zip(jobs, results, strict=True):
        log = Path(f"{document.with_suffix('.out')}.log").read_text()
        if result == "SUCCESS" and "passed signature check" in log:
            passed.add(name)
        elif "failed xsd validation" in log:
            xsd_only.add(name)
    summary = (f"client requests valid: {len(passed)} of {len(jobs)} ({len(xsd_only)} the "
               f"harness's own body: {', '.join(sorted(xsd_only))})")
    print(f"\n{summary}")
    assert xsd_only == HARNESS_OWN, summary
    assert passed == {name for name, _, _ in jobs} - HARNESS_OWN, summary
