"""Process-length watches: the whole period under the virtual clock, a bounded window of wall
time on a real bench (the rest on the process timeline), and the case can say which."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.clock import ProcessTimeline, Watched


class _Clock:
    def __init__(self, *, virtual: bool) -> None:
        self.is_virtual = virtual
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return datetime(2026, 1, 5, 9, tzinfo=UTC)


def _timeline(*, virtual: bool, watch_s: float = 600.0) -> tuple[ProcessTimeline, list[float]]:
    slept: list[float] = []
    return ProcessTimeline(_Clock(virtual=virtual), slept.append, watch_s=watch_s), slept


def test_a_real_bench_watches_at_most_watch_s_and_the_timeline_keeps_the_period() -> None:
    timeline, slept = _timeline(virtual=False, watch_s=30)
    watched = timeline.watch(24 * 3600)
    assert slept == [30]
    assert timeline.skipped_s == 24 * 3600 - 30
    assert watched == Watched(24 * 3600, 30) and watched.shortened
    assert "30 s of wall time of the 24 h period" in watched.describe()


def test_the_virtual_clock_watches_the_whole_period() -> None:
    timeline, slept = _timeline(virtual=True, watch_s=30)
    watched = timeline.watch(24 * 3600)
    assert slept == [24 * 3600] and timeline.skipped_s == 0
    assert not watched.shortened and watched.describe() == "watched 24 h"


def test_a_watch_shorter_than_watch_s_is_watched_whole_on_a_real_bench() -> None:
    timeline, slept = _timeline(virtual=False, watch_s=600)
    assert not timeline.watch(120).shortened and slept == [120]


def test_a_device_wait_is_lived_through_and_never_slept_for_hours_on_a_real_bench() -> None:
    import pytest

    from harness.faults import BenchFault

    timeline, slept = _timeline(virtual=True, watch_s=30)
    timeline.device_wait(15 * 3600, "the device's next day")
    assert slept == [15 * 3600] and timeline.skipped_s == 0
    timeline, slept = _timeline(virtual=False, watch_s=30)
    timeline.device_wait(20, "the device's next day")
    assert slept == [20]
    with pytest.raises(BenchFault, match=r"the device's next day is 15\.0 h of wall time away"):
        timeline.device_wait(15 * 3600, "the device's next day")
    assert slept == [20] and timeline.skipped_s == 0  # nothing slept, nothing skipped
