"""The CHF through zigpy-znp against the byte-level ZNP fake, on the virtual clock.

The fake's trust-centre timeline is the radio's side of the story: every permit, every change
of install-code-only joining, every join and refusal, at bench time. The CHF's promises are
checked against it, not against what the CHF says it did.
"""

from __future__ import annotations

import pytest
import zigpy.types as t

from harness.han.app import PayloadTooLarge
from harness.han.chf import MAX_PERMIT_S, NotJoined
from harness.han.events import match
from harness.radiofakes.devices import ScriptedDevice, open_spans
from tests.radiofakes.conftest import (
    ZnpHan,
    code_for,
    needs_znp,
    scripted,
    start_znp_han,
    stop_znp_han,
)

EUI = {i: f"00-1B-C5-0C-00-00-00-{i:02X}" for i in range(1, 8)}
ROGUE_EUI = "00-1B-C5-0C-00-00-00-66"

pytestmark = needs_znp



def assert_never_open_without_install_code_only(han: ZnpHan) -> None:
    timeline = han.in_loop(lambda fake: list(fake.tc.timeline))
    spans = open_spans(timeline, han.now())
    loose = [(a, b) for a, b, ic_only in spans if not ic_only]
    assert not loose, f"joining open without install-code-only during {loose}"


def permitting(han: ZnpHan) -> bool:
    return bool(han.in_loop(lambda fake: fake.tc.permitting(han.now())))


def test_a_device_joins_is_interviewed_and_read_through_zigpy_znp(znp_han: ZnpHan) -> None:
    han = znp_han
    han.chf.add_device(EUI[1], code_for(1), 240)
    device = han.chf.wait_for_join(EUI[1], 240)
    assert (device.manufacturer, device.model) == ("Fake", "Fake 1")
    assert device.read_one("metering", "current_summ_delivered") == 1234
    assert_never_open_without_install_code_only(han)


def test_a_300_s_join_time_period_is_two_tracked_permits_and_admits_no_rogue(
    znp_han: ZnpHan,
) -> None:
    han = znp_han
    rogue = ScriptedDevice(ROGUE_EUI, join="none")  # no install code: the well-known key
    han.in_loop(lambda fake: fake.add_device(rogue))
    han.in_loop(lambda fake: fake.power_off(EUI[3]))
    mark = han.events.mark()

    window = han.chf.add_device(EUI[3], code_for(3), 300)
    han.sleep(window.closes_at - 1 - han.now())
    assert permitting(han), "joining closed before the JoinTimePeriod ended"
    han.in_loop(lambda fake: fake.power_on(EUI[3]))
    han.chf.wait_for_join(EUI[3], 5)
    han.sleep(window.closes_at + 0.5 - han.now())

    assert not permitting(han), "joining still open after the JoinTimePeriod ended"
    assert not window.is_open
    timeline = han.in_loop(lambda fake: list(fake.tc.timeline))
    assert not [e for e in timeline if e.what == "joined" and ROGUE_EUI in e.detail]
    assert [e for e in timeline if e.what == "refused" and ROGUE_EUI in e.detail]
    assert not han.events.since(mark, match("joined", device=ROGUE_EUI))
    assert_never_open_without_install_code_only(han)
    mine = [p.seconds for p in han.chf.permits if p.eui == EUI[3]]
    assert mine[0] == MAX_PERMIT_S and len(mine) == 2 and sum(mine) >= 300


def test_removing_a_device_closes_its_window_at_once(znp_han: ZnpHan) -> None:
    han = znp_han
    han.in_loop(lambda fake: fake.power_off(EUI[2]))
    window = han.chf.add_device(EUI[2], code_for(2), 240)
    han.sleep(10)
    assert permitting(han)
    assert han.chf.remove_device(EUI[2])
    assert not permitting(han)
    assert not window.is_open and window.closed_at is not None
    assert window.closed_at < window.closes_at
    han.in_loop(lambda fake: fake.power_on(EUI[2]))
    with pytest.raises(NotJoined):
        han.chf.wait_for_join(EUI[2], 60)
    assert_never_open_without_install_code_only(han)


