"""Every response-code path of the S1SP model, on the emulated bench, through ``bench.dcc``.

Each refusal is checked twice: the code, and that nothing changed on the device (read back with
a read SR, or over ZigBee when the refusal leaves no SR that could read it).
"""

from __future__ import annotations

import dataclasses

import pytest

from harness.bench import Bench
from harness.dcc.client import FIRST_COUNTER
from harness.dcc.firmware_image import image_parameters
from harness.dcc.requests import RequestId

from .conftest import device_log, han_log, log_events, ok, supply

UNKNOWN_DEVICE = "00-1B-C5-0C-00-00-00-99"
GAS_FLOW = {"UncontrolledGasFlowThreshold": 10, "StabilisationPeriod": 10,
            "MeasurementPeriod": 60}


def eui(bench: Bench, role: str) -> str:
    return bench.device(role).eui


def install_code(bench: Bench, role: str) -> str:
    return bench.device(role).install_code.code.hex()


def zigbee_supply(bench: Bench, role: str = "ESME") -> int:
    return int(bench.device(role).zigbee.read("metering", "supply_status")["supply_status"])


def credit(bench: Bench) -> int:
    values = bench.device("ESME").zigbee.read("prepayment", "credit_remaining")
    return int(values["credit_remaining"])


def firmware_version(bench: Bench, role: str) -> str:
    return str(bench.device(role).zigbee.read("basic", "sw_build_id")["sw_build_id"])


def refused(response, code: str | None, *, http_status: int = 200) -> None:
    assert (response.code, response.http_status) == (code, http_status), str(response)
    assert not response.ok and response.detail


# -- schema (HTTP 400, no response code) --------------------------------------------------------
@pytest.mark.parametrize(("srv", "params", "why"), [
    ("9.99", {}, "SRV 9.99 is not a DUIS service"),
    ("7.2", {"Bogus": 1}, "unknown parameter 'Bogus' for SR 7.2"),
    # 1.1.1's DUIS body: a missing StandingCharge or a price that is no number fails the XSD.
    ("1.1.1", {"UnitRate": 10}, "Expected is ( {http://www.dccinterface.co.uk/"
                                "ServiceUserGateway}StandingCharge )"),
    ("1.1.1", {"UnitRate": "ten", "StandingCharge": 10}, "TOUPrice': the value is not a valid"),
    ("6.13", {"LogType": "Debug"}, "GSMESecurity"),  # the values LogToRead takes
])
def test_schema_failure_is_http_400_without_a_code(dcc_bench, srv, params, why):
    response = dcc_bench.dcc.send(srv, "ESME", role="IS", **params)
    refused(response, None, http_status=400)
    assert why in response.detail
    assert supply(dcc_bench) == "On"
    assert "tariff" not in log_events(dcc_bench, "ESME", "Event")


def test_invalid_8_11_parameters_get_the_8_11_codes_and_leave_the_device_log(dcc_bench):
    """8.11 validates its own JoinTimePeriod and InstallCode (catalogue ``invalid_code``): an
    invalid one gets the SR-specific code; a missing one is a schema failure (HTTP 400)."""
    before = han_log(dcc_bench)
    for params, code in (({"JoinTimePeriod": 3601}, "E081101"), ({"JoinTimePeriod": 0}, "E081101"),
                         ({"JoinTimePeriod": 2.5}, "E081101"),
                         ({"InstallCode": "00" * 7}, "E081102"),
                         ({"JoinTimePeriod": None}, None)):
        request = {"DeviceID": UNKNOWN_DEVICE, "RequestType": "Add", "JoinTimePeriod": 300,
                   "InstallCode": install_code(dcc_bench, "PPMID")} | params
        response = dcc_bench.dcc.send("8.11", "CHF", role="IS", **request)
        if code is None:
            refused(response, None, http_status=400)
        else:
            refused(response, code)
    assert han_log(dcc_bench) == before


