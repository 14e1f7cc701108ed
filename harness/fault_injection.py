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

Each fault fires once, just before its case's body runs (after its fixtures), through the
bench's backend (:meth:`harness.backend.BenchBackend.inject`). The run goes on. The fault is
evidence (``faults.jsonl`` in the run directory, and ``extra.bench_faults`` in the record of the
case it fired before). A fault is in effect only while what it broke is broken, and every case
run meanwhile carries ``extra.bench_fault``; the report attributes their failures to one
bench-fault finding (:func:`harness.report.dmct_report.build_report`), which never counts
against the DMC. What breaks, until when:

- ``power-off``: until a ``power-on`` (or ``power-cycle``) of the same device brings the device
  back;
- ``power-cycle`` (and the ``power-on`` ending a ``power-off``): until the device is observed
  back (it answers a ZCL read over the HAN; polled for up to :data:`BACK_WITHIN_S` of bench
  time), and at most for the case it fired before: a device that then fails is judged on it;
- ``radio-silent``: until ``radio-back``;
- ``serial-gone``: to the end of the run (a port does not come back).

A resumed run (``dmct run --resume``) does not fire again a fault that fired before a case it
keeps; what such a fault still breaks is broken again on the resumed bench (which starts
afresh) before its first case; a fault scheduled at a bench time fires when the bench time
counted on from the kept cases reaches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config.faults import (
    FAULTS_FILE,
    KINDS,
    Fault,
    FaultError,
    check_faults,
    parse_fault,
)
from harness.text import clip

if TYPE_CHECKING:
    from harness.bench import Bench

__all__ = ["BACK_WITHIN_S", "FAULTS_FILE", "KINDS", "Fault", "FaultError", "FaultSchedule",
           "check_faults", "parse_fault"]

#: Bench seconds a device has to answer again after its supply is restored before the fault
#: counts as still in effect (for the case it fired before).
BACK_WITHIN_S = 120.0
#: Bench seconds between two reads of a device that is coming back.
BACK_POLL_S = 5.0


@dataclass
class _Effect:
    """What a fault broke and is still broken."""

    fault_id: str
    #: In effect for this case only (a supply restored, the device not yet observed back).
    case: str | None = None


