"""harness.han.chf: device log, JoinTimePeriod policy, long join windows, removal, join waits.

Run on the emulated bench (virtual radio and clock). These harness tests may reach into the
emulator (node power, the radio's key table); test packs may not.
"""

from __future__ import annotations

from typing import Any

import pytest
import zigpy.types as t

from harness.bench import DEFAULT_JOIN_TIME_PERIOD_S
from harness.emulator.radio import VirtualCoordinator
from harness.han.chf import (
    MAX_PERMIT_S,
    JoinTimePeriodPolicy,
    JoinTimePeriodRejected,
    NotJoined,
)
from harness.han.events import match
from harness.runtime import BenchCallTimeout

NEW_EUI = "00-1B-C5-0C-00-00-00-99"


def _ieee(eui: str) -> t.EUI64:
    return t.EUI64.convert(eui.replace("-", ":"))


def _record_permits(bench, monkeypatch, eui: str) -> list[tuple[float, int]]:
    """Record (bench time, duration) of every permit the CHF asks the radio for, for ``eui``."""
    permits: list[tuple[float, int]] = []
    original = bench.app.permit_with_link_key

    async def recording(node: t.EUI64, link_key: t.KeyData, time_s: int = 60) -> None:
        if node == _ieee(eui):
            permits.append((bench.runtime.loop.time(), time_s))
        await original(node=node, link_key=link_key, time_s=time_s)

    monkeypatch.setattr(bench.app, "permit_with_link_key", recording)
    return permits


def _after_bring_up_windows(bench) -> None:
    """Let the bring-up's join windows end: each window's end closes joining and re-opens it
    for the windows still open, which would add permits to a schedule a test counts."""
    bench.sleep(DEFAULT_JOIN_TIME_PERIOD_S + 60)


def _take_off_the_han(bench, emulated, role: str) -> Any:
    """Remove the device from the device log and power it off; returns its emulated node."""
    device = bench.device(role)
    node = emulated(role).node
    assert bench.chf.remove_device(device.eui)
    bench.runtime.call(node.power_off)
    return node


# -- JoinTimePeriodPolicy -------------------------------------------------------------------------


def test_policy_without_limit_grants_any_period():
    assert JoinTimePeriodPolicy().apply(3600) == 3600


def test_policy_grants_a_period_up_to_its_limit():
    policy = JoinTimePeriodPolicy(max_s=255, over_limit="reject")
    assert policy.apply(255) == 255
    assert policy.apply(1) == 1


def test_policy_clamp_grants_the_limit():
    assert JoinTimePeriodPolicy(max_s=600, over_limit="clamp").apply(1000) == 600


def test_policy_reject_raises_with_period_and_limit():
    with pytest.raises(JoinTimePeriodRejected, match=r"300 s.*255 s") as info:
        JoinTimePeriodPolicy(max_s=255, over_limit="reject").apply(300)
    assert (info.value.period_s, info.value.limit_s) == (300, 255)
    assert isinstance(info.value, ValueError)


# -- long join windows ----------------------------------------------------------------------------


def test_a_1000_s_period_is_served_by_overlapping_permits_of_254_254_254_241(
    up_bench, emulated, sleep_until, monkeypatch
):
    bench = up_bench
    _after_bring_up_windows(bench)
    node = _take_off_the_han(bench, emulated, "PPMID")
    permits = _record_permits(bench, monkeypatch, bench.device("PPMID").eui)
    key = lambda: bench.app._keys[node.ieee].permit_until  # noqa: E731

    window = bench.chf.add_device(bench.device("PPMID").eui, node.install_code, 1000)
    t0 = window.opened_at
    assert bench.clock.monotonic() == t0
    assert (window.requested_s, window.granted_s) == (1000, 1000)
    assert window.closes_at == t0 + 1000

    # One second after each (re-)permit: how many were sent, and where the radio's window ends.
    # Each re-open comes 1 s before the previous permit ends (REOPEN_OVERLAP_S).
    for offset, sent, until in ((1, 1, 254), (254, 2, 507), (507, 3, 760), (760, 4, 1000)):
        sleep_until(t0 + offset)
        assert window.permits_sent == sent, offset
        assert key() == pytest.approx(t0 + until, abs=1e-6), offset
        assert window.is_open

    sleep_until(t0 + 1001)
    assert window.permits_sent == 4
    assert not window.is_open
    assert key() == pytest.approx(t0 + 1000, abs=1e-6)
    assert [d for _, d in permits] == [254, 254, 254, 241]
    assert [at - t0 for at, _ in permits] == pytest.approx([0, 253, 506, 759], abs=1e-6)
    assert all(d <= MAX_PERMIT_S for _, d in permits)


