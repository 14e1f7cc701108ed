"""The fake NCP's EZSP frames, byte by byte, without bellows (UG100 layouts)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

import pytest

from harness.radiofakes import ezsp_frames as f
from harness.radiofakes.devices import smart_energy_device
from harness.radiofakes.ezsp_ncp import Cmd, EzspNcp

CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


class Host:
    """Sends EZSP frames to an :class:`EzspNcp` and keeps what comes back."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ncp = EzspNcp()
        self.out: list[bytes] = []
        self.ncp.attach(self.loop, self.out.append)
        self.seq = 0

    def send(self, frame_id: int, params: bytes = b"", *, legacy: bool = False) -> list[bytes]:
        self.out.clear()
        self.seq += 1
        if legacy:
            frame = bytes([self.seq, 0x00, frame_id]) + params
        else:
            frame = bytes([self.seq, 0x00, 0x01]) + struct.pack("<H", frame_id) + params
        self.ncp.frame_received(frame)
        return list(self.out)

    def command(self, frame_id: int, params: bytes = b"") -> bytes:
        """The response's parameters (the first frame back must be the response)."""
        out = self.send(frame_id, params)
        header, rest = f.parse_header(out[0])
        assert (header.sequence, header.frame_id, out[0][1]) == (self.seq, frame_id, 0x80)
        return rest

    def callbacks(self, frames: list[bytes]) -> list[tuple[int, bytes]]:
        found = []
        for frame in frames:
            header, rest = f.parse_header(frame)
            if frame[1] & 0x10:  # asynchronous callback
                found.append((header.frame_id, rest))
        return found

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def host() -> Iterator[Host]:
    made = Host()
    yield made
    made.close()


def _form(host: Host) -> None:
    host.send(Cmd.VERSION, b"\x04", legacy=True)
    host.send(Cmd.VERSION, b"\x08")
    # setInitialSecurityState: bitmask, preconfigured key, network key, key seq, TC EUI-64.
    state = struct.pack("<H", 0x0384 | 0x0100 | 0x0200) + b"K" * 16 + b"N" * 16 + b"\x00" + bytes(8)
    assert host.command(Cmd.SET_INITIAL_SECURITY_STATE, state) == b"\x00"
    params = f.NetworkParameters(bytes(range(8)), 0x1A62, 8, 15, 0, 0, 0, 1 << 15)
    out = host.send(Cmd.FORM_NETWORK, params.encode())
    assert f.parse_header(out[0])[1] == b"\x00"
    assert host.callbacks(out) == [(Cmd.STACK_STATUS_HANDLER, b"\x90")]  # NETWORK_UP


def test_version_is_negotiated_from_a_legacy_frame_to_the_extended_format(host: Host) -> None:
    out = host.send(Cmd.VERSION, b"\x04", legacy=True)
    # Legacy response: sequence, frame control 0x80, frame id 0, then version 8, stack type 2.
    assert out == [bytes([host.seq, 0x80, 0x00, 8, 2]) + struct.pack("<H", 0x6780)]
    out = host.send(Cmd.VERSION, b"\x08")
    assert out == [bytes([host.seq, 0x80, 0x01, 0x00, 0x00, 8, 2]) + struct.pack("<H", 0x6780)]


def test_an_unknown_frame_id_is_an_invalid_command(host: Host) -> None:
    host.send(Cmd.VERSION, b"\x08")
    out = host.send(0x0123)
    assert out == [bytes([host.seq, 0x80, 0x01]) + struct.pack("<H", 0x58) + b"\x31"]
    assert host.ncp.counters.invalid_commands == [0x0123]


def test_the_network_survives_a_reset_and_comes_up_with_network_init(host: Host) -> None:
    assert host.command(Cmd.NETWORK_INIT, b"\x00\x00") == b"\x93"  # NOT_JOINED: no network
    _form(host)
    host.ncp.power_on_reset()
    assert host.command(Cmd.NETWORK_STATE) == b"\x00"  # NO_NETWORK until initialised
    out = host.send(Cmd.NETWORK_INIT, b"\x00\x00")
    assert host.callbacks(out) == [(Cmd.STACK_STATUS_HANDLER, b"\x90")]
    rest = host.command(Cmd.GET_NETWORK_PARAMETERS)
    assert rest[:2] == b"\x00\x01"  # SUCCESS, coordinator
    assert f.Reader(rest[2:]).network_parameters().pan_id == 0x1A62
    key = host.command(Cmd.GET_KEY, b"\x03")  # current network key
    assert key[0] == 0 and key[4:20] == b"N" * 16


def test_install_code_only_joins(host: Host) -> None:
    _form(host)
    meter = smart_energy_device("00-1B-C5-0C-00-00-40-01", CODE, manufacturer="A", model="B")
    stranger = smart_energy_device("00-1B-C5-0C-00-00-40-02", None, manufacturer="A",
                                   model="B", join="none")
    key = meter.own_key()
    assert key is not None
    assert host.command(Cmd.ADD_TRANSIENT_LINK_KEY, meter.ieee + key) == b"\x00"
    assert host.command(Cmd.SET_POLICY, b"\x00\x11") == b"\x00"  # ALLOW_JOINS | INSTALL_CODE
    assert host.command(Cmd.PERMIT_JOINING, b"\x3c") == b"\x00"

    host.out.clear()
    assert not host.ncp.join(stranger).accepted
    (frame_id, params), = host.callbacks(host.out)
    # trustCenterJoinHandler: nwk, EUI-64, UNSECURED_JOIN, DENY_JOIN, parent.
    assert frame_id == Cmd.TRUST_CENTER_JOIN_HANDLER
    assert params == b"\xfe\xff" + stranger.ieee + b"\x01\x02\x00\x00"

    host.out.clear()
    assert host.ncp.join(meter).accepted
    callbacks = host.callbacks(host.out)
    assert [c[0] for c in callbacks] == [Cmd.TRUST_CENTER_JOIN_HANDLER,
                                         Cmd.INCOMING_MESSAGE_HANDLER]
    assert callbacks[0][1] == struct.pack("<H", meter.nwk) + meter.ieee + b"\x01\x00\x00\x00"
    reader = f.Reader(callbacks[1][1])
    assert reader.u8() == 4  # INCOMING_BROADCAST
    aps = reader.aps_frame()
    assert (aps.profile_id, aps.cluster_id) == (0x0000, 0x0013)  # Device_annce
    reader.u8(), reader.i8()
    assert reader.u16() == meter.nwk
    reader.u8(), reader.u8()
    annce = reader.lv_bytes()
    assert annce[1:3] == struct.pack("<H", meter.nwk) and annce[3:11] == meter.ieee
