"""Smoke pack: proves the path end to end on any bench, real or emulated.

- every device joins with its install code inside a join window;
- a meter's register read over ZigBee equals its optical readout (read between two ZigBee reads:
  within the two ports' resolutions and what the register advanced meanwhile);
- a join with a wrong install code, or outside the window, is refused.

Each test leaves the device it touched joined again, as it found it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from fixtures.bench import device_or_skip
from harness.bench import Bench, BenchDevice
from harness.config.secrets import InstallCode
from harness.han.chf import NotJoined
from harness.han.events import match

pytestmark = pytest.mark.pack("smoke")

ROLES = ["ESME", "GSME", "PPMID", "IHD"]
METERS = ["ESME", "GSME"]
JOIN_TIME_PERIOD_S = 120
#: How long a refused device is watched for a join that must not happen (bench seconds).
REFUSAL_WATCH_S = 90


def _remove(bench: Bench, device: BenchDevice) -> None:
    """Take the device off the HAN and out of the device log (8.11 Remove, as the CHF does)."""
    bench.chf.remove_device(device.eui)
    assert not device.is_joined, f"{device.role} still joined after removal from the device log"


def _wrong_code(right: InstallCode) -> InstallCode:
    """A well-formed install code (valid CRC) that is not the device's."""
    return InstallCode.with_crc(bytes(b ^ 0x5A for b in right.code_without_crc))


@pytest.mark.parametrize("role", ROLES)
def test_device_joins_with_its_install_code_inside_the_window(bench: Bench, role: str) -> None:
    device = device_or_skip(bench, role)
    _remove(bench, device)
    mark = bench.events.mark()

    window = bench.chf.add_device(device.eui, device.install_code, JOIN_TIME_PERIOD_S,
                                  endpoint=device.profile.zigbee.endpoint)
    try:
        han = device.wait_joined(JOIN_TIME_PERIOD_S)
    except NotJoined:
        if device.power is None:
            raise
        device.power.cycle()  # a device that stopped trying joins again after power-on
        han = device.wait_joined(JOIN_TIME_PERIOD_S)

    joined = bench.events.since(mark, match("joined", device=device.eui))
    assert joined, f"no join event for the {role}"
    assert joined[0].monotonic <= window.closes_at, (
        f"{role} joined at {joined[0].time.isoformat()}, after its join window closed"
    )
    assert han.manufacturer == device.profile.manufacturer
    assert han.model == device.profile.model


def resolution(value: str) -> Decimal:
    """The resolution of a readout value: one unit of its last decimal place."""
    return Decimal(1).scaleb(Decimal(value).as_tuple().exponent)  # type: ignore[arg-type]


@pytest.mark.parametrize("role", METERS)
def test_register_over_zigbee_equals_optical_readout(bench: Bench, role: str) -> None:
    """The optical readout read between two ZigBee reads of the register. A register only
    grows, and each port truncates it to its resolution, so ``z1 - r_optical < optical <
    z2 + r_zigbee``: the tolerance is the two resolutions and whatever the register advanced
    between the reads (demand), nothing more. At zero demand any constant offset fails."""
    device = device_or_skip(bench, role)
    if not device.has_optical:
        pytest.skip(f"not applicable: the {role} has no optical probe on this bench")
    if not device.is_joined:
        device.commission()
    scaling = device.zigbee.read("metering", "multiplier", "divisor")
    r_zigbee = Decimal(int(scaling["multiplier"])) / (int(scaling["divisor"]) or 1)
    before = bench.clock.monotonic()
    first = device.read_register_kwh()
    readout = device.read_optical()
    second = device.read_register_kwh()
    elapsed_s = bench.clock.monotonic() - before

    line = readout.value(device.profile.optical_register)
    over_optical = Decimal(line.value)
    r_optical = resolution(line.value)
    assert first - r_optical < over_optical < second + r_zigbee, (
        f"{role} register: {over_optical} {line.unit} over the optical port "
        f"({readout.identification}), read between {first} and {second} over ZigBee "
        f"({elapsed_s:.1f} s apart; resolutions {r_zigbee} over ZigBee, {r_optical} optical)"
    )


def test_join_with_a_wrong_install_code_is_refused(bench: Bench) -> None:
    device = device_or_skip(bench, "PPMID")
    _remove(bench, device)
    try:
        bench.chf.add_device(device.eui, _wrong_code(device.install_code), JOIN_TIME_PERIOD_S,
                             endpoint=device.profile.zigbee.endpoint)
        if device.power is not None:
            device.power.cycle()
        with pytest.raises(NotJoined):
            device.wait_joined(REFUSAL_WATCH_S)
    finally:
        _remove(bench, device)
        device.commission(JOIN_TIME_PERIOD_S)
    assert device.is_joined


def test_join_outside_the_window_is_refused(bench: Bench) -> None:
    device = device_or_skip(bench, "PPMID")
    if device.power is None:
        pytest.skip("not applicable: needs a relay channel to choose when the PPMID tries to join")
    _remove(bench, device)
    device.power.off()
    try:
        window = bench.chf.add_device(device.eui, device.install_code, JOIN_TIME_PERIOD_S,
                                      endpoint=device.profile.zigbee.endpoint)
        bench.sleep(window.granted_s + 1)  # the window has closed
        device.power.on()
        with pytest.raises(NotJoined):
            device.wait_joined(REFUSAL_WATCH_S)
    finally:
        device.power.on()
        device.commission(JOIN_TIME_PERIOD_S)
    assert device.is_joined