@pytest.mark.parametrize("request_id", [
    RequestId("90-B3-D5-1F-30-01-00-01", "00-1B-C5-0C-00-00-00-01", 0),
    RequestId("90-B3-D5-1F-30-01-00-01", "00-1B-C5-0C-00-00-00-01", -7),
    RequestId("90-B3-D5-1F-30-01-00-01", "00-1B-C5-0C-00-00-00-01", 2**64),
    RequestId("not-an-eui", "00-1B-C5-0C-00-00-00-01", FIRST_COUNTER + 1),
])
def test_malformed_request_id_is_a_schema_failure(dcc_bench, request_id):
    """The counter is 1..2^64-1 and the originator and target are EUI-64s."""
    dcc = dcc_bench.dcc
    request = dcc.build("7.2", "ESME", role="IS")
    request = dataclasses.replace(request, request_id=request_id)
    refused(dcc.submit(request), None, http_status=400)
    assert supply(dcc_bench) == "On"


# -- E1: the originator, its signature, its counter ---------------------------------------------
def test_e1_unknown_originator(dcc_bench):
    dcc = dcc_bench.dcc
    request = dcc.build("7.2", "ESME", role="IS")
    stranger = dataclasses.replace(request.request_id, originator="90-B3-D5-1F-30-01-00-FF")
    refused(dcc.submit(dataclasses.replace(request, request_id=stranger)), "E1")
    assert "not by the RequestID's originator" in dcc.submit(
        dataclasses.replace(request, request_id=stranger)).detail
    assert supply(dcc_bench) == "On"


def test_e1_a_request_signed_by_another_user(dcc_bench):
    """DUIS knows a User's role from its User ID (the originator); a document signed by
    another User than the originator is refused."""
    dcc = dcc_bench.dcc
    request = dcc.build("7.2", "GSME", role="GS")
    response = dcc.submit(request, key=dcc.user(name="import-supplier").key)
    refused(response, "E1")
    assert supply(dcc_bench, "GSME") == "On"


@pytest.mark.parametrize("srv", ["7.2", "8.11", "6.23"])
def test_e1_unsigned_request(dcc_bench, srv):
    """Every DUIS request is signed, Critical or not."""
    dcc = dcc_bench.dcc
    params = {"8.11": {"DeviceID": UNKNOWN_DEVICE, "RequestType": "Remove"},
              "6.23": {"NewSupplier": "import-supplier-b"}}.get(srv, {})
    response = dcc.submit(dcc.build(srv, "CHF" if srv == "8.11" else "ESME", role="IS",
                                    **params), sign=False)
    refused(response, "E1")
    assert "not signed" in response.detail
    assert supply(dcc_bench) == "On"
    ok(dcc.send("7.4", "ESME", role="IS"))  # the supplier is unchanged


def test_e1_tampered_body_after_signing(dcc_bench):
    dcc = dcc_bench.dcc
    request = dcc.build("1.1.1", "ESME", role="IS", UnitRate=2000, StandingCharge=4000)
    document = dcc.document(request)
    tampered = document.replace(b'<sr:TOUPrice index="1">2000<', b'<sr:TOUPrice index="1">1<')
    assert tampered != document
    response = dcc.submit_document(tampered)
    refused(response, "E1")
    assert "signature does not verify" in response.detail
    price = dcc_bench.device("ESME").zigbee.read("price", "no_tier_block1_price")
    assert int(price["no_tier_block1_price"]) == 2450
    # The refusal did not use up the counter: the genuine request still goes through.
    ok(dcc.submit_document(document))
    price = dcc_bench.device("ESME").zigbee.read("price", "no_tier_block1_price")
    assert int(price["no_tier_block1_price"]) == 2000
    assert log_events(dcc_bench, "ESME", "Event") == ["tariff"]


@pytest.mark.parametrize("field", ["target", "srv", "command_variant", "signature"])
def test_e1_any_signed_field_tampered(dcc_bench, field):
    dcc = dcc_bench.dcc
    request = dcc.build("7.2", "ESME", role="IS")
    document = dcc.document(request)
    esme, gsme = eui(dcc_bench, "ESME"), eui(dcc_bench, "GSME")
    old, new = {
        "target": (f":{esme}:".encode(), f":{gsme}:".encode()),
        "srv": (b"Variant>7.2<", b"Variant>7.3<"),
        "command_variant": (b"CommandVariant>4<", b"CommandVariant>1<"),
        "signature": (b"<ds:SignatureValue>", b"<ds:SignatureValue>AAAA"),
    }[field]
    assert old in document
    response = dcc.submit_document(document.replace(old, new))
    assert response.code == "E1" or response.http_status == 400, str(response)
    assert supply(dcc_bench) == "On" and supply(dcc_bench, "GSME") == "On"


