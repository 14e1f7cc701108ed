"""The fake NCP's ASH layer against the byte sequences of Silicon Labs UG101."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from harness.radiofakes import ash


def test_rst_and_rstack_frames_match_ug101_examples() -> None:
    # UG101 gives RST as C0 38 BC 7E and RSTACK (version 2, power-on reset) as C1 02 02 9B 7B 7E.
    assert ash.encode_frame(ash.AshFrame("RST")) == bytes.fromhex("c038bc7e")
    rstack = ash.AshFrame("RSTACK", payload=bytes([ash.ASH_VERSION, ash.ResetCode.POWER_ON]))
    assert ash.encode_frame(rstack) == bytes.fromhex("c102029b7b7e")


def test_data_randomisation_is_ug101_lfsr() -> None:
    # UG101: the pseudo-random sequence starts 42 21 A8 54 2A.
    assert ash.randomise(bytes(5)) == bytes.fromhex("4221a8542a")
    payload = bytes(range(40))
    assert ash.randomise(ash.randomise(payload)) == payload


def test_reserved_bytes_are_stuffed_and_frames_round_trip() -> None:
    payload = bytes([0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A, 0x00]) * 3
    frame = ash.AshFrame("DATA", frm_num=5, ack_num=2, re_tx=True, payload=payload)
    wire = ash.encode_frame(frame)
    assert wire.endswith(b"\x7e") and b"\x7e" not in wire[:-1]
    assert all(b not in ash.RESERVED - {ash.ESCAPE} for b in wire[:-1])
    assert ash.decode_frame(wire[:-1]) == frame


def test_bad_crc_is_refused() -> None:
    wire = bytearray(ash.encode_frame(ash.AshFrame("ACK", ack_num=3)))
    wire[0] ^= 0x01
    with pytest.raises(ash.AshError):
        ash.decode_frame(bytes(wire[:-1]))


class _Link:
    """An AshNcpLink with its output decoded, on a private loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.out: list[ash.AshFrame] = []
        self.delivered: list[bytes] = []
        self.resets = 0
        self.link = ash.AshNcpLink(self.loop, self._write, self.delivered.append, self._reset)

    def _reset(self) -> None:
        self.resets += 1

    def _write(self, data: bytes) -> None:
        for raw in data.split(b"\x7e"):
            if raw:
                self.out.append(ash.decode_frame(raw))

    def host_sends(self, frame: ash.AshFrame) -> list[ash.AshFrame]:
        self.out.clear()
        self.link.data_received(ash.encode_frame(frame))
        return list(self.out)

    def close(self) -> None:
        self.link.close()
        self.loop.close()


@pytest.fixture
def link() -> Iterator[_Link]:
    made = _Link()
    yield made
    made.close()


def test_rst_is_answered_with_rstack(link: _Link) -> None:
    out = link.host_sends(ash.AshFrame("RST"))
    assert [f.kind for f in out] == ["RSTACK"]
    assert out[0].payload == bytes([ash.ASH_VERSION, ash.ResetCode.SOFTWARE])
    assert link.resets == 1


def test_in_sequence_data_is_acked_and_delivered_once(link: _Link) -> None:
    link.host_sends(ash.AshFrame("RST"))
    out = link.host_sends(ash.AshFrame("DATA", frm_num=0, ack_num=0, payload=b"\x01\x02"))
    assert [(f.kind, f.ack_num) for f in out] == [("ACK", 1)]
    assert link.delivered == [b"\x01\x02"]
    # The NCP's own DATA frames carry the next frame number it expects from the host.
    link.link.send_data(b"\x09")
    assert link.out[-1].kind == "DATA" and link.out[-1].frm_num == 0
    assert link.out[-1].ack_num == 1


def test_out_of_sequence_data_is_naked(link: _Link) -> None:
    link.host_sends(ash.AshFrame("RST"))
    out = link.host_sends(ash.AshFrame("DATA", frm_num=3, ack_num=0, payload=b"\x01"))
    assert [(f.kind, f.ack_num) for f in out] == [("NAK", 0)]
    assert link.delivered == []


def test_a_lost_ack_is_recovered_by_the_hosts_retransmission(link: _Link) -> None:
    link.host_sends(ash.AshFrame("RST"))
    link.link.lose_acks(1)
    out = link.host_sends(ash.AshFrame("DATA", frm_num=0, ack_num=0, payload=b"\x05"))
    link.link.send_data(b"\x06")  # the response, held with the lost ACK
    assert out == [] and link.out == []
    assert link.delivered == [b"\x05"]
    out = link.host_sends(ash.AshFrame("DATA", frm_num=0, ack_num=0, re_tx=True, payload=b"\x05"))
    assert [f.kind for f in out] == ["ACK", "DATA"]
    assert out[1].payload == b"\x06"
    assert link.delivered == [b"\x05"]  # executed once
    assert link.link.host_retransmissions == 1


def test_a_nak_makes_the_ncp_retransmit(link: _Link) -> None:
    link.host_sends(ash.AshFrame("RST"))
    link.link.send_data(b"\x07")
    out = link.host_sends(ash.AshFrame("NAK", ack_num=0))
    assert [(f.kind, f.frm_num, f.re_tx, f.payload) for f in out] == [("DATA", 0, True, b"\x07")]
    assert link.link.ncp_retransmissions == 1


def test_a_corrupt_data_frame_is_naked_once_until_a_good_one_arrives(link: _Link) -> None:
    link.host_sends(ash.AshFrame("RST"))
    wire = bytearray(ash.encode_frame(ash.AshFrame("DATA", frm_num=0, ack_num=0, payload=b"\x01")))
    wire[1] ^= 0x40  # a payload bit flipped on the line: the CRC no longer matches
    link.out.clear()
    link.link.data_received(bytes(wire))
    assert [(f.kind, f.ack_num) for f in link.out] == [("NAK", 0)]
    link.out.clear()
    link.link.data_received(bytes(wire))
    assert link.out == []  # still in the reject condition: no second NAK
    out = link.host_sends(ash.AshFrame("DATA", frm_num=0, ack_num=0, payload=b"\x01"))
    assert [(f.kind, f.ack_num) for f in out] == [("ACK", 1)]
    assert link.delivered == [b"\x01"]


def test_cancel_and_substitute_bytes_discard_a_partial_frame(link: _Link) -> None:
    link.host_sends(ash.AshFrame("RST"))
    good = ash.encode_frame(ash.AshFrame("DATA", frm_num=0, ack_num=0, payload=b"\x02"))
    link.link.data_received(b"\x10\x20" + bytes([ash.CANCEL]) + good)
    assert link.delivered == [b"\x02"]
    good = ash.encode_frame(ash.AshFrame("DATA", frm_num=1, ack_num=0, payload=b"\x03"))
    # SUBSTITUTE: everything up to the next flag is dropped, the frame after it is read.
    link.link.data_received(b"\x30" + bytes([ash.SUBSTITUTE]) + b"\x31\x7e" + good)
    assert link.delivered == [b"\x02", b"\x03"]
