"""Shared migration cases: run the migration once per pack module, then judge what it left.

Every judgement here uses what the DCC and the HAN show: the migration's own step record,
Service Responses, ZigBee reads, alerts. Nothing reads how the emulator was told to behave.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from harness.dcc.alerts import alert
from harness.han.events import match
from harness.migration import MigrationPlan, MigrationRecord
from harness.migration.model import KEY_ROTATION_DEADLINE_S, KEY_ROTATION_RETRY_S, STEPS

if TYPE_CHECKING:
    from harness.bench import Bench

METERS = ("ESME", "GSME")
#: Change of supplier events for the CoS alert case (the seeds: alerts lost in 1/3 of events).
COS_EVENTS = 12
#: Bench time watched for unsolicited alerts after migration, and how many are tolerable. On a
#: real bench the wall time watched is bounded by the lab's ``process.watch_s`` (the case says
#: so): the rest of the day passes on the process timeline.
ALERT_WATCH_S = 24 * 3600
ALERT_BUDGET = 2


def plan_for(bench: Bench) -> MigrationPlan:
    """The migration the programme asks for this installation (the lab config's periods)."""
    return MigrationPlan(
        status=bench.status,  # type: ignore[arg-type]
        dormant_meter=bench.dormant_meter,
        notification_working_days=bench.lab.migration.notification_working_days,
        target_firmware={str(role): v for role, v in bench.dmc.target_firmware.items()},
    )


def migrate(bench: Bench, *, before_step: dict[str, Any] | None = None,
            plan: MigrationPlan | None = None, **hooks: Any) -> MigrationRecord:
    """The migration (``plan``, else :func:`plan_for`), each step's evidence noting the HAN
    event stream's mark when the step began (``han_event_mark``), so a case can tell which
    step a HAN event happened in."""
    marks: dict[str, int] = {}

    def marking(name: str) -> Any:
        inner = (before_step or {}).get(name)

        def hook() -> None:
            marks[name] = bench.events.mark()
            if inner is not None:
                inner()
        return hook

    record = bench.migration(plan or plan_for(bench),
                             before_step={name: marking(name) for name in STEPS},
                             **hooks).run()
    for name, mark in marks.items():
        record.step(name).note(han_event_mark=mark)
    return record


def require_migrated(record: MigrationRecord) -> None:
    assert record.outcome == "migrated", (
        f"the migration did not complete: {record.outcome} at step {record.failed_step}: "
        f"{record.step(record.failed_step).detail if record.failed_step else ''}"
    )


def meters(bench: Bench) -> list[Any]:
    return [d for d in bench.devices.values() if d.role in METERS]


def supplier_of(bench: Bench, role: str) -> str:
    """The responsible supplier the migration data names for a meter (the run's input)."""
    eui = bench.device(role).eui
    for record in bench.dcc.registration_data():
        if record.eui == eui and record.responsible_supplier:
            return record.responsible_supplier
    raise AssertionError(f"the migration data names no supplier for the {role}")


def responsible_supplier(bench: Bench, role: str) -> str | None:
    """Who the DCC says supplies the meter now (8.2 Read Inventory, as an other User)."""
    response = bench.dcc.send("8.2", role, user=bench.dcc.keystore.user_for_role("OU").name)
    for _ in range(2):  # a response without a code says nothing: ask again
        if response.code is not None:
            break
        response = bench.dcc.send("8.2", role, user=bench.dcc.keystore.user_for_role("OU").name)
    return response.body.get("ResponsibleSupplier")


# -- shared cases ---------------------------------------------------------------------------

def test_migration_completes(migration: MigrationRecord) -> None:
    require_migrated(migration)
    states = {s.name: s.state for s in migration.steps}
    assert all(state in ("passed", "skipped") for state in states.values()), states


def test_devices_operational_after_migration(bench: Bench, migration: MigrationRecord) -> None:
    """Registers, supply status and the device log answer through the DCC after migration."""
    require_migrated(migration)
    dcc = bench.dcc
    esme = bench.devices.get("ESME")
    if esme is not None:
        response = dcc.send("4.1.1", "ESME", user=supplier_of(bench, "ESME"))
        assert response.code == "I0", f"4.1.1: {response}"
        over_han = esme.read_register_kwh()
        assert abs(Decimal(response.body["ImportRegister"]) - over_han) <= Decimal("0.01"), (
            f"4.1.1 says {response.body['ImportRegister']} kWh, the meter {over_han}")
    for meter in meters(bench):
        response = dcc.send("7.4", meter.role, user=supplier_of(bench, meter.role))
        assert response.code == "I0", f"{meter.role} 7.4: {response}"
        on_han = int(meter.read_metering("supply_status")["supply_status"])
        names = {0: "Off", 1: "Armed", 2: "On"}
        assert response.body.get("SupplyStatus") == names[on_han], (
            f"{meter.role} 7.4 says {response.body}, the meter {names[on_han]}")
    response = dcc.send("8.9", "CHF", user=supplier_of(bench, "ESME" if esme else "GSME"))
    assert response.code == "I0", f"8.9: {response}"
    logged = {e["DeviceID"]: e["Joined"] for e in response.body["DeviceLog"]}
    missing = [d.role for d in bench.devices.values() if not logged.get(d.eui)]
    assert not missing, f"not joined in the CHF device log after migration: {missing}"


def test_devices_stay_on_the_han_through_migration(bench: Bench,
                                                   migration: MigrationRecord) -> None:
    """No device leaves the HAN while it is migrated (a ``left`` HAN event between the first
    step's start and the last step's end), and every device is on it afterwards. A device that
    left is named with the step it left during."""
    require_migrated(migration)
    began = [(e["han_event_mark"], s.name) for s in migration.steps for e in s.evidence
             if "han_event_mark" in e]
    assert began, "the migration record does not say when its steps began (HAN event marks)"
    end = max(datetime.fromisoformat(str(s.finished_at)) for s in migration.steps
              if s.finished_at)
    roles = {d.eui: d.role for d in bench.devices.values()}
    problems = []
    for event in bench.events.since(min(began)[0], match("left")):
        if event.device in roles and event.time <= end:
            # The last step (in order) begun before the event: steps begin in order, and one
            # that saw no HAN event has the same mark as the step before it.
            during = [name for mark, name in began if mark < event.seq][-1]
            problems.append(f"the {roles[event.device]} left the HAN during {during} "
                            f"(at {event.time.isoformat()})")
    off = [d.role for d in bench.devices.values() if not d.is_joined]
    if off:
        problems.append(f"not on the HAN after migration: {', '.join(off)}")
    assert not problems, "; ".join(problems)


def test_key_rotation_confirmed_on_first_attempt(migration: MigrationRecord) -> None:
    """Every meter confirms its first management key rotation (110031 is the known failure)."""
    require_migrated(migration)
    rotation = migration.key_rotation
    assert rotation, "the migration record has no key rotation"
    unconfirmed = {role: r["attempts"][0] for role, r in rotation.items()
                   if not r["first_attempt_confirmed"]}
    assert not unconfirmed, f"first key rotation attempt not confirmed: {unconfirmed}"


def test_key_rotation_within_7_days(bench: Bench, migration: MigrationRecord) -> None:
    """Rotated, confirmed within 7 days retrying at least 5 minutes apart, and in use."""
    require_migrated(migration)
    for role, rotation in migration.key_rotation.items():
        confirmed = rotation["confirmed_after_s"]
        assert confirmed is not None, f"{role}: key rotation never confirmed: {rotation}"
        assert confirmed <= KEY_ROTATION_DEADLINE_S, f"{role}: confirmed after {confirmed} s"
        times = [a["at_s"] for a in rotation["attempts"]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(g >= KEY_ROTATION_RETRY_S for g in gaps), f"{role}: retries too close {gaps}"
    # Verified: a command signed with the new key is accepted by each meter.
    for meter in meters(bench):
        response = bench.dcc.send("6.11", meter.role, user=supplier_of(bench, meter.role))
        assert response.code == "I0", (
            f"{meter.role} refused a command signed with its new management key: {response}")


def test_change_of_supplier_alert_every_time(bench: Bench, migration: MigrationRecord) -> None:
    """Each change of supplier credentials raises its CoS loss alert (61224: 1 in 3 lost), on
    every meter with a supplier (ESME and GSME alike), each judged on its own events."""
    require_migrated(migration)
    judged = [m for m in meters(bench) if responsible_supplier(bench, m.role)]
    assert judged, "no meter of the installation has a responsible supplier to change"
    missing: dict[str, list[int]] = {}
    problems: list[str] = []
    for meter in judged:
        lost, trouble = _cos_events(bench, meter)
        if lost:
            missing[meter.role] = lost
        problems += [f"{meter.role} {p}" for p in trouble]
    # Named only when it happened: the reason says what failed (attribution).
    problems[:0] = [f"{role}: {len(lost)} of {COS_EVENTS} change of supplier events raised no "
                    f"CoS loss alert (events {lost})" for role, lost in missing.items()]
    assert not problems, "; ".join(problems)


def _cos_events(bench: Bench, meter: Any) -> tuple[list[int], list[str]]:
    """:data:`COS_EVENTS` changes of the meter's supplier between two suppliers of its role:
    the events without a CoS loss alert, and anything else that went wrong. The meter is
    handed back to its supplier afterwards."""
    dcc = bench.dcc
    suppliers = [u.name for u in dcc.keystore.users.values()
                 if u.role == ("IS" if meter.role == "ESME" else "GS")][:2]
    if len(suppliers) < 2:
        return [], ["cannot change supplier: the bench needs two suppliers of its role"]
    original = current = supplier_of(bench, meter.role)
    missing: list[int] = []
    problems: list[str] = []
    try:
        for event in range(1, COS_EVENTS + 1):
            new = suppliers[1] if current == suppliers[0] else suppliers[0]
            mark = dcc.alerts.mark()
            response = dcc.send("6.23", meter.role, user=current, NewSupplier=new)
            now = responsible_supplier(bench, meter.role)
            if response.code != "I0":
                problems.append(f"event {event}: {response}")
            if now != new:
                problems.append(f"event {event}: the supplier is still {now}")
                break
            raised = dcc.alerts.since(mark, alert("COS_LOSS", device=meter.eui,
                                                  recipient=current))
            if not raised:
                missing.append(event)
            current = new
    finally:
        if current != original:  # hand the meter back for the cases that follow
            dcc.send("6.23", meter.role, user=current, NewSupplier=original)
    return missing, problems


def test_no_alert_flood_after_migration(bench: Bench, migration: MigrationRecord) -> None:
    """A day of steady supply raises (almost) no Power or Voltage alerts (risk 11); on a real
    bench the window actually watched is the lab's ``process.watch_s``, and the case says so."""
    require_migrated(migration)
    dcc = bench.dcc
    mark = dcc.alerts.mark()
    watched = bench.timeline.watch(ALERT_WATCH_S)
    bench.note(f"alert flood: {watched.describe()}")
    raised = [a for a in dcc.alerts.since(mark) if a.code in ("POWER_ALERT", "VOLTAGE_ALERT")]
    assert len(raised) <= ALERT_BUDGET, (
        f"{len(raised)} Power/Voltage alerts in {watched.window} of steady supply"
        + (f" ({watched.describe()})" if watched.shortened else ""))


def test_rollback_leaves_devices_as_they_were(bench: Bench, migration: MigrationRecord) -> None:
    """A device lost mid-migration makes it roll back; afterwards every device works as
    before (not left "dumb"), and the step record says what was undone."""
    victim = bench.devices.get("GSME") or bench.devices.get("ESME")
    if victim is None or victim.power is None:
        pytest.skip("not applicable: needs a meter on a relay channel to lose it mid-migration")
    bench.dcc.unenrol_all()
    record = migrate(bench, before_step={"commissioning": victim.power.off},
                     on_failure=victim.power.on)
    try:
        assert record.outcome == "rolled_back", record.summary()
        # Lost before commissioning: commissioning or the post-migration checks find it.
        assert record.failed_step in ("commissioning", "post_checks"), record.summary()
        rollback = record.step("rollback")
        assert rollback.state == "passed", rollback.detail
        undone = [s.name for s in record.steps if s.state == "rolled_back"]
        assert "inventory_and_device_log" in undone and "replace_credentials" in undone, undone
    finally:
        victim.power.on()
        victim.commission()
        require_migrated(migrate(bench))  # the installation migrated again for later cases
