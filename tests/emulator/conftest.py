"""Emulated-bench fixtures for the emulator tests (``tests/han/conftest.py`` has the same).

Named ``emulated_bench``/``up_bench``, not ``bench``: that is the DMCT plugin's session fixture
for test packs. Each test gets a fresh bench (tens of milliseconds on the virtual clock), always
stopped, and may reach into the emulator; test packs never do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.config import LabConfig, default_lab_config_path, load_lab_config
from harness.emulator.devices import EmulatedDevice


@pytest.fixture(scope="session")
def emulated_lab() -> LabConfig:
    return load_lab_config(default_lab_config_path(), env={})


@pytest.fixture
def emulated_bench(emulated_lab: LabConfig, tmp_path: Path) -> Iterator[Bench]:
    """The default emulated bench, started; devices powered but not commissioned."""
    bench = Bench.start(emulated_lab, evidence_dir=tmp_path / "evidence")
    try:
        yield bench
    finally:
        bench.stop()


@pytest.fixture
def up_bench(emulated_bench: Bench) -> Bench:
    """The emulated bench with every device commissioned."""
    results = emulated_bench.bring_up()
    failed = {role: r for role, r in results.items() if isinstance(r, Exception)}
    assert not failed, failed
    return emulated_bench


@pytest.fixture
def emulated(emulated_bench: Bench) -> Callable[[str], EmulatedDevice]:
    """The emulated device behind a role."""

    def get(role: str) -> EmulatedDevice:
        assert emulated_bench._emulator is not None
        return emulated_bench._emulator.devices[emulated_bench.device(role).eui]

    return get


@pytest.fixture
def sleep_until(emulated_bench: Bench) -> Callable[[float], None]:
    """Let bench time pass up to the bench-clock instant ``when``."""

    def sleep(when: float) -> None:
        delta = when - emulated_bench.clock.monotonic()
        assert delta >= 0, f"already {-delta} s past {when}"
        emulated_bench.sleep(delta)

    return sleep