def test_e1_replayed_request(dcc_bench):
    dcc = dcc_bench.dcc
    disable = dcc.build("7.2", "ESME", role="IS")
    ok(dcc.submit(disable))
    ok(dcc.send("7.1", "ESME", role="IS"))
    response = dcc.submit(disable)
    refused(response, "E1")
    assert "replay" in response.detail
    assert supply(dcc_bench) == "On"


def test_e1_lower_counter(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("7.4", "ESME", role="IS"))
    response = dcc.submit(dcc.build("7.2", "ESME", role="IS", counter=FIRST_COUNTER - 5))
    refused(response, "E1")
    assert supply(dcc_bench) == "On"
    # Counters are per originator: another User's first request is not a replay.
    ok(dcc.submit(dcc.build("7.4", "ESME", role="ES", counter=FIRST_COUNTER - 5)))


def test_e1_counter_is_checked_for_non_critical_srs_too(dcc_bench):
    dcc = dcc_bench.dcc
    read = dcc.build("4.1.1", "ESME", role="IS")
    ok(dcc.submit(read))
    refused(dcc.submit(read), "E1")


# -- E2: the role may not send the SRV ---------------------------------------------------------
@pytest.mark.parametrize("role", ["ES", "ED", "GT", "RSA", "OU"])
def test_e2_role_not_permitted(dcc_bench, role):
    dcc = dcc_bench.dcc
    ok(dcc.send("7.2", "ESME", role="IS"))
    response = dcc.send("7.1", "ESME", role=role)
    refused(response, "E2")
    assert supply(dcc_bench) == "Off"


def test_e2_comes_before_the_device_checks(dcc_bench):
    assert dcc_bench.dcc.send("7.1", UNKNOWN_DEVICE, role="OU").code == "E2"


# -- E19, E11, E12, E5 --------------------------------------------------------------------------
def test_e19_unknown_device(dcc_bench):
    response = dcc_bench.dcc.send("7.2", UNKNOWN_DEVICE, role="IS")
    refused(response, "E19")
    assert supply(dcc_bench) == "On"


def test_e11_sr_not_valid_for_the_device_type(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("7.2", "GSME", role="GS"))
    response = dcc.send("7.1", "GSME", role="IS")
    refused(response, "E11")
    assert "not valid for a GSME" in response.detail
    assert supply(dcc_bench, "GSME") == "Off"
    refused(dcc.send("8.11", "ESME", role="IS", DeviceID=UNKNOWN_DEVICE, RequestType="Remove"),
            "E11")


def test_e11_srv_not_supported_by_the_model(make_bench):
    # A variant of the reference ESME whose profile does not list 6.5.
    bench = make_bench(drop_srvs={"ESME": ["6.5"]})
    response = bench.dcc.send("6.5", "ESME", role="ED",
                              AverageRmsOverVoltageThreshold=250,
                              AverageRmsUnderVoltageThreshold=210)
    refused(response, "E11")
    assert "not available" in response.detail
    assert "voltage_config" not in log_events(bench, "ESME", "Event")


def test_e11_chf_srv_not_in_the_chf_profile(make_bench):
    """The CHF's SRVs come from its profile like any device's."""
    bench = make_bench(drop_srvs={"CHF": ["8.11"]})
    assert ok(bench.dcc.send("8.9", "CHF", role="IS"))
    response = bench.dcc.send("8.11", "CHF", role="IS", DeviceID=eui(bench, "PPMID"),
                              RequestType="Remove")
    refused(response, "E11")
    assert eui(bench, "PPMID") in han_log(bench)


def test_e12_command_variant(dcc_bench):
    response = dcc_bench.dcc.send("7.2", "ESME", role="IS", command_variant=1)
    refused(response, "E12")
    assert supply(dcc_bench) == "On"


