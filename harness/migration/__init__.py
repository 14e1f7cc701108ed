"""Migration of a SMETS1 installation into the DCC, as explicit steps with state and evidence.

See :mod:`harness.migration.model` for the steps and :class:`harness.migration.runner.Migration`
for how a pack runs one.
"""

from harness.migration.model import (
    MigrationPlan,
    MigrationRecord,
    StepRecord,
    StepState,
)
from harness.migration.runner import Migration, MigrationFailed

__all__ = [
    "Migration",
    "MigrationFailed",
    "MigrationPlan",
    "MigrationRecord",
    "StepRecord",
    "StepState",
]
