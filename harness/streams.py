"""Append-only streams of timestamped items that a test waits on with a bench-clock deadline.

HAN events and S1SP alerts are both such streams: items are appended on the bench loop, each
with a sequence number; a test takes a mark, and waits for the first matching item after it.
Under the virtual clock the wait costs no wall time.

Items come in sequence (and bench-time) order, so a stream is indexed by it: ``since`` and
``wait_for`` find their first item by bisection and cost what they return, not the length of
the stream (which grows with every SR of a session).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from harness.runtime import BenchCallTimeout

if TYPE_CHECKING:
    from harness.runtime import BenchRuntime


class Sequenced(Protocol):
    @property
    def seq(self) -> int: ...


T = TypeVar("T", bound=Sequenced)


def _seq(item: Sequenced) -> int:
    return item.seq


class TimedStream(Generic[T]):
    """See the module docstring; ``what`` names the items in timeout messages."""

    def __init__(self, runtime: BenchRuntime, what: str) -> None:
        self._runtime = runtime
        self._what = what
        self._items: list[T] = []
        self._next_seq = 1
        self._waiters: list[tuple[Callable[[T], bool], asyncio.Future[T], int]] = []
        self._subscribers: list[Callable[[T], None]] = []
        #: Whether ``_items`` are in ``seq`` order (always, unless a caller appends an item
        #: numbered before the last one: then every lookup scans, as it must).
        self._ordered = True

    def next_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def append(self, item: T) -> T:
        """Add an item (on the bench loop) and wake the waiters it matches."""
        if self._items and item.seq < self._items[-1].seq:
            self._ordered = False
        self._items.append(item)
        for subscriber in list(self._subscribers):
            subscriber(item)
        for waiter in list(self._waiters):
            matcher, future, after = waiter
            if not future.done() and item.seq > after and matcher(item):
                future.set_result(item)
                self._waiters.remove(waiter)
        return item

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Call ``callback`` (on the bench loop) for every item appended from now on."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def mark(self) -> int:
        """Sequence number of the last item so far; pass it as ``since`` to see only newer."""
        return self._items[-1].seq if self._items else 0

    def _after(self, mark: int) -> list[T]:
        """The items numbered after ``mark`` (a copy: the loop may append meanwhile)."""
        items = self._items
        if not self._ordered:
            return [i for i in list(items) if i.seq > mark]
        return items[bisect.bisect_right(items, mark, key=_seq):]

    def since(self, mark: int = 0, matcher: Callable[[T], bool] | None = None) -> list[T]:
        after = self._after(mark)
        return after if matcher is None else [i for i in after if matcher(i)]

    async def wait_for(self, matcher: Callable[[T], bool], timeout: float, since: int = 0) -> T:
        """The first item after ``since`` that matches, waiting up to ``timeout`` bench s."""
        for item in self._after(since):
            if matcher(item):
                return item
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        waiter = (matcher, future, since)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def expect(self, matcher: Callable[[T], bool], timeout: float, since: int = 0) -> T:
        """Synchronous :meth:`wait_for`; ``TimeoutError`` says what was awaited."""
        try:
            return self._runtime.run(self.wait_for(matcher, timeout, since))
        except BenchCallTimeout:
            raise  # stuck in wall time: not "nothing within the bench-time deadline"
        except TimeoutError:
            raise TimeoutError(
                f"no matching {self._what} within {timeout:g} s of bench time"
            ) from None
