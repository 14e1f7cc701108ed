"""The SRV exercises: per SRV, valid parameters, an observation of device state, the change the
SRV must make, and how to put the state back.

:data:`EXERCISES` is the table, one entry per SRV of the SR catalogue; the exercises are grouped
by family in the modules of this package, on the model of :mod:`testpacks.srv.exercise` and the
bench view of :mod:`testpacks.srv.context`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from testpacks.srv.exercise import Exercise, Unmodelled
from testpacks.srv.exercises.commercial import ChangeOfSupplier, DisplayMessage, Tariff, TopUp
from testpacks.srv.exercises.configuration import ClockSync, Credentials, GasFlow, Voltage
from testpacks.srv.exercises.firmware import Firmware
from testpacks.srv.exercises.han import Decommission, DeviceLogUpdate, JoinService
from testpacks.srv.exercises.reads import (
    BoostRead,
    Commission,
    DeviceLogRead,
    InventoryRead,
    LogRead,
    RegisterRead,
    SupplyRead,
)
from testpacks.srv.exercises.supply import AuxLoad, Boost, Supply

if TYPE_CHECKING:
    from testpacks.srv.plan import Target


#: The exercises by SRV: one per SRV of the SR catalogue (a harness test checks it).
EXERCISES: dict[str, Exercise] = {exercise.srv: exercise for exercise in (
    Tariff(),
    TopUp(),
    DisplayMessage(),
    RegisterRead(),
    GasFlow(),
    ClockSync(),
    LogRead(),
    Voltage(),
    Credentials(),
    ChangeOfSupplier(),
    Supply("7.1", target="On", start="Off"),
    Supply("7.2", target="Off", start="On"),
    Supply("7.3", target="Armed", start="Off"),
    SupplyRead(),
    AuxLoad("7.5"),
    AuxLoad("7.6"),
    Boost("7.9"),
    Boost("7.10"),
    BoostRead(),
    Commission(),
    Decommission(),
    JoinService("8.7.1"),
    JoinService("8.8.1"),
    DeviceLogRead(),
    InventoryRead(),
    DeviceLogUpdate(),
    Firmware("11.1"),
    Firmware("11.4"),
    *(Unmodelled(srv) for srv in ("6.12", "6.14.1", "6.14.2", "6.14.3", "6.22", "7.7", "7.8",
                                  "7.12", "7.13")),
)}


def case_marks(target: Target) -> list[Any]:
    """The markers of a case about ``target``: its SRV, the device it needs (the CHF is always
    there), and ``destructive`` when the SRV's exercise is."""
    marks = [pytest.mark.srv(target.srv)]
    if target.role != "CHF":
        marks.append(pytest.mark.device(target.role))
    exercise = EXERCISES.get(target.srv)
    if exercise is not None and exercise.destructive:
        marks.append(pytest.mark.destructive)
    return marks
