"""The migration runner (``harness.migration``) on the emulated bench: its steps, what each
records, and what it does when a step fails.

Every test starts its own bench (``Bench.start(lab.select([dmc], [status]))``, brought up, its
DCC started) and runs one :class:`Migration` on it (``bench.migration(plan)``). Faults are
injected the way a lab would (a relay cuts a meter's supply) or, where only the emulator can do
it, through the emulated node (a brown-out that ends by itself, a silenced radio): harness tests
may, packs never do.
DMC variants live in a temporary ``profile_paths`` directory (``labkit``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from labkit import LabFiles

from harness.bench import Bench
from harness.config import LabConfig, default_lab_config_path, load_lab_config
from harness.migration import MigrationPlan, MigrationRecord, StepRecord
from harness.migration.model import KEY_ROTATION_DEADLINE_S, KEY_ROTATION_RETRY_S, STEPS
from harness.workdays import ENGLAND, is_working_day, working_days_between

#: DMC variants written by ``variant_lab``.
FIRMWARE_DMC = "TEST-FW-TARGET-DMC"  # the reference DMC, ESME target firmware 1.1.0
ACLARA_LIKE_DMC = "TEST-ACLARA-LIKE-DMC"  # the reference DMC, GSME confirms no first rotation
#: The reference DMC, its ESME's supplier lost when it is the dormant meter of a mixed
#: installation (the Aclara mixed defect on the ESME alone).
ESME_MIXED_DEFECT_DMC = "TEST-ESME-MIXED-DEFECT-DMC"
SHIPPED_START = "start: 2026-01-05T09:00:00+00:00"  # the emulated lab's virtual clock start
METERS = ("ESME", "GSME")


# -- benches ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_lab() -> LabConfig:
    return load_lab_config(default_lab_config_path(), env={})


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    """A catalogue of DMC variants (``FIRMWARE_DMC``, ``ACLARA_LIKE_DMC``)."""
    files = LabFiles(tmp_path_factory.mktemp("migration-lab"))
    files.dmc(FIRMWARE_DMC)
    path = files.profiles / "dmcs" / f"{FIRMWARE_DMC}.yaml"
    path.write_text(path.read_text() + 'target_firmware:\n  ESME: "1.1.0"\n')
    gsme = files.profile_variant("ref-gsme", "test-gsme-no-first-confirmation",
                                 emulation={"key_rotation": {"confirm_first_attempt": False}})
    files.dmc(ACLARA_LIKE_DMC, profiles={"GSME": gsme})
    esme = files.profile_variant("ref-esme", "test-esme-dormant-supplier-lost",
                                 emulation={"dormant_supplier_identifiable_in_mixed": False})
    files.dmc(ESME_MIXED_DEFECT_DMC, profiles={"ESME": esme})
    return files


@pytest.fixture(scope="module")
def variant_lab(lab_files: LabFiles) -> LabConfig:
    path = lab_files.lab("variants.yaml",
                         dmc=f"[{FIRMWARE_DMC}, {ACLARA_LIKE_DMC}, {ESME_MIXED_DEFECT_DMC}]")
    return load_lab_config(path, env={})


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    """``start(lab, dmc, status)``: a bench of that DMC and status, every device commissioned
    and its DCC started; stopped when the test ends."""
    benches: list[Bench] = []
    counter = itertools.count()

    def _start(lab: LabConfig, dmc: str = "REF-DMC-001", status: str = "dormant") -> Bench:
        bench = Bench.start(lab.select([dmc], [status]),
                            evidence_dir=tmp_path / f"evidence-{next(counter)}")
        benches.append(bench)
        failed = {role: r for role, r in bench.bring_up().items() if isinstance(r, Exception)}
        assert not failed, failed
        bench.dcc  # noqa: B018  (the DCC opens its tunnels once the devices are commissioned)
        return bench

    try:
        yield _start
    finally:
        for bench in benches:
            bench.stop()


def migrate(bench: Bench, *, before_step: dict[str, Callable[[], None]] | None = None,
            on_failure: Callable[[], None] | None = None, **plan: Any) -> MigrationRecord:
    """One migration of the bench's installation, the plan's target firmware the DMC's."""
    plan.setdefault("target_firmware", dict(bench.dmc.target_firmware))
    return bench.migration(MigrationPlan(status=bench.status, **plan),
                           before_step=before_step, on_failure=on_failure).run()


