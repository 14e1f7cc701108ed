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

import fnmatch
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.config import LabConfig

__all__ = ["FAULTS_FILE", "KINDS", "Fault", "FaultError", "FaultSchedule", "parse_fault"]

FAULTS_FILE = "faults.jsonl"
#: Each kind: what its target is (None: no target), and whether a real bench can do it.
KINDS: dict[str, tuple[str | None, bool]] = {
    "power-off": ("role", True),
    "power-on": ("role", True),
    "power-cycle": ("role", True),
    "radio-silent": (None, False),
    "radio-back": (None, False),
    "serial-gone": ("adapter", False),
}
#: What each restoring kind ends.
RESTORES = {"power-on": "power-off", "power-cycle": "power-off", "radio-back": "radio-silent"}
_TIME = re.compile(r"([0-9]{1,7})(s|m|h|d)", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
_PATTERN = re.compile(r"[A-Za-z0-9_.:/\[\]*?!,=+-]{1,200}", re.ASCII)
FORM = ("KIND[:TARGET]@WHEN, e.g. power-off:ESME@case:test_register* or radio-silent@2h "
        f"(kinds: {', '.join(KINDS)})")


class FaultError(ValueError):
    """A fault that cannot be scheduled; the message is one line."""


@dataclass(frozen=True)
class Fault:
    """One scheduled fault."""

    spec: str
    kind: str
    target: str | None
    #: ``case:PATTERN``: the glob a case id must match (or a substring of it).
    case: str | None = None
    #: Bench seconds since the bench started.
    at_s: int | None = None

    def due(self, case_id: str, elapsed_s: float) -> bool:
        if self.case is not None:
            return self.case in case_id or fnmatch.fnmatchcase(case_id, f"*{self.case}")
        return self.at_s is not None and elapsed_s >= self.at_s


def parse_fault(text: Any) -> Fault:
    """A fault from its ``KIND[:TARGET]@WHEN`` text; raises :class:`FaultError`."""
    if not isinstance(text, str) or not text.strip():
        raise FaultError(f"a fault is a string {FORM}")
    spec = text.strip()
    if len(spec) > 300 or not spec.isascii() or not spec.isprintable():
        raise FaultError(f"a fault is {FORM} (printable ASCII, at most 300 characters)")
    what, at, when = spec.partition("@")
    if not at or not when:
        raise FaultError(f"{spec!r}: no @WHEN; write {FORM}")
    kind, _, target = what.partition(":")
    if kind not in KINDS:
        raise FaultError(f"{spec!r}: unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
    needs = KINDS[kind][0]
    if needs and not target:
        raise FaultError(f"{spec!r}: {kind} needs a {needs}: {kind}:{needs.upper()}@WHEN")
    if not needs and target:
        raise FaultError(f"{spec!r}: {kind} takes no target")
    if target and not _TARGET.fullmatch(target):
        raise FaultError(f"{spec!r}: {needs} {target!r} is not a role or adapter name")
    if when.startswith("case:"):
        pattern = when.removeprefix("case:")
        if not _PATTERN.fullmatch(pattern):
            raise FaultError(f"{spec!r}: case:PATTERN takes a case id or glob")
        return Fault(spec, kind, target or None, case=pattern)
    match = _TIME.fullmatch(when)
    if match is None:
        raise FaultError(f"{spec!r}: WHEN is case:PATTERN or a bench time since the bench "
                         "started (90s, 15m, 2h, 1d)")
    return Fault(spec, kind, target or None, at_s=int(match[1]) * _UNITS[match[2]])


def check_faults(faults: list[Fault], lab: LabConfig) -> None:
    """Every fault can happen on ``lab``'s bench; raises :class:`FaultError`."""
    emulated = lab.is_emulated
    relays = {d.role for i in lab.installations for d in i.devices if d.relay is not None}
    roles = {d.role for i in lab.installations for d in i.devices}
    adapters = {a.name for a in lab.serial_adapters if a.role != "relay"}
    for fault in faults:
        needs, real_ok = KINDS[fault.kind]
        if not emulated and not real_ok:
            raise FaultError(f"{fault.spec!r}: {fault.kind} needs an emulated bench (a real "
                             "one can only switch supplies through its relay board)")
        if needs == "role":
            if fault.target not in roles:
                raise FaultError(f"{fault.spec!r}: no {fault.target} on bench {lab.bench} "
                                 f"(roles: {', '.join(sorted(roles))})")
            if fault.target not in relays:
                raise FaultError(f"{fault.spec!r}: the {fault.target} has no relay channel "
                                 "(relay: in the lab config) to switch its supply")
        if needs == "adapter" and fault.target not in adapters:
            raise FaultError(f"{fault.spec!r}: no serial adapter {fault.target!r} (adapters: "
                             f"{', '.join(sorted(adapters)) or 'none'})")


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
