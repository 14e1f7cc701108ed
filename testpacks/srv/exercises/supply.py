"""Supply (7.1, 7.2, 7.3), auxiliary load switches (7.5, 7.6) and boost (7.9, 7.10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testpacks.srv.context import supply_off, supply_on
from testpacks.srv.exercise import Exercise

if TYPE_CHECKING:
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext



class Supply(Exercise):
    """7.1 / 7.2 / 7.3: Metering SupplyStatus reads On / Off / Armed afterwards."""

    what = "the Metering SupplyStatus"

    def __init__(self, srv: str, target: str, start: str) -> None:
        #: The state the SRV must leave, and the state to start from so the change shows.
        self.srv, self.target, self.start = srv, target, start

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.supply()

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if original == self.start:
            return False
        (supply_on if self.start == "On" else supply_off)(ctx)
        return True

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        return self.target

    def restore(self, ctx: SrvContext, original: Any) -> None:
        supply_on(ctx)


# -- auxiliary load and boost --------------------------------------------------------------------

class AuxLoad(Exercise):
    """7.5 / 7.6: the switch shows in the device's event log; the boost configuration (7.11)
    and the optical readout's settings stay as they were. Refused: nothing changes."""

    what = "event log, boost configuration (7.11) and optical settings"
    load = 1

    def __init__(self, srv: str) -> None:
        self.srv = srv

    def observe(self, ctx: SrvContext) -> Any:
        loads = ctx.optical_loads()
        return {"event_log": ctx.log("Event"), "boost": ctx.boost(), "optical": ctx.optical(),
                "switch_zigbee": ctx.aux_switch(),
                "switch_optical": None if loads is None else loads["switches"].get("1")}

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if self.srv == "7.6" and ctx.supports("7.5"):  # something to deactivate
            ctx.send("7.5", AuxiliaryLoad=self.load)
            return True
        return False

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"AuxiliaryLoad": self.load}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        after = self.observe(ctx)
        problems = []
        if before["event_log"] is not None and after["event_log"] == before["event_log"]:
            problems.append("the event log (6.13) shows no new entry")
        for key in ("boost", "optical"):
            if after[key] != before[key]:
                problems.append(f"{key} changed from {before[key]} to {after[key]}")
        on = self.srv == "7.5"
        if after["switch_zigbee"] is not None and after["switch_zigbee"] != on:
            problems.append(f"the switch reads {'on' if after['switch_zigbee'] else 'off'} "
                            "over ZigBee (On/Off)")
        if after["switch_optical"] is not None and after["switch_optical"] != int(on):
            problems.append(f"the optical readout shows load 1 = {after['switch_optical']}")
        return "; ".join(problems) or None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        after = self.observe(ctx)
        changed = [f"{key} from {before[key]} to {after[key]}" for key in before
                   if after[key] != before[key]]
        return ("changed: " + "; ".join(changed)) if changed else None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        if self.srv == "7.5" and ctx.supports("7.6"):
            ctx.send("7.6", AuxiliaryLoad=self.load)


class Boost(Exercise):
    """7.9 / 7.10: the boost configuration read by 7.11 gains / loses the load; the optical
    readout's settings agree. Refused: neither changes (Liberty 110: restricted)."""

    what = "boost configuration (7.11) and optical settings"
    duration_min = 45

    def __init__(self, srv: str) -> None:
        self.srv = srv

    def observe(self, ctx: SrvContext) -> Any:
        loads = ctx.optical_loads()
        return {"boost": ctx.boost(), "optical": ctx.optical(),
                "optical_boost": None if loads is None else loads["boost"]}

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if self.srv == "7.10" and original["boost"] == {} and ctx.supports("7.9"):
            ctx.send("7.9", AuxiliaryLoad=2, BoostDurationMinutes=30)  # something to remove
            return True
        return False

    def _load(self, before: Any) -> int:
        configured = sorted(int(k) for k in (before["boost"] or {}))
        if self.srv == "7.10":
            return configured[0] if configured else 1
        return next((n for n in range(1, 6) if n not in configured), 1)

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        load = self._load(before)
        if self.srv == "7.10":
            return {"AuxiliaryLoad": load}
        current = (before["boost"] or {}).get(str(load))
        duration = self.duration_min if current != self.duration_min else self.duration_min + 5
        return {"AuxiliaryLoad": load, "BoostDurationMinutes": duration}

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        if before["boost"] is None:
            return None
        boost = dict(before["boost"])
        load = str(params["AuxiliaryLoad"])
        if self.srv == "7.9":
            boost[load] = params["BoostDurationMinutes"]
        else:
            boost.pop(load, None)
        optical_boost = None if before["optical_boost"] is None else dict(boost)
        return {"boost": boost, "optical": before["optical"], "optical_boost": optical_boost}

    def restore(self, ctx: SrvContext, original: Any) -> None:
        if original["boost"] is None:
            return
        current = ctx.boost() or {}
        for load in sorted(set(current) - set(original["boost"])):
            if ctx.supports("7.10"):
                ctx.send("7.10", AuxiliaryLoad=int(load))
        for load, duration in sorted(original["boost"].items()):
            if current.get(load) != duration and ctx.supports("7.9"):
                ctx.send("7.9", AuxiliaryLoad=int(load), BoostDurationMinutes=int(duration))
        after = ctx.boost()
        assert after == original["boost"], (
            f"could not put the boost configuration back: {after}, was {original['boost']}")
