"""Bench faults: the bench, not the device under test, let a case down.

A port that vanished, a person who is needed and not there: the device was not judged, so the
case is *blocked* with the reason (``bench fault: ...``), never *failed* (which would count
against the device). The pytest plugin maps any :class:`BenchFault` raised by a case that way.
"""

from __future__ import annotations


class BenchFault(Exception):
    """Raised when the bench cannot do what a case needs; the case is blocked, not failed."""


#: Prefix of a blocked case's reason when a bench fault stopped it.
BENCH_FAULT_PREFIX = "blocked: bench fault: "