def test_e5_decommissioned_device(dcc_bench):
    dcc = dcc_bench.dcc
    assert ok(dcc.send("8.3", "ESME", role="IS")).body == {"Status": "decommissioned"}
    for srv in ("7.2", "7.4", "8.3"):
        refused(dcc.send(srv, "ESME", role="IS"), "E5")
    refused(dcc.send("8.1.1", "ESME", role="IS"), "E5")
    # The supply is still on (read over ZigBee: no SR reaches the device now).
    assert zigbee_supply(dcc_bench) == 2


def test_decommissioning_a_ppmid_removes_it_from_the_device_log(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("8.3", "PPMID", role="IS"))
    assert eui(dcc_bench, "PPMID") not in han_log(dcc_bench)
    refused(dcc.send("11.4", "PPMID", role="IS", **image_parameters("Reference", "1.1.0")),
            "E5")


# -- E4: the User's authority over the device ---------------------------------------------------
def test_e4_not_the_responsible_supplier(dcc_bench):
    response = dcc_bench.dcc.send("7.2", "ESME", user="import-supplier-b")
    refused(response, "E4")
    assert "not the responsible supplier" in response.detail
    assert supply(dcc_bench) == "On"


def test_e4_supplier_of_the_other_commodity(dcc_bench):
    refused(dcc_bench.dcc.send("7.2", "ESME", role="GS"), "E4")
    refused(dcc_bench.dcc.send("7.2", "GSME", role="IS"), "E4")
    assert supply(dcc_bench) == "On" and supply(dcc_bench, "GSME") == "On"


def test_e4_supplier_of_no_meter_on_the_han(dcc_bench):
    before = han_log(dcc_bench)
    response = dcc_bench.dcc.send("8.11", "CHF", user="import-supplier-b",
                                  DeviceID=eui(dcc_bench, "PPMID"), RequestType="Remove")
    refused(response, "E4")
    assert han_log(dcc_bench) == before


def test_e4_wrong_network_operator(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("6.13", "ESME", user="dno", LogType="Event"))
    refused(dcc.send("6.13", "ESME", user="dno-b", LogType="Event"), "E4")
    refused(dcc.send("6.13", "ESME", role="GT", LogType="Event"), "E4")
    response = dcc.send("6.15.1", "ESME", user="dno-b",
                        CredentialType="NetworkOperatorCertificate", NewCredentialOwner="dno-b")
    refused(response, "E4")
    assert dcc.inventory.get(eui(dcc_bench, "ESME")).certificates["network_operator"] == "dno"
    assert "certificate_replaced" not in log_events(dcc_bench, "ESME")


def test_e4_a_supplier_cannot_replace_the_network_operators_certificate(dcc_bench):
    dcc = dcc_bench.dcc
    response = dcc.send("6.15.1", "ESME", role="IS",
                        CredentialType="NetworkOperatorCertificate", NewCredentialOwner="dno-b")
    refused(response, "E4")
    refused(dcc.send("6.15.1", "ESME", role="ED", CredentialType="SupplierCertificate",
                     NewCredentialOwner="dno"), "E4")
    certificates = dcc.inventory.get(eui(dcc_bench, "ESME")).certificates
    assert certificates == {"supplier": "import-supplier", "network_operator": "dno"}
    assert "certificate_replaced" not in log_events(dcc_bench, "ESME")


def test_readers_without_responsibility(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("7.4", "ESME", role="ES"))
    ok(dcc.send("6.13", "ESME", role="RSA", LogType="Event"))
    ok(dcc.send("7.4", "GSME", role="RSA"))
    # The export supplier has no business with a gas meter.
    refused(dcc.send("7.4", "GSME", role="ES"), "E4")


# -- I0 -----------------------------------------------------------------------------------------
def test_i0_reads(dcc_bench):
    dcc = dcc_bench.dcc
    register = ok(dcc.send("4.1.1", "ESME", role="IS")).body
    assert register["Unit"] == "kWh"
    assert 12345.678 <= float(register["ImportRegister"]) < 12346
    assert ok(dcc.send("7.4", "GSME", role="GS")).body == {"SupplyStatus": "On"}
    assert ok(dcc.send("7.11", "ESME", role="IS")).body["boost"] == {}
    assert set(han_log(dcc_bench)) == {eui(dcc_bench, r) for r in
                                       ("ESME", "GSME", "PPMID", "IHD")}
    assert device_log(dcc_bench, "GSME", "Event") == []