def test_a_device_starting_to_join_one_second_before_the_period_ends_joins(
    up_bench, emulated, sleep_until
):
    bench = up_bench
    ppmid = bench.device("PPMID")
    assert bench.chf.remove_device(ppmid.eui)
    ppmid.power.off()  # through the relay board, this time
    window = bench.chf.add_device(ppmid.eui, ppmid.install_code, 1000)
    mark = bench.events.mark()

    sleep_until(window.closes_at - 1)
    ppmid.power.on()  # it starts trying to join now
    han = bench.chf.wait_for_join(ppmid.eui, 5)

    joined = bench.events.since(mark, match("joined", device=ppmid.eui))
    assert [e.monotonic for e in joined] == [pytest.approx(window.closes_at - 1, abs=1e-6)]
    assert han.model == ppmid.profile.model


def test_a_device_starting_to_join_one_second_after_the_period_is_refused(
    up_bench, emulated, sleep_until
):
    bench = up_bench
    ppmid = bench.device("PPMID")
    node = _take_off_the_han(bench, emulated, "PPMID")
    window = bench.chf.add_device(ppmid.eui, ppmid.install_code, 1000)
    mark = bench.events.mark()

    sleep_until(window.closes_at + 1)
    bench.runtime.call(node.power_on)
    with pytest.raises(NotJoined):
        bench.chf.wait_for_join(ppmid.eui, 60)

    assert not bench.events.since(mark, match("joined", device=ppmid.eui))
    refused = bench.events.since(mark, match("join_refused", device=ppmid.eui))
    assert refused and refused[0].monotonic == pytest.approx(window.closes_at + 1, abs=1e-6)
    assert all("not permitted" in e.details["reason"] for e in refused)
    assert not ppmid.is_joined


def test_policy_reject_raises_and_leaves_the_device_log_unchanged(up_bench):
    bench = up_bench
    ppmid = bench.device("PPMID")
    bench.chf.join_policy = JoinTimePeriodPolicy(max_s=255, over_limit="reject")
    log_before = dict(bench.chf.device_log)
    entry = log_before[ppmid.eui]
    key_before = bench.app._keys[_ieee(ppmid.eui)]
    until_before = key_before.permit_until

    with pytest.raises(JoinTimePeriodRejected) as info:
        bench.chf.add_device(ppmid.eui, ppmid.install_code, 300)
    assert (info.value.period_s, info.value.limit_s) == (300, 255)
    with pytest.raises(JoinTimePeriodRejected):
        bench.chf.add_device(NEW_EUI, ppmid.install_code, 256)

    assert bench.chf.device_log == log_before
    assert bench.chf.device_log[ppmid.eui] is entry
    assert NEW_EUI not in bench.chf.device_log
    assert bench.app._keys[_ieee(ppmid.eui)] is key_before
    assert key_before.permit_until == until_before
    assert _ieee(NEW_EUI) not in bench.app._keys
    # At the limit the period is granted as asked.
    assert bench.chf.add_device(ppmid.eui, ppmid.install_code, 255).granted_s == 255


