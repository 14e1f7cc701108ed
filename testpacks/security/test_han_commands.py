"""Supply changes on the HAN: a meter takes them only from the DCC, in a signed envelope.

A ZCL frame on the HAN says nothing of which DCC User sent it: any node holding the network key
can send one. The harness's own radio plays that node, so each command goes to the meter
straight over ZigBee, with none of the harness's own (DCC-side) checks in the way:

``test_a_supply_change_on_the_han_is_refused[<attack>-<ESME|GSME>]``, attacks:

- ``change_supply_off``: a well-formed Metering ChangeSupply (supply Off) from a HAN node;
- ``local_change_supply_off``: a LocalChangeSupply to Off;
- ``local_restore_of_a_disabled_supply``: after a Disable Supply (SR 7.2, not armed), a
  LocalChangeSupply to On. Only an armed supply is the consumer's to restore locally (the srv
  pack's gas meters are put back on that way).

Each is refused by the meter: Metering SupplyStatus over ZigBee unchanged and the frame
answered with a status other than SUCCESS (or not at all).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from testpacks.security.helpers import REFUSED_BY_DEVICE, context
from testpacks.srv.context import SUPPLY_VALUES, supply_off, supply_on

if TYPE_CHECKING:
    from harness.bench import Bench
    from testpacks.srv.context import SrvContext

pytestmark = [pytest.mark.pack("security"), pytest.mark.security, REFUSED_BY_DEVICE,
              pytest.mark.destructive]

METERS = ["ESME", "GSME"]
meters = pytest.mark.parametrize("role", [pytest.param(r, marks=pytest.mark.device(r))
                                          for r in METERS])


def answer_status(answer: Any) -> str:
    """What a meter answered a ZCL command: a Default Response's status, or the reply's name."""
    status = getattr(answer, "status", None)
    if status is not None:
        return getattr(status, "name", str(status))
    return type(answer).__name__ if answer is not None else "no answer"


def sent_on_the_han(ctx: SrvContext, command: str, proposed: str, attack: str) -> None:
    """Send ``command`` with ``proposed`` supply; the meter must refuse it and keep its supply."""
    before = ctx.supply()
    params: dict[str, Any] = {"proposed_supply_status": SUPPLY_VALUES[proposed]}
    if command == "change_supply":
        params.update(provider_id=1, issuer_event_id=1, request_date_time=0,
                      implementation_date_time=0, supply_control_bits=0)
    try:
        answer = ctx.zigbee.command("metering", command, **params)
        said = answer_status(answer)
    except Exception as exc:  # no answer at all is a refusal too; the supply tells
        said = f"no answer ({type(exc).__name__})"
    after = ctx.supply()
    if after != before:
        with contextlib.suppress(Exception):  # the failure below is the one to report
            (supply_on if before == "On" else supply_off)(ctx)
        pytest.fail(f"the {ctx.role} acted on {attack} (answered {said}): its supply went from "
                    f"{before} to {after} (Metering SupplyStatus)", pytrace=False)
    assert said != "SUCCESS", (f"the {ctx.role} answered {attack} with SUCCESS although its "
                               "supply did not change: a refusal must say so")


#: Attack -> (ZCL command, proposed supply, the supply to start from, what it is).
ATTACKS = {
    "change_supply_off": ("change_supply", "Off", "On",
                          "a ZCL ChangeSupply (Off) from a HAN node"),
    "local_change_supply_off": ("local_change_supply", "Off", "On",
                                "a ZCL LocalChangeSupply (Off) from a HAN node"),
    "local_restore_of_a_disabled_supply": ("local_change_supply", "On", "Off",
                                           "a ZCL LocalChangeSupply (On) after a Disable "
                                           "Supply (7.2, not armed)"),
}


@meters
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_supply_change_on_the_han_is_refused(bench: Bench, dcc: Any, role: str,
                                               attack: str) -> None:
    """A supply change sent to the meter over ZigBee: refused, the supply as it was; the
    supply is put back on afterwards (by the DCC's way)."""
    command, proposed, start, what = ATTACKS[attack]
    ctx = context(bench, dcc, role)
    (supply_on if start == "On" else supply_off)(ctx)
    try:
        sent_on_the_han(ctx, command, proposed, what)
    finally:
        supply_on(ctx)