def at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def states(record: MigrationRecord) -> dict[str, str]:
    return {s.name: s.state for s in record.steps}


def steps_after(record: MigrationRecord, name: str) -> list[StepRecord]:
    index = [s.name for s in record.steps].index(name)
    return [s for s in record.steps[index + 1:] if s.started_at is not None]


def node_of(bench: Bench, role: str) -> Any:
    """The emulated node behind a role: fault injection only."""
    assert bench._emulator is not None
    return bench._emulator.devices[bench.device(role).eui].node


def in_loop(bench: Bench, fn: Callable[[], Any]) -> Any:
    assert bench.runtime is not None
    return bench.runtime.call(fn)


# -- notifications ------------------------------------------------------------------------------

@pytest.mark.parametrize(("days", "earliest"), [
    (15, datetime(2026, 1, 26, 9, 0, tzinfo=UTC)),  # Mon 5 Jan + 15 working days: Mon 26 Jan
    (5, datetime(2026, 1, 12, 9, 0, tzinfo=UTC)),
])
def test_dormant_notice_gives_the_plans_working_days(start, reference_lab, days, earliest):
    bench = start(reference_lab, status="dormant")
    record = migrate(bench, notification_working_days=days)
    assert record.outcome == "migrated", record.summary()
    assert [s.name for s in record.steps] == list(STEPS)
    notice = record.step("notify_migration")
    assert notice.state == "passed"
    facts = notice.evidence[0]
    sent, action = at(facts["sent"]), at(facts["earliest_action"])
    assert facts["notice"] == "migration" and facts["working_days"] == days
    assert working_days_between(sent, action) == days
    assert action == earliest and is_working_day(action)
    assert action.astimezone(ENGLAND).hour == 9
    # No firmware to upgrade on the reference DMC: no firmware notice either.
    for name in ("notify_firmware_upgrade", "firmware_upgrade"):
        assert record.step(name).state == "skipped"
        assert "target firmware" in record.step(name).detail
    later = steps_after(record, "notify_migration")
    assert later[0].name == "replace_credentials"
    early = [(s.name, s.started_at) for s in later if at(s.started_at) < action]
    assert not early, f"started before the notice period ended ({action}): {early}"
    assert bench.clock.now() >= action


@pytest.mark.parametrize(("clock_start", "sent_day", "earliest"), [
    # 23:10 UTC on Thursday 4 June is 00:10 on Friday in England: the notice is sent on Friday,
    # 5 working days later is Friday 12 June, at 09:00 there (08:00 UTC).
    ("2026-06-04T23:10:00+00:00", "2026-06-05", datetime(2026, 6, 12, 8, 0, tzinfo=UTC)),
    # Easter: Good Friday 3 April and Easter Monday 6 April are not working days.
    ("2026-04-01T09:00:00+00:00", "2026-04-01", datetime(2026, 4, 10, 8, 0, tzinfo=UTC)),
])
def test_notice_counts_working_days_in_england(start, lab_files, clock_start, sent_day,
                                               earliest):
    path = lab_files.lab(f"clock-{sent_day}.yaml", edit={SHIPPED_START: f"start: {clock_start}"})
    bench = start(load_lab_config(path, env={}), status="dormant")
    record = migrate(bench, notification_working_days=5)
    assert record.outcome == "migrated", record.summary()
    facts = record.step("notify_migration").evidence[0]
    sent, action = at(facts["sent"]), at(facts["earliest_action"])
    assert sent.astimezone(ENGLAND).date().isoformat() == sent_day
    assert action == earliest
    assert working_days_between(sent, action) == 5
    assert all(at(s.started_at) >= action for s in steps_after(record, "notify_migration"))


