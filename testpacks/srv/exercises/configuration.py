"""Configuration SRVs whose only trace a DCC User can read is an entry in the device's log
(6.13): 6.7, 6.11, 6.14.1, 6.15.1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testpacks.srv.exercise import Exercise

if TYPE_CHECKING:
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext



class LoggedConfiguration(Exercise):
    """An SRV whose only trace a DCC User can read is an entry in the device's log (6.13)."""

    log_type = "Event"
    fixed_params: dict[str, Any] = {}
    what = "the device's log (6.13)"

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.log(self.log_type)

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return dict(self.fixed_params)

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        if before is None:
            return None
        after = self.observe(ctx)
        if after == before:
            return f"the device's {self.log_type} log (6.13) shows no new entry"
        return None


class GasFlow(LoggedConfiguration):
    srv = "6.7"
    fixed_params = {"UncontrolledGasFlowThreshold": 120,
                    "StabilisationPeriod": 10, "MeasurementPeriod": 60}


class ClockSync(LoggedConfiguration):
    srv = "6.11"


class Voltage(LoggedConfiguration):
    srv = "6.5"
    fixed_params = {"AverageRmsOverVoltageThreshold": 253,
                    "AverageRmsUnderVoltageThreshold": 216}


class Credentials(LoggedConfiguration):
    """6.15.1 with a certificate, replaced by the supplier with its own. Management key
    rotation is the migration packs' (110031)."""

    srv = "6.15.1"
    log_type = "Security"
    fixed_params = {"CredentialType": "SupplierCertificate"}