def test_i0_supply_cycle(dcc_bench):
    dcc = dcc_bench.dcc
    for srv, state in (("7.2", "Off"), ("7.3", "Armed"), ("7.1", "On")):
        ok(dcc.send(srv, "ESME", role="IS"))
        assert supply(dcc_bench) == state
    ok(dcc.send("7.2", "GSME", role="GS"))
    assert supply(dcc_bench, "GSME") == "Off"
    assert log_events(dcc_bench, "ESME", "Event") == ["supply"] * 3


def test_i0_configuration_and_load_control(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("1.1.1", "ESME", role="IS", UnitRate=2000, StandingCharge=4000))
    ok(dcc.send("6.11", "ESME", role="IS"))
    ok(dcc.send("6.7", "GSME", role="GS", **GAS_FLOW))
    ok(dcc.send("7.5", "ESME", role="IS", AuxiliaryLoad=2))
    ok(dcc.send("7.6", "ESME", role="IS", AuxiliaryLoad=2))
    ok(dcc.send("7.9", "ESME", role="IS", AuxiliaryLoad=1, BoostDurationMinutes=30))
    assert ok(dcc.send("7.11", "ESME", role="IS")).body["boost"] == {"1": 30}
    ok(dcc.send("7.10", "ESME", role="IS", AuxiliaryLoad=1))
    assert ok(dcc.send("7.11", "ESME", role="IS")).body["boost"] == {}
    assert log_events(dcc_bench, "ESME", "Event") == [
        "tariff", "clock_sync", "aux_load", "aux_load", "boost_config", "boost_config"]
    assert log_events(dcc_bench, "GSME", "Event") == ["gas_flow"]


def test_i0_credentials_and_change_of_supplier(dcc_bench):
    dcc = dcc_bench.dcc
    esme = eui(dcc_bench, "ESME")
    ok(dcc.send("6.15.1", "ESME", role="IS", CredentialType="SupplierCertificate"))
    ok(dcc.send("6.15.1", "ESME", role="ED", CredentialType="NetworkOperatorCertificate",
                NewCredentialOwner="dno"))
    rotated = ok(dcc.send("6.15.1", "ESME", role="IS", CredentialType="ManagementKey"))
    assert rotated.body["KeyFingerprint"] == dcc.keystore.management_key(esme).public.fingerprint
    ok(dcc.send("6.23", "ESME", role="IS", NewSupplier="import-supplier-b"))
    assert dcc.inventory.get(esme).responsible_supplier == "import-supplier-b"
    refused(dcc.send("7.4", "ESME", user="import-supplier"), "E4")
    ok(dcc.send("7.2", "ESME", user="import-supplier-b"))
    assert [a.code for a in dcc.alerts.since(0)] == ["KEY_ROTATED", "COS_LOSS"]


def test_i0_han_and_lifecycle(dcc_bench):
    dcc = dcc_bench.dcc
    ppmid = eui(dcc_bench, "PPMID")
    shown = ok(dcc.send("3.1", "ESME", role="IS", Message="Hello"))
    assert shown.body["DisplayedOn"] == sorted([ppmid, eui(dcc_bench, "IHD")])
    ok(dcc.send("8.8.1", "ESME", role="IS", OtherDeviceID=ppmid))
    assert ok(dcc.send("3.1", "ESME", role="IS", Message="Hi")).body["DisplayedOn"] == [
        eui(dcc_bench, "IHD")]
    ok(dcc.send("8.7.1", "ESME", role="IS", OtherDeviceID=ppmid))
    ok(dcc.send("8.1.1", "PPMID", role="IS"))
    # 8.11 Remove then Add: the PPMID leaves, then joins again with its install code.
    ok(dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid, RequestType="Remove"))
    assert ppmid not in han_log(dcc_bench)
    added = ok(dcc.send("8.11", "CHF", role="GS", DeviceID=ppmid, RequestType="Add",
                        JoinTimePeriod=300, InstallCode=install_code(dcc_bench, "PPMID")))
    assert added.body == {"JoinTimePeriodGranted": 300}
    dcc_bench.sleep(30)
    assert han_log(dcc_bench)[ppmid] is True