def test_active_migration_skips_notifications(start, reference_lab):
    bench = start(reference_lab, status="active")
    before = bench.clock.now()
    record = migrate(bench, notification_working_days=15)
    assert record.outcome == "migrated", record.summary()
    assert states(record) == {
        "pre_checks": "passed", "notify_firmware_upgrade": "skipped",
        "firmware_upgrade": "skipped", "notify_migration": "skipped",
        "replace_credentials": "passed", "inventory_and_device_log": "passed",
        "commissioning": "passed", "post_checks": "passed", "key_rotation": "passed",
    }
    assert record.step("notify_migration").evidence == []
    assert "dormant" in record.step("notify_migration").detail
    # No notice period: the whole migration takes minutes of bench time, not weeks.
    assert (bench.clock.now() - before).total_seconds() < 3600
    enrolled = bench.dcc.inventory.devices
    assert {r.installation_status for r in enrolled.values()} == {"active"}
    assert {r.status for r in enrolled.values()} == {"commissioned"}  # the CHF too
    assert "CHF" in {r.device_type for r in enrolled.values()}


# -- mixed installations: either meter dormant ---------------------------------------------------

@pytest.mark.parametrize("dormant_meter", ["GSME", "ESME"])
def test_mixed_installation_migrates_with_either_meter_dormant(start, reference_lab,
                                                              dormant_meter):
    """The plan's dormant meter is the one the DCC enrols as dormant (its notice period given),
    every other device active; either arrangement of the reference DMC migrates."""
    bench = start(reference_lab, status="mixed")
    record = migrate(bench, dormant_meter=dormant_meter)
    assert record.outcome == "migrated", record.summary()
    assert record.step("notify_migration").state == "passed"
    statuses = {r.device_type: r.installation_status
                for r in bench.dcc.inventory.devices.values()}
    assert statuses == {kind: "dormant" if kind == dormant_meter else "active"
                        for kind in ("CHF", "ESME", "GSME", "PPMID", "IHD")}
    noted = {e["type"]: e["installation_status"]
             for e in record.step("inventory_and_device_log").evidence if "type" in e}
    assert noted == statuses


@pytest.mark.parametrize(("dormant_meter", "outcome"), [("GSME", "migrated"),
                                                        ("ESME", "rolled_back")])
def test_a_defect_of_one_arrangement_is_found_in_that_arrangement_only(
        start, variant_lab, dormant_meter, outcome):
    """A DMC whose ESME's supplier is lost only when the ESME is the dormant meter migrates
    with the GSME dormant and rolls back with the ESME dormant, the post-migration checks
    naming the ESME."""
    bench = start(variant_lab, ESME_MIXED_DEFECT_DMC, "mixed")
    record = migrate(bench, dormant_meter=dormant_meter)
    assert record.outcome == outcome, record.summary()
    if outcome == "rolled_back":
        assert record.failed_step == "post_checks"
        assert "ESME: responsible supplier cannot be identified" in (
            record.step("post_checks").detail)
        assert "GSME" not in record.step("post_checks").detail


def test_the_lab_config_installation_names_the_benchs_dormant_meter(start, lab_files):
    """``installations[].dormant_meter`` sets the DCC's registration data of a mixed bench
    (default GSME) and the meter the plan for it makes dormant."""
    path = lab_files.lab("esme-dormant.yaml",
                         edit={"  - id: home-1\n": "  - id: home-1\n    dormant_meter: ESME\n"})
    bench = start(load_lab_config(path, env={}), status="mixed")
    assert bench.dormant_meter == "ESME"
    statuses = {r.device_type: r.installation_status for r in bench.dcc.registration_data()}
    assert (statuses["ESME"], statuses["GSME"]) == ("dormant", "active")
    assert load_lab_config(lab_files.lab(), env={}).installations[0].dormant_meter == "GSME"


