"""SR 8.11 JoinTimePeriod at and beyond its limits, on the PPMID.

DUIS allows a JoinTimePeriod of 1..3600 s (an integer; the SR catalogue's ``JoinTimePeriod``,
whose ``invalid_code`` is the code a value outside it gets). A ZigBee permit lasts at most
254 s, so a CHF serves a longer period only by opening permit join again until the period ends;
a CHF that cuts it short or refuses it (testing issue 91342, Honeywell Elster) keeps a PPMID
from joining late in the period.

- ``test_join_time_period_outside_the_range_is_refused[<P>]`` (0, 3601, 2.5): refused with the
  parameter's code and the CHF device log (8.9) unchanged.
- ``test_a_ppmid_starting_to_join_just_before_the_period_ends_joins[<P>]`` (1, 254, 255, 256,
  3600): the PPMID is taken out of the device log (8.11 Remove), switched off on its relay,
  added back with period P (must be I0), and switched on 1 s before P ends (0.5 s for P = 1):
  it must join. A CHF that clamps a period above 255 s to 255 s *and says so* (the 8.11
  response's JoinTimePeriodGranted: 91342's agreed fix) is held to 255 s and passes; one that
  cuts the period silently (says it granted it, closes joining early) still fails.
- ``test_a_ppmid_starting_to_join_just_after_the_period_ends_is_refused[<P>]``: the same, switched
  on 1 s after P ended: it must not join within 90 s. (A CHF that refused the period leaves the
  PPMID out of the device log: it stays off the HAN too, and the "just before" case reports
  the refusal.)

A failure names the period ("JoinTimePeriod 3600: ..."), which the testing issue registry
matches for 91342. Every case leaves the PPMID powered and joined, as it found it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from testpacks.security.helpers import (
    JOIN_WATCH_S,
    REFUSAL_WATCH_S,
    REFUSED_BY_DCC,
    REFUSED_BY_DEVICE,
    SEND_ATTEMPTS,
    context,
    joins_within,
    needs_relay,
    putting_back,
    remove_from_device_log,
)

if TYPE_CHECKING:
    from harness.bench import Bench, BenchDevice
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext

pytestmark = [pytest.mark.pack("security"), pytest.mark.security, pytest.mark.srv("8.11", "8.9"),
              pytest.mark.device("PPMID")]

#: Outside DUIS's 1..3600 s: below, above, not an integer.
REFUSED_PERIODS = [0, 3601, 2.5]
#: Inside it: the shortest, the longest single ZigBee permit (254 s), 255 ("forever" on old
#: stacks), the first that needs a second permit (256), the longest.
SERVED_PERIODS = [1, 254, 255, 256, 3600]
#: The PPMID is switched on this long after the period ended ("just after").
AFTER_S = 1.0


def lead_s(period: float) -> float:
    """How long before the period ends the PPMID is switched on ("just before")."""
    return 0.5 if period <= 1 else 1.0


def _add(ctx: SrvContext, ppmid: BenchDevice, period: Any) -> ServiceResponse:
    return ctx.send("8.11", role="CHF", DeviceID=ppmid.eui, RequestType="Add",
                    JoinTimePeriod=period, InstallCode=ppmid.install_code.reveal())


def _add_timed(bench: Bench, ctx: SrvContext, ppmid: BenchDevice, period: int
               ) -> tuple[ServiceResponse, float, float]:
    """8.11 Add with ``period`` (again while the response carries no code: adding again only
    opens the window again); the response, and the bench time the request that counts was
    sent and answered (the window opened in between)."""
    clock = bench.clock
    for _ in range(SEND_ATTEMPTS):
        sent_at = clock.monotonic()
        response = _add(ctx, ppmid, period)
        if response.code is not None:
            break
    return response, sent_at, clock.monotonic()


#: 91342's agreed fix [seed 001]: a JoinTimePeriod above 255 s changed to 255 s. A CHF that
#: does so *and says so* (the 8.11 response's JoinTimePeriodGranted) is judged against 255 s.
AGREED_CLAMP_S = 255


def served_period(period: int, response: ServiceResponse) -> int:
    """The period the case holds the CHF to: the one asked for, or 255 s when the CHF reported
    clamping a longer one to 255 s (91342's agreed fix). Any other grant below the period
    asked for is a failure: DUIS gives the CHF no other way to shorten it."""
    granted = response.body.get("JoinTimePeriodGranted")
    if granted is None or granted == period:
        return period
    if period > AGREED_CLAMP_S and granted == AGREED_CLAMP_S:
        return AGREED_CLAMP_S
    pytest.fail(f"JoinTimePeriod {period}: the CHF granted {granted} s in its 8.11 response; "
                f"only {period} s (or {AGREED_CLAMP_S} s, 91342's agreed fix, for a longer "
                "period) is acceptable", pytrace=False)
    raise AssertionError  # unreachable


def _granted(response: ServiceResponse) -> str:
    granted = response.body.get("JoinTimePeriodGranted")
    return f" (the CHF said it granted {granted} s)" if granted is not None else ""


@REFUSED_BY_DCC
@pytest.mark.parametrize("period", REFUSED_PERIODS, ids=str)
def test_join_time_period_outside_the_range_is_refused(bench: Bench, dcc: Any,
                                                       period: Any) -> None:
    """A JoinTimePeriod outside 1..3600 s (or not an integer) is refused with the parameter's
    own code, and the device log does not change."""
    ctx = context(bench, dcc, "PPMID")
    ppmid = ctx.device
    assert ppmid is not None
    code = ctx.catalogue["8.11"].parameters["JoinTimePeriod"].invalid_code
    before = ctx.device_log()
    response = _add(ctx, ppmid, period)
    after = ctx.device_log()
    assert response.code == code, (
        f"JoinTimePeriod {period}: SR 8.11 Add answered {ctx.describe(response)}; the SR "
        f"catalogue's JoinTimePeriod is an integer 1..3600 s, so {code} "
        f"({ctx.catalogue.meaning(str(code))}) was expected")
    assert after == before, (
        f"JoinTimePeriod {period}: refused, yet the device log (8.9) changed from {before} to "
        f"{after}")


@REFUSED_BY_DEVICE
@pytest.mark.parametrize("period", SERVED_PERIODS, ids=str)
def test_a_ppmid_starting_to_join_just_before_the_period_ends_joins(bench: Bench, dcc: Any,
                                                                    period: int) -> None:
    """Switched on just before its JoinTimePeriod ends, the PPMID joins: the CHF kept joining
    open for the whole period (re-opening permit join past 254 s)."""
    ctx = context(bench, dcc, "PPMID")
    ppmid = ctx.device
    assert ppmid is not None
    needs_relay(ppmid, "choose when it starts to join")
    assert ppmid.power is not None
    lead = lead_s(period)
    with putting_back(ppmid):
        remove_from_device_log(ctx, ppmid)
        ppmid.power.off()
        response, sent_at, _ = _add_timed(bench, ctx, ppmid, period)
        if response.code != "I0":
            pytest.fail(f"JoinTimePeriod {period}: the CHF refused SR 8.11 Add: "
                        f"{ctx.describe(response)}; DUIS allows 1..3600 s, so I0 was expected "
                        "and the PPMID could not join", pytrace=False)
        served = served_period(period, response)
        # Counted from when the request was sent, so the PPMID is on before the period ends
        # however long the CHF took to open the window.
        bench.sleep(max(0.0, sent_at + served - lead - bench.clock.monotonic()))
        ppmid.power.on()
        if not joins_within(ppmid, JOIN_WATCH_S):
            pytest.fail(f"JoinTimePeriod {period}: the PPMID, switched on {lead:g} s before the "
                        f"period ended, did not join within {JOIN_WATCH_S:g} s: the CHF closed "
                        f"joining before the period ended{_granted(response)}", pytrace=False)
        joined = ctx.device_log().get(ppmid.eui)
        assert joined is True, (
            f"JoinTimePeriod {period}: the PPMID joined, but the device log (8.9) lists it "
            f"{'not joined' if joined is False else 'nowhere'}")


@REFUSED_BY_DEVICE
@pytest.mark.parametrize("period", SERVED_PERIODS, ids=str)
def test_a_ppmid_starting_to_join_just_after_the_period_ends_is_refused(bench: Bench, dcc: Any,
                                                                        period: int) -> None:
    """Switched on just after its JoinTimePeriod ended, the PPMID does not get on the HAN: the
    CHF closed joining when the period ended."""
    ctx = context(bench, dcc, "PPMID")
    ppmid = ctx.device
    assert ppmid is not None
    needs_relay(ppmid, "choose when it starts to join")
    assert ppmid.power is not None
    with putting_back(ppmid):
        remove_from_device_log(ctx, ppmid)
        ppmid.power.off()
        response, _, answered_at = _add_timed(bench, ctx, ppmid, period)
        served = served_period(period, response) if response.code == "I0" else period
        # Counted from the answer: the window opened before it, so it has surely closed.
        bench.sleep(max(0.0, answered_at + served + AFTER_S - bench.clock.monotonic()))
        ppmid.power.on()
        if joins_within(ppmid, REFUSAL_WATCH_S):
            pytest.fail(f"JoinTimePeriod {period}: the PPMID, switched on {AFTER_S:g} s after "
                        "the period ended, joined the HAN: the CHF kept joining open past the "
                        "period", pytrace=False)
        joined = ctx.device_log().get(ppmid.eui)
        assert not joined, (f"JoinTimePeriod {period}: the PPMID did not answer on the HAN, but "
                            "the device log (8.9) lists it joined")