def test_an_unlisted_joiner_is_made_to_leave_and_reported(znp_han: ZnpHan) -> None:
    """A stray permit without install-code-only (another tool, the radio's default) lets a
    device with the well-known key in at the radio: the CHF refuses it all the same."""
    han = znp_han
    rogue = ScriptedDevice(ROGUE_EUI, join="none")
    mark = han.events.mark()
    han.runtime.run(han.chf.app.permit(60))
    han.in_loop(lambda fake: fake.add_device(rogue))
    refused = han.runtime.run(
        han.events.wait_for(match("join_refused", device=ROGUE_EUI), 30, since=mark))
    assert refused.details["reason"] == "not in the CHF device log"
    han.sleep(5)
    assert not han.chf.is_joined(ROGUE_EUI)
    assert t.EUI64.convert(ROGUE_EUI.replace("-", ":")) not in han.chf.app.devices
    assert han.in_loop(lambda fake: fake.device(ROGUE_EUI).rejoins) == 0
    timeline = han.in_loop(lambda fake: list(fake.tc.timeline))
    assert [e for e in timeline if e.what == "left" and ROGUE_EUI in e.detail]


def test_a_device_with_a_wrong_install_code_does_not_join() -> None:
    han = start_znp_han([scripted(5, join="wrong")])
    try:
        han.chf.add_device(EUI[5], code_for(5), 120)
        with pytest.raises(NotJoined):
            han.chf.wait_for_join(EUI[5], 120)
        timeline = han.in_loop(lambda fake: list(fake.tc.timeline))
        assert [e for e in timeline if e.what == "refused" and "link key" in e.detail]
        assert_never_open_without_install_code_only(han)
    finally:
        stop_znp_han(han)


def test_a_silent_sleepy_device_costs_one_end_device_timeout_per_read() -> None:
    han = start_znp_han([scripted(6, rx_on_when_idle=False, poll_interval_s=7.5)])
    try:
        han.chf.add_device(EUI[6], code_for(6), 240)
        device = han.chf.wait_for_join(EUI[6], 240)
        assert device.is_end_device and device.retries == 0
        before = han.now()
        assert device.read_one("metering", "current_summ_delivered") == 1234
        assert han.now() - before <= 7.5 + 1e-6  # answered at its next poll
        han.in_loop(lambda fake: setattr(fake.device(EUI[6]), "silent", True))
        before = han.now()
        with pytest.raises(TimeoutError):
            device.read_one("metering", "current_summ_delivered")
        assert 27 <= han.now() - before <= 30, "one 28 s end-device timeout, not three"
    finally:
        stop_znp_han(han)


def test_a_frame_beyond_the_radio_or_the_device_limit_is_refused_with_the_reason(
    znp_han: ZnpHan,
) -> None:
    han = znp_han
    han.chf.add_device(EUI[1], code_for(1), 240)
    device = han.chf.wait_for_join(EUI[1], 240)
    with pytest.raises(PayloadTooLarge, match=r"maximum incoming transfer size \(128 bytes"):
        device.send_raw("metering", bytes(200))
    with pytest.raises(PayloadTooLarge, match=r"radio znp takes in one request \(230 bytes"):
        device.send_raw("metering", bytes(300))


def test_the_coordinator_has_a_smart_energy_endpoint(znp_han: ZnpHan) -> None:
    endpoints = znp_han.in_loop(lambda fake: dict(fake.endpoints))
    se = [ep for ep in endpoints.values() if ep.profile_id == 0x0109]
    assert len(se) == 1 and 0x0702 in se[0].in_clusters


def test_unchanged_answers_after_the_sequence_number_wraps_are_not_dropped(
    znp_han: ZnpHan,
) -> None:
    """zigpy's duplicate filter keeps frames for 10 s; 260 reads in no bench time wrap the
    8-bit sequence number, and each unchanged answer equals one seen before."""
    han = znp_han
    han.chf.add_device(EUI[1], code_for(1), 240)
    device = han.chf.wait_for_join(EUI[1], 240)
    before = han.now()
    values = {device.read_one("metering", "current_summ_delivered") for _ in range(260)}
    assert values == {1234}
    assert han.now() - before < 1.0, "a reply was dropped and waited out"


def test_a_dropped_mac_ack_is_retried_and_a_power_cycled_device_rejoins(znp_han: ZnpHan) -> None:
    han = znp_han
    han.chf.add_device(EUI[2], code_for(2), 240)
    device = han.chf.wait_for_join(EUI[2], 240)
    han.in_loop(lambda fake: setattr(fake.device(EUI[2]), "drop_mac_acks", 1))
    assert device.read_one("metering", "current_summ_delivered") == 1234  # second attempt
    assert han.in_loop(lambda fake: fake.device(EUI[2]).drop_mac_acks) == 0

    mark = han.events.mark()
    han.in_loop(lambda fake: fake.power_off(EUI[2]))
    han.sleep(600)  # long after its window: a rejoin needs none
    han.in_loop(lambda fake: fake.power_on(EUI[2]))
    han.sleep(10)
    assert han.in_loop(lambda fake: fake.device(EUI[2]).rejoins) == 1
    assert not han.events.since(mark, match("join_refused", device=EUI[2]))
    assert han.chf.device(EUI[2]).read_one("metering", "current_summ_delivered") == 1234