# -- firmware -------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["dormant", "active"])
def test_firmware_below_the_target_is_upgraded(start, variant_lab, status):
    bench = start(variant_lab, FIRMWARE_DMC, status)
    esme = bench.device("ESME")
    assert esme.zigbee.read_one("basic", "sw_build_id") == "1.0.0"
    record = migrate(bench, notification_working_days=5)
    assert record.outcome == "migrated", record.summary()
    checked = {e["device"]: (e["firmware"], e["target"])
               for e in record.step("pre_checks").evidence}
    assert checked["ESME"] == ("1.0.0", "1.1.0") and checked["GSME"] == ("1.0.0", "1.0.0")
    upgrade = record.step("firmware_upgrade")
    assert upgrade.state == "passed"
    assert upgrade.evidence == [{"device": "ESME", "srv": "11.1", "code": "I0",
                                 "firmware_now": "1.1.0"}]
    assert esme.zigbee.read_one("basic", "sw_build_id") == "1.1.0"
    assert bench.device("GSME").zigbee.read_one("basic", "sw_build_id") == "1.0.0"
    notice = record.step("notify_firmware_upgrade")
    if status == "active":
        assert notice.state == "skipped" and notice.evidence == []
        return
    names = [s.name for s in record.steps]
    assert notice.state == "passed"
    assert names.index("notify_firmware_upgrade") < names.index("firmware_upgrade")
    facts = notice.evidence[0]
    assert facts["notice"] == "firmware upgrade"
    assert working_days_between(at(facts["sent"]), at(facts["earliest_action"])) == 5
    assert at(upgrade.started_at) >= at(facts["earliest_action"])
    # Then the migration notice, with its own period, before anything changes the meters.
    migration_notice = record.step("notify_migration").evidence[0]
    assert at(migration_notice["sent"]) >= at(upgrade.finished_at)
    assert at(record.step("replace_credentials").started_at) >= at(
        migration_notice["earliest_action"])


# -- rollback -------------------------------------------------------------------------------

def _meter_state(bench: Bench, role: str) -> dict[str, Any]:
    han = bench.device(role).zigbee
    return {"supply": int(han.read_one("metering", "supply_status")),
            "register_kwh": bench.device(role).read_register_kwh()}


def test_device_lost_before_commissioning_rolls_back(start, reference_lab):
    bench = start(reference_lab, status="dormant")
    gsme = bench.device("GSME")
    assert gsme.power is not None
    before = {role: _meter_state(bench, role) for role in METERS}
    restored: list[str] = []

    def power_back() -> None:
        restored.append(bench.clock.now().isoformat())
        gsme.power.on()

    record = migrate(bench, notification_working_days=5,
                     before_step={"commissioning": gsme.power.off}, on_failure=power_back)
    assert record.outcome == "rolled_back", record.summary()
    assert len(restored) == 1
    # 8.1.1 hears from a device before commissioning it: the GSME, off, fails commissioning.
    assert record.failed_step == "commissioning", record.summary()
    failed = record.step(record.failed_step)
    assert failed.state == "failed" and "GSME" in failed.detail and "E20" in failed.detail
    found = states(record)
    assert found["replace_credentials"] == found["inventory_and_device_log"] == "rolled_back"
    # Steps that changed nothing keep their state, and say so; later ones were never reached.
    assert found["pre_checks"] == found["notify_migration"] == "passed"
    assert record.step("notify_migration").detail == "nothing to undo"
    assert found["key_rotation"] == "skipped"
    assert "rolled back" in record.step("key_rotation").detail
    rollback = record.step("rollback")
    assert rollback.state == "passed", rollback.detail
    undone = [(e["undone"], e.get("device"), e.get("code")) for e in rollback.evidence
              if "undone" in e]
    assert undone == [("inventory_and_device_log", None, None),
                      ("replace_credentials", "ESME", "I0"),
                      ("replace_credentials", "GSME", "I0")]
    # Afterwards: the DCC has nothing enrolled, every device is joined and works as before.
    assert bench.dcc.inventory.devices == {}
    assert {role: d.is_joined for role, d in bench.devices.items()} == dict.fromkeys(
        bench.devices, True)
    for role in METERS:
        now = _meter_state(bench, role)
        assert now["supply"] == before[role]["supply"] == record.before[role]["supply"]
        assert now["register_kwh"] >= before[role]["register_kwh"]
    checked = {e["device"]: e for e in rollback.evidence if "before" in e}
    assert set(checked) == set(bench.devices)
    assert all(e["after"]["firmware"] == e["before"]["firmware"] for e in checked.values())


