"""HAN services and the device log: joining displays to a meter (8.7.1, 8.8.1), the device
log (8.11) and decommissioning (8.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from harness.han.chf import NotJoined
from testpacks.srv.context import HAN_DISPLAYS, JOIN_TIME_PERIOD_S
from testpacks.srv.exercise import Exercise

if TYPE_CHECKING:
    from harness.bench import BenchDevice
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext



class JoinService(Exercise):
    """8.7.1 / 8.8.1: a message sent through the meter (3.1) reaches / no longer reaches the
    PPMID (else the IHD); without 3.1 on the meter, its event log shows the change."""

    what = "displays reached through the meter (3.1), else its event log"

    def __init__(self, srv: str) -> None:
        self.srv = srv
        self.join = srv == "8.7.1"

    def other_value(self, ctx: SrvContext) -> BenchDevice:
        displays = ctx.displays()
        if not displays:
            pytest.skip(f"not applicable: DMC {ctx.bench.dmc.id} has no PPMID or IHD to join "
                        "to a meter")
        return displays[0]

    def observe(self, ctx: SrvContext) -> Any:
        reached = ctx.displays_reached()
        return reached if reached is not None else ctx.log("Event")

    def _set(self, ctx: SrvContext, joined: bool) -> None:
        srv = "8.7.1" if joined else "8.8.1"
        if ctx.supports(srv):
            ctx.read(srv, accept=("E080702", "E080801"), OtherDeviceID=self.other_value(ctx).eui)

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if isinstance(original, frozenset):
            role = self.other_value(ctx).role
            if (role in original) == (not self.join):
                return False
        self._set(ctx, joined=not self.join)
        return True

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"OtherDeviceID": self.other_value(ctx).eui}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        after = self.observe(ctx)
        if isinstance(after, frozenset):
            role = self.other_value(ctx).role
            if (role in after) != self.join:
                state = "does not reach" if self.join else "still reaches"
                return f"a message through the {ctx.role} {state} the {role} ({sorted(after)})"
            return None
        if before is not None and after == before:
            return "the event log (6.13) shows no new entry"
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        self._set(ctx, joined=True)
        if isinstance(original, frozenset):
            after = self.observe(ctx)
            assert after == original, (f"could not restore the displays reached through the "
                                       f"{ctx.role}: {sorted(after)}, was {sorted(original)}")


class DeviceLogUpdate(Exercise):
    """8.11: Remove takes the IHD (else the PPMID) out of the device log and off the HAN; Add
    with its install code lets it join inside the JoinTimePeriod, listed joined by 8.9."""

    srv = "8.11"
    what = "the device log (8.9) and the HAN"

    def _device(self, ctx: SrvContext) -> BenchDevice:
        for role in reversed(HAN_DISPLAYS):
            if role in ctx.bench.devices:
                return ctx.bench.devices[role]
        pytest.skip(f"not applicable: DMC {ctx.bench.dmc.id} has no IHD or PPMID to add to "
                    "the device log")
        raise AssertionError  # unreachable

    def observe(self, ctx: SrvContext) -> Any:
        device = self._device(ctx)
        logged = ctx.device_log()
        return {"listed": device.eui in logged, "listed_joined": logged.get(device.eui, False),
                "on_han": device.is_joined}

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        device = self._device(ctx)
        response = ctx.send(self.srv, DeviceID=device.eui, RequestType="Remove")
        assert ctx.is_success(self.srv, response), (
            f"8.11 Remove of the {device.role}: {ctx.describe(response)}")
        state = self.observe(ctx)
        assert not state["listed"] and not state["on_han"], (
            f"after 8.11 Remove the {device.role} is still "
            f"{'in the device log' if state['listed'] else 'on the HAN'}")
        return True

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        device = self._device(ctx)
        return {"DeviceID": device.eui, "RequestType": "Add",
                "JoinTimePeriod": JOIN_TIME_PERIOD_S,
                "InstallCode": device.install_code.reveal()}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        device = self._device(ctx)
        try:
            device.wait_joined(JOIN_TIME_PERIOD_S)
        except NotJoined:
            if device.power is None:
                return f"the {device.role} did not join within {JOIN_TIME_PERIOD_S} s"
            device.power.cycle()  # a device that gave up trying joins again after power-on
            try:
                device.wait_joined(JOIN_TIME_PERIOD_S)
            except NotJoined:
                return (f"the {device.role} did not join within the JoinTimePeriod, even "
                        "after a power cycle")
        state = self.observe(ctx)
        if not state["listed_joined"]:
            return f"the {device.role} joined but 8.9 does not list it joined: {state}"
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        device = self._device(ctx)
        if not device.is_joined:
            device.commission(JOIN_TIME_PERIOD_S)


class Decommission(Exercise):
    """8.3: a decommissioned device is refused SRs (E5). Only a new enrolment undoes it, so
    the case is destructive. Refused: the device stays joined and listed by 8.9."""

    srv = "8.3"
    destructive = True
    what = "the device's place on the HAN and in the device log"

    def observe(self, ctx: SrvContext) -> Any:
        logged = ctx.device_log()
        return {"on_han": ctx.device is not None and ctx.device.is_joined,
                "listed": ctx.eui in logged}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        probe = next((s for s in ("8.1.1", "7.4", "6.13") if ctx.supports(s)), None)
        if probe is None:
            return None
        answer = ctx.send(probe, **({"LogType": "Event"} if probe == "6.13" else {}))
        if answer.code != "E5":
            return f"the decommissioned device is answered {ctx.describe(answer)} to {probe}"
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        record = ctx.dcc.inventory.get(ctx.eui)
        if record is not None and record.status == "decommissioned":
            ctx.dcc.reset_enrolment()
        assert ctx.device is not None
        if not ctx.device.is_joined:
            ctx.device.commission()
