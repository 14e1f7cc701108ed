"""``TimedStream`` is indexed by sequence: ``since`` and ``wait_for`` answer as a scan of the
whole stream would, from any mark; a stream appended out of order still answers right."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from harness.streams import TimedStream


@dataclass(frozen=True)
class Item:
    seq: int
    name: str


def _stream(seqs: list[int]) -> TimedStream[Item]:
    stream: TimedStream[Item] = TimedStream(None, "item")  # type: ignore[arg-type]
    for seq in seqs:
        stream.append(Item(seq, f"i{seq}"))
    return stream


def _scan(seqs: list[int], mark: int, even: bool) -> list[int]:
    return [s for s in seqs if s > mark and (not even or s % 2 == 0)]


@pytest.mark.parametrize("seqs", [list(range(1, 200)), [1, 2, 5, 9, 10, 40], [3, 1, 2, 7, 5]])
def test_since_answers_as_a_scan_does_from_every_mark(seqs: list[int]) -> None:
    stream = _stream(seqs)
    for mark in range(-1, max(seqs) + 2):
        assert [i.seq for i in stream.since(mark)] == _scan(seqs, mark, even=False)
        assert [i.seq for i in stream.since(mark, lambda i: i.seq % 2 == 0)] == _scan(
            seqs, mark, even=True)


def test_since_returns_a_copy_the_stream_does_not_change() -> None:
    stream = _stream([1, 2, 3])
    got = stream.since(1)
    stream.append(Item(4, "i4"))
    assert [i.seq for i in got] == [2, 3]
    assert stream.mark() == 4


def test_wait_for_finds_the_first_match_after_its_mark_among_those_there() -> None:
    stream = _stream(list(range(1, 50)))

    async def first_even_after(mark: int) -> int:
        return (await stream.wait_for(lambda i: i.seq % 2 == 0, timeout=1, since=mark)).seq

    assert asyncio.run(first_even_after(0)) == 2
    assert asyncio.run(first_even_after(30)) == 32
