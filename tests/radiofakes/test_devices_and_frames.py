"""The fakes' own parts: MT framing, scripted devices, the trust centre's decisions."""

from __future__ import annotations

import pytest
from zigpy.zcl import foundation

from harness.config import InstallCode
from harness.radiofakes.devices import (
    DEFAULT_TC_LINK_KEY,
    ScriptedDevice,
    TrustCentre,
    install_code_key,
    smart_energy_device,
)
from harness.radiofakes.znp import MtParser, frame

CODE = InstallCode.with_crc(bytes(range(16)))


def device(**options: object) -> ScriptedDevice:
    return smart_energy_device("00-11-22-33-44-55-66-77", bytes.fromhex(CODE.reveal()),
                               manufacturer="M", model="X", metering={}, **options)  # type: ignore[arg-type]


def test_an_mt_frame_is_sof_length_command_payload_and_xor():
    assert frame(0x21, 0x01) == bytes([0xFE, 0x00, 0x21, 0x01, 0x20])
    data = frame(0x61, 0x01, b"\x59\x04")
    assert data[:4] == bytes([0xFE, 0x02, 0x61, 0x01])
    assert data[-1] == 0x02 ^ 0x61 ^ 0x01 ^ 0x59 ^ 0x04
    with pytest.raises(ValueError, match="at most 250"):
        frame(0x24, 0x02, bytes(251))


def test_the_parser_drops_noise_and_bad_check_bytes_and_reassembles_split_frames():
    parser = MtParser()
    good = frame(0x21, 0x02)
    bad = bytearray(frame(0x21, 0x13, b"\x21\x00"))
    bad[-1] ^= 0xFF
    stream = b"\xef" * 5 + bytes(bad) + good + frame(0x24, 0x00, b"\x01")
    frames = parser.feed(stream[:9]) + parser.feed(stream[9:])
    assert frames == [(0x21, 0x02, b""), (0x24, 0x00, b"\x01")]
    assert parser.dropped > 0


def test_a_device_presents_the_key_its_join_behaviour_says():
    assert device().presented_key() == bytes(CODE.link_key)
    assert device(join="none").presented_key() == DEFAULT_TC_LINK_KEY
    wrong = device(join="wrong").presented_key()
    assert wrong != bytes(CODE.link_key) and len(wrong) == 16
    assert install_code_key(bytes.fromhex(CODE.reveal())) == bytes(CODE.link_key)
    with pytest.raises(ValueError, match="needs an install code"):
        ScriptedDevice("00-11-22-33-44-55-66-77")


def test_the_trust_centre_admits_only_inside_a_permit_and_with_the_table_key():
    tc = TrustCentre()
    meter, rogue = device(), ScriptedDevice("00-11-22-33-44-55-66-88", join="none")
    assert tc.admit(meter, 0).reason == "joining is not permitted now"
    tc.permit(60, 0)
    tc.set_install_code_only(True, 0)
    assert tc.admit(meter, 1).reason == "no install-code key for this device"
    assert tc.admit(rogue, 1).reason == "no install-code key for this device"
    tc.add_install_code_key(meter.ieee, bytes(CODE.link_key), 2)
    assert tc.admit(meter, 3).accepted and meter.nwk == 0x1001
    tc.set_install_code_only(False, 4)
    assert tc.admit(rogue, 5).accepted  # the well-known key, install-code-only off
    assert tc.admit(device(join="wrong"), 6).reason == "link key does not match"
    assert not tc.permitting(61)
    assert [e.what for e in tc.timeline].count("joined") == 2


def test_reads_answer_from_the_table_and_a_sleepy_device_answers_at_its_poll():
    meter = device(poll_interval_s=7.5)
    hdr = foundation.ZCLHeader.general(9, foundation.GeneralCommand.Read_Attributes)
    reply = meter.answer_zcl(1, 0x0702, hdr.serialize() + b"\x00\x00\x99\x99", now=1.0)
    assert reply is not None and reply.delay_s == pytest.approx(6.5)
    rsp_hdr, rest = foundation.ZCLHeader.deserialize(reply.data)
    assert rsp_hdr.tsn == 9 and rsp_hdr.command_id == foundation.GeneralCommand.Read_Attributes_rsp
    assert rest[:3] == b"\x00\x00\x00" and rest[-3:] == b"\x99\x99\x86"  # unsupported
    meter.silent = True
    assert meter.answer_zcl(1, 0x0702, hdr.serialize() + b"\x00\x00", now=1.0) is None


def test_dropped_mac_acks_are_consumed_one_frame_each():
    meter = device(drop_mac_acks=2)
    assert [meter.take_mac_ack() for _ in range(3)] == [False, False, True]
    meter.powered = False
    assert not meter.take_mac_ack()
