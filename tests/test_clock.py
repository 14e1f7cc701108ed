"""harness.clock: virtual time, the loop that runs on it, and the clocks tests read.

The loop is driven directly here (``run_until_complete`` in the test thread); the threaded bench
runtime on top of it is covered in ``test_runtime.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from harness.clock import (
    DEFAULT_VIRTUAL_START,
    BenchClock,
    RealClock,
    VirtualClock,
    VirtualTime,
    VirtualTimeEventLoop,
)

WEEK_S = 7 * 24 * 3600


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def vloop(vtime: VirtualTime) -> Iterator[VirtualTimeEventLoop]:
    loop = VirtualTimeEventLoop(vtime)
    try:
        yield loop
    finally:
        loop.close()


def test_virtual_time_starts_at_zero_and_jumps(vtime):
    assert vtime.seconds == 0.0
    assert vtime.free_running == 0
    vtime.jump(12.5)
    vtime.jump(0.5)
    assert vtime.seconds == 13.0


def test_virtual_clock_is_start_plus_virtual_seconds(vtime):
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = VirtualClock(vtime, start)
    assert clock.is_virtual
    assert clock.now() == start
    vtime.jump(90)
    assert clock.monotonic() == 90
    assert clock.now() == start + timedelta(seconds=90)
    assert clock.now().tzinfo is not None


def test_default_virtual_start_is_a_monday_morning_utc():
    assert DEFAULT_VIRTUAL_START.weekday() == 0
    assert DEFAULT_VIRTUAL_START.utcoffset() == timedelta(0)
    assert VirtualClock(VirtualTime()).now() == DEFAULT_VIRTUAL_START


def test_loop_time_is_virtual_time(vloop, vtime):
    assert vloop.time() == 0.0
    vtime.jump(42)
    assert vloop.time() == 42


def test_free_running_loop_jumps_a_week_to_its_timer(vloop, vtime):
    vtime.free_running = 1
    vloop.run_until_complete(asyncio.sleep(WEEK_S))
    assert vtime.seconds == WEEK_S


def test_timers_fire_in_order_at_their_virtual_times(vloop, vtime):
    fired: list[tuple[str, float]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        for name, delay in (("c", 30.0), ("a", 10.0), ("d", 86400.0 * 3), ("b", 20.0)):
            loop.call_later(delay, lambda n=name: fired.append((n, loop.time())))
        await asyncio.sleep(86400.0 * 3 + 1)

    vtime.free_running = 1
    vloop.run_until_complete(scenario())
    assert fired == [("a", 10.0), ("b", 20.0), ("c", 30.0), ("d", 86400.0 * 3)]
    assert vtime.seconds == 86400.0 * 3 + 1


def test_asyncio_timeout_expires_in_virtual_time(vloop, vtime):
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(300):
                await loop.create_future()  # never resolved
        return loop.time()

    vtime.free_running = 1
    assert vloop.run_until_complete(scenario()) == 300


def test_ready_work_runs_before_time_jumps(vloop, vtime):
    """Callbacks that are ready run at the current instant; only an idle loop jumps."""
    seen: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(100):
            await asyncio.sleep(0)
            seen.append(loop.time())
        await asyncio.sleep(5)
        seen.append(loop.time())

    vtime.free_running = 1
    vloop.run_until_complete(scenario())
    assert seen[:100] == [0.0] * 100
    assert seen[100] == 5.0


def test_real_clock_reads_the_loop_and_wall_time():
    loop = asyncio.new_event_loop()
    try:
        clock = RealClock(loop)
        assert not clock.is_virtual
        before = loop.time()
        assert clock.monotonic() >= before
        assert clock.now().tzinfo is not None
    finally:
        loop.close()


def test_bench_clock_delegates_to_its_clock_and_sleep(vtime):
    slept: list[float] = []
    clock = BenchClock(VirtualClock(vtime), slept.append)
    assert clock.is_virtual
    vtime.jump(60)
    assert clock.monotonic() == 60
    assert clock.now() == DEFAULT_VIRTUAL_START + timedelta(minutes=1)
    clock.sleep(300)
    assert slept == [300]