@dataclass
class FaultSchedule:
    """The faults of one run (or one resumed part of it), and what has fired."""

    faults: list[Fault]
    out: Path | None = None
    fired: list[dict[str, Any]] = field(default_factory=list)
    #: What is broken, by what (``power:ESME``, ``radio``, ``serial:esme-optical``).
    active: dict[str, _Effect] = field(default_factory=dict)
    #: Bench seconds of the run before this part's bench started (a resumed run's kept cases).
    offset_s: float = 0.0
    _pending: list[int] = field(default_factory=list)
    _reapply: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _started: Any = None

    def __post_init__(self) -> None:
        self._pending = list(range(len(self.faults)))

    @classmethod
    def start(cls, faults: list[Fault], out: Path | None, *, resume: bool,
              kept: set[str] | None = None) -> FaultSchedule:
        """The schedule of a fresh run (``faults.jsonl`` starts afresh) or of a resumed one:
        ``kept`` are the ids of the cases the resumed run keeps (their records stay)."""
        schedule = cls(faults, out=out)
        if out is None:
            return schedule
        path = out / FAULTS_FILE
        if not resume:
            path.unlink(missing_ok=True)
            return schedule
        schedule.take_over(_read_lines(path), kept or set())
        return schedule

    # -- a run --------------------------------------------------------------------------------
    def elapsed_s(self, bench: Bench) -> float:
        """Bench seconds since the run's bench started (counting a resumed run's kept part)."""
        if self._started is None:
            # The virtual clock's loop time is bench seconds since the bench started; on a
            # real bench, count from the first case the schedule saw.
            self._started = 0.0 if bench.clock.is_virtual else bench.clock.monotonic()
        return self.offset_s + bench.clock.monotonic() - self._started

    def before_case(self, bench: Bench, case_id: str) -> list[dict[str, Any]]:
        """Fire the faults due before ``case_id``; what fired (each also appended to
        ``faults.jsonl``)."""
        elapsed = self.elapsed_s(bench)
        # What a case before this one was the last to suffer is over.
        self.active = {k: e for k, e in self.active.items() if e.case in (None, case_id)}
        reapply, self._reapply = self._reapply, []
        for key, entry in reapply:
            error = _inject(bench, entry["kind"], entry["target"])
            self._write({"event": "reapplied", "id": entry["id"], "spec": entry["spec"],
                         "kind": entry["kind"], "target": entry["target"], "case": case_id,
                         "bench_time": bench.clock.now().isoformat(), "error": error})
            if error is not None:
                self.active.pop(key, None)
        fired = []
        for index in [i for i in self._pending if self.faults[i].due(case_id, elapsed)]:
            self._pending.remove(index)
            fired.append(self._fire(bench, index, case_id))
        return fired

    def _fire(self, bench: Bench, index: int, case_id: str) -> dict[str, Any]:
        fault = self.faults[index]
        fault_id = f"F{max((int(f['id'][1:]) for f in self.fired), default=0) + 1}"
        entry: dict[str, Any] = {
            "event": "fired", "id": fault_id, "index": index, "spec": fault.spec,
            "kind": fault.kind, "target": fault.target, "case": case_id,
            "bench_time": bench.clock.now().isoformat(), "error": None, "ends": None,
            "back": None}
        entry["error"] = _inject(bench, fault.kind, fault.target)
        if fault.kind in ("power-on", "power-cycle") and entry["error"] is None:
            entry["back"] = _observe_back(bench, fault.target or "")
        self._record_effect(entry)
        self.fired.append(entry)
        self._write(entry)
        return entry

    def _record_effect(self, entry: dict[str, Any]) -> None:
        """What the fired ``entry`` breaks or ends (:attr:`active`)."""
        kind, target, fault_id = entry["kind"], entry["target"], entry["id"]
        if entry["error"] is not None and kind in ("power-off", "radio-silent", "serial-gone"):
            return  # it broke nothing (as far as anyone knows)
        if kind in ("power-off", "power-on", "power-cycle"):
            key = f"power:{target}"
            if kind == "power-off":
                self.active.setdefault(key, _Effect(fault_id))
                return
            if entry["error"] is not None:
                return  # the supply was not restored: what was broken stays broken
            prior = self.active.pop(key, None)
            if prior is not None:
                entry["ends"] = prior.fault_id
            if entry["back"] is None and (prior is not None or kind == "power-cycle"):
                culprit = prior.fault_id if prior is not None else fault_id
                self.active[key] = _Effect(culprit, case=entry["case"])
        elif kind == "radio-silent":
            self.active.setdefault("radio", _Effect(fault_id))
        elif kind == "radio-back":
            prior = self.active.pop("radio", None)
            entry["ends"] = prior.fault_id if prior is not None else None
        else:  # serial-gone: a port does not come back
            self.active.setdefault(f"serial:{target}", _Effect(fault_id))

    def in_effect(self, case_id: str) -> str | None:
        """The earliest fault in effect while ``case_id`` runs (its id), if any."""
        ids = [e.fault_id for e in self.active.values() if e.case in (None, case_id)]
        return min(ids, key=lambda i: int(i[1:]), default=None)

    def describe(self, fault_id: str) -> dict[str, Any] | None:
        return next((dict(f) for f in self.fired if f["id"] == fault_id), None)

    # -- resuming -----------------------------------------------------------------------------
    def take_over(self, lines: list[dict[str, Any]], kept: set[str]) -> None:
        """Take over what the interrupted run's faults did before the cases it keeps."""
        fired = [e for e in lines if e.get("event", "fired") == "fired"
                 and isinstance(e.get("id"), str) and e["id"][1:].isdigit()]
        for entry in fired:
            index = entry.get("index")
            if entry.get("case") not in kept or index not in self._pending:
                continue  # its case runs again: so does the fault, before it
            if self.faults[index].spec != entry.get("spec"):
                continue  # not this schedule's fault
            self._pending.remove(index)
            self._record_effect(entry)
            self.fired.append(entry)
        elapsed = [float(e["elapsed_s"]) for e in lines
                   if e.get("event") == "case" and e.get("case") in kept]
        self.offset_s = max(elapsed, default=0.0)
        self._write({"event": "resumed", "kept": [e["id"] for e in self.fired],
                     "pending": [self.faults[i].spec for i in self._pending],
                     "elapsed_s": self.offset_s})
        by_id = {e["id"]: e for e in self.fired}
        self._reapply = [(key, by_id[effect.fault_id]) for key, effect in self.active.items()
                         if effect.case is None and effect.fault_id in by_id]
        self.active = {k: e for k, e in self.active.items() if e.case is None}

    def after_case(self, bench: Bench, case_id: str) -> None:
        """Note where bench time stood when ``case_id`` ended (a resumed run counts on from
        the last case it keeps)."""
        if self.out is not None:
            self._write({"event": "case", "case": case_id,
                         "elapsed_s": round(self.elapsed_s(bench), 3)})

    def _write(self, entry: dict[str, Any]) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with (self.out / FAULTS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


def _inject(bench: Bench, kind: str, target: str | None) -> str | None:
    """Do the fault through the bench's backend; why it could not be done, as one line."""
    try:
        assert bench.runtime is not None, "the bench has not started"
        bench.backend.inject(kind, target, bench.runtime)
    except Exception as exc:  # a fault that cannot be applied is evidence too
        return clip(f"{type(exc).__name__}: {exc}", 300)
    return None


def _observe_back(bench: Bench, role: str) -> str | None:
    """The bench time at which the device in ``role``, its supply restored, answers a ZCL read
    again; ``None`` when it was never on the HAN or did not answer within
    :data:`BACK_WITHIN_S`."""
    try:
        device = bench.device(role)
    except LookupError:
        return None
    if not device.is_joined:
        return None
    deadline = bench.clock.monotonic() + BACK_WITHIN_S
    while True:
        try:
            device.zigbee.read("basic", "zcl_version")
        except Exception:  # not yet back: no MAC ACK, a timeout, not joined again
            if bench.clock.monotonic() + BACK_POLL_S > deadline:
                return None
            bench.sleep(BACK_POLL_S)
            continue
        return bench.clock.now().isoformat()


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """The lines of ``faults.jsonl`` (a torn or foreign line is skipped)."""
    if not path.is_file():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return lines