def test_i0_device_ids_in_any_eui_spelling(dcc_bench):
    dcc = dcc_bench.dcc
    ppmid = eui(dcc_bench, "PPMID")
    bare = ppmid.replace("-", "").lower()
    ok(dcc.send("8.8.1", "ESME", role="IS", OtherDeviceID=bare))
    ok(dcc.send("8.7.1", "ESME", role="IS", OtherDeviceID=ppmid.replace("-", ":")))
    ok(dcc.send("8.11", "CHF", role="IS", DeviceID=bare, RequestType="Remove"))
    assert ppmid not in han_log(dcc_bench)


def test_i0_firmware(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("11.1", "ESME", role="IS", **image_parameters("Reference", "1.1.0")))
    ok(dcc.send("11.4", "PPMID", role="IS", **image_parameters("Reference", "1.2.0")))
    assert firmware_version(dcc_bench, "ESME") == "1.1.0"
    assert firmware_version(dcc_bench, "PPMID") == "1.2.0"
    assert [a.code for a in dcc.alerts.since(0)] == ["FIRMWARE_ACTIVATED"] * 2


# -- E20, E21: the device cannot be reached, or does not answer ---------------------------------
def test_e20_device_powered_off(dcc_bench):
    dcc = dcc_bench.dcc
    dcc_bench.device("ESME").power.off()
    for srv in ("4.1.1", "7.2"):
        refused(dcc.send(srv, "ESME", role="IS"), "E20")
    dcc_bench.device("ESME").power.on()
    assert supply(dcc_bench) == "On"
    assert "supply" not in log_events(dcc_bench, "ESME", "Event")


def test_e20_device_radio_silent(dcc_bench):
    """A silent radio acknowledges nothing at the MAC layer: as unreachable as a device that is
    off (E20), not a device that hears and does not answer (E21)."""
    dcc = dcc_bench.dcc
    node = dcc_bench._emulator.devices[eui(dcc_bench, "ESME")].node
    node.radio_silent = True  # fault injection through the emulator
    for srv in ("4.1.1", "7.2"):
        refused(dcc.send(srv, "ESME", role="IS"), "E20")
    node.radio_silent = False
    assert supply(dcc_bench) == "On"


def test_e20_commissioning_a_device_that_is_not_joined(dcc_bench):
    dcc = dcc_bench.dcc
    ok(dcc.send("8.11", "CHF", role="IS", DeviceID=eui(dcc_bench, "IHD"), RequestType="Remove"))
    refused(dcc.send("8.1.1", "IHD", role="IS"), "E20")


def test_e20_commissioning_a_device_switched_off_since_it_joined(dcc_bench):
    """Joined once is not enough: the S1SP hears from the device before commissioning it."""
    dcc = dcc_bench.dcc
    dcc_bench.device("GSME").power.off()
    refused(dcc.send("8.1.1", "GSME", role="GS"), "E20")
    dcc_bench.device("GSME").power.on()
    ok(dcc.send("8.1.1", "GSME", role="GS"))


def test_e21_device_that_does_not_answer(dcc_bench):
    dcc = dcc_bench.dcc
    # Fault injection through the emulator: the ESME's firmware takes every command and never
    # answers (the ZigBee frame is acknowledged; no response envelope follows).
    emulated = dcc_bench._emulator.devices[eui(dcc_bench, "ESME")]
    handle = emulated.firmware.handle
    emulated.firmware.handle = lambda data: None
    start = dcc_bench.clock.monotonic()
    response = dcc.send("7.2", "ESME", role="IS")
    refused(response, "E21")
    assert dcc_bench.clock.monotonic() - start == pytest.approx(dcc.tunnel.response_timeout_s)
    emulated.firmware.handle = handle
    assert supply(dcc_bench) == "On"


