"""DUIS bodies the catalogue's element paths cannot express (``harness.dcc.duis.bodies``).

The bodies here are written by the test from the DUIS XSD's element names (no template file
is copied); the DCC's own templates of these SRVs are judged in ``test_duis_templates.py``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from lxml import etree  # type: ignore[import-untyped]

from harness.bench import Bench
from harness.dcc.catalogue import load_sr_catalogue
from harness.dcc.duis.bodies import CODECS, BodyRefused, certificate_eui
from harness.dcc.duis.documents import (
    NS,
    SR,
    build_request,
    parse_document,
    read_request,
    serialise,
)
from harness.dcc.duis.signing import Signer
from harness.dcc.duis.tools import DuisTools
from harness.dcc.firmware_image import image_parameters
from harness.dcc.keys import KeyPair
from harness.dcc.keys import test_certificate as bench_certificate
from harness.dcc.requests import RequestId

CATALOGUE = load_sr_catalogue()
NOW = datetime(2026, 1, 1, tzinfo=UTC)
USER, ESME = "90-B3-D5-1F-30-01-00-00", "00-1B-C5-0C-00-00-00-01"


def body(xml: str) -> etree._Element:
    """A body element written with the ``sr:`` prefix (its namespace declared here)."""
    return etree.fromstring(xml.replace(">", f' xmlns:sr="{NS}">', 1))


def certificate(eui: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER,
                                         bytes.fromhex(eui.replace("-", "")),
                                         _type=_ASN1Type.BitString)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(NOW)
            .not_valid_after(NOW + timedelta(days=1)).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def round_trip(srv: str, params: dict[str, Any]) -> tuple[etree._Element, dict[str, Any]]:
    definition = CATALOGUE[srv]
    target = "00-1B-C5-0C-00-00-00-05" if definition.non_device else ESME
    root = build_request(definition, RequestId(USER, target, 7), 8 if definition.non_device
                         else 1, params, target=ESME, now=NOW)
    return root, read_request(root, CATALOGUE).params


@pytest.mark.parametrize("srv, flag", [("7.9", "AddToBoostButton"),
                                       ("7.10", "RemoveFromBoostButton")])
def test_boost_bodies_name_five_loads_and_read_back_the_one_set(srv: str, flag: str) -> None:
    root, params = round_trip(srv, {"AuxiliaryLoad": 3})
    flags = root.findall(f".//{SR}{flag}")
    assert [(f.get("index"), f.text) for f in flags] == [
        ("1", "false"), ("2", "false"), ("3", "true"), ("4", "false"), ("5", "false")]
    assert params["AuxiliaryLoad"] == 3
    # A User's body marking several loads: the lowest; 7.9's duration is the harness default.
    read = CODECS[srv].read(body(f'<sr:X><sr:{flag} index="4">true</sr:{flag}>'
                                 f'<sr:{flag} index="2">true</sr:{flag}></sr:X>'))
    assert read == {"AuxiliaryLoad": 2}


def test_a_7_9_dcc_document_without_the_harness_duration_gets_the_default() -> None:
    _root, params = round_trip("7.9", {"AuxiliaryLoad": 1})
    assert params["BoostDurationMinutes"] == CATALOGUE["7.9"].parameters[
        "BoostDurationMinutes"].default == 60
    _, params = round_trip("7.9", {"AuxiliaryLoad": 1, "BoostDurationMinutes": 15})
    assert params["BoostDurationMinutes"] == 15


@pytest.mark.parametrize("version", ["1.2.0", "SRV-CHECK-1"])
def test_firmware_travels_as_duis_base64_and_the_dcc_hashes_it(version: str) -> None:
    given = image_parameters("Reference", version)
    root, params = round_trip("11.1", given)
    image = bytes.fromhex(given["Image"])
    assert root.findtext(f".//{SR}FirmwareImage") == base64.b64encode(image).decode()
    assert root.findtext(f".//{SR}FirmwareVersion") == version[:8]
    assert root.findtext(f".//{SR}DeviceIDList") == ESME
    assert {k: params[k] for k in given} == given
    # A wrong ImageHash is not silently recomputed: it travels as the harness's own.
    wrong = given | {"ImageHash": "00" * 32}
    assert round_trip("11.1", wrong)[1]["ImageHash"] == "00" * 32
    with pytest.raises(BodyRefused) as refused:
        CODECS["11.1"].read(body("<sr:X><sr:FirmwareImage>not base64!</sr:FirmwareImage></sr:X>"))
    assert refused.value.code == "E110101"


def test_certificates_name_their_owner_and_krp_roles_map_to_credential_types() -> None:
    supplier = certificate(USER)
    assert certificate_eui(supplier) == USER
    # The bench's own test certificates name the EUI-64 as their commonName.
    own = bench_certificate(KeyPair.derive("a-supplier", 1), USER, 1)
    assert certificate_eui(base64.b64encode(
        own.public_bytes(serialization.Encoding.DER)).decode()) == USER
    assert certificate_eui("bm90IGEgY2VydGlmaWNhdGU=") is None
    read = CODECS["6.15.1"].read(body(
        "<sr:X><sr:RemotePartyRole>Supplier</sr:RemotePartyRole><sr:ReplacementCertificates>"
        f"<sr:DigitalSigningCertificate>{supplier}</sr:DigitalSigningCertificate>"
        "</sr:ReplacementCertificates></sr:X>"))
    assert read == {"CredentialType": "SupplierCertificate", "NewCredentialOwner": USER}
    with pytest.raises(BodyRefused) as refused:
        CODECS["6.15.1"].read(body("<sr:X><sr:RemotePartyRole>LoadController"
                                   "</sr:RemotePartyRole></sr:X>"))
    assert refused.value.code == "E11"
    read = CODECS["6.23"].read(body(
        "<sr:X><sr:SupplierReplacementCertificates><sr:DigitalSigningCertificate>"
        f"{supplier}</sr:DigitalSigningCertificate></sr:SupplierReplacementCertificates></sr:X>"))
    assert read == {"NewSupplier": USER}


def test_a_tariff_is_read_as_its_first_price_and_standing_charge_in_harness_units() -> None:
    read = CODECS["1.1.1"].read(body(
        "<sr:X><sr:PriceElements><sr:ElectricityPriceElements>"
        "<sr:StandingCharge>20000</sr:StandingCharge>"
        "<sr:StandingChargeScale>-5</sr:StandingChargeScale><sr:PriceScale>-3</sr:PriceScale>"
        '<sr:TOUTariff><sr:TOUPrice index="1">21</sr:TOUPrice>'
        '<sr:TOUPrice index="2">31</sr:TOUPrice></sr:TOUTariff>'
        "</sr:ElectricityPriceElements></sr:PriceElements></sr:X>"))
    # 20000 x 10^-5 GBP = 2000 x 10^-4 GBP; 21 x 10^-3 GBP = 210 x 10^-4 GBP.
    assert read == {"StandingCharge": 2000, "UnitRate": 210}


@pytest.mark.parametrize("device_type, prices", [("ESME", "ElectricityPriceElements"),
                                                  ("GSME", "GasPriceElements")])
def test_the_harness_writes_a_one_rate_tariff_of_the_targets_commodity(
        device_type: str, prices: str) -> None:
    definition = CATALOGUE["1.1.1"]
    given = {"UnitRate": 1523, "StandingCharge": 4100}
    root = build_request(definition, RequestId(USER, ESME, 9), 4, given, target=ESME, now=NOW,
                         device_type=device_type)
    assert root.find(f".//{SR}{prices}") is not None
    assert not any(isinstance(node, etree._ProcessingInstruction) for node in root.iter())
    assert {k: read_request(root, CATALOGUE).params[k] for k in given} == given


def test_a_duis_6_23_body_changes_the_supplier_to_the_user_its_certificate_names(
        dcc_bench: Bench) -> None:
    dcc = dcc_bench.dcc
    new = dcc.user(name="import-supplier-b")
    request = dcc.build("6.23", "ESME", role="IS", NewSupplier=new.eui)
    response = dcc.submit(request)
    assert response.code == "I0", str(response)
    assert dcc.send("7.4", "ESME", role="IS").code == "E4"
    # The new supplier, now responsible, hands it back by name (the harness's own form).
    assert dcc.send("6.23", "ESME", user="import-supplier-b",
                    NewSupplier="import-supplier").code == "I0"



def test_a_valid_duis_body_the_model_does_not_carry_out_is_e11_never_http_400(
        duis_tools: DuisTools, dcc_bench: Bench) -> None:
    """6.13's ALCSEvent log is valid DUIS the S1SP model has no log for: a signed E11."""
    dcc = dcc_bench.dcc
    request = dcc.build("6.13", "ESME", role="IS", LogType="Event")
    unsigned = dcc.document(request, sign=False)
    assert b"<sr:LogToRead>Event<" in unsigned
    root = parse_document(unsigned.replace(b"<sr:LogToRead>Event<", b"<sr:LogToRead>ALCSEvent<"))
    sender = dcc.user(name="import-supplier")
    assert sender.certificate is not None
    signed = serialise(Signer(sender.signing_key(), sender.certificate).sign(root))
    response = dcc.submit_document(signed)
    assert (response.code, response.http_status) == ("E11", 200), str(response)
    assert b"ResponseCode>E11<" in response.document
    assert "does not carry out this DUIS body" in response.detail
    # A negative price is valid DUIS; the model's tariff starts at 0.
    response = dcc.send("1.1.1", "ESME", role="IS", UnitRate=-1, StandingCharge=10)
    assert (response.code, response.http_status) == ("E11", 200), str(response)
    assert "UnitRate -1 is below the minimum 0" in response.detail
