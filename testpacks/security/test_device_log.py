"""The CHF device log is the HAN's door: a device gets on only with its own install code.

Each case tries to get the PPMID onto the HAN in a way the CHF must refuse; the PPMID must not
join (watched 90 s of bench time, switched off and on again on its relay where the bench has
one, so it tries afresh) and the device log (8.9) must say so:

- ``test_a_device_not_in_the_device_log_cannot_join``: the PPMID is out of the device log while
  joining is open for another device (the IHD added again by 8.11, where the DMC has one);
- ``test_a_wrong_install_code_is_refused``: 8.11 Add with an install code that is not the
  PPMID's (well formed, valid CRC): accepted by the CHF, which cannot know, but the PPMID's
  link key does not match and it cannot join;
- ``test_an_install_code_with_a_bad_crc_is_refused``: 8.11 Add with an install code whose CRC
  does not match is refused with the parameter's code (E081102) and changes nothing in the
  device log;
- ``test_a_removed_device_leaves_and_cannot_rejoin``: 8.11 Remove of the joined PPMID: it leaves
  the HAN and cannot rejoin, even while joining is open for another device.

Every case leaves the PPMID powered and joined with its own install code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from harness.config.secrets import InstallCode
from testpacks.security.helpers import (
    REFUSAL_WATCH_S,
    REFUSED_BY_DCC,
    REFUSED_BY_DEVICE,
    context,
    joins_within,
    putting_back,
    remove_from_device_log,
    send_with_code,
)

if TYPE_CHECKING:
    from harness.bench import Bench, BenchDevice
    from testpacks.srv.context import SrvContext

pytestmark = [pytest.mark.pack("security"), pytest.mark.security, pytest.mark.srv("8.11", "8.9"),
              pytest.mark.device("PPMID")]

#: JoinTimePeriod of the windows the cases open (one ZigBee permit, so any CHF serves it).
JOIN_TIME_PERIOD_S = 240
#: Devices whose join window may be opened while the PPMID must stay out, in order.
OTHER_DEVICES = ("IHD", "GSME", "ESME")


def wrong_code(right: InstallCode) -> InstallCode:
    """A well-formed install code (valid CRC) that is not the device's."""
    return InstallCode.with_crc(bytes(b ^ 0x5A for b in right.code_without_crc))


def bad_crc(right: InstallCode) -> str:
    """The device's install code with its CRC broken, as 8.11's hex."""
    code = bytearray(right.code)
    code[-1] ^= 0xFF
    return bytes(code).hex().upper()


def try_to_join(device: BenchDevice) -> bool:
    """Let the device try to join afresh (a power cycle where the bench has a relay on it; a
    Smart Energy device told to leave keeps trying by itself otherwise); whether it joined
    within :data:`REFUSAL_WATCH_S`."""
    if device.power is not None:
        device.power.cycle()
    return joins_within(device, REFUSAL_WATCH_S)


def open_for_another_device(ctx: SrvContext) -> str:
    """Open joining for another device of the installation (8.11 Add with its own code), as a
    CHF does when a device is added while the PPMID must stay out; what was opened, for
    messages ("" when the DMC has no other device)."""
    for role in OTHER_DEVICES:
        other = ctx.bench.devices.get(role)
        if other is None:
            continue
        response = send_with_code(lambda other=other: ctx.send(
            "8.11", role="CHF", DeviceID=other.eui, RequestType="Add",
            JoinTimePeriod=JOIN_TIME_PERIOD_S, InstallCode=other.install_code.reveal()))
        assert response.code == "I0", (
            f"could not open joining for the {role} (8.11 Add with its own install code): "
            f"{ctx.describe(response)}")
        return f", while joining was open for the {role}"
    return ""


def _ppmid(bench: Bench, dcc: Any) -> tuple[SrvContext, BenchDevice]:
    ctx = context(bench, dcc, "PPMID")
    assert ctx.device is not None
    return ctx, ctx.device