def test_a_sleepy_gsme_is_read_through_the_chfs_metering_mirror() -> None:
    """A GSME that sleeps 30 s at a time and answers nothing directly: what it pushes when it
    wakes is in the CHF's Metering mirror, readable at once, and follows its register."""
    gsme = scripted(7, rx_on_when_idle=False, poll_interval_s=30.0, report_interval_s=30.0,
                    reported=[(0x0702, 0x0000), (0x0702, 0x0400)])
    han = start_znp_han([gsme])
    try:
        han.chf.add_device(EUI[7], code_for(7), 240)
        device = han.chf.wait_for_join(EUI[7], 240)
        han.in_loop(lambda fake: setattr(fake.device(EUI[7]), "silent", True))
        mirror = han.chf.mirror(EUI[7])
        with pytest.raises(LookupError, match="has not reported current_summ_delivered"):
            mirror.read("current_summ_delivered")
        han.in_loop(lambda fake: setattr(fake.device(EUI[7]), "silent", False))
        han.sleep(31)
        assert mirror.read("current_summ_delivered", "instantaneous_demand") == {
            "current_summ_delivered": 1234, "instantaneous_demand": 0}
        han.in_loop(lambda fake: fake.device(EUI[7]).set_attribute(0x0702, 0x0000, 0x25, 1300))
        han.sleep(30)
        before = han.now()
        assert mirror.read("current_summ_delivered", now=han.now(), max_age_s=30) == {
            "current_summ_delivered": 1300}
        assert han.now() == before  # the mirror costs no radio round trip
        with pytest.raises(LookupError, match="older than 1 s"):
            mirror.read("current_summ_delivered", now=han.now() + 40, max_age_s=1)
        assert device.is_end_device
    finally:
        stop_znp_han(han)


def test_removing_one_device_keeps_the_other_window_open_and_install_code_only(
    znp_han: ZnpHan,
) -> None:
    han = znp_han
    han.in_loop(lambda fake: fake.power_off(EUI[1]))
    han.in_loop(lambda fake: fake.power_off(EUI[2]))
    first = han.chf.add_device(EUI[1], code_for(1), 600)
    second = han.chf.add_device(EUI[2], code_for(2), 120)
    han.sleep(60)
    assert han.chf.remove_device(EUI[2])
    assert not second.is_open and first.is_open
    assert permitting(han), "removing one device closed the other's window"
    han.sleep(first.closes_at - 2 - han.now())  # past several re-opens of the long window
    han.in_loop(lambda fake: fake.power_on(EUI[1]))
    han.chf.wait_for_join(EUI[1], 1.5)
    han.sleep(first.closes_at + 1 - han.now())
    assert not permitting(han) and not first.is_open
    assert_never_open_without_install_code_only(han)


def test_a_device_refused_a_moment_ago_joins_whole_once_admitted(znp_han: ZnpHan) -> None:
    """As through bellows (test_ezsp_chf.py): removed while another window is open, a device
    that keeps trying is refused, by the radio itself (its install-code key was overwritten
    when it was removed: Z-Stack would keep it); added back right after a refusal, it joins,
    is interviewed (Basic read) and stays, untouched by anything of the refusal."""
    han = znp_han
    for index in (1, 2):
        han.chf.add_device(EUI[index], code_for(index), 240)
        han.chf.wait_for_join(EUI[index], 240)
    for _ in range(3):
        removed_at = han.now()
        han.chf.remove_device(EUI[1])
        han.sleep(10)
        assert permitting(han), "the other device's window should still be open"
        after = [e for e in han.in_loop(lambda fake: list(fake.tc.timeline))
                 if EUI[1] in e.detail and e.time >= removed_at]
        assert [e for e in after if e.what == "refused" and "link key does not match" in e.detail]
        assert not [e for e in after if e.what == "joined"]
        assert not han.chf.is_joined(EUI[1])
        han.chf.add_device(EUI[1], code_for(1), 120)
        device = han.chf.wait_for_join(EUI[1], 120)
        assert (device.manufacturer, device.model) == ("Fake", "Fake 1")
        han.sleep(35)
        assert han.chf.is_joined(EUI[1])
        assert han.chf.device(EUI[1]).read_one("metering", "current_summ_delivered") == 1234
    assert_never_open_without_install_code_only(han)
