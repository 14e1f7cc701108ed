"""A bench fault as a lab writes it, ``KIND[:TARGET]@WHEN`` (lab config ``faults:`` or ``dmct run
--fault``), and whether a lab's bench can have it. What a fault does to a running bench is
:mod:`harness.fault_injection`; this module is the part a lab config is validated with."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config.lab import LabConfig

__all__ = ["FAULTS_FILE", "KINDS", "Fault", "FaultError", "check_faults", "parse_fault"]

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
    roles = {d.role for i in lab.installations for d in i.devices}
    # A fake dongle's devices are switched by the fake itself (``harness.backend.fake``).
    switched = roles if lab.radio.is_fake else {
        d.role for i in lab.installations for d in i.devices if d.relay is not None}
    adapters = {a.name for a in lab.serial_adapters if a.role != "relay"}
    for fault in faults:
        needs, real_ok = KINDS[fault.kind]
        if not emulated and not real_ok:
            only = ("a fake:// radio's fake can only switch supplies" if lab.radio.is_fake
                    else "a real one can only switch supplies through its relay board")
            raise FaultError(f"{fault.spec!r}: {fault.kind} needs an emulated bench ({only})")
        if needs == "role":
            if fault.target not in roles:
                raise FaultError(f"{fault.spec!r}: no {fault.target} on bench {lab.bench} "
                                 f"(roles: {', '.join(sorted(roles))})")
            if fault.target not in switched:
                raise FaultError(f"{fault.spec!r}: the {fault.target} has no relay channel "
                                 "(relay: in the lab config) to switch its supply")
        if needs == "adapter" and fault.target not in adapters:
            raise FaultError(f"{fault.spec!r}: no serial adapter {fault.target!r} (adapters: "
                             f"{', '.join(sorted(adapters)) or 'none'})")
