"""Bench clocks: real wall time, or virtual time that the asyncio loop itself runs on.

Every delay the harness knows about (join windows, retry delays, "within 7 days", zigpy's reply
timeouts) is an asyncio timer. Under the virtual clock the bench's event loop reads
:class:`VirtualTime` instead of ``time.monotonic()``, and while a caller is waiting on the bench
(``free_running``), an idle loop jumps straight to its next timer instead of blocking. A 7-day
scenario therefore runs in milliseconds and events still happen in real-time order. When nobody
waits on the bench, virtual time stands still, so a test doing serial I/O does not lose a join
window behind its back.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

DEFAULT_VIRTUAL_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock(Protocol):
    """What the HAN, the emulator and the tests ask of the bench clock."""

    is_virtual: bool

    def monotonic(self) -> float:
        """Seconds on the bench's event-loop clock (the base of every deadline)."""
        ...

    def now(self) -> datetime:
        """Bench date and time, timezone-aware UTC."""
        ...


class VirtualTime:
    """The state behind a virtual clock: seconds since the bench started, and who waits on it.

    ``free_running`` counts callers currently waiting on the bench; only then may an idle loop
    jump ahead. It is changed from the loop thread only.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.free_running = 0
        self._lock = threading.Lock()

    def jump(self, delta: float) -> None:
        with self._lock:
            self.seconds += delta


@dataclass
class VirtualClock:
    """Bench time under emulation: a fixed start date plus the loop's virtual seconds."""

    time: VirtualTime
    start: datetime = DEFAULT_VIRTUAL_START
    is_virtual: bool = True

    def monotonic(self) -> float:
        return self.time.seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.time.seconds)


class RealClock:
    """Bench time on a real bench: wall time, with the loop's monotonic clock for deadlines."""

    is_virtual = False

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def monotonic(self) -> float:
        return self._loop.time()

    def now(self) -> datetime:
        return datetime.now(UTC)


class _VirtualSelector:
    """Wraps the loop's selector: an idle wait becomes a jump of virtual time when allowed."""

    def __init__(self, real: selectors.BaseSelector, time: VirtualTime) -> None:
        self._real = real
        self._time = time

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or not self._time.free_running:
            # Nobody waits on the bench (or nothing is scheduled): only real I/O or a call from
            # another thread can make progress, so block for it without moving time (or poll,
            # when the loop has callbacks ready).
            return self._real.select(0 if timeout is not None and timeout <= 0 else None)
        if timeout <= 0:
            return self._real.select(0)
        ready = self._real.select(0)
        if ready:
            return ready
        # Nothing to do until the next timer, and a caller is waiting: go there now.
        self._time.jump(timeout)
        return []


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is virtual; see the module docstring."""

    def __init__(self, time: VirtualTime) -> None:
        super().__init__()
        self._virtual_time = time
        # asyncio keeps its selector in ``_selector``; wrap it in place (through __dict__: the
        # attribute is private to asyncio and typed there).
        real: selectors.BaseSelector = self.__dict__["_selector"]
        self.__dict__["_selector"] = _VirtualSelector(real, time)

    def time(self) -> float:
        return self._virtual_time.seconds


class BenchClock:
    """The bench clock as tests use it: read it, and let bench time pass.

    ``sleep`` advances bench time (instantly under the virtual clock): tests call it to let a
    scenario's time pass, never to wait for a device (wait for an event instead).
    """

    def __init__(self, clock: Clock, sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep

    @property
    def is_virtual(self) -> bool:
        return self._clock.is_virtual

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


#: Wall seconds a process-length watch observes on a real bench (the lab's ``process.watch_s``).
DEFAULT_WATCH_S = 600.0


@dataclass(frozen=True)
class Watched:
    """What a process-length watch asked for and what it actually observed of the devices."""

    asked_s: float
    observed_s: float

    @property
    def shortened(self) -> bool:
        return self.observed_s < self.asked_s

    @property
    def window(self) -> str:
        """The window observed, as a reason says it ("24 h", "5 s")."""
        return _span(self.observed_s)

    def describe(self) -> str:
        """The window, for a case's reason or evidence (says so when it was shortened)."""
        if not self.shortened:
            return f"watched {_span(self.asked_s)}"
        return (f"watched {_span(self.observed_s)} of wall time of the {_span(self.asked_s)} "
                "period (real clock: the rest passed on the process timeline unobserved)")


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


