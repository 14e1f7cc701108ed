"""Read SRs (4.1.1, 7.4, 6.13, 7.11, 8.1.1, 8.9, 8.2): the body agrees with what the device
shows over ZigBee and the optical port; nothing changes."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from harness.han.events import normalise_eui
from testpacks.srv.exercise import Exercise

if TYPE_CHECKING:
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext



class RegisterRead(Exercise):
    """4.1.1: the import register between two ZigBee reads of it, taken around the SR."""

    srv = "4.1.1"
    read_only = True

    def observe(self, ctx: SrvContext) -> Any:
        assert ctx.device is not None
        return ctx.device.read_register_kwh()

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        assert ctx.device is not None
        after = ctx.device.read_register_kwh()
        value = response.body.get("ImportRegister")
        if value is None:
            return f"the body has no ImportRegister: {response.body}"
        reading = Decimal(str(value))
        if response.body.get("Unit", "kWh") != "kWh":
            return f"the register is in {response.body['Unit']}, not kWh"
        rounding = Decimal("0.001")
        if not before - rounding <= reading <= after + rounding:
            return (f"it reads {reading} kWh while ZigBee read {before} kWh before and "
                    f"{after} kWh after")
        return None


class SupplyRead(Exercise):
    """7.4: the supply status the meter shows in Metering SupplyStatus."""

    srv = "7.4"
    read_only = True

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.supply()

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        after = ctx.supply()
        said = response.body.get("SupplyStatus")
        if said not in (before, after):
            return f"it says SupplyStatus {said!r}, ZigBee SupplyStatus reads {after}"
        return None


class LogRead(Exercise):
    """6.13: both logs read; each a list of entries, and a second read keeps what the first
    showed (a log only grows)."""

    srv = "6.13"
    read_only = True

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"LogType": "Event"}

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        first = response.body.get("entries")
        if not isinstance(first, list) or not all(isinstance(e, dict) for e in first):
            return f"the body has no list of log entries: {response.body}"
        again = ctx.log("Event")
        if first and again is not None and first[-1] not in again:
            return f"a second read no longer shows the latest entry {first[-1]}"
        security = ctx.log("Security")
        if security is not None and not all(isinstance(e, dict) for e in security):
            return "the Security log is not a list of entries"
        return None


class BoostRead(Exercise):
    """7.11: the boost configuration, stable between two reads; present if the model is
    documented to keep the boost configured on the HAN (``expectations``)."""

    srv = "7.11"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        boost = response.body.get("boost")
        if not isinstance(boost, dict):
            return f"the body has no boost configuration: {response.body}"
        again = ctx.boost()
        if again != {str(k): v for k, v in boost.items()}:
            return f"two reads disagree: {boost} then {again}"
        if ctx.profile.expectations.boost_from_han_config and not boost:
            return ("no boost configured, but the model is documented to keep its HAN boost "
                    "configuration (expectations.boost_from_han_config)")
        return None


class Commission(Exercise):
    """8.1.1: the device, already on the HAN, is (still) commissioned and answers ZigBee."""

    srv = "8.1.1"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        status = response.body.get("Status", "commissioned")
        if status != "commissioned":
            return f"it reports the device {status}"
        try:
            ctx.zigbee.read_one("basic", "manufacturer")
        except Exception as exc:
            return f"the device no longer answers over ZigBee: {exc}"
        return None


class DeviceLogRead(Exercise):
    """8.9: every device of the installation listed, joined exactly when it answers ZigBee."""

    srv = "8.9"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        entries = response.body.get("DeviceLog")
        if not isinstance(entries, list):
            return f"the body has no DeviceLog list: {response.body}"
        logged = {normalise_eui(e["DeviceID"]): bool(e.get("Joined")) for e in entries}
        problems = []
        for device in ctx.bench.devices.values():
            if device.eui not in logged:
                problems.append(f"the {device.role} is not in the device log")
                continue
            try:
                device.zigbee.read_one("basic", "manufacturer")
                answers = True
            except Exception:
                answers = False
            if logged[device.eui] != answers:
                problems.append(f"the {device.role} is listed "
                                f"{'joined' if logged[device.eui] else 'not joined'} but "
                                f"{'answers' if answers else 'does not answer'} over ZigBee")
        return "; ".join(problems) or None


class InventoryRead(Exercise):
    """8.2 (non-device): the DCC's record of the device: its id, its type and who supplies it."""

    srv = "8.2"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        body = response.body
        eui = ctx.bench.chf.eui if ctx.role == "CHF" else ctx.bench.devices[ctx.role].eui
        problems = []
        if normalise_eui(str(body.get("DeviceID", ""))) != eui:
            problems.append(f"DeviceID {body.get('DeviceID')!r}, not the {ctx.role} {eui}")
        if body.get("DeviceType") != ctx.role:
            problems.append(f"DeviceType {body.get('DeviceType')!r}, not {ctx.role}")
        if ctx.role in ("ESME", "GSME") and not body.get("ResponsibleSupplier"):
            problems.append("the responsible supplier cannot be identified")
        return "; ".join(problems) or None
