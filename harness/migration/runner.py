"""Running a migration on a bench, step by step, with rollback or fix-forward on failure.

The runner uses only what a DCC has: the HAN through the CHF, the S1SP's device operations
(``dcc.operate``, the DCC acting as itself) and Service Requests as the responsible suppliers
(``dcc.send``). A pack injects faults the way a lab would (a relay cuts a device's supply) through
``before_step`` / ``on_failure`` hooks, and judges by the record and by what it observes after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import zigpy.exceptions

from harness.dcc.firmware_image import image_parameters
from harness.dcc.inventory import installation_status_of
from harness.dcc.tunnel import TunnelError
from harness.han.chf import NotJoined
from harness.han.device import ZclError
from harness.migration.model import STEPS, MigrationPlan, MigrationRecord, StepRecord
from harness.workdays import ENGLAND, add_working_days

if TYPE_CHECKING:
    from harness.clock import ProcessTimeline
    from harness.config.profiles import DeviceProfile
    from harness.dcc.client import Dcc
    from harness.dcc.inventory import DeviceRecord
    from harness.han.device import HanDevice

LOGGER = logging.getLogger(__name__)

Hook = Callable[[], None]
METERS = ("ESME", "GSME")
#: Hour of the (working) day, in England, at which a notified action takes place.
ACTION_HOUR = time(9, 0)
#: What a device that does not answer on the HAN raises: a step meeting one has failed (it is
#: recorded as such, and rolled back), it is not a crash of the migration.
HAN_ERRORS: tuple[type[BaseException], ...] = (
    zigpy.exceptions.ZigbeeException, TimeoutError, NotJoined, ZclError,
    TunnelError,  # the device refused or dropped the DCC's tunnel: the step failed on it
)
#: Steps whose effect a rollback undoes (the others changed nothing, or nothing that can be
#: undone: a notice sent, a firmware upgrade, which a rollback does not downgrade).
UNDONE_BY_ROLLBACK = ("replace_credentials", "inventory_and_device_log", "commissioning")
#: How often a post-migration check asks when the Service Response carries no response code
#: (91339/91340): such a response says nothing either way, so it is asked again, as the packs
#: do, rather than rolling the migration back on it.
NO_CODE_ATTEMPTS = 3


class MigratingDevice(Protocol):
    """What the runner asks of a device of the installation (a bench device is one)."""

    @property
    def role(self) -> str: ...

    @property
    def eui(self) -> str: ...

    @property
    def profile(self) -> DeviceProfile: ...

    @property
    def is_joined(self) -> bool: ...

    @property
    def zigbee(self) -> HanDevice: ...

    def read_register_kwh(self) -> Decimal: ...

    def read_metering(self, *names: str) -> dict[str, Any]:
        """Metering attributes (a sleepy meter's from the CHF's mirror)."""
        ...

    def wait_joined(self, timeout: float) -> HanDevice: ...


class MigrationFailed(AssertionError):
    """A step failed; the record says which and what was undone."""


class StepFailed(Exception):
    pass


class Migration:
    """One installation's migration. ``run()`` returns the :class:`MigrationRecord`.

    It takes only what it uses: the DCC, the bench's process timeline and the installation's
    devices by role (``Bench.migration(plan)`` wires them from a bench). Its process waits (the
    notification periods) pass on the timeline without sleeping days of wall time on a real
    bench, and its records and the key rotation's 7-day bound are counted on the timeline; the
    retries wait as long as the devices need (:class:`ProcessTimeline`).
    """

    def __init__(
        self,
        dcc: Dcc,
        plan: MigrationPlan,
        *,
        timeline: ProcessTimeline,
        devices: Mapping[str, MigratingDevice],
        before_step: dict[str, Hook] | None = None,
        on_failure: Hook | None = None,
    ) -> None:
        self.dcc = dcc
        self.timeline = timeline
        self.devices = devices
        self.plan = plan
        self.record = MigrationRecord(plan=plan)
        self._before_step = before_step or {}
        self._on_failure = on_failure
        self._upgrades: dict[str, str] = {}

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> MigrationRecord:
        record = self.record
        record.steps = [StepRecord(name) for name in STEPS]
        self.dcc.unenrol_all()
        for step in record.steps:
            if self._applies(step.name):
                ok = self._run_step(step)
            else:
                step.state = "skipped"
                step.detail = self._skip_reason(step.name)
                continue
            if not ok:
                record.failed_step = step.name
                if step.name == "key_rotation":
                    # The installation is migrated; the rotation can only be fixed forward.
                    record.outcome = "failed"
                    return record
                if self._on_failure is not None:
                    self._on_failure()
                self._rollback()
                return record
        record.outcome = "migrated"
        return record

    def _applies(self, name: str) -> bool:
        dormant = self.plan.status in ("dormant", "mixed")
        if name == "notify_firmware_upgrade":
            return dormant and bool(self._upgrades)
        if name == "firmware_upgrade":
            return bool(self._upgrades)
        if name == "notify_migration":
            return dormant
        return True

    def _skip_reason(self, name: str) -> str:
        if name in ("notify_firmware_upgrade", "firmware_upgrade"):
            return "every device already runs its target firmware" if not self._upgrades \
                else "active installations get no dormant notification"
        return "only dormant meters get a notification period"

    def _run_step(self, step: StepRecord) -> bool:
        attempts = 1 + (self.plan.fix_forward_attempts
                        if self.plan.failure_policy == "fix_forward" else 0)
        hook = self._before_step.get(step.name)
        if hook is not None:
            hook()
        for attempt in range(1, attempts + 1):
            step.attempts = attempt
            step.state = "running"
            step.started_at = step.started_at or self._now()
            try:
                try:
                    getattr(self, f"_step_{step.name}")(step)
                except HAN_ERRORS as exc:
                    raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
            except StepFailed as exc:
                step.state = "failed"
                step.detail = str(exc)
                step.finished_at = self._now()
                if attempt < attempts:
                    step.note(fix_forward=f"attempt {attempt} failed: {exc}; retrying")
                    # The device's own recovery (a brown-out ending) needs bench time to pass.
                    self.timeline.sleep(self.plan.key_rotation_retry_s)
                    continue
                return False
            step.state = "passed"
            step.finished_at = self._now()
            if attempt > 1:
                step.detail = f"passed at attempt {attempt} (fix-forward)"
            return True
        return False

    # -- steps ------------------------------------------------------------------------------
    def _step_pre_checks(self, step: StepRecord) -> None:
        for device in self.devices.values():
            if not device.is_joined:
                raise StepFailed(f"{device.role} {device.eui} is not joined to the HAN")
            han = device.zigbee
            firmware = str(han.read_one("basic", "sw_build_id"))
            target = self.plan.target_firmware.get(device.role, device.profile.firmware.version)
            state: dict[str, Any] = {"firmware": firmware}
            if device.role in METERS:
                state["supply"] = int(device.read_metering("supply_status")["supply_status"])
                state["register_kwh"] = str(device.read_register_kwh())
            self.record.before[device.role] = state
            step.note(device=device.role, eui=device.eui, firmware=firmware, target=target)
            if firmware != target:
                self._upgrades[device.role] = target

    def _notify(self, step: StepRecord, what: str) -> None:
        now = self.timeline.now()
        # Working days are days in England: count from the day the notice is sent there (late
        # evening UTC is already the next day in summer), and act at ACTION_HOUR there.
        earliest_day = add_working_days(now, self.plan.notification_working_days)
        earliest = datetime.combine(earliest_day, ACTION_HOUR, tzinfo=ENGLAND)
        step.note(notice=what, sent=now.isoformat(),
                  working_days=self.plan.notification_working_days,
                  earliest_action=earliest.isoformat())
        self.timeline.wait_until(earliest)

    def _step_notify_firmware_upgrade(self, step: StepRecord) -> None:
        self._notify(step, "firmware upgrade")

    def _step_firmware_upgrade(self, step: StepRecord) -> None:
        for role, target in self._upgrades.items():
            device = self.devices[role]
            srv = "11.4" if role == "PPMID" else "11.1"
            response = self.dcc.operate(srv, role, **image_parameters(
                device.profile.manufacturer, target))
            firmware = str(device.zigbee.read_one("basic", "sw_build_id"))
            step.note(device=role, srv=srv, code=response.code, firmware_now=firmware)
            if response.code != "I0" or firmware != target:
                raise StepFailed(f"{role} firmware upgrade to {target}: {response}; "
                                 f"device reports {firmware}")

    def _step_notify_migration(self, step: StepRecord) -> None:
        self._notify(step, "migration")

    def _step_replace_credentials(self, step: StepRecord) -> None:
        owner = self.dcc.keystore.dcc.name
        for device in self._meters():
            response = self.dcc.operate("6.15.1", device.role,
                                        CredentialType="SupplierCertificate",
                                        NewCredentialOwner=owner)
            step.note(device=device.role, code=response.code)
            if response.code != "I0":
                raise StepFailed(f"{device.role} supplier credentials not replaced: {response}")

    def _step_inventory_and_device_log(self, step: StepRecord) -> None:
        records = self.dcc.registration_data()
        for record in records:
            record.installation_status = self._meter_status(record)  # type: ignore[assignment]
            record.status = "installed_not_commissioned"
        self.dcc.enrol(records)
        for record in self.dcc.inventory.devices.values():
            step.note(device=record.eui, type=record.device_type,
                      installation_status=record.installation_status,
                      responsible_supplier=record.responsible_supplier)
        response = self.dcc.operate("8.9", "CHF")
        logged = {e["DeviceID"]: e["Joined"] for e in response.body.get("DeviceLog", [])}
        step.note(device_log=logged, code=response.code)
        missing = [d.role for d in self.devices.values() if not logged.get(d.eui)]
        if response.code != "I0" or missing:
            raise StepFailed(f"CHF device log: {response}; not joined in it: {missing}")

    def _meter_status(self, record: DeviceRecord) -> str:
        return installation_status_of(record.device_type, self.plan.status,
                                      self.plan.dormant_meter)

    def _step_commissioning(self, step: StepRecord) -> None:
        failed = []
        # The CHF first: it is enrolled like any device and serves the others.
        for role in ("CHF", *self.devices):
            response = self.dcc.operate("8.1.1", role)
            step.note(device=role, code=response.code)
            if response.code != "I0":
                failed.append(f"{role}: {response.code} {response.detail}")
        if failed:
            raise StepFailed("commissioning failed: " + "; ".join(failed))

    def _step_post_checks(self, step: StepRecord) -> None:
        problems = []
        for device in self._meters():
            supplier = self.dcc.inventory.devices[device.eui].responsible_supplier
            if supplier is None:
                problems.append(f"{device.role}: responsible supplier cannot be identified")
                continue
            response = self._ask("7.4", device.role, supplier)
            step.note(device=device.role, srv="7.4", code=response.code, body=response.body)
            if response.code != "I0":
                problems.append(f"{device.role} 7.4: {response.code} {response.detail}")
            if device.role == "ESME":
                response = self._ask("4.1.1", "ESME", supplier)
                step.note(device="ESME", srv="4.1.1", code=response.code, body=response.body)
                if response.code != "I0":
                    problems.append(f"ESME 4.1.1: {response.code} {response.detail}")
                else:
                    over_dcc = Decimal(response.body["ImportRegister"])
                    over_han = device.read_register_kwh()
                    if abs(over_dcc - over_han) > Decimal("0.01"):
                        problems.append(f"ESME register {over_dcc} via the DCC, {over_han} on "
                                        "the HAN")
        supplier = next((r.responsible_supplier for r in self.dcc.inventory.devices.values()
                         if r.device_type == "ESME" and r.responsible_supplier), None)
        if supplier is not None:
            response = self._ask("8.9", "CHF", supplier)
            step.note(device="CHF", srv="8.9", code=response.code)
            if response.code != "I0":
                problems.append(f"CHF 8.9: {response.code} {response.detail}")
        if problems:
            raise StepFailed("; ".join(problems))

    def _step_key_rotation(self, step: StepRecord) -> None:
        plan = self.plan
        clock = self.timeline
        summary: dict[str, Any] = {}
        for device in self._meters():
            started = clock.monotonic()
            attempts: list[dict[str, Any]] = []
            confirmed_after = None
            waited_wall = 0.0  # device time slept between attempts (wall time on a real bench)
            # 110031: repeated at least retry_s apart for as long as the 7-day window allows
            # (bench time), not a fixed number of attempts.
            while True:
                response = self.dcc.operate("6.15.1", device.role,
                                            CredentialType="ManagementKey")
                elapsed = clock.monotonic() - started
                attempts.append({"at_s": round(elapsed, 3), "code": response.code})
                if response.code == "I0":
                    confirmed_after = elapsed
                    break
                if elapsed + plan.key_rotation_retry_s > plan.key_rotation_deadline_s:
                    break
                # The device's timing (110031: only a repeat at least 5 minutes later confirms):
                # bench time for the device, real time on a real bench. The bound is counted
                # on the timeline, from the rotation's start. A real bench repeats for at most
                # the lab's watch window (not 7 days of wall time); the rest of the window
                # passes on the timeline, unobserved, and the step says so.
                if not clock.is_virtual and waited_wall + plan.key_rotation_retry_s > \
                        clock.watch_s:
                    clock.wait(plan.key_rotation_deadline_s - elapsed)
                    step.note(device=device.role, watched=(
                        f"repeated for {waited_wall:g} s of wall time (process.watch_s "
                        f"{clock.watch_s:g} s); the rest of the "
                        f"{plan.key_rotation_deadline_s:g} s window passed on the process "
                        "timeline without attempts"))
                    break
                clock.sleep(plan.key_rotation_retry_s)
                waited_wall += plan.key_rotation_retry_s
            summary[device.role] = {
                "attempts": attempts,
                "first_attempt_confirmed": bool(attempts) and attempts[0]["code"] == "I0",
                "confirmed_after_s": confirmed_after,
            }
            step.note(device=device.role, attempts=attempts)
        self.record.key_rotation = summary
        unconfirmed = [r for r, s in summary.items() if s["confirmed_after_s"] is None]
        if unconfirmed:
            raise StepFailed(f"management key rotation not confirmed within the bound: "
                             f"{unconfirmed}")

    # -- rollback ---------------------------------------------------------------------------
    def _rollback(self) -> None:
        """Undo what the DCC did, in reverse, and check the devices work as before."""
        record = self.record
        rollback = StepRecord("rollback", state="running", started_at=self._now())
        record.steps.append(rollback)
        done = {s.name for s in record.steps if s.state in ("passed", "failed")}
        if "inventory_and_device_log" in done:
            self.dcc.unenrol_all()
            rollback.note(undone="inventory_and_device_log")
        problems = []
        if "replace_credentials" in done:
            original = {r.eui: r.responsible_supplier for r in self.dcc.registration_data()}
            for device in self._meters():
                try:
                    response = self.dcc.operate(
                        "6.15.1", device.role, CredentialType="SupplierCertificate",
                        NewCredentialOwner=original[device.eui])
                except HAN_ERRORS as exc:  # the device did not take it: not restored
                    rollback.note(undone="replace_credentials", device=device.role,
                                  error=f"{type(exc).__name__}: {exc}")
                    problems.append(f"{device.role} supplier credentials not restored: "
                                    f"{type(exc).__name__}: {exc}")
                    continue
                rollback.note(undone="replace_credentials", device=device.role,
                              code=response.code)
                if response.code != "I0":
                    problems.append(f"{device.role} supplier credentials not restored: "
                                    f"{response}")
        for step in record.steps:
            if step.state == "passed" and step.name in UNDONE_BY_ROLLBACK:
                step.state = "rolled_back"
            elif step.state == "passed":
                step.detail = ("kept: a rollback does not downgrade firmware"
                               if step.name == "firmware_upgrade" else "nothing to undo")
            elif step.state == "pending":
                step.state = "skipped"
                step.detail = "not reached: the migration was rolled back"
        problems += self._check_as_before(rollback)
        rollback.finished_at = self._now()
        rollback.state = "failed" if problems else "passed"
        rollback.detail = "; ".join(problems) or "devices work as before migration"
        record.outcome = "rolled_back" if not problems else "failed"

    def _check_as_before(self, rollback: StepRecord) -> list[str]:
        """Each device joined and working as before: supply as it was, register readable."""
        problems = []
        for role, before in self.record.before.items():
            device = self.devices[role]
            if not device.is_joined:
                try:
                    device.wait_joined(60)
                except AssertionError:
                    problems.append(f"{role} is not on the HAN after rollback (left dumb)")
                    continue
            try:
                han = device.zigbee
                now: dict[str, Any] = {"firmware": str(han.read_one("basic", "sw_build_id"))}
                if role in METERS:
                    now["supply"] = int(
                        device.read_metering("supply_status")["supply_status"])
                    now["register_kwh"] = str(device.read_register_kwh())
            except HAN_ERRORS as exc:
                problems.append(f"{role} does not answer on the HAN after rollback (left dumb): "
                                f"{type(exc).__name__}: {exc}")
                continue
            if now["firmware"] not in (before["firmware"], self._upgrades.get(role)):
                problems.append(f"{role} runs firmware {now['firmware']} after rollback, "
                                f"{before['firmware']} before")
            if role in METERS:
                if now["supply"] != before["supply"]:
                    problems.append(f"{role} supply {now['supply']} after rollback, "
                                    f"{before['supply']} before")
                if Decimal(now["register_kwh"]) < Decimal(before["register_kwh"]):
                    problems.append(f"{role} register went backwards")
            rollback.note(device=role, before=before, after=now)
        return problems

    # -- helpers ----------------------------------------------------------------------------
    def _ask(self, srv: str, target: str, user: str) -> Any:
        """A post-migration check's Service Response, asked again (up to
        :data:`NO_CODE_ATTEMPTS` times) while it carries no response code."""
        response = self.dcc.send(srv, target, user=user)
        for _ in range(NO_CODE_ATTEMPTS - 1):
            if response.code is not None:
                break
            response = self.dcc.send(srv, target, user=user)
        return response

    def _meters(self) -> list[MigratingDevice]:
        return [d for d in self.devices.values() if d.role in METERS]

    def _now(self) -> str:
        return self.timeline.now().isoformat()

