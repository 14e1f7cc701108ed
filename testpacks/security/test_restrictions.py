"""SRVs documented as not available via DCC services after enrolment (the Liberty 110).

Seed 004: once enrolled, the Secure Liberty 110 ESME's boost configuration cannot be changed
and its remote override cannot be operated via DCC services; the boost keeps working per the
configuration set on the HAN before migration. Which SRVs a model restricts is catalogue data:
its profile's ``expectations.restricted_srvs`` (for the Liberty 110: 7.5 and 7.6, remote
override; 7.9 and 7.10, boost configuration), and ``expectations.boost_from_han_config``.

- ``test_restricted_srv_is_refused_and_changes_nothing[<srv>-<ROLE>]``, one per restricted SRV of
  the DMC's profiles: sent through the DCC by the User the catalogue permits (the device's
  supplier), it is refused with E11, and the boost configuration (7.11), the auxiliary load
  switch over ZigBee (On/Off cluster) and over the optical port (C.90.1 switches, C.90.2 boost)
  and what the srv pack's exercise of that SRV observes are unchanged. A DMC that documents no
  restriction has one case, ``[none]``, not applicable with that reason.
- ``test_boost_keeps_working_per_the_han_configuration``: the boost configuration read by 7.11
  (and shown at C.90.2) is there; pressing the boost button (the debug console's ``boost``)
  switches each configured load on (ZigBee On/Off for load 1, C.90.1 for every load) and it
  goes off after its configured minutes of bench time.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from testpacks.security.helpers import (
    REFUSED_BY_DCC,
    REFUSED_BY_DEVICE,
    ConsoleSession,
    context,
    needs_console,
)
from testpacks.srv.exercises import EXERCISES

if TYPE_CHECKING:
    from harness.bench import Bench
    from testpacks.srv.context import SrvContext

pytestmark = [pytest.mark.pack("security"), pytest.mark.security]

#: The code of an SRV not available for the device type or model.
NOT_AVAILABLE = "E11"
#: Bench seconds before and after a boost's end at which the load is looked at.
BOOST_MARGIN_S = 5.0


# -- parametrisation --------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ != "test_restricted_srv_is_refused_and_changes_nothing":
        return
    from harness.pytest_plugin import lab_config_of

    lab = lab_config_of(metafunc.config)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    cases = []
    for role in dmc.roles:
        profile = dmc.profile_for(role, lab.catalogue)
        if profile is None:
            continue
        for srv in profile.expectations.restricted_srvs:
            marks = [pytest.mark.srv(srv)]
            if role != "CHF":
                marks.append(pytest.mark.device(role))
            cases.append(pytest.param((srv, role), id=f"{srv}-{role}", marks=marks))
    if not cases:
        cases.append(pytest.param(None, id="none", marks=pytest.mark.skip(
            reason=f"not applicable: DMC {dmc.id} documents no SRV as unavailable via DCC "
            "services after enrolment (expectations.restricted_srvs of its device profiles)")))
    metafunc.parametrize("restricted", cases)


# -- observations -------------------------------------------------------------------------------

def loads_state(ctx: SrvContext) -> dict[str, Any]:
    """What a restricted SRV must leave as it was: the boost configuration (7.11), auxiliary
    load switch 1 over ZigBee (On/Off) and the optical readout's loads and boost lines
    (``None`` where the device or the bench has no way to see one)."""
    supports_7_11 = ctx.role == "ESME" and ctx.supports("7.11")
    return {"boost configuration (7.11)": ctx.boost() if supports_7_11 else None,
            "auxiliary load switch 1 (ZigBee On/Off)": ctx.aux_switch(),
            "loads and boost on the optical port (C.90.1/C.90.2)": ctx.optical_loads()}


def put_loads_back(ctx: SrvContext, original: dict[str, Any]) -> None:
    """After a restricted SRV that was (wrongly) carried out: the boost configuration and the
    switch put back through the DCC, the way it went wrong."""
    boost = original["boost configuration (7.11)"]
    if boost is not None:
        current = ctx.boost() or {}
        for load in sorted(set(current) - set(boost)):
            ctx.send("7.10", AuxiliaryLoad=int(load))
        for load, minutes in sorted(boost.items()):
            if current.get(load) != minutes:
                ctx.send("7.9", AuxiliaryLoad=int(load), BoostDurationMinutes=int(minutes))
    switch = original["auxiliary load switch 1 (ZigBee On/Off)"]
    if switch is not None and ctx.aux_switch() != switch:
        ctx.send("7.5" if switch else "7.6", AuxiliaryLoad=1)


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [f"{what} went from {before[what]} to {after[what]}" for what in before
            if after[what] != before[what]]


# -- cases ------------------------------------------------------------------------------------

@REFUSED_BY_DCC
def test_restricted_srv_is_refused_and_changes_nothing(bench: Bench, dcc: Any,
                                                       restricted: tuple[str, str]) -> None:
    """A restricted SRV, sent by the User the catalogue permits, is refused with E11 and
    changes nothing the bench can observe."""
    srv, role = restricted
    ctx = context(bench, dcc, role)
    exercise = EXERCISES.get(srv)
    original = loads_state(ctx)
    exercise_before = exercise.observe(ctx) if exercise is not None else None
    params = exercise.params(ctx, exercise_before) if exercise is not None else {}
    response = ctx.send(srv, **params)
    after = loads_state(ctx)
    problems = changes(original, after)
    if exercise is not None:
        problem = exercise.check_unchanged(ctx, params, exercise_before)
        if problem and not problems:
            problems.append(problem)
    where = (f"SR {srv} to the {role} as {ctx.sender(srv)}: {ctx.profile.describe()} "
             f"documents it as not available via DCC services after enrolment "
             f"(expectations.restricted_srvs)")
    if problems or response.code != NOT_AVAILABLE:
        with contextlib.suppress(Exception):  # the failure below is the one to report
            put_loads_back(ctx, original)
    assert response.code == NOT_AVAILABLE, (
        f"{where}, so {NOT_AVAILABLE} was expected; answered {ctx.describe(response)}"
        + (f", and {'; '.join(problems)}" if problems else ""))
    assert not problems, f"{where}; refused ({response.code}), yet {'; '.join(problems)}"


@REFUSED_BY_DEVICE
@pytest.mark.srv("7.11")
@pytest.mark.device("ESME")
def test_boost_keeps_working_per_the_han_configuration(bench: Bench, dcc: Any) -> None:
    """The boost configured on the HAN before migration is there (7.11, C.90.2), and the boost
    button still switches each configured load on for its minutes."""
    ctx = context(bench, dcc, "ESME")
    esme = ctx.device
    assert esme is not None
    if not ctx.profile.expectations.boost_from_han_config:
        pytest.skip(f"not applicable: {ctx.profile.describe()} is not documented to keep its "
                    "boost working per the HAN configuration (expectations."
                    "boost_from_han_config)")
    if not ctx.supports("7.11"):
        pytest.fail(f"{ctx.profile.describe()} is documented to keep its HAN boost "
                    "configuration but has no 7.11 to read it", pytrace=False)
    needs_console(esme, "press the boost button")
    boost = {int(load): int(minutes) for load, minutes in (ctx.boost() or {}).items()}
    assert boost, ("7.11 reads no boost configuration: the configuration set on the HAN "
                   "before migration is gone")
    loads = ctx.optical_loads()
    if loads is not None:
        assert {int(k): v for k, v in loads["boost"].items()} == boost, (
            f"7.11 reads the boost configuration {boost}, the optical port (C.90.2) shows "
            f"{loads['boost']}")
    session = ConsoleSession(esme.console)
    clock = bench.clock
    pressed_at = clock.monotonic()
    session.run("boost")
    try:
        for minutes in sorted(set(boost.values())):
            ends = pressed_at + minutes * 60
            bench.sleep(max(0.0, ends - BOOST_MARGIN_S - clock.monotonic()))
            on = switches(ctx)
            running = sorted(load for load, m in boost.items() if m >= minutes)
            off = [load for load in running if on.get(load) is not True]
            assert not off, (
                f"boost pressed: load(s) {off} configured for {minutes} min or more are not on "
                f"{minutes * 60 - BOOST_MARGIN_S:g} s later ({describe_switches(on)})")
            bench.sleep(max(0.0, ends + BOOST_MARGIN_S - clock.monotonic()))
            on = switches(ctx)
            ended = sorted(load for load, m in boost.items() if m <= minutes)
            still = [load for load in ended if on.get(load) is not False]
            assert not still, (
                f"boost pressed: load(s) {still} configured for {minutes} min are still on "
                f"{minutes * 60 + BOOST_MARGIN_S:g} s later ({describe_switches(on)})")
    finally:
        # Whatever happened, no boost is left running for the cases that follow.
        bench.sleep(max(0.0, pressed_at + max(boost.values()) * 60 + BOOST_MARGIN_S
                        - clock.monotonic()))


def switches(ctx: SrvContext) -> dict[int, bool | None]:
    """Each load on or off as the bench sees it: the optical port's C.90.1 for every load,
    ZigBee On/Off for load 1; where the two disagree the load reads ``None``."""
    seen: dict[int, bool | None] = {}
    loads = ctx.optical_loads()
    if loads is not None:
        seen = {int(load): bool(state) for load, state in loads["switches"].items()}
    zigbee = ctx.aux_switch()
    if zigbee is not None:
        seen[1] = zigbee if seen.get(1, zigbee) == zigbee else None
    return seen


def describe_switches(seen: dict[int, bool | None]) -> str:
    return ", ".join(f"load {load} " + {True: "on", False: "off", None: "on over one port "
                                         "and off over the other"}[state]
                     for load, state in sorted(seen.items())) or "no switch observable"
