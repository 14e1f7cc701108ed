"""Tariff (1.1.1), credit (2.2), messages (3.1) and change of supplier (6.23)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from harness.han import clusters as se
from harness.han.events import normalise_eui
from testpacks.srv.context import (
    CONFIRMATION_WINDOW_S,
    INSTRUMENT_ATTEMPTS,
    NOT_AUTHORISED,
    drive,
)
from testpacks.srv.exercise import Exercise, other_value

if TYPE_CHECKING:
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext



class Tariff(Exercise):
    """1.1.1: the new unit rate and standing charge readable from the Price cluster."""

    srv = "1.1.1"
    what = "the Price cluster's tariff"

    def observe(self, ctx: SrvContext) -> Any:
        if not ctx.zigbee.has_server_cluster("price"):
            return None
        values = ctx.zigbee.read("price", "no_tier_block1_price", "standing_charge")
        return {"UnitRate": int(values["no_tier_block1_price"]),
                "StandingCharge": int(values["standing_charge"])}

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        spec = ctx.catalogue[self.srv].parameters
        base = before or {"UnitRate": 2000, "StandingCharge": 4000}
        return {name: other_value(base[name], step, spec[name].max or 100_000_000)
                for name, step in (("UnitRate", 137), ("StandingCharge", 211))}

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        return None if before is None else dict(params)

    def restore(self, ctx: SrvContext, original: Any) -> None:
        if original is not None:
            drive(ctx, self.srv, lambda: self.observe(ctx) == original, "put back the tariff",
                  **original)


class TopUp(Exercise):
    """2.2: credit up by the amount on a meter in prepayment mode; a meter in credit mode
    answers the catalogue's E020202 (not in prepayment mode) and keeps its credit."""

    srv = "2.2"
    what = "the Prepayment cluster's credit"
    amount = 250
    #: Credit a prepayment meter may spend between the two reads (pence).
    spend_tolerance = 1

    def observe(self, ctx: SrvContext) -> Any:
        if not ctx.zigbee.has_server_cluster("prepayment"):
            return None
        values = ctx.zigbee.read("prepayment", "payment_control_configuration",
                                 "credit_remaining")
        mode = int(values["payment_control_configuration"])
        return {"prepayment": bool(mode & se.PaymentControlConfiguration.Prepayment_Enabled),
                "credit": int(values["credit_remaining"])}

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"Amount": self.amount}

    def expected_codes(self, ctx: SrvContext, before: Any) -> tuple[str, ...]:
        if before is not None and not before["prepayment"]:
            return ("E020202",)
        return super().expected_codes(ctx, before)

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        if before is None:
            return None
        after = self.observe(ctx)
        if not before["prepayment"]:
            return None if after == before else (
                f"the meter is in credit mode, yet {self.what} went from {before} to {after}")
        gained = after["credit"] - before["credit"]
        if not params["Amount"] - self.spend_tolerance <= gained <= params["Amount"]:
            return (f"credit went from {before['credit']}p to {after['credit']}p, expected up "
                    f"by {params['Amount']}p")
        return None


class DisplayMessage(Exercise):
    """3.1: each display the response names (or every joined PPMID/IHD) confirms the message
    (ZCL MessageConfirmation on the HAN)."""

    srv = "3.1"
    what = "messages on the HAN displays"

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.bench.events.mark()

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"Message": f"DMCT SRV pack: SR 3.1 through the {ctx.role}",
                "DurationMinutes": 5}

    def expected_codes(self, ctx: SrvContext, before: Any) -> tuple[str, ...]:
        if not any(d.is_joined for d in ctx.displays()):
            return ("E030101",)  # no IHD or PPMID joined to show it
        return super().expected_codes(ctx, before)

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        named = response.body.get("DisplayedOn")
        if response.code == "E030101":
            named = []
        elif not isinstance(named, list):
            named = [d.eui for d in ctx.displays() if d.is_joined]
        euis = [normalise_eui(e) for e in named]
        confirmed = ctx.confirmations(before, response.body.get("MessageId"), euis)
        missing = [ctx.role_of(e) for e in euis if e not in confirmed]
        if missing:
            return (f"no MessageConfirmation from the {', '.join(missing)} within "
                    f"{CONFIRMATION_WINDOW_S:g} s")
        return None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        shown = ctx.confirmations(before, None, [d.eui for d in ctx.displays()])
        if shown:
            return f"the message was shown on the {', '.join(map(ctx.role_of, shown))}"
        return None


class ChangeOfSupplier(Exercise):
    """6.23: afterwards the device answers the new supplier and refuses the old one (E4);
    put back by the new supplier. (The CoS loss alert is the migration packs' case, 61224.)"""

    srv = "6.23"
    what = "the supplier the device answers"

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.sender(self.srv)

    def _probe(self, ctx: SrvContext) -> tuple[str, dict[str, Any]]:
        for srv, params in (("7.4", {}), ("4.1.1", {}), ("6.13", {"LogType": "Event"})):
            if ctx.supports(srv):
                return srv, params
        pytest.skip(f"blocked: the {ctx.role} supports no read SR to tell who it answers")
        raise AssertionError  # unreachable

    def _new_supplier(self, ctx: SrvContext, current: str) -> str:
        role = ctx.dcc.keystore.user(current).role
        others = sorted(u.name for u in ctx.dcc.keystore.users.values()
                        if u.role == role and u.name != current)
        if not others:
            pytest.skip(f"blocked: bench {ctx.bench.lab.bench} has a single {role} User; "
                        "a change of supplier needs two")
        return others[0]

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"NewSupplier": self._new_supplier(ctx, before)}

    def _answers(self, ctx: SrvContext, user: str) -> bool | str | None:
        """True if the device answers ``user`` (a read probe succeeds), else the code."""
        srv, params = self._probe(ctx)
        response = ctx.send(srv, user=user, **params)
        for _ in range(INSTRUMENT_ATTEMPTS - 1):
            if response.code is not None:
                break
            response = ctx.send(srv, user=user, **params)
        return True if ctx.is_success(srv, response) else response.code

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        new, old = params["NewSupplier"], before
        problems = []
        if (code := self._answers(ctx, new)) is not True:
            problems.append(f"the new supplier {new} is answered {code}")
        if (code := self._answers(ctx, old)) != NOT_AUTHORISED:
            problems.append(f"the old supplier {old} is answered {code}, not {NOT_AUTHORISED}")
        return "; ".join(problems) or None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        new, old = params["NewSupplier"], before
        problems = []
        if (code := self._answers(ctx, old)) is not True:
            problems.append(f"the supplier {old} is no longer answered ({code})")
        if (code := self._answers(ctx, new)) != NOT_AUTHORISED:
            problems.append(f"the other supplier {new} is answered {code}")
        return "; ".join(problems) or None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        for _ in range(2):
            current = ctx.sender(self.srv)
            if current == original:
                return
            ctx.send(self.srv, user=current, NewSupplier=original)
        assert ctx.sender(self.srv) == original, (
            f"could not give the {ctx.role} back to its supplier {original}")
