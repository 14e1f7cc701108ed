"""harness.runtime: the bench loop thread, bench calls on virtual time, guards and shutdown.

Assertions are on bench time, never on wall time; a generous ``wall_timeout`` only makes sure a
call completes at all.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harness.clock import DEFAULT_VIRTUAL_START, RealClock, VirtualClock
from harness.runtime import BenchCallTimeout, BenchRuntime

WEEK_S = 7 * 24 * 3600
GUARD_S = 30.0  # wall-time guard: only there so a broken loop fails instead of hanging


@pytest.fixture
def runtime() -> Iterator[BenchRuntime]:
    rt = BenchRuntime(virtual=True)
    try:
        yield rt
    finally:
        rt.shutdown()


async def _never() -> None:
    await asyncio.get_running_loop().create_future()


class _BlockingSpy:
    """Wraps the real selector: notes when the loop blocks without a timeout (time frozen)."""

    def __init__(self, real: selectors.BaseSelector) -> None:
        self.real = real
        self.blocked = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def select(self, timeout: float | None = None) -> Any:
        if timeout is None:
            self.blocked.set()
        return self.real.select(timeout)


# -- virtual time through bench calls ------------------------------------------------------------


def test_a_week_long_sleep_advances_bench_time_by_exactly_a_week(runtime):
    start = runtime.clock.now()
    runtime.run(asyncio.sleep(WEEK_S), wall_timeout=GUARD_S)
    assert runtime.clock.monotonic() == WEEK_S
    assert (runtime.clock.now() - start).total_seconds() == WEEK_S


def test_runtime_clock_is_virtual_from_the_given_start(runtime):
    assert isinstance(runtime.clock, VirtualClock)
    assert runtime.clock.now() == DEFAULT_VIRTUAL_START
    assert runtime.loop.time() == 0.0


def test_timers_fire_in_order_at_their_bench_times(runtime):
    fired: list[tuple[int, float]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        for n, delay in enumerate((3600.0, 5.0, 86400.0, 300.0)):
            loop.call_later(delay, lambda n=n: fired.append((n, loop.time())))
        await asyncio.sleep(86400.0)
        await asyncio.sleep(0)

    runtime.run(scenario(), wall_timeout=GUARD_S)
    assert fired == [(1, 5.0), (3, 300.0), (0, 3600.0), (2, 86400.0)]


def test_a_timer_does_not_fire_while_nobody_waits_on_the_bench(runtime):
    fired: list[float] = []
    spy: list[_BlockingSpy] = []

    def arm() -> None:
        loop = runtime.loop
        loop.call_later(10, lambda: fired.append(loop.time()))
        selector = loop._selector  # the _VirtualSelector
        spy.append(_BlockingSpy(selector._real))
        selector._real = spy[0]

    runtime.call(arm)
    # The loop now has a timer due in 10 s and nobody waiting on the bench: it must block
    # for I/O without moving time. Once it is blocked, it provably did not fire the timer.
    assert spy[0].blocked.wait(GUARD_S)
    # The test thread does something else meanwhile (bench time is not asked to pass).
    assert sum(range(10_000)) == 49_995_000
    assert runtime.clock.monotonic() == 0.0
    assert fired == []

    # A bench call that lets time pass fires it, at its own bench time.
    runtime.sleep(15)
    assert fired == [10.0]
    assert runtime.clock.monotonic() == 15.0


def test_calls_that_do_not_wait_do_not_move_bench_time(runtime):
    runtime.call(lambda: runtime.loop.call_later(60, lambda: None))
    for _ in range(50):
        assert runtime.call(lambda: 7) == 7
    assert runtime.clock.monotonic() == 0.0


def test_asyncio_timeout_inside_a_bench_call_expires_in_bench_time(runtime):
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(90):
                await _never()
        except TimeoutError:
            return loop.time()
        raise AssertionError("asyncio.timeout did not expire")

    assert runtime.run(scenario(), wall_timeout=GUARD_S) == 90.0
    assert runtime.clock.monotonic() == 90.0


def test_run_timeout_raises_timeout_error_at_that_bench_time(runtime):
    runtime.sleep(100)
    with pytest.raises(TimeoutError) as info:
        runtime.run(_never(), timeout=37.5, wall_timeout=GUARD_S)
    assert not isinstance(info.value, BenchCallTimeout), "a bench-time timeout is not stuck"
    assert runtime.clock.monotonic() == 137.5


def test_timeout_error_raised_by_the_coroutine_is_not_reported_as_a_stuck_call(runtime):
    async def times_out() -> None:
        raise TimeoutError("device did not answer")

    with pytest.raises(TimeoutError, match="device did not answer") as info:
        runtime.run(times_out(), wall_timeout=GUARD_S)
    assert not isinstance(info.value, BenchCallTimeout)


def test_run_returns_the_result_and_propagates_exceptions(runtime):
    async def value() -> str:
        await asyncio.sleep(1)
        return "done"

    async def fails() -> None:
        await asyncio.sleep(1)
        raise ValueError("boom")

    assert runtime.run(value()) == "done"
    with pytest.raises(ValueError, match="boom"):
        runtime.run(fails())
    assert runtime.clock.monotonic() == 2.0


def test_wall_guard_raises_bench_call_timeout_for_a_call_that_never_finishes(runtime):
    with pytest.raises(BenchCallTimeout, match="wall time") as info:
        runtime.run(_never(), wall_timeout=0.05)
    assert isinstance(info.value, TimeoutError)
    # The stuck call was cancelled: nobody is left waiting on the bench.
    runtime.sleep(0)
    assert runtime.call(lambda: runtime._time.free_running) == 1  # only this call itself
    assert runtime.clock.monotonic() == 0.0


def test_concurrent_callers_share_one_bench_time(runtime):
    gate = runtime.call(lambda: runtime.loop.create_future())
    started = threading.Event()
    results: dict[str, float] = {}

    async def first() -> float:
        started.set()
        await gate  # no timer pending: the loop waits for the second caller, time frozen
        await asyncio.sleep(50)
        return asyncio.get_running_loop().time()

    async def second() -> float:
        gate.set_result(None)
        await asyncio.sleep(20)
        return asyncio.get_running_loop().time()

    thread = threading.Thread(
        target=lambda: results.setdefault("first", runtime.run(first(), wall_timeout=GUARD_S))
    )
    thread.start()
    assert started.wait(GUARD_S)
    results["second"] = runtime.run(second(), wall_timeout=GUARD_S)
    thread.join(GUARD_S)
    assert results == {"first": 50.0, "second": 20.0}
    assert runtime.call(lambda: runtime._time.free_running) == 1


# -- the loop thread ------------------------------------------------------------------------------


def test_call_runs_the_function_on_the_loop_thread(runtime):
    assert runtime.call(threading.current_thread) is runtime._thread
    assert not runtime.in_loop_thread
    assert runtime.call(lambda: runtime.in_loop_thread) is True


def test_run_from_the_loop_thread_raises_and_closes_the_coroutine(runtime):
    coro = asyncio.sleep(1)
    with pytest.raises(RuntimeError, match="await instead"):
        runtime.call(lambda: runtime.run(coro))
    assert coro.cr_frame is None  # closed, not left un-awaited
    assert runtime.clock.monotonic() == 0.0


# -- shutdown ------------------------------------------------------------------------------------


def test_shutdown_cancels_pending_tasks_stops_the_loop_and_is_idempotent():
    runtime = BenchRuntime(virtual=True)
    task = runtime.call(lambda: runtime.loop.create_task(_never()))
    sleeper = runtime.call(lambda: runtime.loop.create_task(asyncio.sleep(3600)))
    thread = runtime._thread

    runtime.shutdown()
    assert task.cancelled()
    assert sleeper.cancelled()
    assert not thread.is_alive()
    assert not runtime.loop.is_running()
    assert runtime.loop.is_closed()

    runtime.shutdown()  # idempotent
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="shut down"):
        runtime.run(coro)
    assert coro.cr_frame is None
    with pytest.raises(RuntimeError, match="shut down"):
        runtime.call(lambda: None)


def test_loop_thread_is_a_daemon_and_gone_after_shutdown():
    runtime = BenchRuntime(virtual=True)
    assert runtime._thread.daemon
    assert runtime._thread in threading.enumerate()
    runtime.shutdown()
    assert runtime._thread not in threading.enumerate()


def test_real_clock_runtime_runs_calls_on_an_ordinary_loop():
    runtime = BenchRuntime(virtual=False)
    try:
        assert isinstance(runtime.clock, RealClock)
        assert not runtime.clock.is_virtual

        async def value() -> int:
            await asyncio.sleep(0)
            return 5

        assert runtime.run(value(), timeout=GUARD_S) == 5
        assert runtime.call(lambda: runtime.loop.time()) <= runtime.clock.monotonic()
    finally:
        runtime.shutdown()
    assert runtime.loop.is_closed()


def test_a_call_cancelled_on_the_loop_raises_a_concurrent_cancelled_error(runtime):
    import concurrent.futures

    async def cancelled() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(5)

    with pytest.raises(concurrent.futures.CancelledError) as info:
        runtime.run(cancelled(), wall_timeout=GUARD_S)
    assert isinstance(info.value, Exception), "not asyncio's BaseException"
    assert runtime.call(lambda: runtime._time.free_running) == 1  # only this call itself


def test_many_calls_from_two_threads_each_get_their_own_result(runtime):
    async def echo(value: int) -> int:
        await asyncio.sleep(value % 3)
        return value

    results: list[int] = []
    thread = threading.Thread(
        target=lambda: results.extend(runtime.run(echo(n)) for n in range(0, 200, 2))
    )
    thread.start()
    mine = [runtime.run(echo(n)) for n in range(1, 200, 2)]
    thread.join(GUARD_S)
    assert mine == list(range(1, 200, 2))
    assert results == list(range(0, 200, 2))


def test_what_a_call_schedules_with_call_soon_has_run_when_it_returns(runtime):
    # Emulated nodes answer through call_soon (a power-on starts its join attempt so): a test
    # that powers a node on sees the join when the call returns.
    seen: list[int] = []
    for n in range(300):
        runtime.call(lambda n=n: runtime.loop.call_soon(seen.append, n))
        assert seen[-1:] == [n]
