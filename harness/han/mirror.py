"""The CHF's Smart Energy Metering mirror: a sleepy meter's data, held where it can be read.

A SMETS1 gas meter (GSME) is a battery device that sleeps: it wakes, pushes its Metering
attributes to the hub (ZCL Report_Attributes to the hub's Smart Energy endpoint) and sleeps
again. Reading it directly costs an end-device timeout for every read it sleeps through; the
hub answers from its mirror instead. :class:`MeteringMirror` is that copy: each reported value
with the bench time it arrived, fed by the CHF from every Metering report the meter sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

METERING_CLUSTER = 0x0702


class MirrorEmpty(LookupError):
    """The meter has not (yet) reported an attribute asked of its mirror."""


@dataclass(frozen=True)
class MirroredValue:
    value: Any
    monotonic: float
    time: datetime


class MeteringMirror:
    """The latest Metering attributes one meter reported to the hub, by attribute name."""

    def __init__(self, eui: str) -> None:
        self.eui = eui
        self.values: dict[str, MirroredValue] = {}
        self.reports = 0

    def update(self, name: str, value: Any, monotonic: float, time: datetime) -> None:
        self.values[name] = MirroredValue(value, monotonic, time)
        self.reports += 1

    def read(self, *names: str, now: float | None = None,
             max_age_s: float | None = None) -> dict[str, Any]:
        """The mirrored values; :class:`MirrorEmpty` names what was never reported (or, given
        ``now`` and ``max_age_s``, was reported too long ago)."""
        missing = [n for n in names if n not in self.values]
        if missing:
            raise MirrorEmpty(f"{self.eui} has not reported {', '.join(missing)} to the CHF's "
                              "Metering mirror")
        if now is not None and max_age_s is not None:
            stale = [n for n in names if now - self.values[n].monotonic > max_age_s]
            if stale:
                raise MirrorEmpty(f"{self.eui}: the mirror's {', '.join(stale)} is older than "
                                  f"{max_age_s:g} s")
        return {n: self.values[n].value for n in names}
