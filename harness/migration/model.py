"""The migration's data: its plan, its steps and what each recorded.

The steps, in order (the TMAD's, as the seeds describe them):

1. ``pre_checks``: inventory on the HAN and firmware against the DMC;
2. ``notify_firmware_upgrade`` (dormant, when an upgrade is needed): the responsible supplier is
   notified N working days before;
3. ``firmware_upgrade``: devices brought to the DMC's target firmware;
4. ``notify_migration`` (dormant): N working days' notice of migration;
5. ``replace_credentials``: the supplier's credentials in each meter replaced by the DCC's;
6. ``inventory_and_device_log``: the DCC enrols the devices and checks the CHF device log;
7. ``commissioning``: each device commissioned;
8. ``post_checks``: every device operational through the DCC (registers, supply, device log);
9. ``key_rotation``: the management key rotated, confirmed, within 7 days.

A failed step leads to ``rollback`` (undo what was done, devices as they were) or, under the
fix-forward policy, to retries of that step first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness.config.types import MeterType

StepState = Literal["pending", "running", "passed", "failed", "skipped", "rolled_back"]
Outcome = Literal["migrated", "rolled_back", "failed", "not_started"]

STEPS: tuple[str, ...] = (
    "pre_checks",
    "notify_firmware_upgrade",
    "firmware_upgrade",
    "notify_migration",
    "replace_credentials",
    "inventory_and_device_log",
    "commissioning",
    "post_checks",
    "key_rotation",
)

#: Seeds: dormant notifications were 15 working days each, proposed to become 5 [seed 003].
DEFAULT_NOTIFICATION_WORKING_DAYS = 15
#: Seeds: the management key must be rotated within 7 days of migration [seed 000].
KEY_ROTATION_DEADLINE_S = 7 * 24 * 3600
#: Seeds: the DCC's fix repeats an unconfirmed rotation at least 5 minutes later [seed 000].
KEY_ROTATION_RETRY_S = 300


@dataclass(frozen=True)
class MigrationPlan:
    """How to migrate: the installation status and the programme's parameters."""

    status: Literal["dormant", "active", "mixed"]
    #: In a mixed installation, the meter that is dormant (the other is active). Ignored for
    #: the other statuses. GSME by default (the lab config installation's ``dormant_meter``).
    dormant_meter: MeterType = "GSME"
    notification_working_days: int = DEFAULT_NOTIFICATION_WORKING_DAYS
    #: Firmware version each role must run after migration (from the DMC catalogue).
    target_firmware: dict[str, str] = field(default_factory=dict)
    failure_policy: Literal["rollback", "fix_forward"] = "rollback"
    fix_forward_attempts: int = 2
    key_rotation_deadline_s: float = KEY_ROTATION_DEADLINE_S
    key_rotation_retry_s: float = KEY_ROTATION_RETRY_S


@dataclass
class StepRecord:
    name: str
    state: StepState = "pending"
    started_at: str | None = None
    finished_at: str | None = None
    detail: str = ""
    attempts: int = 0
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def note(self, **facts: Any) -> None:
        self.evidence.append(facts)


@dataclass
class MigrationRecord:
    plan: MigrationPlan
    steps: list[StepRecord] = field(default_factory=list)
    outcome: Outcome = "not_started"
    failed_step: str | None = None
    #: What the key rotation step saw: attempts, whether the first was confirmed, when.
    key_rotation: dict[str, Any] = field(default_factory=dict)
    #: Devices' state before migration, to compare with after a rollback.
    before: dict[str, dict[str, Any]] = field(default_factory=dict)

    def step(self, name: str) -> StepRecord:
        for record in self.steps:
            if record.name == name:
                return record
        raise KeyError(f"no migration step {name!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{s.name}:{s.state}" for s in self.steps]
        return f"{self.outcome} ({', '.join(parts)})"
