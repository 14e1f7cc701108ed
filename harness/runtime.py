"""The bench's event loop in a background thread, and the bridge synchronous tests call through.

zigpy, the emulator's nodes and its pty ports live on one asyncio loop; pytest tests are plain
functions. ``BenchRuntime.run(coro)`` hands a coroutine to the loop and blocks until it finishes.
While it blocks, virtual time may run free (see :mod:`harness.clock`), which is what makes a
"wait 5 minutes" cost nothing under emulation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from harness.clock import (
    DEFAULT_VIRTUAL_START,
    Clock,
    RealClock,
    VirtualClock,
    VirtualTime,
    VirtualTimeEventLoop,
)

T = TypeVar("T")
LOGGER = logging.getLogger(__name__)

#: Wall-time guard on one bench call under the virtual clock. A call that needs longer is stuck
#: (waiting on real I/O that never comes), not slow: fail it instead of hanging CI.
VIRTUAL_WALL_GUARD_S = 120.0


#: A file each wall-clock bench sleep of a real-clock run is appended to (seconds, one a line).
WALL_SLEEP_LOG_ENV = "DMCT_WALL_SLEEP_LOG"


class BenchCallTimeout(TimeoutError):
    """A bench call did not finish within its wall-time guard."""


class _Call:
    """One synchronous bench call in flight: the lock its caller waits on, and the outcome."""

    __slots__ = ("done", "error", "lock", "task", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None

    def cancel(self) -> None:
        """Cancel the call's task (on the loop thread, after the task was started)."""
        if self.task is not None:
            self.task.cancel()


class BenchRuntime:
    """One event loop thread and its clock; the only way harness code reaches the loop."""

    def __init__(self, *, virtual: bool, start: datetime = DEFAULT_VIRTUAL_START) -> None:
        self.virtual = virtual
        self._time: VirtualTime | None = None
        if virtual:
            self._time = VirtualTime()
            self.loop: asyncio.AbstractEventLoop = VirtualTimeEventLoop(self._time)
            self.clock: Clock = VirtualClock(self._time, start)
        else:
            self.loop = asyncio.new_event_loop()
            self.clock = RealClock(self.loop)
        self.loop.set_exception_handler(self._log_loop_exception)
        self._thread = threading.Thread(target=self._run_loop, name="bench-loop", daemon=True)
        self._thread.start()
        self._closed = False
        self._wall_sleep_log = os.environ.get(WALL_SLEEP_LOG_ENV)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @staticmethod
    def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        LOGGER.warning("bench loop: %s", context.get("message"), exc_info=context.get("exception"))

    @property
    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    async def _free_run(self, coro: Awaitable[T], timeout: float | None) -> T:
        if self._time is not None:
            self._time.free_running += 1
        try:
            if timeout is None:
                return await coro
            async with asyncio.timeout(timeout):
                return await coro
        finally:
            if self._time is not None:
                self._time.free_running -= 1

    async def _bench_call(self, call: _Call, coro: Awaitable[Any], timeout: float | None) -> None:
        """The task of one bench call: runs ``coro`` free-running, hands its outcome to
        ``call`` and wakes the caller (no chained future: the caller waits on a bare lock)."""
        try:
            call.value = await self._free_run(coro, timeout)
        except BaseException as exc:
            call.error = exc  # the caller raises it
            if not isinstance(exc, Exception):
                raise  # a cancelled call ends its task cancelled; KeyboardInterrupt stops the loop
        finally:
            call.done = True
            # Wake the caller once what the call scheduled with ``call_soon`` has run (as a
            # chained future's done callback always did): the caller sees its effects.
            asyncio.get_running_loop().call_soon(call.lock.release)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        timeout: float | None = None,
        wall_timeout: float | None = None,
    ) -> T:
        """Run ``coro`` on the bench loop and return its result.

        ``timeout`` is in bench seconds (virtual or real) and raises ``TimeoutError``.
        ``wall_timeout`` guards against a stuck call; it defaults to
        :data:`VIRTUAL_WALL_GUARD_S` under the virtual clock and to ``timeout`` plus a margin on
        a real bench.
        """
        if self._closed:
            coro.close()
            raise RuntimeError("bench runtime is shut down")
        if self.in_loop_thread:
            coro.close()
            raise RuntimeError("BenchRuntime.run() called from the bench loop; await instead")
        if wall_timeout is None:
            if self.virtual:
                wall_timeout = VIRTUAL_WALL_GUARD_S
            elif timeout is not None:
                wall_timeout = timeout + 30.0
        call = _Call()
        self.loop.call_soon_threadsafe(self._start, call, coro, timeout)
        # A bare lock, released by the call's task, is the cheapest wake-up there is (a chained
        # concurrent future and ``concurrent.futures.wait`` cost a few times the hop itself).
        waited = call.lock.acquire(timeout=-1 if wall_timeout is None else wall_timeout)
        if not waited and not call.done:
            self.loop.call_soon_threadsafe(call.cancel)
            raise BenchCallTimeout(
                f"bench call did not finish within {wall_timeout:.0f} s of wall time"
            )
        error = call.error
        if error is not None:
            call.error = None
            if isinstance(error, asyncio.CancelledError):
                # A cancelled call raises what a cancelled concurrent future raises (an
                # ``Exception``, unlike asyncio's ``CancelledError``), as it always has.
                raise concurrent.futures.CancelledError()
            try:
                raise error
            finally:
                del error  # no reference cycle through the traceback
        return call.value

    def _start(self, call: _Call, coro: Awaitable[Any], timeout: float | None) -> None:
        call.task = self.loop.create_task(self._bench_call(call, coro, timeout))

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the loop thread (for state owned by the loop)."""
        if self.in_loop_thread:
            return fn()

        async def _call() -> T:
            return fn()

        return self.run(_call())

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of bench time pass (instant under the virtual clock).

        On a real clock this is wall time: with ``DMCT_WALL_SLEEP_LOG`` naming a file, each one
        is appended to it, so a run can show it never slept longer than a device needs
        (process waits go on the timeline)."""
        if not self.virtual:
            log = self._wall_sleep_log
            if log:
                with open(log, "a", encoding="utf-8") as file:
                    file.write(f"{seconds:.3f}\n")
        self.run(asyncio.sleep(seconds), wall_timeout=None if self.virtual else seconds + 30.0)

    def shutdown(self) -> None:
        """Cancel what is left on the loop, stop it and join its thread. Idempotent."""
        if self._closed:
            return
        self._closed = True

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=5)

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(
                    self._free_run(_cancel_all(), None), self.loop
                ).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()
