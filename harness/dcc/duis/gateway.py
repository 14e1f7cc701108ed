"""The DCC's DUIS interface: a signed request document in, a Service Request for the S1SP out.

The checks are the DCC's, in its order: well-formed XML in the DUIS namespace, the DUIS XSD
(HTTP 400 for either: no DUIS response), the XML signature against the Users the bench trusts
(E1), the signer as the RequestID's originator (E1), an SRV the harness knows (E11). What
passes becomes a :class:`~harness.dcc.requests.ServiceRequest` that the DCC countersigns for
the S1SP (see ``docs/duis.md``), which then makes its own checks (roles, device, Command
Variant, replay ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from harness.dcc.duis.bodies import BodyRefused
from harness.dcc.duis.documents import (
    PARAMETERS_PI,
    DocumentRefused,
    DuisRequest,
    parse_document,
    read_header,
    read_request,
    schema_errors,
)
from harness.dcc.duis.signing import SignatureRefused, verify
from harness.dcc.requests import RequestId, ServiceRequest
from harness.han.events import normalise_eui

if TYPE_CHECKING:
    from lxml import etree  # type: ignore[import-untyped]

    from harness.dcc.catalogue import SrCatalogue
    from harness.dcc.keys import Keystore, User


@dataclass(frozen=True)
class Refusal:
    """A request the interface refuses: ``code`` (a signed DUIS response) or HTTP 400."""

    detail: str
    code: str | None = None
    http_status: int = 200
    request_id: str = ""
    srv: str = ""
    service_reference: str = ""
    schema_version: str = "5.4"


@dataclass(frozen=True)
class Admitted:
    request: ServiceRequest
    document: DuisRequest
    user: User
    #: Other Users of the same User ID and certificate whose role may send the SRV (one
    #: organisation in several roles): the DCC picks by the device (see ``Dcc``).
    alternatives: tuple[User, ...] = ()


def admit(data: bytes, *, catalogue: SrCatalogue, keystore: Keystore,
          schema: etree.XMLSchema | None, now: datetime | None = None) -> Admitted | Refusal:
    """Check a DUIS request document as the DCC does; never raises for bad input."""
    try:
        root = parse_document(data)
        request_id, _cv, reference, srv = read_header(root)
    except DocumentRefused as exc:
        return Refusal(str(exc), http_status=400)
    version = root.get("schemaVersion", "5.4")
    problem = _request_id_problem(request_id)
    if problem is not None:
        return Refusal(problem, http_status=400, srv=srv)
    known = dict(request_id=request_id, srv=srv, service_reference=reference,
                 schema_version=version)
    coded: str | None = None
    valid = False
    if schema is not None:
        problem = schema_errors(schema, root)
        valid = problem is None
        harness_document = (srv in catalogue and catalogue[srv].harness_body
                            and _has_parameters(root))
        if problem is not None and not harness_document:
            coded = _parameter_code(catalogue, srv, problem)
            if coded is None:
                return Refusal(f"the document fails the DUIS XSD: {problem}",
                               http_status=400, **known)
            coded_detail = f"the document fails the DUIS XSD: {problem}"
    try:
        signer, signed = verify(root, keystore, now=now, schema_checked=valid)
    except SignatureRefused as exc:
        return Refusal(str(exc), code="E1", **known)
    if coded is not None:
        # The SRV validates this parameter itself (the catalogue's invalid_code).
        return Refusal(coded_detail, code=coded, **known)
    try:
        document = read_request(signed, catalogue)
    except BodyRefused as exc:
        return Refusal(str(exc), code=exc.code, **known)
    except DocumentRefused as exc:
        return Refusal(str(exc), http_status=400, **known)
    originator = document.request_id.originator
    candidates = _users_for(keystore, signer, originator, catalogue, srv)
    user = candidates[0] if candidates else None
    if user is None:
        return Refusal(f"signed by {signer.name} ({signer.eui}), not by the RequestID's "
                       f"originator {originator}", code="E1", **known)
    if srv not in catalogue:
        return Refusal(f"SRV {srv} is not one the harness's S1SP model carries out",
                       code="E11", **known)
    unmodelled = _unmodelled_body(catalogue, document) if schema is not None else None
    if unmodelled is not None:
        return Refusal(unmodelled, code="E11", **known)
    try:
        target = normalise_eui(document.target)
    except ValueError:
        return Refusal(f"{document.target!r} is not an EUI-64", http_status=400, **known)
    request = ServiceRequest(
        srv=srv, request_id=RequestId(originator, document.request_id.target,
                                      document.request_id.counter),
        role=user.role, command_variant=document.command_variant, target=target,
        params=dict(document.params))
    return Admitted(request, document, user, tuple(candidates[1:]))


def _unmodelled_body(catalogue: SrCatalogue, document: DuisRequest) -> str | None:
    """Why a User's XSD-valid DUIS body is one the S1SP model does not carry out (a value or
    variant it has no parameter for: 6.13's ALCSEvent log, 6.5's polyphase thresholds), or
    ``None``. DUIS answers a valid request with a code, never HTTP 400: E11, the SRV not
    available in this form on the model. A code the SRV gives a parameter itself (8.11's
    JoinTimePeriod) is left to the S1SP, and so is a document with the harness's own
    parameters (its client's checks answer those)."""
    if document.harness_parameters or document.srv not in catalogue:
        return None
    definition = catalogue[document.srv]
    if definition.coded_failure(dict(document.params)) is not None:
        return None
    problems = definition.check_parameters(dict(document.params))
    if not problems:
        return None
    return ("the harness's S1SP model does not carry out this DUIS body: "
            + "; ".join(problems))


def _request_id_problem(text: str) -> str | None:
    """Why a RequestID is not ``originatorEUI:targetEUI:counter`` (counter 1..2^64-1)."""
    try:
        request_id = RequestId.parse(text)
        normalise_eui(request_id.originator)
        normalise_eui(request_id.target)
    except ValueError:
        return f"RequestID {text!r} is not originatorEUI:targetEUI:counter"
    if not 1 <= request_id.counter <= 2**64 - 1:
        return f"RequestID counter {request_id.counter} is not an integer 1..2^64-1"
    return None


_ELEMENT = re.compile(r"Element '\{[^}]*\}(\w+)'")


def _parameter_code(catalogue: SrCatalogue, srv: str, problem: str) -> str | None:
    """The SR-specific code of the parameter an XSD error is about (8.11's JoinTimePeriod is
    E081101), or ``None``."""
    found = _ELEMENT.search(problem)
    if found is None or srv not in catalogue or "not expected" in problem or (
            "Missing child" in problem):
        return None
    for spec in catalogue[srv].parameters.values():
        if spec.xml and spec.invalid_code and spec.xml.split("/")[-1] == found.group(1):
            return spec.invalid_code
    return None


def _has_parameters(root: etree._Element) -> bool:
    from lxml import etree as _etree

    return any(pi.target == PARAMETERS_PI for pi in root.iter(_etree.ProcessingInstruction))


def _users_for(keystore: Keystore, signer: User, originator: str, catalogue: SrCatalogue,
               srv: str) -> list[User]:
    """Who the request may be from: the signer, when its EUI-64 is the originator; of the
    Users sharing that EUI-64 and certificate (one organisation in several roles) those whose
    role may send the SRV first. Empty when the signer is not the originator."""
    try:
        originator = normalise_eui(originator)
    except ValueError:
        return []
    if signer.eui == "DCC" or normalise_eui(signer.eui) != originator:
        return []
    same = [u for u in keystore.users_by_eui(signer.eui)
            if u.certificate is not None and signer.certificate is not None
            and u.certificate.serial_number == signer.certificate.serial_number] or [signer]
    roles = catalogue[srv].roles if srv in catalogue else ()
    return sorted(same, key=lambda u: u.role not in roles)