def test_e21_device_that_answers_too_late(make_bench):
    """Answers 10 s late, after the CHF's 5 s request timeout. (E21 says nothing of whether
    the device acted: it may well have.)"""
    bench = make_bench(esme={"response_delay_s": 10.0})
    refused(bench.dcc.send("4.1.1", "ESME", role="IS"), "E21")
    refused(bench.dcc.send("7.2", "ESME", role="IS"), "E21")


# -- SR-specific codes --------------------------------------------------------------------------
def test_e081101_join_time_period_refused_by_the_chf(make_bench):
    bench = make_bench(chf={"chf": {"join_time_period_limit": {"max_s": 255,
                                                               "over_limit": "reject"}}})
    dcc = bench.dcc
    ppmid = eui(bench, "PPMID")
    ok(dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid, RequestType="Remove"))
    response = dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid, RequestType="Add",
                        JoinTimePeriod=300, InstallCode=install_code(bench, "PPMID"))
    refused(response, "E081101")
    bench.sleep(60)
    assert ppmid not in han_log(bench)
    added = ok(dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid, RequestType="Add",
                        JoinTimePeriod=255, InstallCode=install_code(bench, "PPMID")))
    assert added.body == {"JoinTimePeriodGranted": 255}


def test_e081102_install_code_crc(dcc_bench):
    dcc = dcc_bench.dcc
    ppmid = eui(dcc_bench, "PPMID")
    ok(dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid, RequestType="Remove"))
    good = bytes.fromhex(install_code(dcc_bench, "PPMID"))
    bad = good[:-1] + bytes([good[-1] ^ 0x5A])
    response = dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid, RequestType="Add",
                        JoinTimePeriod=60, InstallCode=bad.hex())
    refused(response, "E081102")
    assert bad.hex() not in str(dcc.evidence.since(0))  # the install code stays a secret
    dcc_bench.sleep(60)
    assert ppmid not in han_log(dcc_bench)


def test_e081104_remove_a_device_not_in_the_log(dcc_bench):
    before = han_log(dcc_bench)
    response = dcc_bench.dcc.send("8.11", "CHF", role="IS", DeviceID=UNKNOWN_DEVICE,
                                  RequestType="Remove")
    refused(response, "E081104")
    assert han_log(dcc_bench) == before


def test_e080702_join_a_device_not_on_the_han(dcc_bench):
    dcc = dcc_bench.dcc
    refused(dcc.send("8.7.1", "ESME", role="IS", OtherDeviceID=UNKNOWN_DEVICE), "E080702")
    refused(dcc.send("8.8.1", "ESME", role="IS", OtherDeviceID=UNKNOWN_DEVICE), "E080801")
    assert log_events(dcc_bench, "ESME", "Event") == []
    assert len(ok(dcc.send("3.1", "ESME", role="IS", Message="x")).body["DisplayedOn"]) == 2


def test_e030101_no_display_joined_to_the_meter(dcc_bench):
    dcc = dcc_bench.dcc
    for role in ("PPMID", "IHD"):
        ok(dcc.send("8.8.1", "ESME", role="IS", OtherDeviceID=eui(dcc_bench, role)))
    refused(dcc.send("3.1", "ESME", role="IS", Message="Hello"), "E030101")
    # No SR reads a display back: what the displays show is read from the emulator.
    emulated = dcc_bench._emulator.devices
    assert all(not emulated[eui(dcc_bench, r)].messages for r in ("PPMID", "IHD"))


def test_display_message_with_one_display_off(dcc_bench):
    """A display that cannot be reached does not stop the message reaching the other."""
    dcc = dcc_bench.dcc
    dcc_bench.device("IHD").power.off()
    shown = ok(dcc.send("3.1", "ESME", role="IS", Message="Hello"))
    assert shown.body["DisplayedOn"] == [eui(dcc_bench, "PPMID")]
    dcc_bench.device("PPMID").power.off()
    refused(dcc.send("3.1", "ESME", role="IS", Message="Hello"), "E20")


def test_e020202_top_up_in_credit_mode(make_bench):
    bench = make_bench(esme={"meter": {"payment_mode": "credit", "credit_pence": 0}})
    before = credit(bench)
    refused(bench.dcc.send("2.2", "ESME", role="IS", Amount=500), "E020202")
    assert credit(bench) == before


