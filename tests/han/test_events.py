"""harness.han.events: EUI spelling, matchers, and the event stream's deadline waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.han.events import HanEventStream, match, normalise_eui
from harness.runtime import BenchCallTimeout, BenchRuntime

EUI = "00-1B-C5-0C-00-00-00-01"
OTHER = "00-1B-C5-0C-00-00-00-02"


@pytest.fixture
def runtime() -> Iterator[BenchRuntime]:
    rt = BenchRuntime(virtual=True)
    try:
        yield rt
    finally:
        rt.shutdown()


@pytest.fixture
def stream(runtime: BenchRuntime) -> HanEventStream:
    return HanEventStream(runtime.clock, runtime)


def _emit(runtime: BenchRuntime, stream: HanEventStream, *args: Any, **kwargs: Any) -> Any:
    return runtime.call(lambda: stream.emit(*args, **kwargs))


def _emit_later(runtime: BenchRuntime, stream: HanEventStream, delay: float, *args: Any,
                **kwargs: Any) -> None:
    runtime.call(lambda: runtime.loop.call_later(delay, lambda: stream.emit(*args, **kwargs)))


@pytest.mark.parametrize(
    "spelling",
    ["00-1B-C5-0C-00-00-00-01", "00:1b:c5:0c:00:00:00:01", "001BC50C00000001",
     " 001bc50c00000001 "],
)
def test_normalise_eui_accepts_the_usual_spellings(spelling):
    assert normalise_eui(spelling) == EUI


@pytest.mark.parametrize("bad", ["00-1B-C5-0C-00-00-01", "00-1B-C5-0C-00-00-00-0G", ""])
def test_normalise_eui_rejects_what_is_not_an_eui64(bad):
    with pytest.raises(ValueError):
        normalise_eui(bad)


def test_events_are_numbered_and_stamped_with_bench_time(runtime, stream):
    runtime.sleep(30)
    first = _emit(runtime, stream, "joined", "00:1b:c5:0c:00:00:00:01")
    runtime.sleep(15)
    second = _emit(runtime, stream, "left", EUI)
    assert (first.seq, second.seq) == (1, 2)
    assert first.device == EUI
    assert (first.monotonic, second.monotonic) == (30.0, 45.0)
    assert (second.time - first.time).total_seconds() == 15
    assert second.time == runtime.clock.now()


def test_mark_and_since(runtime, stream):
    assert stream.mark() == 0
    _emit(runtime, stream, "joined", EUI)
    mark = stream.mark()
    _emit(runtime, stream, "joined", OTHER)
    _emit(runtime, stream, "left", EUI)
    assert [e.kind for e in stream.since(mark)] == ["joined", "left"]
    assert [e.device for e in stream.since(mark, match(device=EUI))] == [EUI]
    assert len(stream.since()) == 3


def test_match_combines_its_criteria(runtime, stream):
    report = _emit(runtime, stream, "attribute_report", EUI, cluster=0x0702,
                   name="current_summ_delivered", value=5)
    assert match("attribute_report", device="001bc50c00000001")(report)
    assert match(cluster=0x0702, name="current_summ_delivered")(report)
    assert match(where=lambda e: e.value == 5)(report)
    assert not match("attribute_report", device=OTHER)(report)
    assert not match(cluster=0x0703)(report)
    assert not match(name="status")(report)
    assert not match(where=lambda e: e.value > 5)(report)


def test_wait_for_returns_a_past_event_at_once(runtime, stream):
    runtime.sleep(10)
    event = _emit(runtime, stream, "joined", EUI)
    runtime.sleep(10)
    assert stream.expect(match("joined", device=EUI), timeout=60) is event
    assert runtime.clock.monotonic() == 20.0


def test_wait_for_ignores_events_before_since(runtime, stream):
    _emit(runtime, stream, "joined", EUI)
    mark = stream.mark()
    _emit_later(runtime, stream, 25, "joined", EUI)
    event = stream.expect(match("joined", device=EUI), timeout=60, since=mark)
    assert event.seq == 2
    assert event.monotonic == 25.0
    assert runtime.clock.monotonic() == 25.0


def test_wait_for_waits_in_bench_time_for_a_future_event(runtime, stream):
    _emit_later(runtime, stream, 3600, "attribute_report", OTHER, name="x", value=1)
    _emit_later(runtime, stream, 7200, "attribute_report", EUI, name="x", value=2)
    event = stream.expect(match("attribute_report", device=EUI), timeout=86400)
    assert (event.value, event.monotonic) == (2, 7200.0)
    assert runtime.clock.monotonic() == 7200.0
    assert stream._waiters == []


def test_expect_raises_timeout_at_the_bench_deadline_and_forgets_its_waiter(runtime, stream):
    _emit_later(runtime, stream, 500, "joined", EUI)
    with pytest.raises(TimeoutError, match="within 300 s of bench time") as info:
        stream.expect(match("joined", device=EUI), timeout=300)
    assert not isinstance(info.value, BenchCallTimeout)
    assert runtime.clock.monotonic() == 300.0
    assert stream._waiters == []
    # The event still arrives later, and a new wait sees it.
    assert stream.expect(match("joined"), timeout=300).monotonic == 500.0


def test_two_waiters_on_the_same_event_both_get_it(runtime, stream):
    async def both() -> list[Any]:
        waits = [stream.wait_for(match("left"), 100) for _ in range(2)]
        asyncio.get_running_loop().call_later(40, lambda: stream.emit("left", EUI))
        return await asyncio.gather(*waits)

    first, second = runtime.run(both())
    assert first is second
    assert first.monotonic == 40.0


def test_expect_does_not_turn_a_stuck_bench_into_a_missing_event(runtime, stream, monkeypatch):
    def stuck(coro: Any, **kwargs: Any) -> Any:
        coro.close()
        raise BenchCallTimeout("bench call did not finish within 120 s of wall time")

    monkeypatch.setattr(runtime, "run", stuck)
    with pytest.raises(BenchCallTimeout, match="wall time"):
        stream.expect(match("joined"), timeout=10)


def test_as_dict_is_json_ready(runtime, stream):
    event = _emit(runtime, stream, "command", EUI, cluster=0x0703, name="display_message",
                  value={"message": b"\x01\x02", "ids": (1, 2), "obj": object},
                  details={"tsn": 7, "raw": b"\xff"})
    data = event.as_dict()
    json.dumps(data)
    assert data["cluster"] == "0x0703"
    assert data["device"] == EUI
    assert data["value"]["message"] == "0102"
    assert data["value"]["ids"] == [1, 2]
    assert data["details"] == {"tsn": 7, "raw": "ff"}
    assert data["time"] == event.time.isoformat()
