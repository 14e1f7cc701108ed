"""harness.emulator.devices, meter and clusters: state that advances with bench time and is the
same over ZigBee, the optical port and the console; meter commands; attribute reporting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from zigpy.zcl.clusters.smartenergy import SupplyStatus
from zigpy.zcl.foundation import Status

from harness.emulator.devices import factory_install_code
from harness.emulator.meter import MeterState
from harness.han import clusters as se
from harness.han.events import match

DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S


def _expected_units(device, now: float) -> int:
    """The register in whole Wh (dm3) from the profile, if supply stayed on since bench start."""
    meter = device.profile.emulation.meter
    return int(meter.initial_register + meter.demand * now / 3600)


def _change_supply(han, status: SupplyStatus):
    return han.command("metering", "change_supply", provider_id=1, issuer_event_id=7,
                       request_date_time=0, implementation_date_time=0,
                       proposed_supply_status=int(status), supply_control_bits=0)


# -- MeterState ----------------------------------------------------------------------------------


def test_register_advances_with_demand_and_settles_on_changes():
    meter = MeterState(kind="electricity", register=1000.0, demand=3600.0)  # 1 Wh per second
    assert meter.register_at(0) == 1000.0
    assert meter.register_at(-5) == 1000.0
    assert meter.register_at(10) == 1010.0
    meter.set_demand(7200.0, now=10)
    assert (meter.register, meter.since) == (1010.0, 10)
    assert meter.register_at(20) == 1030.0
    meter.set_supply(SupplyStatus.Supply_Off, now=20)
    assert meter.register_at(1000) == 1030.0
    assert meter.demand_now() == 0.0
    meter.set_supply(SupplyStatus.Supply_On, now=1000)
    assert meter.register_at(1001) == 1032.0  # no jump for the time it was off
    assert meter.register_units(1001.9) == 1033  # 1033.8: whole Wh, floored
    assert meter.unit == "kWh"
    assert MeterState(kind="gas", register=0, demand=0).unit == "m3"


# -- over the air, at bench time -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ESME", "GSME"])
def test_the_register_advances_with_bench_time_at_the_profiles_demand(up_bench, emulated, role):
    bench = up_bench
    device = bench.device(role)
    t0 = bench.clock.monotonic()
    first = device.zigbee.read_one("metering", "current_summ_delivered")
    assert first == _expected_units(device, t0)

    bench.sleep(WEEK_S)
    t1 = bench.clock.monotonic()
    assert t1 - t0 == WEEK_S
    second = device.zigbee.read_one("metering", "current_summ_delivered")
    assert second == _expected_units(device, t1)
    week = device.profile.emulation.meter.demand * 7 * 24
    assert abs(second - first - week) <= 1
    assert device.zigbee.read_one("metering", "instantaneous_demand") == \
        device.profile.emulation.meter.demand


@pytest.mark.parametrize("role", ["ESME", "GSME"])
def test_zigbee_and_optical_readings_agree_at_the_same_instant(up_bench, role):
    bench = up_bench
    device = bench.device(role)
    bench.sleep(DAY_S + 1234.5)
    for _ in range(2):
        before = bench.clock.monotonic()
        kwh = device.read_register_kwh()
        readout = device.read_optical()
        assert bench.clock.monotonic() == before  # serial I/O does not move bench time
        line = readout.value(device.profile.optical_register)
        assert Decimal(line.value) == kwh
        assert line.unit == ("kWh" if role == "ESME" else "m3")
        bench.sleep(3 * DAY_S)


def test_a_supply_change_on_the_han_is_refused_and_logged(up_bench, emulated):
    """A healthy meter takes no supply change over ZigBee (only in signed envelopes): a
    ChangeSupply and a LocalChangeSupply to Off are answered NOT_AUTHORIZED, logged in its
    security log, and the supply stays on."""
    esme = up_bench.device("ESME")
    response = _change_supply(esme.zigbee, SupplyStatus.Supply_Off)
    assert response.status == Status.NOT_AUTHORIZED
    response = esme.zigbee.command("metering", "local_change_supply",
                                   proposed_supply_status=int(SupplyStatus.Supply_Off))
    assert response.status == Status.NOT_AUTHORIZED
    assert esme.zigbee.read_one("metering", "supply_status") == SupplyStatus.Supply_On
    log = [e["event"] for e in emulated("ESME").firmware.state.security_log]
    assert log[-2:] == ["han_change_supply_refused", "han_local_change_supply_refused"]


def test_only_an_armed_supply_is_restored_locally(up_bench, emulated):
    """LocalChangeSupply On restores an armed supply (the consumer's right), not one the DCC
    switched off."""
    esme = up_bench.device("ESME")
    device = emulated("ESME")
    runtime = up_bench.runtime

    def set_supply(status: SupplyStatus) -> None:
        runtime.call(lambda: device.set_supply(status))

    def local_on():
        return esme.zigbee.command("metering", "local_change_supply",
                                   proposed_supply_status=int(SupplyStatus.Supply_On))

    set_supply(SupplyStatus.Supply_Off)
    assert local_on().status == Status.NOT_AUTHORIZED
    assert esme.zigbee.read_one("metering", "supply_status") == SupplyStatus.Supply_Off
    set_supply(SupplyStatus.Supply_Off_Armed)
    assert local_on().status == Status.SUCCESS
    assert esme.zigbee.read_one("metering", "supply_status") == SupplyStatus.Supply_On


def test_a_meter_with_the_han_supply_defect_obeys_change_supply(up_bench, emulated):
    """``emulation.accepts_han_supply_change``: the defect the security pack must find."""
    device = emulated("ESME")
    emulation = device.profile.emulation.model_copy(update={"accepts_han_supply_change": True})
    device.profile = device.profile.model_copy(update={"emulation": emulation})
    response = _change_supply(up_bench.device("ESME").zigbee, SupplyStatus.Supply_Off)
    assert response.supply_status == SupplyStatus.Supply_Off
    assert response.issuer_event_id == 7


def test_supply_off_stops_the_register(up_bench, emulated):
    bench = up_bench
    esme = bench.device("ESME")
    device = emulated("ESME")
    bench.runtime.call(lambda: device.set_supply(SupplyStatus.Supply_Off))
    frozen = esme.zigbee.read_one("metering", "current_summ_delivered")
    bench.sleep(DAY_S)
    assert esme.zigbee.read_one("metering", "current_summ_delivered") == frozen
    assert esme.zigbee.read_one("metering", "instantaneous_demand") == 0
    assert esme.zigbee.read_one("metering", "supply_status") == SupplyStatus.Supply_Off
    optical = esme.read_optical()
    assert optical.value("96.3.10").value == "0"
    assert Decimal(optical.value(esme.profile.optical_register).value) * 1000 == frozen

    bench.runtime.call(lambda: device.set_supply(SupplyStatus.Supply_On))
    bench.sleep(3600)
    assert esme.zigbee.read_one("metering", "current_summ_delivered") == frozen + 450


def test_configure_reporting_gives_attribute_reports_at_the_max_interval(up_bench):
    bench = up_bench
    gsme = bench.device("GSME")
    mark = bench.events.mark()
    t0 = bench.clock.monotonic()
    gsme.zigbee.configure_reporting("metering", "current_summ_delivered", 0, 900)
    bench.sleep(3600)

    reports = bench.events.since(mark, match("attribute_report", device=gsme.eui,
                                             name="current_summ_delivered"))
    assert [e.monotonic - t0 for e in reports] == [0, 900, 1800, 2700, 3600]
    assert all(e.cluster == 0x0702 for e in reports)
    assert [e.value for e in reports] == [_expected_units(gsme, e.monotonic) for e in reports]


def test_reports_stop_while_the_meter_is_off_and_resume_when_on(up_bench, emulated):
    bench = up_bench
    esme = bench.device("ESME")
    node = emulated("ESME").node
    esme.zigbee.configure_reporting("metering", "current_summ_delivered", 0, 600)
    bench.runtime.call(node.power_off)
    mark = bench.events.mark()
    bench.sleep(3000)
    assert not bench.events.since(mark, match("attribute_report"))
    bench.runtime.call(node.power_on)
    bench.sleep(600)
    assert len(bench.events.since(mark, match("attribute_report", device=esme.eui))) == 2


# -- device state, console, optical lines ---------------------------------------------------------


def test_serial_numbers_and_install_codes_are_stable_per_device(emulated_bench, emulated):
    esme, gsme = emulated("ESME"), emulated("GSME")
    assert esme.serial_number != gsme.serial_number
    assert esme.serial_number == esme.serial_number and esme.serial_number.startswith("RE")
    code = factory_install_code(0, esme.eui)
    assert len(code) == 16
    assert code == factory_install_code(0, esme.eui)
    assert code != factory_install_code(1, esme.eui)
    assert emulated_bench.device("ESME").install_code.code_without_crc == code


def test_optical_lines_follow_the_profile_and_the_clock(emulated_bench, emulated):
    bench = emulated_bench
    esme, gsme = emulated("ESME"), emulated("GSME")
    bench.sleep(3600)
    lines = {line.address: line for line in esme.optical_lines()}
    units = esme.meter.register_units(3600.0)
    assert lines["1.8.0"].value == f"{units // 1000:06d}.{units % 1000:03d}"
    assert lines["1.7.0"].value == "00.450" and lines["1.7.0"].unit == "kW"
    assert lines["0.9.1"].value == "100000"  # 09:00 start + 1 h
    assert lines["0.9.2"].value == "260105"
    assert lines["96.3.10"].value == "1"
    assert lines["C.1.0"].value == esme.serial_number
    assert "1.7.0" not in {line.address for line in gsme.optical_lines()}
    assert esme.optical_identification() == "/REF5REFESME100"
    ppmid = emulated("PPMID")
    assert [line.address for line in ppmid.optical_lines()] == ["F.F"]


def test_top_up_codes_work_once(emulated_bench, emulated):
    esme = emulated("ESME")
    credit = esme.meter.credit_pence
    code = b"12345678901234000500"  # value: the last six digits

    def top_up(device, value: bytes) -> tuple[int, int]:
        return emulated_bench.runtime.call(lambda: device.top_up_code(value, 1))

    assert top_up(esme, code) == (se.TopUpResult.Accepted, 500)
    assert esme.meter.credit_pence == credit + 500
    assert top_up(esme, code) == (se.TopUpResult.Rejected_Duplicate_Top_Up, 0)
    assert top_up(esme, b"not-a-number") == (se.TopUpResult.Rejected_Invalid_Top_Up, 0)
    assert esme.meter.credit_pence == credit + 500
    assert top_up(emulated("IHD"), code) == (se.TopUpResult.Rejected_Error, 0)


def test_console_commands_inspect_and_inject_faults(up_bench, emulated):
    bench = up_bench
    device = emulated("ESME")
    commands = device.console_commands()

    def run(name: str, *args: str) -> str:
        return bench.runtime.call(lambda: commands[name](list(args)))

    status = run("status")
    assert f"role ESME eui {device.eui}" in status
    assert "power on radio normal" in status and "joined yes nwk 0x" in status
    assert "supply Supply_On" in status

    assert run("radio", "silent") == "radio silent"
    assert device.node.radio_silent
    assert run("radio", "normal") == "radio normal"
    assert run("radio") == "usage: radio silent|normal"
    assert run("power", "off") == "power off" and not device.node.powered
    assert "power off" in run("status")
    assert run("power", "on") == "power on" and device.node.powered
    assert run("power", "sideways").startswith("usage")
    assert run("reboot") == "rebooted" and device.node.joined
    assert run("join") == "already joined"
    assert "1.8.0(" in run("registers")
    assert run("messages") == "no messages"
    device.show_message(3, "hello", 10)
    assert run("messages") == "3: hello"
    device.cancel_message(3)
    assert run("messages") == "no messages"
    assert run("leave") == "left the network"
    assert bench.events.since(0, match("left", device=device.eui))


def _with_emulation(device, **changes) -> None:
    """Switch device defects on for one test (what a variant profile would say)."""
    emulation = device.profile.emulation
    meter = changes.pop("meter", None)
    if meter is not None:
        changes["meter"] = emulation.meter.model_copy(update=meter)
    device.profile = device.profile.model_copy(
        update={"emulation": emulation.model_copy(update=changes)})


def test_a_port_register_skew_shows_on_that_port_only(up_bench, emulated):
    """``meter.optical_register_offset`` / ``_scale``: the optical readout disagrees with the
    ZigBee register by exactly the skew; ZigBee is the meter's own register."""
    esme = up_bench.device("ESME")
    device = emulated("ESME")
    _with_emulation(device, meter={"optical_register_offset": 7})
    zigbee = esme.zigbee.read_one("metering", "current_summ_delivered")
    optical = Decimal(esme.read_optical().value(esme.profile.optical_register).value) * 1000
    assert optical == zigbee + 7
    _with_emulation(device, meter={"optical_register_offset": 0, "zigbee_register_scale": 2.0})
    zigbee = esme.zigbee.read_one("metering", "current_summ_delivered")
    optical = Decimal(esme.read_optical().value(esme.profile.optical_register).value) * 1000
    assert zigbee == 2 * optical


def test_a_device_that_drops_off_the_han_rejoins_or_stays_off(up_bench, emulated):
    """``han_leave``: the device leaves on its own (a ``left`` HAN event); with ``rejoins`` it
    is back at once under a new address, without it stays off until powered off and on."""
    ppmid = up_bench.device("PPMID")
    node = emulated("PPMID").node
    mark = up_bench.events.mark()
    up_bench.runtime.call(lambda: node.drop_off_han(rejoin=True))
    ppmid.wait_joined(10)
    assert up_bench.events.since(mark, match("left", device=ppmid.eui))
    assert ppmid.zigbee.read_one("basic", "model") == ppmid.profile.model
    up_bench.runtime.call(lambda: node.drop_off_han(rejoin=False))
    up_bench.sleep(120)
    assert not ppmid.is_joined
    ppmid.power.cycle()
    ppmid.wait_joined(60)