class ProcessTimeline:
    """Bench time for the programme's process waits: notification periods (15 working days
    before a dormant migration) and the deadlines counted from them (the 7-day key rotation
    window).

    Under the virtual clock a process wait is a bench sleep: it costs no wall time, and the
    emulated devices live through it (their timers fire, their alerts arrive). Under the real
    clock nothing can make days pass, and a person does not sit beside a bench for three weeks:
    a process wait advances this timeline alone, by the time waited, and sleeps no wall time.
    Device interactions stay on the real clock; the timeline's ``now()`` is the clock's plus the
    process time waited so far, so deadlines checked on it are met or missed as the programme
    counts them, and records taken on it show the periods that passed.

    A wait that is the *device's* timing (a repeat at least 5 minutes later, a brown-out that
    ends by itself) is :meth:`sleep`: bench time for the devices too, so wall time on a real bench
    (as long as the device needs, no longer).
    """

    def __init__(self, clock: Clock, sleep: Callable[[float], None], *,
                 watch_s: float = DEFAULT_WATCH_S) -> None:
        self._clock = clock
        self._sleep = sleep
        self._skipped = 0.0
        self.watch_s = watch_s

    @property
    def is_virtual(self) -> bool:
        return self._clock.is_virtual

    @property
    def skipped_s(self) -> float:
        """Process time the timeline advanced without sleeping (0 under the virtual clock)."""
        return self._skipped

    def now(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._skipped)

    def monotonic(self) -> float:
        return self._clock.monotonic() + self._skipped

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of process time pass (see the class docstring)."""
        seconds = max(0.0, seconds)
        if self._clock.is_virtual:
            self._sleep(seconds)
        else:
            self._skipped += seconds

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of bench time pass for the devices too (wall time on a real bench)."""
        self._sleep(max(0.0, seconds))

    def watch(self, seconds: float) -> Watched:
        """Watch the devices for a process-length period (a day of steady supply, say).

        Skipping the period on the timeline would observe nothing, and sleeping it is days of
        wall time: under the virtual clock the devices live through all of it; on a real bench
        they are watched for at most :attr:`watch_s` of wall time and the rest of the period
        passes on the timeline. The case says which window it observed (:meth:`Watched.describe`).
        """
        seconds = max(0.0, seconds)
        observed = seconds if self._clock.is_virtual else min(seconds, self.watch_s)
        self._sleep(observed)
        self._skipped += seconds - observed
        return Watched(seconds, observed)

    def device_wait(self, seconds: float, why: str) -> None:
        """Let ``seconds`` of bench time pass that the devices must live through (their own
        day has to turn, say), which skipping on the timeline cannot give. Under the virtual
        clock it is a bench sleep; on a real bench it is slept only within :attr:`watch_s`,
        and a longer one raises :class:`~harness.faults.BenchFault` (the case is blocked with
        the reason, to be run when the wait is short: a bench never sleeps hours through it).
        """
        from harness.faults import BenchFault

        seconds = max(0.0, seconds)
        if not self._clock.is_virtual and seconds > self.watch_s:
            hours = seconds / 3600
            raise BenchFault(f"{why} is {hours:.1f} h of wall time away, more than the "
                             f"{self.watch_s:g} s a real bench waits (process.watch_s); run "
                             "this case when it is near")
        self._sleep(seconds)

    def wait_until(self, when: datetime) -> None:
        """Let process time pass until ``when`` (nothing if it is past)."""
        self.wait((when - self.now()).total_seconds())
