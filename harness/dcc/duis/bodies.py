"""DUIS bodies the catalogue's element paths cannot express, read into the harness's parameters.

Most SRVs map one parameter to one DUIS element (the catalogue's ``xml``). These do not: 7.9 and
7.10 name five boost flags where the S1SP model sets one load, 11.1 and 11.4 carry the image in
base64 where the harness holds hex and its hash, and 1.1.1, 6.15.1 and 6.23 carry tariff tables
and certificates of which the S1SP model uses one price, one standing charge or the owner the
certificate names. A reader takes the DUIS body element to parameters; a writer (where the
harness builds XSD-valid bodies of its own) takes parameters to the body and returns what it
could not write, which travels as the harness's own parameters. See ``docs/duis.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

from harness.dcc.duis.documents import SR
from harness.han.events import normalise_eui

#: DUIS's FirmwareVersion is 1..8 characters.
FIRMWARE_VERSION_MAX = 8


class BodyRefused(ValueError):
    """A body the harness's S1SP model cannot carry out: answered with ``code``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


Reader = Callable[[etree._Element], dict[str, Any]]
#: ``(body element, parameters, target EUI-64, target device type or None)`` -> names written.
Writer = Callable[[etree._Element, dict[str, Any], str, str | None], set[str]]


@dataclass(frozen=True)
class BodyCodec:
    read: Reader
    #: ``None``: the harness's own documents of this SRV keep their own body (not XSD-valid).
    write: Writer | None = None


# -- 7.9 / 7.10: boost button -----------------------------------------------------------------
def _boost_reader(flag: str) -> Reader:
    def read(body: etree._Element) -> dict[str, Any]:
        marked = sorted(int(e.get("index", "0")) for e in body.findall(SR + flag)
                        if (e.text or "").strip() in ("true", "1"))
        # The S1SP model sets one load per request: the lowest one marked (docs/duis.md).
        return {"AuxiliaryLoad": marked[0]} if marked else {}
    return read


def _boost_writer(flag: str) -> Writer:
    def write(body: etree._Element, params: dict[str, Any], target: str,
              device_type: str | None) -> set[str]:
        load = params.get("AuxiliaryLoad")
        for index in range(1, 6):
            element = etree.SubElement(body, SR + flag, index=str(index))
            element.text = "true" if str(index) == str(load) else "false"
        return {"AuxiliaryLoad"}
    return write


