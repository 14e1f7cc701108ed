"""DUIS request and response documents: built from and read into the harness's own models.

A request is ``sr:Request`` (namespace ``http://www.dccinterface.co.uk/ServiceUserGateway``)
with a Header (RequestID, CommandVariant, ServiceReference, ServiceReferenceVariant) and a Body
holding the SRV's body element, whose element paths and fixed values come from the SR catalogue
(``body``, ``layout``, ``fixed``, each parameter's ``xml``). Parameters that are the harness's
own travel in one ``<?dmct-parameters {...}?>`` processing instruction inside the body element:
the XSD ignores it and the signature covers it. A response is ``sr:Response`` with ResponseCode
always present; a code of the harness's own is named in a ``<?dmct-response-code ...?>``
instruction beside the DUIS code its document carries. See ``docs/duis.md``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

from harness.dcc.requests import RequestId

if TYPE_CHECKING:
    from harness.dcc.catalogue import SrCatalogue, SrvDefinition

NS = "http://www.dccinterface.co.uk/ServiceUserGateway"
SR = f"{{{NS}}}"
NSMAP = {"sr": NS}
#: The MMC schema's namespace (DUIS's Response and Alert Common Interface).
RA_NS = "http://www.dccinterface.co.uk/ResponseAndAlert"
RA = f"{{{RA_NS}}}"
DS = "http://www.w3.org/2000/09/xmldsig#"
#: schemaVersion the harness writes (that of the DCC's DUIS 5.4 Reference Test Data).
SCHEMA_VERSION = "5.4"
PARAMETERS_PI = "dmct-parameters"
RESPONSE_CODE_PI = "dmct-response-code"
RESPONSE_BODY_PI = "dmct-response-body"
#: Parsing never fetches anything nor expands entities (XXE), and drops blank text as DCC
#: Boxed's tool does before it signs (its digests are over the compact document).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True,
                          remove_comments=True, huge_tree=False)


class DocumentRefused(ValueError):
    """A document the DCC refuses at its interface (HTTP 400: no DUIS response)."""


@dataclass(frozen=True)
class DuisRequest:
    """What a DUIS request document says."""

    request_id: RequestId
    command_variant: int
    service_reference: str
    srv: str
    params: dict[str, Any]
    #: The device addressed: the RequestID's target, or a non-device request's DeviceID.
    target: str
    #: The document carries the harness's own parameters instruction.
    harness_parameters: bool = False
    schema_version: str = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


# -- the XSD ----------------------------------------------------------------------------------
def schema_path() -> Path | None:
    """Where the DUIS XSD is: ``$DMCT_DUIS_XSD``, else the DUIS tool cache; ``None`` if
    neither has it."""
    configured = os.environ.get("DMCT_DUIS_XSD")
    if configured:
        return Path(configured).expanduser()
    from harness.dcc.duis.tools import find_tools

    path = find_tools().xsd
    return path if path.exists() else None


@cache
def load_schema(path: Path) -> etree.XMLSchema:
    """The DUIS XSD (loaded once per process)."""
    return etree.XMLSchema(etree.parse(str(path)))


def schema_or_none() -> etree.XMLSchema | None:
    path = schema_path()
    return load_schema(path) if path is not None and path.exists() else None


#: libxml2 quotes the offending value; an install code is a secret, so no value is repeated.
_QUOTED_VALUE = (re.compile(r"The value '[^']*'"), re.compile(r"'[^']*' is not a valid value"))


def schema_errors(schema: etree.XMLSchema, root: etree._Element) -> str | None:
    """The first XSD error of ``root`` (one line, never quoting a value), or ``None``."""
    if schema.validate(root):
        return None
    error = schema.error_log.last_error
    if error is None:
        return "invalid"
    message = _QUOTED_VALUE[0].sub("The value", str(error.message))
    message = _QUOTED_VALUE[1].sub("the value is not a valid value", message)
    return f"line {error.line}: {message}"


# -- requests ---------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _xs_datetime(value)
    return str(value)


def _xs_datetime(moment: datetime) -> str:
    text = moment.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _set_path(parent: etree._Element, path: str, value: str) -> None:
    """Write ``value`` at ``a/b`` or ``a/@attr`` under ``parent``, reusing the last element of
    a name so siblings stay in layout order."""
    parts = path.split("/")
    node = parent
    for part in parts[:-1]:
        existing = node.find(SR + part)
        node = existing if existing is not None else etree.SubElement(node, SR + part)
    last = parts[-1]
    if last.startswith("@"):
        node.set(last[1:], value)
    else:
        # "" is an empty element (no text node: an XSD empty type allows no character content).
        etree.SubElement(node, SR + last).text = value or None


def _get_path(parent: etree._Element, path: str) -> str | None:
    parts = path.split("/")
    node: etree._Element | None = parent
    for part in parts[:-1]:
        node = node.find(SR + part) if node is not None else None
    if node is None:
        return None
    last = parts[-1]
    if last.startswith("@"):
        return node.get(last[1:])
    found = node.find(SR + last)
    return None if found is None else (found.text or "")


def build_request(definition: SrvDefinition, request_id: RequestId, command_variant: int,
                  params: dict[str, Any], *, target: str, now: datetime,
                  device_type: str | None = None) -> etree._Element:
    """The unsigned DUIS request document of an SR as the harness sends it (``device_type``:
    the target's, for bodies that differ by commodity: 1.1.1's gas or electricity tariff)."""
    root = etree.Element(SR + "Request", nsmap=NSMAP)
    root.set("schemaVersion", SCHEMA_VERSION)
    header = etree.SubElement(root, SR + "Header")
    etree.SubElement(header, SR + "RequestID").text = str(request_id)
    etree.SubElement(header, SR + "CommandVariant").text = str(command_variant)
    etree.SubElement(header, SR + "ServiceReference").text = definition.service_reference
    etree.SubElement(header, SR + "ServiceReferenceVariant").text = definition.srv
    body = etree.SubElement(etree.SubElement(root, SR + "Body"), SR + definition.body)
    by_path = {p.xml: p.name for p in definition.parameters.values() if p.xml}
    from harness.dcc.duis.bodies import CODECS

    codec = CODECS.get(definition.srv)
    writer = codec.write if codec is not None else None
    written: set[str] = writer(body, params, target, device_type) if writer is not None else set()
    for path in () if writer is not None else definition.xml_layout():
        name = by_path.get(path)
        if name is not None and params.get(name) is not None:
            _set_path(body, path, _text(params[name]))
        elif path in definition.fixed:
            fixed = definition.fixed[path]
            value = (_xs_datetime(now) if fixed == "@now" else target if fixed == "@target"
                     else fixed)
            _set_path(body, path, value)
    own = {name: value for name, value in params.items()
           if value is not None and name not in written
           and (name not in definition.parameters or not definition.parameters[name].xml)}
    if own or (definition.harness_body and not written):
        # A harness body always says so, parameters or none (the gateway recognises it).
        text = json.dumps(own, sort_keys=True, separators=(",", ":"), default=str)
        body.append(etree.ProcessingInstruction(PARAMETERS_PI, text.replace(">", "\\u003e")))
    return root


def parse_document(data: bytes) -> etree._Element:
    """Well-formed XML or :class:`DocumentRefused`."""
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise DocumentRefused(f"not well-formed XML: {exc}") from None
    except ValueError as exc:
        raise DocumentRefused(f"not an XML document: {exc}") from None


def read_header(root: etree._Element) -> tuple[str, str, str, str]:
    """``(RequestID, CommandVariant, ServiceReference, ServiceReferenceVariant)`` texts."""
    if root.tag != SR + "Request":
        raise DocumentRefused(f"the document is {etree.QName(root).localname}, not a DUIS "
                              f"Request in {NS}")
    header = root.find(SR + "Header")
    if header is None:
        raise DocumentRefused("the Request has no Header")
    values = []
    for name in ("RequestID", "CommandVariant", "ServiceReference", "ServiceReferenceVariant"):
        text = header.findtext(SR + name)
        if text is None:
            raise DocumentRefused(f"the Header has no {name}")
        values.append(text.strip())
    return values[0], values[1], values[2], values[3]


def read_request(root: etree._Element, catalogue: SrCatalogue) -> DuisRequest:
    """The request a (schema-checked, signature-checked) document makes."""
    request_id_text, cv_text, reference, srv = read_header(root)
    try:
        request_id = RequestId.parse(request_id_text)
    except ValueError as exc:
        raise DocumentRefused(str(exc)) from None
    try:
        command_variant = int(cv_text)
    except ValueError:
        raise DocumentRefused(f"CommandVariant {cv_text!r} is not an integer") from None
    body_holder = root.find(SR + "Body")
    body = body_holder[0] if body_holder is not None and len(body_holder) else None
    if srv not in catalogue:
        return DuisRequest(request_id, command_variant, reference, srv, {}, request_id.target,
                           schema_version=root.get("schemaVersion", SCHEMA_VERSION))
    definition = catalogue[srv]
    if reference != definition.service_reference:
        raise DocumentRefused(f"ServiceReference {reference} is not that of SRV {srv} "
                              f"({definition.service_reference})")
    if body is None or body.tag != SR + definition.body:
        found = etree.QName(body).localname if body is not None else "nothing"
        raise DocumentRefused(f"SRV {srv}'s Body holds {found}, not {definition.body}")
    params: dict[str, Any] = {}
    target = request_id.target
    for spec in definition.parameters.values():
        if spec.xml:
            text = _get_path(body, spec.xml)
            if text is not None:
                params[spec.name] = _typed(spec.type, text.strip())
    for path, fixed in definition.fixed.items():
        if fixed == "@target":
            text = _get_path(body, path)
            if text:
                target = text.strip().split(",")[0]
    from harness.dcc.duis.bodies import CODECS

    codec = CODECS.get(definition.srv)
    if codec is not None:
        # A body the element paths cannot express (may raise BodyRefused: a DUIS code).
        params.update(codec.read(body))
    own = _instruction(body, PARAMETERS_PI)
    harness = own is not None
    if own is not None:
        try:
            extra = json.loads(own)
        except ValueError:
            raise DocumentRefused(f"the {PARAMETERS_PI} instruction is not JSON") from None
        if not isinstance(extra, dict):
            raise DocumentRefused(f"the {PARAMETERS_PI} instruction is not a JSON object")
        params.update(extra)
    for spec in definition.parameters.values():
        if spec.name not in params and spec.default is not None:
            params[spec.name] = spec.default
    return DuisRequest(request_id, command_variant, reference, srv, params, target,
                       harness_parameters=harness,
                       schema_version=root.get("schemaVersion", SCHEMA_VERSION))


def _typed(kind: str, text: str) -> Any:
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text  # the catalogue's check names it
    return text


def _instruction(element: etree._Element, target: str) -> str | None:
    for child in element.iter(etree.ProcessingInstruction):
        if child.target == target:
            return str(child.text or "")
    return None


# -- responses --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Smets1Origin:
    """Who a SMETS1 Response is from and to: the MMC Header of its ``SMETS1Response``."""

    device: str
    user: str
    counter: int


def build_response(*, request_id: str | None, response_id: str | None, code: str,
                   harness_code: str | None, time: datetime, service_reference: str,
                   srv: str, body: dict[str, Any] | None = None,
                   schema_version: str = SCHEMA_VERSION,
                   smets1: Smets1Origin | None = None) -> etree._Element:
    """An unsigned DUIS response document (ResponseCode always present). ``smets1``: a SMETS1
    device's response, in DUIS's ``SMETS1ResponseMessage`` (the ``SMETS1SignedResponse`` holds
    a signature placeholder where the XSD requires its signature); else a ``ResponseMessage``."""
    root = etree.Element(SR + "Response", nsmap=NSMAP)
    root.set("schemaVersion", schema_version)
    header = etree.SubElement(root, SR + "Header")
    if request_id:
        etree.SubElement(header, SR + "RequestID").text = request_id
    if response_id:
        etree.SubElement(header, SR + "ResponseID").text = response_id
    etree.SubElement(header, SR + "ResponseCode").text = code
    moment = _xs_datetime(time)
    etree.SubElement(header, SR + "ResponseDateTime").text = moment
    outer = etree.SubElement(etree.SubElement(root, SR + "Body"),
                             SR + ("SMETS1ResponseMessage" if smets1 else "ResponseMessage"))
    etree.SubElement(outer, SR + "ServiceReference").text = service_reference
    etree.SubElement(outer, SR + "ServiceReferenceVariant").text = srv
    message = outer if smets1 is None else _smets1_message(outer, smets1, moment,
                                                           schema_version)
    if harness_code:
        message.append(etree.ProcessingInstruction(RESPONSE_CODE_PI, harness_code))
    if body:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        message.append(etree.ProcessingInstruction(RESPONSE_BODY_PI,
                                                   text.replace(">", "\\u003e")))
    return root


def _smets1_message(outer: etree._Element, origin: Smets1Origin, moment: str,
                    schema_version: str) -> etree._Element:
    """``SMETS1SignedResponse`` / ``SMETS1Response`` under ``outer``: the MMC Header (the
    device to the User, the request's counter) and the empty MMC ``ResponseMessage`` the
    harness's instructions go in (returned)."""
    signed = etree.SubElement(outer, SR + "SMETS1SignedResponse")
    signed.set("schemaVersion", schema_version)
    response = etree.SubElement(signed, SR + "SMETS1Response")
    mmc = etree.SubElement(response, SR + "Header", nsmap={"ra": RA_NS})
    etree.SubElement(mmc, RA + "BusinessOriginatorID").text = origin.device
    etree.SubElement(mmc, RA + "BusinessTargetID").text = origin.user
    etree.SubElement(mmc, RA + "OriginatorCounter").text = str(origin.counter)
    etree.SubElement(mmc, RA + "Timestamp").text = moment
    message = etree.SubElement(etree.SubElement(response, SR + "Body"), SR + "ResponseMessage")
    placeholder = etree.SubElement(signed, f"{{{DS}}}Signature", nsmap={"ds": DS})
    placeholder.set("Id", "placeholder")
    return message


def response_code_of(root: etree._Element) -> tuple[str | None, str | None]:
    """``(DUIS ResponseCode, the harness's own code or None)`` of a response document."""
    code = root.findtext(f"{SR}Header/{SR}ResponseCode")
    body = root.find(f"{SR}Body")
    own = _instruction(body, RESPONSE_CODE_PI) if body is not None else None
    return code, own


def serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
