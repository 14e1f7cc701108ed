"""A sleepy GSME as in the field (``emulation.sleepy``): it answers only while awake at its
poll, pushes its Metering attributes to the CHF's mirror each time, and the bench reads a
sleepy meter through the mirror (its node descriptor says its receiver is off when idle)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from labkit import LabFiles

from harness.bench import Bench
from harness.config import load_lab_config

SLEEPY_DMC = "TEST-SLEEPY-GSME-DMC"
POLL_S = 300.0


@pytest.fixture
def sleepy_bench(tmp_path: Path) -> Iterator[Bench]:
    files = LabFiles(tmp_path)
    gsme = files.profile_variant("ref-gsme", "test-gsme-sleepy",
                                 emulation={"sleepy": {"poll_s": POLL_S, "awake_s": 1.0}})
    files.dmc(SLEEPY_DMC, profiles={"GSME": gsme})
    lab = load_lab_config(files.lab(dmc=SLEEPY_DMC), env={})
    bench = Bench.start(lab.select([SLEEPY_DMC], ["dormant"]), evidence_dir=tmp_path / "ev")
    try:
        failed = {r: e for r, e in bench.bring_up().items() if isinstance(e, Exception)}
        assert not failed, failed
        yield bench
    finally:
        bench.stop()


def _node(bench: Bench, role: str) -> Any:
    """The emulated node behind a role (its sleep state: harness tests may look, packs never)."""
    assert bench._emulator is not None
    return bench._emulator.devices[bench.device(role).eui].node


def test_a_sleepy_gsme_is_read_through_the_chf_mirror(sleepy_bench: Bench) -> None:
    gsme = sleepy_bench.device("GSME")
    assert gsme.is_sleepy and not sleepy_bench.device("ESME").is_sleepy
    sleepy_bench.sleep(POLL_S / 2)  # commissioned, now asleep until its first poll
    mirror = sleepy_bench.chf.mirror(gsme.eui)
    assert mirror.reports == 0
    # The first read finds the meter asleep, waits for its poll (bench time, no wall time)
    # and answers from what the meter pushed to the hub.
    register = gsme.read_register_kwh()
    assert mirror.reports > 0
    assert register == Decimal(int(mirror.values["current_summ_delivered"].value)) / int(
        mirror.values["divisor"].value) * int(mirror.values["multiplier"].value)
    assert register == gsme.read_register_kwh()  # read again: from the mirror, at once
    assert gsme.read_metering("supply_status")["supply_status"] is not None


def test_a_sleeping_gsme_does_not_answer_over_the_air(sleepy_bench: Bench) -> None:
    gsme = sleepy_bench.device("GSME")
    node = _node(sleepy_bench, "GSME")
    sleepy_bench.sleep(POLL_S / 2)  # between polls: asleep
    assert not node.awake
    with pytest.raises(TimeoutError):
        gsme.zigbee.read("metering", "current_summ_delivered")
    wakes = node.wakes
    sleepy_bench.sleep(2 * POLL_S)
    assert node.wakes >= wakes + 2