# -- 11.1 / 11.4: firmware ----------------------------------------------------------------------
def _firmware_read(body: etree._Element) -> dict[str, Any]:
    params: dict[str, Any] = {}
    image_text = body.findtext(SR + "FirmwareImage")
    if image_text is not None:
        try:
            image = base64.b64decode("".join(image_text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise BodyRefused("E110101", "FirmwareImage is not base64") from None
        # The DCC hashes the image it distributes (the harness's ImageHash).
        params["Image"] = image.hex()
        params["ImageHash"] = hashlib.sha256(image).hexdigest()
    version = body.findtext(SR + "FirmwareVersion")
    if version is not None:
        params["FirmwareVersion"] = version.strip()
    return params


def _firmware_write(body: etree._Element, params: dict[str, Any], target: str,
                    device_type: str | None) -> set[str]:
    image = bytes.fromhex(str(params.get("Image", "")))
    etree.SubElement(body, SR + "FirmwareImage").text = base64.b64encode(image).decode()
    version = str(params.get("FirmwareVersion", ""))
    # A version longer than DUIS allows keeps its first characters here and travels whole as
    # the harness's own parameter (the reader lets that override the element).
    etree.SubElement(body, SR + "FirmwareVersion").text = version[:FIRMWARE_VERSION_MAX] or "-"
    etree.SubElement(body, SR + "DeviceIDList").text = target
    written = {"Image"}
    if 0 < len(version) <= FIRMWARE_VERSION_MAX:
        written.add("FirmwareVersion")
    claimed = str(params.get("ImageHash", "")).lower()
    if claimed == hashlib.sha256(image).hexdigest():
        written.add("ImageHash")  # the reader recomputes it; a wrong one travels as given
    return written


# -- 6.15.1 / 6.23: certificates -----------------------------------------------------------------
def certificate_eui(text: str) -> str | None:
    """The EUI-64 an SMKI certificate's subject names (its x500UniqueIdentifier, a BIT STRING
    of the 8 octets; the harness's own test certificates name it as their commonName),
    ``None`` if none."""
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
        attributes = certificate.subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, binascii.Error):
        return None
    if attributes:
        value = attributes[0].value
        data = value if isinstance(value, bytes) else str(value).encode("latin-1")
        return "-".join(f"{b:02X}" for b in data[-8:]) if len(data) >= 8 else None
    for name in names:
        try:
            return normalise_eui(str(name.value))
        except ValueError:
            continue
    return None


_KRP_CREDENTIALS = {"Supplier": "SupplierCertificate",
                    "NetworkOperator": "NetworkOperatorCertificate"}


def _krp_read(body: etree._Element) -> dict[str, Any]:
    role = (body.findtext(SR + "RemotePartyRole") or "").strip()
    if not role:
        return {}  # the harness's own body: its parameters travel in the instruction
    if role not in _KRP_CREDENTIALS:
        raise BodyRefused("E11", f"the harness's S1SP model does not replace {role or 'these'} "
                          "credentials (it models Supplier and NetworkOperator)")
    params: dict[str, Any] = {"CredentialType": _KRP_CREDENTIALS[role]}
    certificate = next((e.text for e in body.iter(SR + "DigitalSigningCertificate")), None)
    eui = certificate_eui(certificate) if certificate else None
    if eui is not None:
        params["NewCredentialOwner"] = eui
    return params


#: Parameters the harness's client adds to a 6.15.1 or 6.23 document it writes (never to the
#: request's own parameters): the new owner's certificate and its issuer's (base64 DER).
CERTIFICATE_PARAM = "DigitalSigningCertificate"
CA_PARAM = "CertificationPathCertificate"


def _certificates(params: dict[str, Any]) -> tuple[str, str] | None:
    certificate, path = params.get(CERTIFICATE_PARAM), params.get(CA_PARAM)
    return (str(certificate), str(path)) if certificate and path else None


def _krp_write(body: etree._Element, params: dict[str, Any], target: str,
               device_type: str | None) -> set[str]:
    """A DUIS 6.15.1 body replacing a Supplier or NetworkOperator certificate; nothing for a
    management key (no DUIS form: the harness's own body) or without the certificates."""
    role = {kind: role for role, kind in _KRP_CREDENTIALS.items()}.get(
        str(params.get("CredentialType")))
    certificates = _certificates(params)
    if role is None or certificates is None:
        return set()
    _sub(body, "RemotePartyRole", role)
    _sub(body, "RemotePartyFloorSeqNumber", 0)
    replacement = _sub(_sub(body, "ReplacementCertificates"),
                       "SupplierOrNetworkOperatorCertificates")
    _sub(replacement, "DigitalSigningCertificate", certificates[0])
    _sub(_sub(body, "CertificationPathCertificates"), "Certificate", certificates[1])
    _sub(body, "ApplyTimeBasedCPVChecks", "false")
    written = {"CredentialType", CERTIFICATE_PARAM, CA_PARAM}
    if certificate_eui(certificates[0]) is not None:
        written.add("NewCredentialOwner")  # the certificate names the owner
    return written


def harness_mpxn(target: str) -> str:
    """The ImportMPxN the harness writes for a device: the bench has no MPxN registry, so 13
    digits made of its EUI-64 (the S1SP model does not act on MPxNs)."""
    return f"{int(normalise_eui(target).replace('-', ''), 16) % 10**13:013d}"


def _cos_write(body: etree._Element, params: dict[str, Any], target: str,
               device_type: str | None) -> set[str]:
    """A DUIS 6.23 body naming the new supplier by its certificate; nothing without it."""
    certificates = _certificates(params)
    if certificates is None:
        return set()
    _sub(body, "SupplierFloorSeqNumber", 0)
    _sub(_sub(body, "SupplierReplacementCertificates"), "DigitalSigningCertificate",
         certificates[0])
    _sub(_sub(body, "CertificationPathCertificates"), "Certificate", certificates[1])
    _sub(body, "ApplyTimeBasedCPVChecks", "false")
    _sub(body, "ImportMPxN", params.get("ImportMPxN") or harness_mpxn(target))
    written = {CERTIFICATE_PARAM, CA_PARAM, "ImportMPxN"}
    if certificate_eui(certificates[0]) is not None:
        written.add("NewSupplier")  # the certificate names the new supplier
    return written


def _cos_read(body: etree._Element) -> dict[str, Any]:
    replacement = body.find(SR + "SupplierReplacementCertificates")
    certificate = (replacement.findtext(SR + "DigitalSigningCertificate")
                   if replacement is not None else None)
    eui = certificate_eui(certificate) if certificate else None
    return {"NewSupplier": eui} if eui is not None else {}


# -- 6.22: alert behaviour ------------------------------------------------------------------------
def _alert_behaviour_read(body: etree._Element) -> dict[str, Any]:
    return {}  # the S1SP model does not carry 6.22 out: nothing is read


def _alert_behaviour_write(body: etree._Element, params: dict[str, Any], target: str,
                           device_type: str | None) -> set[str]:
    """A DUIS 6.22 body of the harness's choosing (the model does not act on it): enable the
    supplier's 8145 alert (Clock adjusted), in the settings of the target's commodity."""
    gas = device_type == "GSME"
    settings = _sub(body, "GasSupplierAlerts" if gas else "ElectricitySupplierAlerts")
    _sub(settings if gas else _sub(settings, "SupplierESMECommon"), "x8145", "Enable")
    return set()


# -- 1.1.1: tariff ------------------------------------------------------------------------------
#: The harness's tariff unit: 1/10000 GBP.
_HARNESS_SCALE = -4


def _scaled(value: str, scale: str | None) -> int:
    """A DUIS price (value x 10^scale GBP) in the harness's 1/10000 GBP. An absent scale is
    read as the harness's own unit (no public text gives DUIS's default)."""
    try:
        exponent = int(scale) if scale is not None else _HARNESS_SCALE
        return int((Decimal(value.strip()) * Decimal(10) ** (exponent - _HARNESS_SCALE))
                   .to_integral_value())
    except (InvalidOperation, ValueError):
        raise BodyRefused("E010101", "a tariff price is not a number") from None


def _tariff_read(body: etree._Element) -> dict[str, Any]:
    prices = body.find(SR + "PriceElements")
    element = prices[0] if prices is not None and len(prices) else None
    if element is None:
        return {}
    params: dict[str, Any] = {}
    standing = element.findtext(SR + "StandingCharge")
    if standing is not None:
        params["StandingCharge"] = _scaled(standing, element.findtext(
            SR + "StandingChargeScale"))
    # The S1SP model's device holds one unit rate: the first TOU or block price.
    first = next((e.text for e in element.iter(SR + "TOUPrice", SR + "BlockPrice")
                  if e.text), None)
    if first is not None:
        params["UnitRate"] = _scaled(first, element.findtext(SR + "PriceScale"))
    return params


def _sub(parent: etree._Element, name: str, text: object = None, **attributes: str
         ) -> etree._Element:
    element = etree.SubElement(parent, SR + name, **attributes)
    if text is not None:
        element.text = str(text)
    return element


def _start_date(parent: etree._Element, gas: bool) -> None:
    """1 January 2014 (the XSD's earliest year), any day of the week."""
    date = _sub(parent, "SeasonStartDate")
    prefix, suffix = ("Gas", "WithWildcards") if gas else ("", "")
    _sub(_sub(date, f"{prefix}Year{suffix}"), "SpecifiedYear", 2014)
    _sub(_sub(date, f"{prefix}Month{suffix}"), "SpecifiedMonth", "01")
    _sub(_sub(date, f"{prefix}DayOfMonth{suffix}"), "SpecifiedDayOfMonth", "01")
    _sub(_sub(date, f"{prefix}DayOfWeek{suffix}"), "NonSpecifiedDayOfWeek")


def _tariff_write(body: etree._Element, params: dict[str, Any], target: str,
                  device_type: str | None) -> set[str]:
    """The one-rate tariff the S1SP model sets: one day profile (TOU rate 1 all day) every day
    of one season, no special days, no block thresholds; prices in the harness's 1/10000 GBP
    (scale -4; gas prices carry no scale, read as that unit)."""
    gas = device_type == "GSME"
    elements = _sub(body, "GasTariffElements" if gas else "ElecTariffElements")
    if not gas:
        _sub(elements, "CurrencyUnits", "GBP")
    table = _sub(elements, "SwitchingTable")
    day = _sub(_sub(table, "DayProfiles"), "DayProfile")
    _sub(day, "DayName", 1)
    if gas:
        _sub(day, "TOUTariffAction", 1)
    else:
        schedule = _sub(day, "ProfileSchedule")
        _sub(schedule, "StartTime", "00:00:00.00Z")
        _sub(schedule, "TOUTariffAction", 1)
    week = _sub(_sub(table, "WeekProfiles"), "WeekProfile")
    _sub(week, "WeekName", 1)
    for weekday in range(1, 8):
        _sub(week, "ReferencedDayName", 1, index=str(weekday))
    season = _sub(_sub(table, "Seasons"), "Season")
    if not gas:
        _sub(season, "SeasonName", "all")
    _start_date(season, gas)
    _sub(season, "ReferencedWeekName", 1)
    _sub(elements, "SpecialDays")
    matrix = _sub(elements, "ThresholdMatrix")
    if gas:
        _sub(matrix, "BlockThreshold", 4294967295, index="1")
    else:
        for rate in range(1, 9):  # no block thresholds: the highest value
            _sub(_sub(matrix, "Thresholds", index=str(rate)), "BlockThreshold", 4294967295,
                 index="1")
    prices = _sub(_sub(body, "PriceElements"),
                  "GasPriceElements" if gas else "ElectricityPriceElements")
    if gas:
        _sub(prices, "CurrencyUnits", "GBP")
    # Values go in as given: a missing or out-of-range one fails the XSD (HTTP 400), as DUIS.
    if params.get("StandingCharge") is not None:
        _sub(prices, "StandingCharge", params["StandingCharge"])
    if not gas:
        _sub(prices, "StandingChargeScale", _HARNESS_SCALE)
        _sub(prices, "PriceScale", _HARNESS_SCALE)
    tou = _sub(prices, "TOUTariff")
    if params.get("UnitRate") is not None:
        _sub(tou, "TOUPrice", params["UnitRate"], index="1")
    return {"UnitRate", "StandingCharge"}


CODECS: dict[str, BodyCodec] = {
    "7.9": BodyCodec(_boost_reader("AddToBoostButton"), _boost_writer("AddToBoostButton")),
    "7.10": BodyCodec(_boost_reader("RemoveFromBoostButton"),
                      _boost_writer("RemoveFromBoostButton")),
    "11.1": BodyCodec(_firmware_read, _firmware_write),
    "11.4": BodyCodec(_firmware_read, _firmware_write),
    "6.15.1": BodyCodec(_krp_read, _krp_write),
    "6.23": BodyCodec(_cos_read, _cos_write),
    "1.1.1": BodyCodec(_tariff_read, _tariff_write),
    "6.22": BodyCodec(_alert_behaviour_read, _alert_behaviour_write),
}
