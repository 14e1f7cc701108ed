"""Mixed migration pack.

A mixed installation has one active meter and one dormant meter. Either meter can be the
dormant one, and a defect may affect one arrangement only (the supplier of a dormant GSME lost,
that of a dormant ESME kept), so every case runs twice: the installation migrated with the GSME
dormant, then again with the ESME dormant (the case ids say which: ``[GSME-dormant]``,
``[ESME-dormant]``). After each migration the DCC must know the responsible supplier of every
device, and accept Service Requests to each device from that supplier only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from harness.bench import Bench
from harness.config.types import MeterType
from harness.migration import MigrationRecord
from testpacks.common.migration import (  # noqa: F401  (shared cases run under this pack)
    meters,
    migrate,
    plan_for,
    require_migrated,
    supplier_of,
    test_devices_operational_after_migration,
    test_migration_completes,
)

pytestmark = [pytest.mark.pack("mixed"), pytest.mark.status("mixed"),
              pytest.mark.device("ESME", "GSME")]

SUPPLIER_ROLE = {"ESME": "IS", "GSME": "GS"}
#: The arrangements of a mixed installation: which meter is dormant (the other is active).
DORMANT_METERS = ("GSME", "ESME")


@pytest.fixture(scope="module", params=DORMANT_METERS,
                ids=[f"{meter}-dormant" for meter in DORMANT_METERS])
def dormant_meter(request: pytest.FixtureRequest) -> MeterType:
    """The meter migrated as dormant: each arrangement in turn."""
    meter: MeterType = request.param
    return meter


@pytest.fixture(scope="module")
def migration(bench: Bench, dormant_meter: MeterType) -> Iterator[MigrationRecord]:
    """The installation migrated once per arrangement; the DCC is left enrolled for its cases
    and reset before the next arrangement is migrated."""
    record = migrate(bench, plan=dataclasses.replace(plan_for(bench),
                                                     dormant_meter=dormant_meter))
    yield record
    bench.dcc.reset_enrolment()


@pytest.mark.srv("8.2")
def test_responsible_supplier_identified_for_every_device(
    bench: Bench, migration: MigrationRecord, dormant_meter: str
) -> None:
    """8.2 Read Inventory names the responsible supplier of each meter, active or dormant,
    and the installation status the arrangement gave it (so the arrangement was migrated)."""
    require_migrated(migration)
    unknown = {}
    for meter in meters(bench):
        user = supplier_of(bench, meter.role)
        response = bench.dcc.send("8.2", meter.role, user=user)
        assert response.code in ("I0", "I99"), f"{meter.role} 8.2: {response}"
        named = response.body.get("ResponsibleSupplier")
        status = response.body.get("InstallationStatus")
        expected_status = "dormant" if meter.role == dormant_meter else "active"
        if named != user or status != expected_status:
            unknown[meter.role] = {"installation_status": status,
                                   "expected_status": expected_status,
                                   "responsible_supplier": named, "expected": user}
    assert not unknown, f"responsible supplier not identified: {unknown}"


@pytest.mark.srv("7.4")
@pytest.mark.parametrize("role", ["ESME", "GSME"])
def test_srs_accepted_from_the_right_supplier_only(
    bench: Bench, migration: MigrationRecord, role: str
) -> None:
    """The meter's responsible supplier is answered; another supplier of the same role, and a
    supplier of the other commodity, are refused (E4) and the meter is unchanged."""
    require_migrated(migration)
    dcc = bench.dcc
    right = supplier_of(bench, role)
    response = dcc.send("7.4", role, user=right)
    assert response.code == "I0", f"{role} 7.4 from its supplier {right}: {response}"
    same_role = [u.name for u in dcc.keystore.users.values()
                 if u.role == SUPPLIER_ROLE[role] and u.name != right]
    other_role = [u.name for u in dcc.keystore.users.values()
                  if u.role == SUPPLIER_ROLE["GSME" if role == "ESME" else "ESME"]]
    for user in [*same_role[:1], *other_role[:1]]:
        refused = dcc.send("7.4", role, user=user)
        assert refused.code in ("E2", "E4"), f"{role} 7.4 from {user}: {refused}"
