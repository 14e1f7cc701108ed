"""Each profile ``emulation`` setting of issue 3, switched on alone on the reference DMC, and
what it does as the DCC sees it.

Every test starts a bench whose DMC is the reference DMC with one device's profile replaced by a
variant with the one setting (``make_bench``), and judges it through ``bench.dcc`` only: Service
Responses, alerts and the DCC's inventory. The emulator is touched only for fault injection, and
the relay board (a bench instrument) for power. Each setting is shown against the reference
bench, where the same steps behave healthily.

Proportions are drawn from generators seeded by the lab seed, so every run sees the same
sequence; the tolerances are ones the seeded run passes and a rate of 0 or 1 fails.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.bench import Bench

from .conftest import han_log, log_events, ok

GAS_FLOW = {"UncontrolledGasFlowThreshold": 10, "StabilisationPeriod": 10,
            "MeasurementPeriod": 60}
VOLTAGE = {"AverageRmsOverVoltageThreshold": 253, "AverageRmsUnderVoltageThreshold": 216}


def eui(bench: Bench, role: str) -> str:
    return bench.device(role).eui


def code(bench: Bench, srv: str, target: str, **kwargs) -> str | None:
    return bench.dcc.send(srv, target, **kwargs).code


def sleep_until(bench: Bench, when: float) -> None:
    bench.sleep(max(0.0, when - bench.clock.monotonic()))


# -- chf.join_time_period_limit (91342) ---------------------------------------------------------
def _rejoin_window(bench: Bench, period: int, power_on_at: float) -> tuple[object, bool]:
    """Remove the PPMID from the device log (if there), power it off, add it back with
    ``period`` and power it on ``power_on_at`` seconds later: the 8.11 response and whether
    the PPMID joined."""
    dcc = bench.dcc
    ppmid = bench.device("PPMID")
    if ppmid.eui in han_log(bench):
        ok(dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid.eui, RequestType="Remove"))
    ppmid.power.off()
    added = dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid.eui, RequestType="Add",
                     JoinTimePeriod=period, InstallCode=ppmid.install_code.code.hex())
    start = bench.clock.monotonic()
    sleep_until(bench, start + power_on_at)
    ppmid.power.on()
    bench.sleep(60)
    return added, han_log(bench).get(ppmid.eui, False)


def test_join_time_period_limit_reject(make_bench):
    limited = make_bench(chf={"chf": {"join_time_period_limit": {"max_s": 255,
                                                                 "over_limit": "reject"}}})
    added, joined = _rejoin_window(limited, 300, power_on_at=10)
    assert added.code == "E081101"
    assert not joined
    assert eui(limited, "PPMID") not in han_log(limited)
    # Within the limit the same CHF serves the period.
    added, joined = _rejoin_window(limited, 255, power_on_at=10)
    assert (added.code, added.body, joined) == ("I0", {"JoinTimePeriodGranted": 255}, True)


def test_join_time_period_limit_clamp(make_bench, dcc_bench):
    clamped = make_bench(chf={"chf": {"join_time_period_limit": {"max_s": 255,
                                                                 "over_limit": "clamp"}}})
    added, joined = _rejoin_window(clamped, 300, power_on_at=280)
    assert (added.code, added.body) == ("I0", {"JoinTimePeriodGranted": 255})
    assert not joined  # the PPMID starting to join at 280 s finds joining closed
    assert eui(clamped, "PPMID") in han_log(clamped)
    added, joined = _rejoin_window(clamped, 300, power_on_at=200)
    assert (added.code, joined) == ("I0", True)
    # The reference CHF serves the whole 300 s: the same PPMID joins at 280 s.
    added, joined = _rejoin_window(dcc_bench, 300, power_on_at=280)
    assert (added.code, added.body, joined) == ("I0", {"JoinTimePeriodGranted": 300}, True)


# -- key_rotation (110031) ----------------------------------------------------------------------
ROTATE = {"role": "IS", "CredentialType": "ManagementKey"}


def test_key_rotation_unconfirmed_first_attempt(make_bench):
    bench = make_bench(esme={"key_rotation": {"confirm_first_attempt": False,
                                              "min_repeat_interval_s": 300}})
    dcc = bench.dcc
    first_at = bench.clock.monotonic()
    first = dcc.send("6.15.1", "ESME", **ROTATE)
    assert first.code == "E061501"
    assert not dcc.alerts.since(0, lambda a: a.code == "KEY_ROTATED")
    # The device did rotate: the S1SP's Critical commands, still signed with the old key,
    # are refused until a rotation is confirmed.
    assert code(bench, "7.2", "ESME", role="IS") == "E20"
    bench.sleep(60)
    assert code(bench, "6.15.1", "ESME", **ROTATE) == "E061501"
    sleep_until(bench, first_at + 300 + 1)
    confirmed = dcc.send("6.15.1", "ESME", **ROTATE)
    assert confirmed.code == "I0", str(confirmed)
    assert [a.code for a in dcc.alerts.since(0)] == ["KEY_ROTATED"]
    # Afterwards the S1SP signs with the new key and the device obeys.
    assert code(bench, "7.2", "ESME", role="IS") == "I0"
    assert ok(dcc.send("7.4", "ESME", role="IS")).body == {"SupplyStatus": "Off"}


def test_key_rotation_confirmed_first_time_on_the_reference(dcc_bench):
    assert code(dcc_bench, "6.15.1", "ESME", **ROTATE) == "I0"
    assert code(dcc_bench, "7.2", "ESME", role="IS") == "I0"


def test_key_rotation_repeat_interval_is_the_settings(make_bench):
    bench = make_bench(esme={"key_rotation": {"confirm_first_attempt": False,
                                              "min_repeat_interval_s": 120}})
    first_at = bench.clock.monotonic()
    assert code(bench, "6.15.1", "ESME", **ROTATE) == "E061501"
    sleep_until(bench, first_at + 121)
    assert code(bench, "6.15.1", "ESME", **ROTATE) == "I0"


# -- srv_daily_limits (91333) -------------------------------------------------------------------
def _until_after_midnight(bench: Bench) -> float:
    now = bench.clock.now()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds() + 60


def test_srv_daily_limit(make_bench):
    bench = make_bench(gsme={"srv_daily_limits": {"6.7": 1}})
    assert code(bench, "6.7", "GSME", role="GS", **GAS_FLOW) == "I0"
    bench.sleep(3600)
    assert code(bench, "6.7", "GSME", role="GS", **GAS_FLOW) == "E060701"
    assert log_events(bench, "GSME", "Event") == ["gas_flow"]
    bench.sleep(_until_after_midnight(bench))
    assert code(bench, "6.7", "GSME", role="GS", **GAS_FLOW) == "I0"
    assert code(bench, "6.7", "GSME", role="GS", **GAS_FLOW) == "E060701"
    assert log_events(bench, "GSME", "Event") == ["gas_flow", "gas_flow"]


def test_no_daily_limit_on_the_reference(dcc_bench):
    for _ in range(3):
        assert code(dcc_bench, "6.7", "GSME", role="GS", **GAS_FLOW) == "I0"


# -- missing_response_code_rate (91339 / 91340) ---------------------------------------------------
N_RESPONSES = 200


def _missing_codes(bench: Bench) -> list[int]:
    responses = [bench.dcc.send("7.4", "ESME", role="IS") for _ in range(N_RESPONSES)]
    assert all(r.http_status == 200 for r in responses)
    assert {r.code for r in responses} <= {"I0", None}
    return [i for i, r in enumerate(responses) if r.code is None]


def test_missing_response_code_rate(make_bench):
    rate = 0.1
    missing = _missing_codes(make_bench(esme={"missing_response_code_rate": rate}))
    assert 0.04 <= len(missing) / N_RESPONSES <= 0.17, len(missing)
    again = _missing_codes(make_bench(esme={"missing_response_code_rate": rate}))
    assert again == missing  # same seed, same responses without a code


def test_no_missing_response_codes_on_the_reference(dcc_bench):
    assert _missing_codes(dcc_bench) == []


# -- cos_alert_loss_rate (61224) ------------------------------------------------------------------
N_COS = 60
SUPPLIERS = ("import-supplier", "import-supplier-b")


def _cos_losses(bench: Bench) -> list[bool]:
    """60 changes of supplier, alternating between two suppliers: for each, whether its CoS
    loss alert to the losing supplier is missing."""
    dcc = bench.dcc
    lost = []
    for index in range(N_COS):
        old, new = SUPPLIERS[index % 2], SUPPLIERS[(index + 1) % 2]
        mark = dcc.alerts.mark()
        ok(dcc.send("6.23", "ESME", user=old, NewSupplier=new))
        alerts = dcc.alerts.since(mark, lambda a: a.code == "COS_LOSS")
        assert all(a.recipient == old and a.details["new_supplier"] == new for a in alerts)
        lost.append(not alerts)
    assert dcc.inventory.get(eui(bench, "ESME")).responsible_supplier == SUPPLIERS[0]
    return lost


def test_cos_alert_loss_rate(make_bench):
    lost = _cos_losses(make_bench(esme={"cos_alert_loss_rate": 0.34}))
    assert 0.2 <= sum(lost) / N_COS <= 0.5, sum(lost)
    assert _cos_losses(make_bench(esme={"cos_alert_loss_rate": 0.34})) == lost
    other_seed = _cos_losses(make_bench(seed=7, esme={"cos_alert_loss_rate": 0.34}))
    assert other_seed != lost


def test_no_cos_alert_loss_on_the_reference(dcc_bench):
    assert not any(_cos_losses(dcc_bench))


# -- restricted_srvs and boost_from_han_config (Liberty 110) -------------------------------------
RESTRICTED = ["7.5", "7.6", "7.9", "7.10"]
LOAD = {"AuxiliaryLoad": 1}


def _boost(bench: Bench) -> dict[str, int]:
    return ok(bench.dcc.send("7.11", "ESME", role="IS")).body["boost"]


def test_restricted_srvs(make_bench, dcc_bench):
    bench = make_bench(esme={"restricted_srvs": RESTRICTED})
    before = _boost(bench)
    for srv, params in (("7.5", LOAD), ("7.6", LOAD),
                        ("7.9", {**LOAD, "BoostDurationMinutes": 30}), ("7.10", LOAD)):
        response = bench.dcc.send(srv, "ESME", role="IS", **params)
        assert response.code == "E11", str(response)
        assert code(dcc_bench, srv, "ESME", role="IS", **params) == "I0"
    assert _boost(bench) == before
    assert log_events(bench, "ESME", "Event") == []
    assert code(bench, "7.2", "ESME", role="IS") == "I0"  # the rest is available


def test_boost_from_han_config(make_bench, dcc_bench):
    assert _boost(make_bench(esme={"boost_from_han_config": True})) == {"1": 60}
    assert _boost(dcc_bench) == {}


def test_liberty_110_boost_keeps_its_han_configuration(make_bench):
    """Both settings, as the Liberty 110 has them: the boost configured on the HAN before
    migration cannot be removed or changed through the DCC, and keeps working."""
    bench = make_bench(esme={"restricted_srvs": RESTRICTED, "boost_from_han_config": True})
    assert code(bench, "7.10", "ESME", role="IS", **LOAD) == "E11"
    assert code(bench, "7.9", "ESME", role="IS", AuxiliaryLoad=1,
                BoostDurationMinutes=15) == "E11"
    assert _boost(bench) == {"1": 60}


# -- dormant_supplier_identifiable_in_mixed (Aclara mixed) ----------------------------------------
@pytest.mark.parametrize("identifiable", [False, True])
def test_dormant_supplier_in_a_mixed_installation(make_bench, identifiable):
    bench = make_bench(status="mixed", gsme={
        "dormant_supplier_identifiable_in_mixed": identifiable})
    gsme = bench.dcc.inventory.get(eui(bench, "GSME"))
    assert gsme.installation_status == "dormant"
    expected = "I0" if identifiable else "E4"
    assert code(bench, "7.4", "GSME", role="GS") == expected
    assert code(bench, "7.2", "GSME", role="GS") == expected
    assert (gsme.responsible_supplier is None) is not identifiable
    if not identifiable:
        assert code(bench, "7.4", "GSME", role="GS") == "E4"  # the supply is still unknown
    # The active ESME of the same installation is unaffected.
    assert code(bench, "7.4", "ESME", role="IS") == "I0"


def test_dormant_supplier_setting_needs_a_mixed_installation(make_bench):
    bench = make_bench(gsme={"dormant_supplier_identifiable_in_mixed": False})  # dormant
    assert code(bench, "7.4", "GSME", role="GS") == "I0"


# -- dno_certificate_replaceable (risk 9) --------------------------------------------------------
NO_CERT = {"CredentialType": "NetworkOperatorCertificate"}


@pytest.mark.parametrize("replaceable", [False, True])
def test_wrong_dno_certificate(make_bench, replaceable):
    """The registered DNO places a wrong certificate (DNO South's), then tries to put its own
    back. With the registration data check against the slot (the setting false), the DNO no
    longer matches the certificate in the slot and is refused for good."""
    bench = make_bench(esme={"dno_certificate_replaceable": replaceable})
    dcc = bench.dcc
    record = dcc.inventory.get(eui(bench, "ESME"))
    assert record.network_operator == "dno"
    placed = dcc.send("6.15.1", "ESME", user="dno", **NO_CERT, NewCredentialOwner="dno-b")
    assert placed.code == "I0"
    assert record.certificates["network_operator"] == "dno-b"
    put_back = dcc.send("6.15.1", "ESME", user="dno", **NO_CERT, NewCredentialOwner="dno")
    assert put_back.code == ("I0" if replaceable else "E4"), str(put_back)
    assert record.certificates["network_operator"] == ("dno" if replaceable else "dno-b")
    security = log_events(bench, "ESME")
    assert security.count("certificate_replaced") == (2 if replaceable else 1)
    # The registered DNO keeps its other services either way.
    assert code(bench, "6.13", "ESME", user="dno", LogType="Event") == "I0"


# -- alerts (risk 11) ----------------------------------------------------------------------------
def _power_voltage_alerts(bench: Bench, hours: int) -> list:
    mark = bench.dcc.alerts.mark()
    bench.sleep(hours * 3600)
    return bench.dcc.alerts.since(mark, lambda a: a.code in ("POWER_ALERT", "VOLTAGE_ALERT"))


def test_power_voltage_alerts_per_hour(make_bench, dcc_bench):
    rate = 4
    bench = make_bench(esme={"alerts": {"power_voltage_alerts_per_hour": rate}})
    alerts = _power_voltage_alerts(bench, 24)
    assert 0.7 * 24 * rate <= len(alerts) <= 1.3 * 24 * rate, len(alerts)
    assert {a.code for a in alerts} == {"POWER_ALERT", "VOLTAGE_ALERT"}
    assert {(a.device, a.recipient) for a in alerts} == {(eui(bench, "ESME"), "dno")}
    again = _power_voltage_alerts(
        make_bench(esme={"alerts": {"power_voltage_alerts_per_hour": rate}}), 24)
    assert [(a.code, a.monotonic) for a in again] == [(a.code, a.monotonic) for a in alerts]
    assert _power_voltage_alerts(dcc_bench, 24) == []


@pytest.mark.parametrize("settable", [False, True])
def test_voltage_threshold_settable(make_bench, settable):
    bench = make_bench(srvs={"esme": ["6.5"]},
                       esme={"alerts": {"voltage_threshold_settable": settable}})
    response = bench.dcc.send("6.5", "ESME", role="ED", **VOLTAGE)
    assert response.code == ("I0" if settable else "E060501"), str(response)
    events = log_events(bench, "ESME", "Event")
    assert events == (["voltage_config"] if settable else [])


# -- response_delay_s ----------------------------------------------------------------------------
@pytest.mark.parametrize("srv", ["4.1.1", "7.2", "6.13"])
def test_response_delay(make_bench, dcc_bench, srv):
    delay = 2.5
    params = {"LogType": "Event"} if srv == "6.13" else {}

    def answer_time(bench: Bench) -> float:
        sent = bench.clock.now()
        response = ok(bench.dcc.send(srv, "ESME", role="IS", **params))
        return (response.time - sent).total_seconds()

    assert answer_time(make_bench(esme={"response_delay_s": delay})) == pytest.approx(delay)
    assert answer_time(dcc_bench) == pytest.approx(0.0, abs=0.01)


# -- bounds: a setting that validates never hangs nor breaks a frame -------------------------------

@pytest.mark.parametrize(("base", "change", "field"), [
    ("itron-esme", {"emulation": {"alerts": {"power_voltage_alerts_per_hour": ".inf"}}},
     "power_voltage_alerts_per_hour"),
    ("ref-esme", {"emulation": {"response_delay_s": ".nan"}}, "response_delay_s"),
    ("ref-esme", {"emulation": {"join": {"retry_interval_s": ".inf"}}}, "retry_interval_s"),
    ("ref-esme", {"emulation": {"meter": {"initial_register": 2**48}}}, "initial_register"),
    ("ref-esme", {"emulation": {"meter": {"demand": 2**23}}}, "demand"),
    ("ref-esme", {"model": "M" * 33}, "model"),
    ("ref-esme", {"manufacturer": "M" * 33}, "manufacturer"),
    ("ref-esme", {"firmware": {"version": "1" * 17}}, "version"),
    ("ref-esme", {"emulation": {"undocumented_srvs": ["7.1"]}}, "undocumented_srvs"),
])
def test_out_of_bounds_settings_are_one_line_config_errors(tmp_path, base, change, field):
    """Non-finite values, values a wire type cannot carry and strings longer than their ZCL
    string: one line naming the file, the line and the field, before any bench starts."""
    import yaml
    from labkit import CATALOGUE

    from harness.config.catalogue import load_catalogue
    from harness.config.errors import ConfigError

    data = yaml.safe_load((CATALOGUE / "models" / f"{base}.yaml").read_text())
    data["id"] = "bounds-test"
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            inner = data[key]
            for k, v in value.items():
                inner[k] = {**inner.get(k, {}), **v} if isinstance(v, dict) else v
        else:
            data[key] = value
    text = yaml.safe_dump(data, sort_keys=False).replace("'.inf'", ".inf").replace(
        "'.nan'", ".nan")
    path = tmp_path / "models" / "bounds-test.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_catalogue([tmp_path])
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert "bounds-test.yaml:" in message and field in message, message
