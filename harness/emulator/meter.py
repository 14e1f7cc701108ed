"""The metrology of an emulated meter: a register that advances with bench time.

The register is computed when read (value at the last change plus demand times elapsed time),
never ticked, so a meter left alone for seven days of virtual time costs nothing and reads the
same over ZigBee and over its optical port at any instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zigpy.zcl.clusters.smartenergy import SupplyStatus

MeterKind = Literal["electricity", "gas"]

SUPPLY_BY_NAME = {
    "on": SupplyStatus.Supply_On,
    "off": SupplyStatus.Supply_Off,
    "armed": SupplyStatus.Supply_Off_Armed,
}


@dataclass
class MeterState:
    """Register (Wh for electricity, dm3 for gas), demand (W, or dm3/h), supply and payment."""

    kind: MeterKind
    register: float
    demand: float
    since: float = 0.0
    supply: SupplyStatus = SupplyStatus.Supply_On
    payment_mode: Literal["credit", "prepayment"] = "credit"
    credit_pence: int = 0
    emergency_credit_pence: int = 0
    top_ups: list[dict[str, object]] = field(default_factory=list)

    def register_at(self, now: float) -> float:
        if self.supply != SupplyStatus.Supply_On or now <= self.since:
            return self.register
        return self.register + self.demand * (now - self.since) / 3600.0

    def register_units(self, now: float) -> int:
        """Whole Wh (or dm3): the resolution both the ZigBee and optical readings use."""
        return int(self.register_at(now))

    def settle(self, now: float) -> None:
        self.register = self.register_at(now)
        self.since = now

    def set_supply(self, status: SupplyStatus, now: float) -> None:
        self.settle(now)
        self.supply = status

    def set_demand(self, demand: float, now: float) -> None:
        self.settle(now)
        self.demand = demand

    def demand_now(self) -> float:
        return self.demand if self.supply == SupplyStatus.Supply_On else 0.0

    @property
    def unit(self) -> str:
        return "kWh" if self.kind == "electricity" else "m3"
