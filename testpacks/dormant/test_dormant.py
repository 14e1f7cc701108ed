"""Dormant migration pack.

A dormant installation (meters in traditional mode, no supplier operating them smart) is
migrated: notifications with their working-day periods, supplier credentials replaced by the
DCC's, inventory and device log, commissioning, post-migration checks, management key rotation
within 7 days. Afterwards every device works through the DCC; a supplier can join a new PPMID;
a failed migration rolls back and leaves the devices as they were.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from harness.bench import Bench
from harness.han.chf import NotJoined
from harness.migration import MigrationRecord
from harness.workdays import working_days_between
from testpacks.common.migration import (  # noqa: F401  (shared cases run under this pack)
    require_migrated,
    supplier_of,
    test_change_of_supplier_alert_every_time,
    test_devices_operational_after_migration,
    test_devices_stay_on_the_han_through_migration,
    test_key_rotation_confirmed_on_first_attempt,
    test_key_rotation_within_7_days,
    test_migration_completes,
    test_no_alert_flood_after_migration,
    test_rollback_leaves_devices_as_they_were,
)

pytestmark = [pytest.mark.pack("dormant"), pytest.mark.status("dormant")]

#: JoinTimePeriod a supplier asks for when it installs a PPMID after migration (above the 254 s
#: of one ZigBee permit, as suppliers' installers use: the CHF must serve it, 91342).
PPMID_JOIN_TIME_PERIOD_S = 300


def test_notifications_give_working_days_notice(migration: MigrationRecord) -> None:
    """The migration notice (and any firmware notice) gives the configured working days."""
    require_migrated(migration)
    notices = [s for s in migration.steps
               if s.name in ("notify_firmware_upgrade", "notify_migration")
               and s.state != "skipped"]
    assert notices, "a dormant installation got no migration notice"
    for step in notices:
        facts = step.evidence[0]
        sent = datetime.fromisoformat(facts["sent"])
        earliest = datetime.fromisoformat(facts["earliest_action"])
        # Working days are days in England: count between the instants, not their UTC dates.
        days = working_days_between(sent, earliest)
        assert days == facts["working_days"] == migration.plan.notification_working_days, facts
        next_step = migration.steps[migration.steps.index(step) + 1]
        assert next_step.started_at is None or (
            datetime.fromisoformat(next_step.started_at) >= earliest), (
            f"{next_step.name} started before the notice period ended")


@pytest.mark.srv("8.11", "8.7.1")
@pytest.mark.device("PPMID")
def test_ppmid_joins_after_migration(bench: Bench, migration: MigrationRecord) -> None:
    """The supplier installs a PPMID after migration: 8.11 Add with a 300 s JoinTimePeriod,
    the PPMID joins inside it, 8.7.1 joins it to the ESME."""
    require_migrated(migration)
    ppmid = bench.device("PPMID")
    supplier = supplier_of(bench, "ESME")
    dcc = bench.dcc
    response = dcc.send("8.11", "CHF", user=supplier, DeviceID=ppmid.eui, RequestType="Remove")
    assert response.code == "I0", f"8.11 Remove: {response}"
    try:
        response = dcc.send("8.11", "CHF", user=supplier, DeviceID=ppmid.eui, RequestType="Add",
                            JoinTimePeriod=PPMID_JOIN_TIME_PERIOD_S,
                            InstallCode=ppmid.install_code.reveal())
        period = PPMID_JOIN_TIME_PERIOD_S
        assert response.code == "I0", (
            f"JoinTimePeriod {period}: the CHF refused SR 8.11 Add: {response}")
        try:
            ppmid.wait_joined(period)
        except NotJoined:
            if ppmid.power is not None:
                ppmid.power.cycle()
            try:
                ppmid.wait_joined(period)
            except NotJoined:
                pytest.fail(f"JoinTimePeriod {period}: the PPMID did not join within the period "
                            "(8.11 answered I0)", pytrace=False)
        response = dcc.send("8.7.1", "ESME", user=supplier, OtherDeviceID=ppmid.eui)
        assert response.code == "I0", f"8.7.1: {response}"
    finally:
        if not ppmid.is_joined:
            ppmid.commission()
