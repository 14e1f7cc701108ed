"""Mixed migration pack.

A mixed installation has one active meter (the ESME) and one dormant meter (the GSME). After
migration the DCC must know the responsible supplier of every device, and accept Service
Requests to each device from that supplier only.
"""

from __future__ import annotations

import pytest

from harness.bench import Bench
from harness.migration import MigrationRecord
from testpacks.common.migration import (  # noqa: F401  (shared cases run under this pack)
    meters,
    require_migrated,
    supplier_of,
    test_devices_operational_after_migration,
    test_migration_completes,
)

pytestmark = [pytest.mark.pack("mixed"), pytest.mark.status("mixed"),
              pytest.mark.device("ESME", "GSME")]

SUPPLIER_ROLE = {"ESME": "IS", "GSME": "GS"}


@pytest.mark.srv("8.2")
def test_responsible_supplier_identified_for_every_device(
    bench: Bench, migration: MigrationRecord
) -> None:
    """8.2 Read Inventory names the responsible supplier of each meter, active or dormant."""
    require_migrated(migration)
    unknown = {}
    for meter in meters(bench):
        user = supplier_of(bench, meter.role)
        response = bench.dcc.send("8.2", meter.role, user=user)
        assert response.code in ("I0", "I99"), f"{meter.role} 8.2: {response}"
        named = response.body.get("ResponsibleSupplier")
        if named != user:
            unknown[meter.role] = {"installation_status": response.body.get(
                "InstallationStatus"), "responsible_supplier": named, "expected": user}
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