def test_policy_clamp_grants_max_and_the_window_really_closes_then(
    up_bench, emulated, sleep_until, monkeypatch
):
    bench = up_bench
    ppmid = bench.device("PPMID")
    _after_bring_up_windows(bench)
    node = _take_off_the_han(bench, emulated, "PPMID")
    bench.chf.join_policy = JoinTimePeriodPolicy(max_s=600, over_limit="clamp")
    permits = _record_permits(bench, monkeypatch, ppmid.eui)

    window = bench.chf.add_device(ppmid.eui, ppmid.install_code, 1000)
    assert (window.requested_s, window.granted_s) == (1000, 600)
    assert window.closes_at == window.opened_at + 600

    sleep_until(window.closes_at + 1)
    assert not window.is_open
    assert [d for _, d in permits] == [254, 254, 94]  # re-opens overlap by 1 s
    assert bench.app._keys[node.ieee].permit_until == pytest.approx(window.closes_at, abs=1e-6)
    mark = bench.events.mark()
    bench.runtime.call(node.power_on)
    with pytest.raises(NotJoined):
        bench.chf.wait_for_join(ppmid.eui, 30)
    assert bench.events.since(mark, match("join_refused", device=ppmid.eui))


def test_policy_clamp_window_still_admits_a_device_just_before_max(
    up_bench, emulated, sleep_until
):
    bench = up_bench
    ppmid = bench.device("PPMID")
    node = _take_off_the_han(bench, emulated, "PPMID")
    bench.chf.join_policy = JoinTimePeriodPolicy(max_s=600, over_limit="clamp")
    window = bench.chf.add_device(ppmid.eui, ppmid.install_code, 1000)

    sleep_until(window.closes_at - 1)
    bench.runtime.call(node.power_on)
    bench.chf.wait_for_join(ppmid.eui, 5)
    assert ppmid.is_joined


def test_a_period_below_one_second_is_refused_without_touching_the_log(up_bench):
    bench = up_bench
    log_before = dict(bench.chf.device_log)
    with pytest.raises(ValueError, match="at least 1 s"):
        bench.chf.add_device(NEW_EUI, bench.device("IHD").install_code, 0)
    assert bench.chf.device_log == log_before


def test_reopening_joining_replaces_the_window(up_bench):
    bench = up_bench
    ihd = bench.device("IHD")
    first = bench.chf.open_join(ihd.eui, 1000)
    assert first.is_open
    second = bench.chf.open_join(ihd.eui, 60)
    bench.sleep(0)
    assert not first.is_open and first.closed_at == second.opened_at
    assert bench.chf.device_log[ihd.eui].window is second
    assert bench.app._keys[_ieee(ihd.eui)].permit_until == second.closes_at
    with pytest.raises(KeyError, match="not in the CHF device log"):
        bench.chf.open_join(NEW_EUI, 60)


# -- removal --------------------------------------------------------------------------------------


def test_removing_a_device_makes_it_leave_and_refuses_its_rejoin(up_bench, emulated):
    bench = up_bench
    ppmid = bench.device("PPMID")
    node = emulated("PPMID").node
    mark = bench.events.mark()

    assert bench.chf.remove_device(ppmid.eui) is True
    assert not ppmid.is_joined
    assert ppmid.eui not in bench.chf.device_log
    assert not node.joined
    assert node.ieee not in bench.app.devices  # zigpy forgot it
    assert bench.events.since(mark, match("left", device=ppmid.eui))
    with pytest.raises(NotJoined):
        bench.chf.device(ppmid.eui)

    # The device keeps asking to join; the CHF refuses it every time.
    bench.sleep(60)
    assert not node.joined and not ppmid.is_joined
    refused = bench.events.since(mark, match("join_refused", device=ppmid.eui))
    assert len(refused) >= 10
    assert all("not in the device log" in e.details["reason"] for e in refused)
    assert not bench.events.since(mark, match("joined", device=ppmid.eui))

    assert bench.chf.remove_device(ppmid.eui) is False


def test_a_radio_that_fails_to_forget_the_key_still_has_the_device_removed(
        up_bench, monkeypatch, caplog):
    """Overwriting the removed device's key on the dongle is defence in depth: a radio that
    fails at it is a warning (naming no key), and the device is still removed and told to
    leave."""
    bench = up_bench
    ppmid = bench.device("PPMID")

    async def failing(self: Any, ieee: t.EUI64) -> None:
        raise RuntimeError("radio said no to key 0011223344556677")

    monkeypatch.setattr(VirtualCoordinator, "forget_link_key", failing)
    mark = bench.events.mark()
    with caplog.at_level("WARNING", logger="harness.han.app"):
        assert bench.chf.remove_device(ppmid.eui) is True
    assert ppmid.eui not in bench.chf.device_log
    assert bench.events.since(mark, match("left", device=ppmid.eui))  # told to leave
    bench.sleep(60)  # the radio kept its key: it gets in at the radio, never past the CHF
    assert not ppmid.is_joined
    assert not bench.events.since(mark, match("joined", device=ppmid.eui))
    warned = [r.getMessage() for r in caplog.records if "install-code key" in r.getMessage()]
    assert warned and "RuntimeError" in warned[0] and "0011223344556677" not in warned[0]