@REFUSED_BY_DEVICE
def test_a_device_not_in_the_device_log_cannot_join(bench: Bench, dcc: Any) -> None:
    """A device the CHF does not have in its device log cannot join, even while joining is
    open for another device."""
    ctx, ppmid = _ppmid(bench, dcc)
    with putting_back(ppmid):
        remove_from_device_log(ctx, ppmid)
        opened = open_for_another_device(ctx)
        if try_to_join(ppmid):
            pytest.fail(f"the PPMID, not in the CHF device log, joined the HAN{opened}",
                        pytrace=False)
        assert ppmid.eui not in ctx.device_log(), "8.9 lists the PPMID, which was removed"


@REFUSED_BY_DEVICE
def test_a_wrong_install_code_is_refused(bench: Bench, dcc: Any) -> None:
    """An install code that is not the device's (well formed, valid CRC) is taken by the CHF,
    but the device cannot join with it."""
    ctx, ppmid = _ppmid(bench, dcc)
    with putting_back(ppmid):
        remove_from_device_log(ctx, ppmid)
        response = send_with_code(lambda: ctx.send(
            "8.11", role="CHF", DeviceID=ppmid.eui, RequestType="Add",
            JoinTimePeriod=JOIN_TIME_PERIOD_S,
            InstallCode=wrong_code(ppmid.install_code).reveal()))
        if response.code not in ("I0", "E081102"):
            pytest.fail(f"8.11 Add with a well-formed install code answered "
                        f"{ctx.describe(response)}: I0 (the CHF cannot know it is not the "
                        "PPMID's) or E081102 expected", pytrace=False)
        if try_to_join(ppmid):
            pytest.fail("the PPMID joined the HAN although the device log holds an install code "
                        "that is not its own", pytrace=False)
        joined = ctx.device_log().get(ppmid.eui)
        assert not joined, "8.9 lists the PPMID joined, with an install code not its own"
    # Put back: commissioning replaced the wrong entry with the PPMID's own install code.


@REFUSED_BY_DCC
def test_an_install_code_with_a_bad_crc_is_refused(bench: Bench, dcc: Any) -> None:
    """An install code whose CRC does not match is refused with the parameter's code and the
    device log does not change; the device stays off the HAN."""
    ctx, ppmid = _ppmid(bench, dcc)
    code = ctx.catalogue["8.11"].parameters["InstallCode"].invalid_code
    with putting_back(ppmid):
        remove_from_device_log(ctx, ppmid)
        before = ctx.device_log()
        response = send_with_code(lambda: ctx.send(
            "8.11", role="CHF", DeviceID=ppmid.eui, RequestType="Add",
            JoinTimePeriod=JOIN_TIME_PERIOD_S, InstallCode=bad_crc(ppmid.install_code)))
        after = ctx.device_log()
        assert response.code == code, (
            f"8.11 Add with an install code whose CRC does not match answered "
            f"{ctx.describe(response)}; {code} ({ctx.catalogue.meaning(str(code))}) expected")
        assert after == before, (f"8.11 Add refused, yet the device log (8.9) changed from "
                                 f"{before} to {after}")
        if try_to_join(ppmid):
            pytest.fail("the PPMID joined the HAN after an 8.11 Add with a bad install code "
                        "CRC was refused", pytrace=False)


@REFUSED_BY_DEVICE
def test_a_removed_device_leaves_and_cannot_rejoin(bench: Bench, dcc: Any) -> None:
    """8.11 Remove takes a joined device off the HAN, and it cannot rejoin (even while joining
    is open for another device)."""
    ctx, ppmid = _ppmid(bench, dcc)
    assert ppmid.is_joined, "the PPMID is not on the HAN to start with"
    with putting_back(ppmid):
        response = ctx.send("8.11", role="CHF", DeviceID=ppmid.eui, RequestType="Remove")
        if response.code is not None and response.code != "I0":
            pytest.fail(f"8.11 Remove of the joined PPMID answered {ctx.describe(response)}",
                        pytrace=False)
        logged = ctx.device_log()
        assert ppmid.eui not in logged, "8.11 Remove answered, yet 8.9 still lists the PPMID"
        assert not ppmid.is_joined, "8.11 Remove answered, yet the PPMID is still on the HAN"
        opened = open_for_another_device(ctx)
        if try_to_join(ppmid):
            pytest.fail(f"the PPMID, removed from the device log, rejoined the HAN{opened}",
                        pytrace=False)