def test_device_still_off_after_rollback_is_a_failed_rollback(start, reference_lab):
    """Nobody switches the GSME back on: the rollback says it left the GSME dumb (it does
    not crash on the first read that goes unanswered)."""
    bench = start(reference_lab, status="dormant")
    gsme = bench.device("GSME")
    record = migrate(bench, notification_working_days=5,
                     before_step={"commissioning": gsme.power.off})
    try:
        assert record.outcome == "failed", record.summary()
        rollback = record.step("rollback")
        assert rollback.state == "failed"
        assert "GSME supplier credentials not restored" in rollback.detail
        assert "GSME does not answer on the HAN after rollback (left dumb)" in rollback.detail
        assert "ESME" not in rollback.detail
        assert bench.dcc.inventory.devices == {}
    finally:
        gsme.power.on()


# -- fix-forward ----------------------------------------------------------------------------

BROWN_OUT_S = 60.0


def brown_out(bench: Bench, role: str, seconds: float = BROWN_OUT_S) -> Callable[[], None]:
    """A hook that cuts the device's supply for ``seconds`` of bench time, a fault that ends by
    itself: the hook knows nothing of the migration's attempts."""
    node = node_of(bench, role)

    def hook() -> None:
        def cut() -> None:
            node.power_off()
            asyncio.get_running_loop().call_later(seconds, node.power_on)

        in_loop(bench, cut)
        assert not in_loop(bench, node.hears)

    return hook


def test_fix_forward_retries_a_transient_fault(start, reference_lab):
    bench = start(reference_lab, status="dormant")
    record = migrate(bench, notification_working_days=5, failure_policy="fix_forward",
                     before_step={"post_checks": brown_out(bench, "GSME")})
    assert record.outcome == "migrated", record.summary()
    assert record.failed_step is None and "rollback" not in states(record)
    checks = record.step("post_checks")
    assert (checks.state, checks.attempts) == ("passed", 2)
    assert checks.detail == "passed at attempt 2 (fix-forward)"
    retries = [e["fix_forward"] for e in checks.evidence if "fix_forward" in e]
    assert len(retries) == 1
    assert retries[0].startswith("attempt 1 failed: GSME 7.4: E20"), retries
    took = (at(checks.finished_at) - at(checks.started_at)).total_seconds()
    assert took >= KEY_ROTATION_RETRY_S >= BROWN_OUT_S
    assert all(s.attempts <= 1 for s in record.steps if s.name != "post_checks")


def test_the_same_fault_without_fix_forward_stops_the_migration(start, reference_lab):
    """The contrast: under the rollback policy there is one attempt; the GSME, still browned
    out while the rollback checks it, is reported as left dumb."""
    bench = start(reference_lab, status="dormant")
    record = migrate(bench, notification_working_days=5,
                     before_step={"post_checks": brown_out(bench, "GSME")})
    assert record.failed_step == "post_checks" and record.step("post_checks").attempts == 1
    assert record.outcome == "failed", record.summary()
    assert "GSME does not answer" in record.step("rollback").detail


# -- key rotation -----------------------------------------------------------------------------

def test_unconfirmed_first_rotation_is_repeated_5_minutes_later(start, variant_lab):
    bench = start(variant_lab, ACLARA_LIKE_DMC, "active")
    record = migrate(bench)
    assert record.outcome == "migrated", record.summary()
    gsme = record.key_rotation["GSME"]
    assert gsme["first_attempt_confirmed"] is False
    codes = [a["code"] for a in gsme["attempts"]]
    assert len(codes) == 2 and codes[0] != "I0" and codes[1] == "I0", gsme
    first, second = (a["at_s"] for a in gsme["attempts"])
    assert second - first >= KEY_ROTATION_RETRY_S
    assert gsme["confirmed_after_s"] == second <= KEY_ROTATION_DEADLINE_S
    esme = record.key_rotation["ESME"]
    assert esme["first_attempt_confirmed"] is True and len(esme["attempts"]) == 1
    # The rotated key is the one in use: the supplier's command signed with it is accepted.
    supplier = bench.dcc.inventory.get(bench.device("GSME").eui).responsible_supplier
    assert bench.dcc.send("6.11", "GSME", user=supplier).code == "I0"