def test_a_device_removed_while_off_is_refused_when_it_comes_back(up_bench, emulated):
    bench = up_bench
    ppmid = bench.device("PPMID")
    node = emulated("PPMID").node
    bench.runtime.call(node.power_off)
    assert bench.chf.remove_device(ppmid.eui)  # its leave cannot reach it
    mark = bench.events.mark()

    bench.sleep(10)
    bench.runtime.call(node.power_on)  # it still holds its network credentials
    bench.sleep(60)

    assert not bench.events.since(mark, match("joined", device=ppmid.eui))
    assert not ppmid.is_joined
    assert not node.joined
    assert bench.events.since(mark, match("join_refused", device=ppmid.eui))


def test_a_device_removed_and_added_back_at_once_rejoins_exactly_once(up_bench, emulated):
    bench = up_bench
    ppmid = bench.device("PPMID")
    node = emulated("PPMID").node
    bench.runtime.call(node.power_off)
    assert bench.chf.remove_device(ppmid.eui)
    mark = bench.events.mark()

    bench.chf.add_device(ppmid.eui, ppmid.install_code, 300)
    bench.runtime.call(node.power_on)  # rejoins at once, in the new window
    han = bench.chf.wait_for_join(ppmid.eui, 30)
    bench.sleep(60)

    assert len(bench.events.since(mark, match("joined", device=ppmid.eui))) == 1
    assert not bench.events.since(mark, match("left", device=ppmid.eui))
    assert ppmid.is_joined and node.joined
    assert bench.chf.device(ppmid.eui).zigpy_device is han.zigpy_device
    assert han.read_one("basic", "model") == ppmid.profile.model


# -- join waits -----------------------------------------------------------------------------------


def test_wait_for_join_returns_at_once_for_a_joined_device(up_bench):
    bench = up_bench
    esme = bench.device("ESME")
    before = bench.clock.monotonic()
    han = bench.chf.wait_for_join(esme.eui, 100)
    assert bench.clock.monotonic() == before
    assert han.eui == esme.eui
    assert han is bench.chf.device(esme.eui)


def test_wait_for_join_raises_not_joined_at_the_deadline(up_bench):
    bench = up_bench
    ppmid = bench.device("PPMID")
    bench.chf.remove_device(ppmid.eui)
    before = bench.clock.monotonic()
    with pytest.raises(NotJoined, match=ppmid.eui):
        bench.chf.wait_for_join(ppmid.eui, 42)
    assert bench.clock.monotonic() == pytest.approx(before + 42, abs=1e-6)


def test_wait_for_join_waits_for_the_interview_of_a_joining_device(emulated_bench):
    bench = emulated_bench
    gsme = bench.device("GSME")
    assert not gsme.is_joined
    window = bench.chf.add_device(gsme.eui, gsme.install_code, 120)
    han = bench.chf.wait_for_join(gsme.eui, 120)
    assert window.opened_at <= bench.clock.monotonic() <= window.closes_at
    assert han.manufacturer == gsme.profile.manufacturer
    assert gsme.eui in bench.chf.joined_devices()


def test_a_stuck_bench_is_not_reported_as_a_device_that_did_not_join(up_bench, monkeypatch):
    bench = up_bench

    def stuck(coro: Any, **kwargs: Any) -> Any:
        coro.close()
        raise BenchCallTimeout("bench call did not finish within 120 s of wall time")

    monkeypatch.setattr(bench.runtime, "run", stuck)
    with pytest.raises(BenchCallTimeout):
        bench.chf.wait_for_join(bench.device("PPMID").eui, 10)
