"""The DCC's own public tools judge the harness's DUIS interface.

Every request template of the DCC's Reference Test Data (``@smartdcc/duis-templates``) is
re-targeted at the emulated bench's devices, re-signed by DCC Boxed's tool with its test User
keys, and submitted; each is accepted and executed or refused with a code the catalogue
documents (an SRV the harness does not carry out: E11), and every response passes the tool's
``Validate`` (XSD and signature). Tampered, unsigned, replayed, wrong-key and wrong-role
requests are refused and change nothing. The tools come from the cache (``duis_tools``): these
tests fail in CI without them and are skipped locally.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import Bench
from harness.config import load_lab_config
from harness.dcc.catalogue import load_sr_catalogue
from harness.dcc.duis.templates import bench_devices, read_template, retarget
from harness.dcc.duis.tools import DuisTools, boxed_lab
from harness.dcc.requests import ServiceResponse

from .conftest import bench_euis, raise_device_alert, start_bench, supply

CATALOGUE = load_sr_catalogue()
#: Refusals a template may get on this bench, whatever its SRV: the User Role or the device
#: (E2, E4, E5, E19: DCC Boxed's devices beyond ESME, GSME and the CHF are not on the bench),
#: the model (E11), a Command Variant SMETS1 has not (E12), the device's answer (E20, E21).
GENERIC_REFUSALS = frozenset({"E2", "E4", "E5", "E11", "E12", "E19", "E20", "E21"})
#: Run last, in this order: they change what later templates find (6.23 makes another
#: supplier responsible for the ESME; 8.11 adds DCC Boxed's ESME, that is the bench's, to the
#: CHF's log afresh with another install code, so it must join again; 8.3 decommissions it).
LAST = ("6.23", "8.11", "8.3")


@pytest.fixture(scope="module")
def boxed_bench(duis_tools: DuisTools, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("boxed")
    lab = load_lab_config(boxed_lab(root / "lab.yaml"), env={})
    bench = start_bench(lab, root / "evidence")
    try:
        yield bench
    finally:
        bench.stop()


def _certificate(bench: Bench, path: Path) -> Path:
    from harness.cli.duis import dcc_certificate_pem

    path.write_bytes(dcc_certificate_pem(bench))
    return path


def _codes(alerts: list[Path]) -> dict[str, int]:
    """How many alert documents of each harness alert code (from the file names)."""
    counts: dict[str, int] = {}
    for path in alerts:
        code = path.stem.split("-", 2)[2]
        counts[code] = counts.get(code, 0) + 1
    return counts


def _smets1(documents: list[Path]) -> int:
    """How many responses are a SMETS1 device's (DUIS's SMETS1ResponseMessage)."""
    return sum(b"SMETS1ResponseMessage" in d.read_bytes() for d in documents)


def _judge(srv: str, response: ServiceResponse, *, user: bool) -> str:
    """accepted, documented or unexpected. ``user``: the originator is a User of the bench
    (DCC Boxed's templates also hold requests the DCC's own parties sign: E1 here)."""
    if response.ok:
        return "accepted"
    if not user or "expired" in response.detail:
        # Not a User of the bench (a DCC party), or a test certificate past its validity.
        return "documented" if response.code == "E1" else "unexpected"
    if srv not in CATALOGUE:
        return "documented" if response.code == "E11" else "unexpected"
    definition = CATALOGUE[srv]
    if response.http_status == 400:
        # Every template is XSD-valid: none may be refused at the interface (DUIS answers a
        # valid request with a code; a body the model does not carry out is E11).
        return "unexpected"
    if response.code in GENERIC_REFUSALS or response.code in definition.response_codes:
        return "documented"
    return "unexpected"


def test_the_dcc_templates_are_accepted_or_refused_as_documented(
        duis_tools: DuisTools, boxed_bench: Bench, tmp_path: Path,
        record_property: pytest.RecordProperty) -> None:
    devices = bench_devices(bench_euis(boxed_bench))
    templates = sorted((read_template(p) for p in duis_tools.template_files()),
                       key=lambda t: (LAST.index(t.srv) if t.srv in LAST else -1, t.name))
    jobs = []
    for template in templates:
        retargeted = tmp_path / template.name
        retargeted.write_bytes(retarget(template.path.read_bytes(), devices))
        jobs.append(("Sign", retargeted, tmp_path / f"{template.name}.signed", ""))
    signed = duis_tools.batch(jobs)
    outcomes: dict[str, list[str]] = {"accepted": [], "documented": [], "unexpected": []}
    unsignable = []
    documents = []
    alerts_mark = boxed_bench.dcc.alerts.mark()
    # The ESME's own Power and Voltage alerts (Device Alerts; the templates raise a DCC Alert
    # and credential Device Alerts), before the last templates take the ESME off the HAN.
    for code in ("POWER_ALERT", "VOLTAGE_ALERT"):
        raise_device_alert(boxed_bench, "ESME", code)
    for template, result, job in zip(templates, signed, jobs, strict=True):
        if result != "SUCCESS":  # the tool has no key for this originator
            unsignable.append(template.name)
            continue
        response = boxed_bench.dcc.submit_document(job[2].read_bytes())
        user = boxed_bench.dcc.keystore.user_by_eui(template.originator) is not None
        verdict = _judge(template.srv, response, user=user)
        outcomes[verdict].append(f"{template.name}: {response}")
        if response.document:
            path = tmp_path / f"{template.name}.response.xml"
            path.write_bytes(response.document)
            documents.append(path)
    alerts = []
    for alert in boxed_bench.dcc.alerts.since(alerts_mark):
        assert alert.document is not None
        path = tmp_path / f"alert-{alert.seq}-{alert.code}.xml"
        path.write_bytes(alert.document)
        alerts.append(path)
    certificate = _certificate(boxed_bench, tmp_path / "dcc.pem")
    judged = documents + alerts
    valid = duis_tools.batch([("Validate", d, d.with_suffix(".validated"), str(certificate))
                              for d in judged])
    passed = {d for d, r in zip(judged, valid, strict=True)
              if r == "SUCCESS" and "passed signature check" in
              Path(f"{d.with_suffix('.validated')}.log").read_text()}
    alerts_passed = [a for a in alerts if a in passed]
    passed -= set(alerts)
    accepted, documented = len(outcomes["accepted"]), len(outcomes["documented"])
    summary = (f"duis templates: {accepted} accepted, {documented} refused as documented, "
               f"{len(outcomes['unexpected'])} unexpected; responses valid: {len(passed)} of "
               f"{len(documents)} ({_smets1(documents)} of them SMETS1 Responses; "
               f"{accepted + documented - len(documents)} refused at the "
               f"interface with HTTP 400, no DUIS response; {len(unsignable)} not signable by "
               f"the DCC tool); alerts valid: {len(alerts_passed)} of {len(alerts)} ("
               + ", ".join(f"{n} {c}" for c, n in sorted(_codes(alerts).items())) + ")")
    print(f"\n{summary}")
    record_property("summary", summary)  # printed at the end of the run (conftest.py)
    assert outcomes["unexpected"] == []
    assert len(passed) == len(documents)
    assert len(alerts_passed) == len(alerts)
    # Both forms: the old supplier's CoS loss DCC Alert and the ESME's Device Alerts.
    assert {"COS_LOSS", "POWER_ALERT", "VOLTAGE_ALERT"} <= set(_codes(alerts))
    assert accepted >= 44  # 1.1.1, 6.15.1, 6.23, 7.9, 7.10 templates included
    assert any(line.startswith("CCS01_8.11_SUCCESS_REQUEST_DUIS.XML: SR 8.11") and ": I0" in line
               for line in outcomes["accepted"])


def test_tampered_unsigned_replayed_wrong_key_and_wrong_role_requests_change_nothing(
        duis_tools: DuisTools, dcc_bench: Bench, tmp_path: Path) -> None:
    dcc = dcc_bench.dcc
    replay_me = dcc.build("7.4", "ESME", role="IS")
    assert dcc.submit(replay_me).code == "I0"
    disable = dcc.build("7.2", "ESME", role="IS")
    genuine = dcc.document(disable)
    cases = {
        "tampered": dcc.submit_document(genuine.replace(b"CommandVariant>4<",
                                                        b"CommandVariant>1<")),
        "unsigned": dcc.submit(disable, sign=False),
        "replayed": dcc.submit(replay_me),
        "wrong key": dcc.submit(disable, key=dcc.user(name="import-supplier-b").key),
        "wrong role": dcc.send("7.1", "ESME", role="ED"),
    }
    codes = {case: response.code for case, response in cases.items()}
    assert codes == {"tampered": "E1", "unsigned": "E1", "replayed": "E1", "wrong key": "E1",
                     "wrong role": "E2"}, {c: str(r) for c, r in cases.items()}
    assert supply(dcc_bench) == "On"
    # Each refusal is itself a signed DUIS response the DCC's tool validates.
    certificate = _certificate(dcc_bench, tmp_path / "dcc.pem")
    paths = []
    for case, response in cases.items():
        path = tmp_path / f"{case.replace(' ', '-')}.xml"
        path.write_bytes(response.document)
        paths.append(path)
    assert duis_tools.batch([("Validate", p, p.with_suffix(".out"), str(certificate))
                             for p in paths]) == ["SUCCESS"] * len(paths)
    # The User's genuine request still goes through.
    response = dcc.send("7.2", "ESME", role="IS")
    assert response.code == "I0", str(response)
    assert supply(dcc_bench) == "Off"
