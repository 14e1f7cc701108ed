"""Fixtures every pack may use beyond the plugin's: the installation migrated once per module.

The migration packs ask for ``migration``; a pack that needs to prepare the installation first
(the active pack notes what the consumer has) overrides it in its own module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.bench import Bench
from harness.migration import MigrationRecord
from testpacks.common.migration import migrate


@pytest.fixture(scope="module")
def migration(bench: Bench) -> Iterator[MigrationRecord]:
    """The installation migrated once for the module's cases; the DCC is left enrolled."""
    record = migrate(bench)
    yield record
    bench.dcc.reset_enrolment()
