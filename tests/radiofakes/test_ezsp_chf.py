"""The CHF through bellows against the byte-level EZSP fake, on the virtual clock.

The fake's trust-centre timeline is the radio's side of the story: every permit, every change of
install-code-only joining (the TRUST_CENTER_POLICY bellows sets), every join and refusal, at
bench time. The CHF's promises are checked against it, not against what the CHF says it did.

bellows' own ``permit`` runs ``pre_permit``: the well-known key as a wildcard transient key, a
policy that is not install-code-only, and 2 s later bellows' default policy restored. The
harness's bellows application never runs it (``harness.han.radio.BellowsPermitWithoutPrePermit``)
and makes install-code-only bellows' default policy; the 300 s JoinTimePeriod below, with a
well-known-key device trying throughout, checks both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from harness.config import InstallCode
from harness.han.chf import Chf, NotJoined
from harness.han.events import HanEventStream, match
from harness.han.frames import FrameLog
from harness.han.radio import real_radio_class, zigpy_config
from harness.radiofakes.devices import (
    ScriptedDevice,
    TimelineEntry,
    open_spans,
    smart_energy_device,
)
from harness.radiofakes.ezsp_server import EzspFake
from harness.runtime import BenchRuntime
from tests.radiofakes.conftest import needs_bellows

T = TypeVar("T")



pytestmark = [needs_bellows, pytest.mark.slow]

EUI = {i: f"00-1B-C5-0C-00-00-30-{i:02X}" for i in range(1, 4)}
ROGUE_EUI = "00-1B-C5-0C-00-00-30-66"


def code_for(index: int) -> InstallCode:
    return InstallCode.with_crc(bytes([0x20 + index] * 16))


def scripted(index: int, **options: Any) -> ScriptedDevice:
    return smart_energy_device(
        EUI[index], bytes.fromhex(code_for(index).reveal()), manufacturer="Fake",
        model=f"Fake {index}", metering={"current_summ_delivered": 4321}, **options)


@dataclass
class EzspHan:
    """bellows, the CHF and the EZSP fake on one virtual-clock loop."""

    runtime: BenchRuntime
    fake: EzspFake
    chf: Chf
    events: HanEventStream

    def now(self) -> float:
        return self.runtime.clock.monotonic()

    def sleep(self, seconds: float) -> None:
        self.runtime.sleep(seconds)

    def in_loop(self, function: Callable[[EzspFake], T]) -> T:
        return self.runtime.call(lambda: function(self.fake))

    def permitting(self) -> bool:
        return bool(self.in_loop(lambda fake: fake.tc.permitting(self.now())))

    def timeline(self) -> list[TimelineEntry]:
        return self.in_loop(lambda fake: list(fake.tc.timeline))


@pytest.fixture
def han() -> Iterator[EzspHan]:
    runtime = BenchRuntime(virtual=True)
    fake = EzspFake([scripted(1), scripted(2), scripted(3)], auto_join=True, join_retry_s=2.0)
    try:
        url = runtime.run(fake.serve())
        config = zigpy_config(path=url, radio_type="ezsp", channel=15, pan_id=0x1A62)
        app = runtime.call(lambda: real_radio_class("ezsp")(config))
        app.attach_bench(runtime.clock, FrameLog())  # type: ignore[attr-defined]
        # No bench timeout on a start: serialx opens the port in an executor thread.
        runtime.run(app.startup(auto_form=True))
        events = HanEventStream(runtime.clock, runtime)
        chf = Chf(runtime, app, events, request_timeout=5.0, retries=2)
        made = EzspHan(runtime, fake, chf, events)
        yield made
        runtime.run(app.shutdown(), timeout=30)
    finally:
        runtime.run(fake.close(), timeout=30)
        runtime.shutdown()



def assert_never_open_without_install_code_only(han: EzspHan) -> None:
    loose = [(a, b) for a, b, ic_only in open_spans(han.timeline(), han.now()) if not ic_only]
    assert not loose, f"joining open without install-code-only during {loose}"


def test_a_device_joins_through_the_chf_is_interviewed_and_read(han: EzspHan) -> None:
    han.chf.add_device(EUI[1], code_for(1), 240)
    device = han.chf.wait_for_join(EUI[1], 240)
    assert (device.manufacturer, device.model) == ("Fake", "Fake 1")
    assert device.read_one("metering", "current_summ_delivered") == 4321
    assert_never_open_without_install_code_only(han)


def test_a_300_s_join_time_period_admits_no_rogue(han: EzspHan) -> None:
    """A JoinTimePeriod of 300 s opened right after start-up (inside the 2 s bellows' start-up
    ``permit(0)`` task would have had), spanning two permits, with a device presenting the
    well-known key trying to join all through it: joining is never open without
    install-code-only, the well-known key is never a wildcard key, the rogue never joins."""
    rogue = ScriptedDevice(ROGUE_EUI, join="none")  # no install code: the well-known key
    han.in_loop(lambda fake: fake.add_device(rogue))
    han.in_loop(lambda fake: fake.power_off(EUI[3]))

    window = han.chf.add_device(EUI[3], code_for(3), 300)
    han.sleep(window.closes_at - 5 - han.now())
    assert han.permitting(), "joining closed before the JoinTimePeriod ended"
    han.in_loop(lambda fake: fake.power_on(EUI[3]))
    han.chf.wait_for_join(EUI[3], 4)
    han.sleep(window.closes_at + 3 - han.now())

    assert not han.permitting(), "joining still open after the JoinTimePeriod ended"
    timeline = han.timeline()
    assert len([e for e in timeline if e.what == "permit" and e.detail != "0"]) >= 2
    assert not [e for e in timeline if e.what == "joined" and ROGUE_EUI in e.detail]
    refusals = [e.time for e in timeline if e.what == "refused" and ROGUE_EUI in e.detail]
    assert refusals and min(refusals) < window.opened_at + 10
    assert max(refusals) > window.closes_at - 50
    assert not [e for e in timeline if e.what == "wildcard_key"]
    assert_never_open_without_install_code_only(han)


def test_a_device_with_a_wrong_install_code_does_not_join(han: EzspHan) -> None:
    han.in_loop(lambda fake: setattr(fake.device(EUI[2]), "join", "wrong"))
    han.chf.add_device(EUI[2], code_for(2), 60)
    with pytest.raises(NotJoined):
        han.chf.wait_for_join(EUI[2], 60)
    refusals = [e for e in han.timeline() if e.what == "refused" and EUI[2] in e.detail]
    assert refusals and all("link key does not match" in e.detail for e in refusals)


def test_an_unlisted_joiner_is_made_to_leave_and_reported(han: EzspHan) -> None:
    """A stray permit without install-code-only (another tool on the dongle) lets a device
    with the well-known key in at the radio: the CHF refuses it all the same."""
    import bellows.types as bt

    app: Any = han.chf.app
    rogue = ScriptedDevice(ROGUE_EUI, join="none")
    mark = han.events.mark()
    han.runtime.run(app._ezsp.setPolicy(policyId=bt.EzspPolicyId.TRUST_CENTER_POLICY,
                                        decisionId=bt.EzspDecisionBitmask.ALLOW_JOINS))
    han.runtime.run(app.permit_ncp(60))
    han.in_loop(lambda fake: fake.add_device(rogue))
    refused = han.runtime.run(
        han.events.wait_for(match("join_refused", device=ROGUE_EUI), 30, since=mark))
    assert refused.details["reason"] == "not in the CHF device log"
    han.runtime.run(app.permit_ncp(0))
    han.sleep(5)
    assert not han.chf.is_joined(ROGUE_EUI)
    timeline = han.timeline()
    assert [e for e in timeline if e.what == "joined" and ROGUE_EUI in e.detail]
    assert [e for e in timeline if e.what == "left" and ROGUE_EUI in e.detail]


def test_a_removed_device_does_not_rejoin_under_another_devices_window(han: EzspHan) -> None:
    """Its install-code key goes with it (EmberZNet would keep the transient key minutes)."""
    han.chf.add_device(EUI[1], code_for(1), 240)
    han.chf.wait_for_join(EUI[1], 240)
    han.chf.add_device(EUI[2], code_for(2), 240)
    han.chf.wait_for_join(EUI[2], 240)
    han.chf.remove_device(EUI[1])
    removed_at = han.now()
    han.sleep(30)
    assert han.permitting(), "the other device's window should still be open"
    rejoins = [e for e in han.timeline()
               if e.what == "joined" and EUI[1] in e.detail and e.time > removed_at]
    assert not rejoins
    assert not han.chf.is_joined(EUI[1])
    assert_never_open_without_install_code_only(han)


def test_a_device_refused_a_moment_ago_joins_whole_once_admitted(han: EzspHan) -> None:
    """Removed from the device log while another window is open, a device keeps trying to join
    and is refused (its key is gone: the trust centre cannot authenticate it, and the CHF
    refuses what the radio reports). Added back right after a refusal, it joins, its interview
    reads its Basic cluster, and it stays: nothing of the refusal (the leave sent to it, the
    radio's late report that it left) reaches the admitted join."""
    for index in (1, 2):
        han.chf.add_device(EUI[index], code_for(index), 240)
        han.chf.wait_for_join(EUI[index], 240)
    for _ in range(3):
        mark = han.events.mark()
        han.chf.remove_device(EUI[1])
        han.runtime.run(han.events.wait_for(match("join_refused", device=EUI[1]), 30, since=mark))
        han.chf.add_device(EUI[1], code_for(1), 120)
        device = han.chf.wait_for_join(EUI[1], 120)
        assert (device.manufacturer, device.model) == ("Fake", "Fake 1")
        han.sleep(35)  # past every leave a refusal could still send (zigpy's 30 s bound)
        assert han.chf.is_joined(EUI[1])
        assert han.chf.device(EUI[1]).read_one("metering", "current_summ_delivered") == 4321
    assert_never_open_without_install_code_only(han)