@pytest.mark.parametrize(("bound", "attempts"), [
    # The default plan: every 5 minutes for the whole 7-day window (110031's bound), then gives
    # up: attempts at 0, 300, ..., 604800 s.
    ({}, 7 * 24 * 12 + 1),
    ({"key_rotation_deadline_s": 900}, 4),  # a tighter bound: attempts at 0, 300, 600, 900 s
])
def test_rotation_that_never_confirms_fails_within_the_bound(start, reference_lab, bound,
                                                             attempts):
    bench = start(reference_lab, status="active")
    node = node_of(bench, "GSME")

    def silence() -> None:  # fault injection: the GSME's radio goes quiet
        node.radio_silent = True

    record = migrate(bench, before_step={"key_rotation": silence}, **bound)
    node.radio_silent = False
    deadline = bound.get("key_rotation_deadline_s", KEY_ROTATION_DEADLINE_S)
    assert record.outcome == "failed" and record.failed_step == "key_rotation", record.summary()
    step = record.step("key_rotation")
    assert step.state == "failed" and "GSME" in step.detail and "ESME" not in step.detail
    assert (at(step.finished_at) - at(step.started_at)).total_seconds() <= deadline
    gsme = record.key_rotation["GSME"]
    assert gsme["confirmed_after_s"] is None and gsme["first_attempt_confirmed"] is False
    times = [a["at_s"] for a in gsme["attempts"]]
    assert len(times) == attempts and times[-1] <= deadline
    assert all(b - a >= KEY_ROTATION_RETRY_S for a, b in itertools.pairwise(times))
    assert record.key_rotation["ESME"]["confirmed_after_s"] is not None
    # The installation is migrated; a rotation can only be fixed forward: no rollback.
    assert "rollback" not in states(record)
    assert not [s.name for s in record.steps if s.state == "rolled_back"]
    enrolled = bench.dcc.inventory.devices
    assert {enrolled[d.eui].status for d in bench.devices.values()} == {"commissioned"}


# -- process waits on a real clock --------------------------------------------------------------

class RealClockTimeline:
    """A process timeline on a real clock (a real-clock bench runtime) whose sleeps are
    recorded, not slept: what the migration would sleep on a real bench is visible."""

    def __init__(self) -> None:
        from harness.clock import ProcessTimeline
        from harness.runtime import BenchRuntime

        self.runtime = BenchRuntime(virtual=False)
        self.slept: list[float] = []
        self.timeline = ProcessTimeline(self.runtime.clock, self.slept.append)

    def close(self) -> None:
        self.runtime.shutdown()


@pytest.fixture
def real_timeline() -> Iterator[RealClockTimeline]:
    made = RealClockTimeline()
    try:
        yield made
    finally:
        made.close()


def test_on_a_real_clock_the_notice_period_passes_on_the_timeline_not_in_wall_time(
        start, reference_lab, real_timeline):
    """A dormant migration through its narrow interfaces, its timeline on a real clock: 15
    working days of notice pass on the timeline, no sleep is asked for, and the steps after the
    notice start after its earliest action on the timeline."""
    bench = start(reference_lab, status="dormant")
    timeline = real_timeline.timeline
    assert not timeline.is_virtual
    from harness.migration import Migration

    plan = MigrationPlan(status="dormant", notification_working_days=15,
                         target_firmware=dict(bench.dmc.target_firmware))
    virtual_before = bench.clock.monotonic()
    record = Migration(bench.dcc, plan, timeline=timeline, devices=bench.devices).run()
    assert record.outcome == "migrated", record.summary()
    assert real_timeline.slept == []  # nothing slept: no wall time, and no device time either
    facts = record.step("notify_migration").evidence[0]
    sent, action = at(facts["sent"]), at(facts["earliest_action"])
    assert working_days_between(sent, action) == 15
    # The timeline skipped the notice period, less what really passed since the notice was sent.
    period = (action - sent).total_seconds()
    assert period >= 15 * 24 * 3600 and period - 3600 < timeline.skipped_s <= period
    assert all(at(s.started_at) >= action for s in steps_after(record, "notify_migration"))
    assert timeline.now() >= action
    # The devices lived on their own clock meanwhile: no notice period passed for them.
    assert bench.clock.monotonic() - virtual_before < 24 * 3600


