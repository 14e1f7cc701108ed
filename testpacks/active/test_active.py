"""Active migration pack.

An active installation is operated by a supplier, and its consumer lives with it: the migration
must not interrupt supply, change the tariff, the prepayment credit or the payment mode, or
leave the PPMID without its balance or the IHD without data. Then the same checks as the dormant
pack: devices operational, key rotation within 7 days, CoS alerts every time, rollback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from harness.bench import Bench
from harness.han.events import HanEvent, match
from harness.migration import MigrationRecord
from testpacks.common.migration import (  # noqa: F401  (shared cases run under this pack)
    meters,
    migrate,
    require_migrated,
    test_change_of_supplier_alert_every_time,
    test_devices_operational_after_migration,
    test_devices_stay_on_the_han_through_migration,
    test_key_rotation_confirmed_on_first_attempt,
    test_key_rotation_within_7_days,
    test_migration_completes,
    test_no_alert_flood_after_migration,
    test_rollback_leaves_devices_as_they_were,
)

pytestmark = [pytest.mark.pack("active"), pytest.mark.status("active")]

SUPPLY_ON = 2
PRICE_ATTRIBUTES = ("no_tier_block1_price", "standing_charge")
PREPAY_ATTRIBUTES = ("payment_control_configuration", "credit_remaining")
BALANCE = re.compile(rb"BALANCE\s+(-?\d+)p")
ELECTRICITY = re.compile(rb"ELEC\s+([\d.]+)\s*kWh")


@dataclass
class Consumer:
    """What the consumer had before migration, and the supply reports during it."""

    tariff: dict[str, Any] = field(default_factory=dict)
    prepayment: dict[str, Any] = field(default_factory=dict)
    joined: dict[str, bool] = field(default_factory=dict)
    events_mark: int = 0


@pytest.fixture(scope="module")
def consumer_and_migration(bench: Bench) -> Iterator[tuple[Consumer, MigrationRecord]]:
    """Note what the consumer has, watch the supply over ZigBee, migrate once."""
    consumer = Consumer()
    esme = bench.devices.get("ESME")
    for meter in meters(bench):
        # Supply status reports on any change, and at least hourly, for the whole migration.
        meter.zigbee.configure_reporting("metering", "supply_status", 0, 3600, 1)
    if esme is not None:
        if esme.zigbee.has_server_cluster("price"):
            consumer.tariff = esme.zigbee.read("price", *PRICE_ATTRIBUTES)
        if esme.zigbee.has_server_cluster("prepayment"):
            consumer.prepayment = esme.zigbee.read("prepayment", *PREPAY_ATTRIBUTES)
    consumer.joined = {d.role: d.is_joined for d in bench.devices.values()}
    consumer.events_mark = bench.events.mark()
    record = migrate(bench)
    yield consumer, record
    bench.dcc.reset_enrolment()


@pytest.fixture
def consumer(consumer_and_migration: tuple[Consumer, MigrationRecord]) -> Consumer:
    return consumer_and_migration[0]


@pytest.fixture
def migration(consumer_and_migration: tuple[Consumer, MigrationRecord]) -> MigrationRecord:
    return consumer_and_migration[1]


def test_supply_never_interrupted(bench: Bench, consumer: Consumer,
                                  migration: MigrationRecord) -> None:
    """No meter reported its supply anything but on during migration, and it is on now."""
    require_migrated(migration)

    def supply_report(event: HanEvent) -> bool:
        return event.name == "supply_status"

    reports = bench.events.since(consumer.events_mark,
                                 match("attribute_report", where=supply_report))
    interrupted = [(e.device, e.time.isoformat(), e.value) for e in reports
                   if int(e.value) != SUPPLY_ON]
    assert not interrupted, f"supply interrupted during migration: {interrupted}"
    for meter in meters(bench):
        now = int(meter.zigbee.read_one("metering", "supply_status"))
        assert now == SUPPLY_ON, f"{meter.role} supply is {now} after migration"


@pytest.mark.device("ESME")
def test_tariff_preserved(bench: Bench, consumer: Consumer, migration: MigrationRecord) -> None:
    require_migrated(migration)
    if not consumer.tariff:
        pytest.skip("not applicable: the ESME has no Price cluster to read the tariff from")
    after = bench.device("ESME").zigbee.read("price", *PRICE_ATTRIBUTES)
    assert after == consumer.tariff, f"tariff before {consumer.tariff}, after {after}"


@pytest.mark.device("ESME")
def test_prepayment_credit_and_mode_preserved(bench: Bench, consumer: Consumer,
                                              migration: MigrationRecord) -> None:
    require_migrated(migration)
    if not consumer.prepayment:
        pytest.skip("not applicable: the ESME has no Prepayment cluster")
    after = bench.device("ESME").zigbee.read("prepayment", *PREPAY_ATTRIBUTES)
    assert after == consumer.prepayment, (
        f"payment mode / credit before {consumer.prepayment}, after {after}")


def _display(bench: Bench, role: str) -> bytes:
    device = bench.device(role)
    if not device.has_console:
        pytest.skip(f"blocked: the {role}'s display cannot be observed on this bench "
                    "(no console adapter bound to it in the lab config)")
    console = device.console
    console.send_line("display")
    return console.expect(rb"(?s)DISPLAY(.*?)END", timeout=5).group(1)


@pytest.mark.device("PPMID", "ESME")
def test_ppmid_joined_and_showing_the_balance(bench: Bench, consumer: Consumer,
                                              migration: MigrationRecord) -> None:
    require_migrated(migration)
    ppmid = bench.device("PPMID")
    assert consumer.joined.get("PPMID"), "the PPMID was not joined before migration"
    assert ppmid.is_joined, "the PPMID is no longer joined after migration"
    shown = BALANCE.search(_display(bench, "PPMID"))
    assert shown, "the PPMID shows no balance"
    credit = int(bench.device("ESME").zigbee.read_one("prepayment", "credit_remaining"))
    assert int(shown.group(1)) == credit, (
        f"the PPMID shows {shown.group(1)}p, the ESME holds {credit}p")


@pytest.mark.device("IHD", "ESME")
def test_ihd_receiving_data(bench: Bench, consumer: Consumer,
                            migration: MigrationRecord) -> None:
    require_migrated(migration)
    ihd = bench.device("IHD")
    assert ihd.is_joined, "the IHD is no longer joined after migration"
    bench.sleep(60)  # the IHD refreshes what it shows
    shown = ELECTRICITY.search(_display(bench, "IHD"))
    assert shown, "the IHD shows no electricity reading"
    register = bench.device("ESME").read_register_kwh()
    assert abs(Decimal(shown.group(1).decode()) - register) <= Decimal("0.5"), (
        f"the IHD shows {shown.group(1).decode()} kWh, the ESME register is {register}")