def test_e020201_duplicate_utrn(make_bench):
    bench = make_bench(esme={"meter": {"payment_mode": "prepayment", "credit_pence": 100}})
    dcc = bench.dcc
    utrn = "12345678901234000500"
    topped = ok(dcc.send("2.2", "ESME", role="IS", Amount=500, UTRN=utrn))
    assert topped.body == {"CreditRemaining": 600, "TopUpValue": 500}
    refused(dcc.send("2.2", "ESME", role="IS", Amount=500, UTRN=utrn), "E020201")
    assert credit(bench) == 600
    # Top-ups without a UTRN get one of their own each time.
    ok(dcc.send("2.2", "ESME", role="IS", Amount=250))
    ok(dcc.send("2.2", "ESME", role="IS", Amount=250))
    assert credit(bench) == 1100


def test_e110101_firmware_image_refused(dcc_bench):
    dcc = dcc_bench.dcc
    wrong_hash = image_parameters("Reference", "2.0.0") | {"ImageHash": "00" * 32}
    refused(dcc.send("11.1", "ESME", role="IS", **wrong_hash), "E110101")
    refused(dcc.send("11.1", "ESME", role="IS", **image_parameters("Other Maker", "2.0.0")),
            "E110101")
    mismatched = image_parameters("Reference", "2.0.0") | {"FirmwareVersion": "2.0.1"}
    refused(dcc.send("11.1", "ESME", role="IS", **mismatched), "E110101")
    refused(dcc.send("11.4", "PPMID", role="IS", **wrong_hash), "E110401")
    assert firmware_version(dcc_bench, "ESME") == "1.0.0"
    assert firmware_version(dcc_bench, "PPMID") == "1.0.0"
    assert not dcc.alerts.since(0)


def test_e061504_credential_owner_unknown(dcc_bench):
    dcc = dcc_bench.dcc
    response = dcc.send("6.15.1", "ESME", role="ED", CredentialType="NetworkOperatorCertificate",
                        NewCredentialOwner="nobody")
    refused(response, "E061504")
    assert dcc.inventory.get(eui(dcc_bench, "ESME")).certificates["network_operator"] == "dno"
    assert "certificate_replaced" not in log_events(dcc_bench, "ESME")


def test_e062301_new_supplier_unknown(dcc_bench):
    dcc = dcc_bench.dcc
    refused(dcc.send("6.23", "ESME", role="IS", NewSupplier="nobody"), "E062301")
    assert dcc.inventory.get(eui(dcc_bench, "ESME")).responsible_supplier == "import-supplier"
    assert not dcc.alerts.since(0)
    # A supplier cannot hand the meter to a User of another role.
    refused(dcc.send("6.23", "ESME", role="IS", NewSupplier="gas-supplier"), "E062301")
    assert dcc.inventory.get(eui(dcc_bench, "ESME")).responsible_supplier == "import-supplier"


def test_every_code_returned_is_in_the_table(dcc_bench):
    dcc = dcc_bench.dcc
    codes = {item.data["code"] for item in dcc.evidence.since(0) if item.kind == "response"}
    dcc.send("7.2", UNKNOWN_DEVICE, role="IS")
    dcc.send("6.23", "ESME", role="IS", NewSupplier="nobody")
    codes |= {item.data["code"] for item in dcc.evidence.since(0) if item.kind == "response"}
    assert codes and codes <= set(dcc.catalogue.codes)


def test_display_message_lasts_its_duration(dcc_bench):
    """3.1's DurationMinutes: the displays show each message that long. (What the IHD shows
    is read from the emulator: no SR reads a display back.)"""
    dcc = dcc_bench.dcc
    ihd = dcc_bench._emulator.devices[eui(dcc_bench, "IHD")]
    ok(dcc.send("3.1", "ESME", role="IS", Message="Short", DurationMinutes=2))
    ok(dcc.send("3.1", "ESME", role="IS", Message="Long", DurationMinutes=10))
    assert [m.text for m in ihd.messages] == ["Short", "Long"]
    dcc_bench.sleep(3 * 60)
    assert [m.text for m in ihd.messages] == ["Long"]
    dcc_bench.sleep(8 * 60)
    assert ihd.messages == []
