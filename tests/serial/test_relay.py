"""LCUS relay frames, the emulated board, and RelayBoard driving it over a pty."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.serial import RelayBoard, RelayCommand, RelayServer, decode_command, encode_command
from harness.serial.relay import BAUDRATE

FUZZ = settings(max_examples=200, database=None, deadline=None)


def test_frames_match_the_vendor_examples():
    # LCUS documentation: "A0 01 01 A2" switches relay 1 on, "A0 01 00 A1" off.
    assert encode_command(1, True) == bytes.fromhex("A0 01 01 A2")
    assert encode_command(1, False) == bytes.fromhex("A0 01 00 A1")
    # 0xA0 + 4 + 1 = 0xA5; the sum wraps at 0xFF: 0xA0 + 0x70 + 1 = 0x111 -> 0x11.
    assert encode_command(4, True) == bytes.fromhex("A0 04 01 A5")
    assert encode_command(0x70, True)[3] == 0x11


@given(st.integers(1, 255), st.booleans())
@FUZZ
def test_round_trip(channel, on):
    assert decode_command(encode_command(channel, on)) == (channel, on)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("A0 01 01", "4 bytes"),
        ("A1 01 01 A3", "header"),
        ("A0 00 01 A1", "channel 0"),
        ("A0 01 02 A3", "state"),
        ("A0 01 01 A3", "checksum 0xA3, expected 0xA2"),
    ],
)
def test_decode_rejects_bad_frames(frame, message):
    with pytest.raises(ValueError, match=message):
        decode_command(bytes.fromhex(frame))


@pytest.mark.parametrize("channel", [0, 256, -1, True])
def test_encode_rejects_bad_channels(channel):
    with pytest.raises(ValueError):
        encode_command(channel, True)


class Recorder:
    """on_change callback that a test thread can wait on (no sleeps)."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, bool]] = []
        self._cond = threading.Condition()

    def __call__(self, channel: int, on: bool) -> None:
        with self._cond:
            self.changes.append((channel, on))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 2.0) -> list[tuple[int, bool]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.changes) >= count, timeout), self.changes
            return list(self.changes)


def test_server_resyncs_and_reports_changes_only():
    rec = Recorder()
    board = RelayServer(4, rec)
    stream = (
        b"\x00\xa0\xa0"  # junk, including a header that does not start a frame
        + encode_command(2, True)
        + encode_command(2, True)  # no change: not reported again
        + encode_command(9, True)  # no such channel on a 4-channel board: ignored
        + bytes.fromhex("A0 03 01 FF")  # bad checksum
        + encode_command(3, True)[:2]
    )
    assert board.feed(stream) == b""
    assert rec.changes == [(2, True)]
    board.feed(encode_command(3, True)[2:] + encode_command(2, False))
    assert rec.changes == [(2, True), (3, True), (2, False)]
    assert [board.state(c) for c in (1, 2, 3, 4)] == [False, False, True, False]
    assert board.frames == 5
    with pytest.raises(ValueError):
        board.state(5)


@given(st.binary(max_size=300))
@FUZZ
def test_server_survives_arbitrary_bytes(data):
    rec = Recorder()
    board = RelayServer(8, rec)
    assert board.feed(data) == b""
    assert len(board._pending) < 4
    assert all(1 <= ch <= 8 for ch, _ in rec.changes)
    board.feed(bytes(4) + encode_command(8, not board.state(8)))  # still in sync afterwards
    assert rec.changes[-1][0] == 8


@pytest.fixture
def bench_relay(serve, client):
    rec = Recorder()
    server = RelayServer(2, rec)
    pty = serve(server, name="relay")
    board = RelayBoard(client(pty.path, baudrate=BAUDRATE), channels=2)
    return board, server, rec


def test_board_switches_the_emulated_relay(bench_relay, loop_thread):
    board, server, rec = bench_relay
    board.on(2)
    assert rec.wait_for(1) == [(2, True)]
    board.set(1, True)
    board.off(2)
    assert rec.wait_for(3) == [(2, True), (1, True), (2, False)]
    assert loop_thread.call(server.state, 1) is True
    assert board.log == [RelayCommand(2, True), RelayCommand(1, True), RelayCommand(2, False)]
    assert board.state(2) is False and board.state(1) is True
    with pytest.raises(ValueError):
        board.on(3)  # the board has two channels


def test_power_cycle_uses_the_injected_sleep(bench_relay):
    board, _, rec = bench_relay
    board.on(1)
    rec.wait_for(1)
    slept: list[float] = []

    def bench_sleep(seconds: float) -> None:
        # The off command left before the wait began.
        assert board.log[-1] == RelayCommand(1, False)
        slept.append(seconds)

    board.power_cycle(1, 5.0, sleep=bench_sleep)
    assert slept == [5.0]
    assert rec.wait_for(3) == [(1, True), (1, False), (1, True)]


def test_power_cycle_switches_back_on_when_interrupted(bench_relay):
    board, _, rec = bench_relay

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        board.power_cycle(2, 5.0, sleep=interrupted)
    assert board.log == [RelayCommand(2, False), RelayCommand(2, True)]
    assert rec.wait_for(1) == [(2, True)]