def test_on_a_real_clock_a_rotation_retry_waits_the_devices_time(start, variant_lab,
                                                                  real_timeline):
    """An unconfirmed first rotation is repeated 5 minutes later: the device's own timing, so it
    is a sleep of bench time (on a real bench, 5 real minutes, no longer); the 7-day bound is
    counted on the timeline."""
    bench = start(variant_lab, ACLARA_LIKE_DMC, "active")
    from harness.clock import ProcessTimeline
    from harness.migration import Migration

    slept: list[float] = []

    def device_sleep(seconds: float) -> None:  # the devices' bench time (virtual here)
        slept.append(seconds)
        bench.sleep(seconds)

    timeline = ProcessTimeline(real_timeline.runtime.clock, device_sleep)
    plan = MigrationPlan(status="active", target_firmware=dict(bench.dmc.target_firmware))
    record = Migration(bench.dcc, plan, timeline=timeline, devices=bench.devices).run()
    assert record.outcome == "migrated", record.summary()
    assert slept == [KEY_ROTATION_RETRY_S]  # one retry, as long as the device needs
    gsme = record.key_rotation["GSME"]
    assert [a["code"] == "I0" for a in gsme["attempts"]] == [False, True]
    assert timeline.skipped_s == 0  # an active installation has no notice period


def test_the_timeline_waits_by_sleeping_under_the_virtual_clock(start, reference_lab):
    bench = start(reference_lab, status="active")
    before, now = bench.clock.monotonic(), bench.timeline.now()
    bench.timeline.wait(3 * 24 * 3600)
    assert bench.clock.monotonic() - before == 3 * 24 * 3600
    assert bench.timeline.skipped_s == 0
    assert (bench.timeline.now() - now).total_seconds() == 3 * 24 * 3600


def test_on_a_real_clock_an_unconfirmed_rotation_repeats_within_the_watch_window(
        start, reference_lab, real_timeline):
    """A rotation that never confirms on a real bench is repeated 5 real minutes apart for at
    most the lab's watch window (not 7 days of wall time); the rest of the 7-day window passes
    on the timeline and the step says which window was observed."""
    from harness.clock import ProcessTimeline
    from harness.migration import Migration

    bench = start(reference_lab, status="active")
    node = node_of(bench, "GSME")
    slept: list[float] = []

    def device_sleep(seconds: float) -> None:
        slept.append(seconds)
        bench.sleep(seconds)

    def silence() -> None:
        node.radio_silent = True

    timeline = ProcessTimeline(real_timeline.runtime.clock, device_sleep, watch_s=600)
    plan = MigrationPlan(status="active", target_firmware=dict(bench.dmc.target_firmware))
    record = Migration(bench.dcc, plan, timeline=timeline, devices=bench.devices,
                       before_step={"key_rotation": silence}).run()
    node.radio_silent = False
    assert record.failed_step == "key_rotation", record.summary()
    assert slept == [KEY_ROTATION_RETRY_S, KEY_ROTATION_RETRY_S]
    gsme = record.key_rotation["GSME"]
    assert gsme["confirmed_after_s"] is None and len(gsme["attempts"]) == 3
    watched = [e["watched"] for e in record.step("key_rotation").evidence if "watched" in e]
    assert watched and "600 s" in watched[0] and "process timeline" in watched[0]
    assert timeline.skipped_s > KEY_ROTATION_DEADLINE_S - 2 * KEY_ROTATION_RETRY_S - 60
