"""DUIS alert documents: what the DCC sends a User when a device or the DCC raises an alert.

An alert reaches a User as a DUIS ``sr:Response`` (no RequestID; ResponseID
``originator:recipient:counter``; ResponseCode I0), its Body one of the XSD's alert forms:

- a **Device Alert** from a SMETS1 device (through its S1SP): ``SMETS1ResponseMessage`` /
  ``SMETS1SignedResponse`` / ``SMETS1Response``, whose MMC Header names the device, the User and
  the device's alert counter and whose ``DeviceAlertMessage`` / ``DeviceAlertContent`` holds the
  GBCS alert code (``GBCSHexAlertCode``, the SMETS1 Alert Code of the SMETS1 Supporting
  Requirements), its description and the time;
- a **DCC Alert**: ``DCCAlertMessage`` with a DCC Alert Code and the ``DCCAlert`` element.

Each document has exactly one XML signature, the DCC's, made as for responses: where the XSD
requires it (``SMETS1SignedResponse``'s ``ds:Signature``) for a Device Alert, at the end of the
Response for a DCC Alert. The harness's S1SP is the DCC's own model and signs with the DCC's
key; DCC Boxed's ``Validate`` checks a document with exactly one signature (see
``docs/duis.md``). The harness's code and the alert's details travel in a
``<?dmct-alert {...}?>`` instruction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

from harness.dcc.alerts import ALERT_CODES, AlertForm
from harness.dcc.duis.documents import (
    NSMAP,
    RA,
    RA_NS,
    SCHEMA_VERSION,
    SR,
    _xs_datetime,
    parse_document,
)
from harness.dcc.duis.signing import DS, verify_single

if TYPE_CHECKING:
    from harness.dcc.alerts import Alert
    from harness.dcc.keys import Keystore, User

ALERT_PI = "dmct-alert"
#: The ResponseCode of an alert (DCC Boxed's receiver treats any other as an error).
ALERT_RESPONSE_CODE = "I0"


@dataclass(frozen=True)
class DuisAlert:
    """What an alert document says."""

    kind: str  # "device" or "dcc"
    duis_code: str | None  # GBCSHexAlertCode or DCCAlertCode
    code: str  # the harness's alert code
    originator: str
    recipient: str
    counter: int
    time: str
    device: str
    details: dict[str, Any]


def build_alert(alert: Alert, *, originator: str, recipient: str, counter: int,
                time: datetime | None = None,
                schema_version: str = SCHEMA_VERSION) -> etree._Element:
    """The unsigned DUIS alert document of ``alert`` for the User of EUI-64 ``recipient``
    (a Device Alert carries a signature placeholder where the XSD puts the signature)."""
    form = ALERT_CODES.get(alert.code)
    moment = _xs_datetime(time or alert.time)
    root = etree.Element(SR + "Response", nsmap=NSMAP)
    root.set("schemaVersion", schema_version)
    header = etree.SubElement(root, SR + "Header")
    etree.SubElement(header, SR + "ResponseID").text = f"{originator}:{recipient}:{counter}"
    etree.SubElement(header, SR + "ResponseCode").text = ALERT_RESPONSE_CODE
    etree.SubElement(header, SR + "ResponseDateTime").text = moment
    body = etree.SubElement(root, SR + "Body")
    own = etree.ProcessingInstruction(ALERT_PI, json.dumps(
        {"code": alert.code, "device": alert.device, "details": alert.details},
        sort_keys=True, separators=(",", ":"), default=str).replace(">", "\\u003e"))
    if form is not None and form.kind == "dcc":
        _dcc_alert(body, form, alert, own)
        return root
    message = etree.SubElement(body, SR + "SMETS1ResponseMessage")
    signed = etree.SubElement(message, SR + "SMETS1SignedResponse")
    signed.set("schemaVersion", schema_version)
    response = etree.SubElement(signed, SR + "SMETS1Response")
    mmc = etree.SubElement(response, SR + "Header", nsmap={"ra": RA_NS})
    etree.SubElement(mmc, RA + "BusinessOriginatorID").text = alert.device
    etree.SubElement(mmc, RA + "BusinessTargetID").text = recipient
    etree.SubElement(mmc, RA + "OriginatorCounter").text = str(counter)
    etree.SubElement(mmc, RA + "Timestamp").text = moment
    content = etree.SubElement(
        etree.SubElement(etree.SubElement(response, SR + "Body"), SR + "DeviceAlertMessage"),
        RA + "DeviceAlertContent", nsmap={"ra": RA_NS})
    if form is not None:
        etree.SubElement(content, RA + "GBCSHexAlertCode").text = form.code
    description = form.duis_meaning if form is not None else f"harness alert {alert.code}"
    etree.SubElement(content, RA + "AlertDescription").text = description[:250]
    etree.SubElement(content, RA + "Timestamp").text = moment
    content.append(own)
    placeholder = etree.SubElement(signed, f"{{{DS}}}Signature", nsmap={"ds": DS})
    placeholder.set("Id", "placeholder")
    return root


def _dcc_alert(body: etree._Element, form: AlertForm, alert: Alert,
               own: etree._Element) -> None:
    message = etree.SubElement(body, SR + "DCCAlertMessage")
    etree.SubElement(message, SR + "DCCAlertCode").text = form.code
    element = etree.SubElement(etree.SubElement(message, SR + "DCCAlert"), SR + str(form.element))
    if form.element == "ChangeOfSupplier":
        etree.SubElement(element, SR + "ChangeOfSupplierServiceRequestID").text = str(
            alert.details.get("request_id", ""))
    message.append(own)


def read_alert(data: bytes) -> DuisAlert:
    """An alert document's content (the signature is checked by :func:`verify_alert`)."""
    root = parse_document(data)
    response_id = root.findtext(f"{SR}Header/{SR}ResponseID") or "::0"
    originator, recipient, counter = response_id.rsplit(":", 2)
    time = root.findtext(f"{SR}Header/{SR}ResponseDateTime") or ""
    dcc = root.find(f"{SR}Body/{SR}DCCAlertMessage")
    if dcc is not None:
        kind, duis_code, holder = "dcc", dcc.findtext(SR + "DCCAlertCode"), dcc
    else:
        holder = root.find(f".//{RA}DeviceAlertContent")
        if holder is None:
            raise ValueError("the document is no DUIS alert the harness writes")
        kind, duis_code = "device", holder.findtext(RA + "GBCSHexAlertCode")
    own = next((pi for pi in holder.iter(etree.ProcessingInstruction)
                if pi.target == ALERT_PI), None)
    extra: dict[str, Any] = json.loads(own.text) if own is not None else {}
    code = extra.get("code") or next(
        (name for name, form in ALERT_CODES.items() if form.code == duis_code
         and form.kind == kind), "UNKNOWN")
    device = extra.get("device") or (originator if kind == "device" else "")
    return DuisAlert(kind, duis_code, str(code), originator, recipient, int(counter), time,
                     str(device), dict(extra.get("details", {})))


def verify_alert(data: bytes, keystore: Keystore) -> User:
    """The signer (the DCC) of an alert document, whose one signature must verify;
    :class:`SignatureRefused` otherwise."""
    return verify_single(parse_document(data), keystore)
