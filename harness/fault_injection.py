"""Bench faults injected on purpose during a run: how a DMC behaves when its supply goes, the
radio falls silent or a serial port disappears, and a check that the harness blames the bench,
not the device, for what follows.

A fault is written ``KIND[:TARGET]@WHEN`` (lab config ``faults:``, or ``dmct run --fault``):

- ``power-off:ROLE``, ``power-on:ROLE``, ``power-cycle:ROLE``: the device's supply through its
  relay board channel (``relay:`` in the lab config), on an emulated bench or a real one;
- ``radio-silent`` / ``radio-back``: the HAN medium drops every frame, both ways, and refuses
  joins (emulated benches);
- ``serial-gone:ADAPTER``: the serial port goes away as if unplugged (emulated benches);

``WHEN`` is ``case:PATTERN`` (before the first case whose id matches the glob ``PATTERN``, or
holds it) or a bench time since the bench started (``90s``, ``15m``, ``2h``, ``1d``; checked
before each case, so the fault happens before the first case that starts at or after it).

Each fault fires once, just before its case's body runs (after its fixtures). The run goes on.
The fault is evidence (``faults.jsonl`` in the run directory, and ``extra.bench_faults`` in the
record of the case it fired before); every case run while it is in effect (until ``power-on``,
``power-cycle`` or ``radio-back`` restores what it broke, else to the end of the run) carries
``extra.bench_fault``, and the report attributes their failures to one bench-fault finding
(:func:`harness.report.dmct_report.build_report`), which never counts against the DMC.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config.faults import (
    FAULTS_FILE,
    KINDS,
    RESTORES,
    Fault,
    FaultError,
    check_faults,
    parse_fault,
)

if TYPE_CHECKING:
    from harness.bench import Bench

__all__ = ["FAULTS_FILE", "KINDS", "Fault", "FaultError", "FaultSchedule", "check_faults",
           "parse_fault"]


@dataclass
class FaultSchedule:
    """The faults of one run, and what has fired."""

    faults: list[Fault]
    out: Path | None = None
    fired: list[dict[str, Any]] = field(default_factory=list)
    #: Fault id in effect per kind it broke (``power-off:ESME`` -> ``F1``).
    active: dict[str, str] = field(default_factory=dict)
    _pending: list[Fault] = field(default_factory=list)
    _started: Any = None

    def __post_init__(self) -> None:
        self._pending = list(self.faults)

    def before_case(self, bench: Bench, case_id: str) -> list[dict[str, Any]]:
        """Fire the faults due before ``case_id``; what fired (each also appended to
        ``faults.jsonl``)."""
        now = bench.clock.now()
        if self._started is None:
            # The virtual clock's loop time is bench seconds since the bench started; on a
            # real bench, count from the first case the schedule saw.
            self._started = 0.0 if bench.clock.is_virtual else bench.clock.monotonic()
        elapsed = bench.clock.monotonic() - self._started
        fired = []
        for fault in [f for f in self._pending if f.due(case_id, elapsed)]:
            self._pending.remove(fault)
            fault_id = f"F{len(self.fired) + 1}"
            error = None
            try:
                _apply(bench, fault)
            except Exception as exc:  # a fault that cannot be applied is evidence too
                error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            restores = RESTORES.get(fault.kind)
            key = f"{fault.kind}:{fault.target or ''}"
            if restores is not None:
                self.active.pop(f"{restores}:{fault.target or ''}", None)
            if restores is None or fault.kind == "power-cycle":
                self.active[key] = fault_id
            entry = {"id": fault_id, "spec": fault.spec, "kind": fault.kind,
                     "target": fault.target, "case": case_id, "bench_time": now.isoformat(),
                     "error": error}
            self.fired.append(entry)
            fired.append(entry)
            if self.out is not None:
                self.out.mkdir(parents=True, exist_ok=True)
                with (self.out / FAULTS_FILE).open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, sort_keys=True) + "\n")
        return fired

    def in_effect(self) -> str | None:
        """The earliest fault still in effect (its id), if any."""
        return min(self.active.values(), key=lambda i: int(i[1:]), default=None)

    def describe(self, fault_id: str) -> dict[str, Any] | None:
        return next((dict(f) for f in self.fired if f["id"] == fault_id), None)


def _apply(bench: Bench, fault: Fault) -> None:
    if fault.kind in ("power-off", "power-on", "power-cycle"):
        assert fault.target is not None
        power = getattr(bench.device(fault.target), "power", None)
        if power is None:
            raise FaultError(f"the {fault.target} has no relay channel")
        {"power-off": power.off, "power-on": power.on, "power-cycle": power.cycle}[fault.kind]()
        return
    emulator = getattr(bench, "_emulator", None)  # faults below exist on emulated benches only
    if emulator is None:
        raise FaultError(f"{fault.kind} needs an emulated bench")
    if fault.kind in ("radio-silent", "radio-back"):
        bench.app.silent = fault.kind == "radio-silent"  # type: ignore[union-attr]
        bench.sleep(0)
        return
    port = emulator.ports.get(fault.target)
    if port is None:
        raise FaultError(f"no emulated serial port {fault.target!r}")
    assert bench.runtime is not None
    bench.runtime.call(port.close)  # on the loop thread, which serves the port


def fault_dict(fault: Fault) -> dict[str, Any]:
    return asdict(fault)
