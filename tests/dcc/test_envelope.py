"""The signed envelope: byte round trip, signatures, and malformed input that only ever raises
``EnvelopeError``."""

from __future__ import annotations

import contextlib
import dataclasses
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.dcc.envelope import (
    HEADER_LEN,
    MAX_PAYLOAD,
    Command,
    Envelope,
    EnvelopeError,
    Kind,
)
from harness.dcc.keys import KeyPair

KEY = KeyPair.derive("management:test", 0)
OTHER = KeyPair.derive("management:other", 0)
DEVICE = "00-1B-C5-0C-00-00-00-01"
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def command(**changes) -> Envelope:
    base = Envelope(Kind.COMMAND, DEVICE, 7, Command.SUPPLY, {"state": "off"})
    return dataclasses.replace(base, **changes)


# -- round trip ---------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)
envelopes = st.builds(
    Envelope,
    kind=st.sampled_from(list(Kind)),
    device=st.binary(min_size=8, max_size=8).map(lambda b: "-".join(f"{x:02X}" for x in b)),
    counter=st.integers(0, 2**32 - 1),
    command=st.integers(0, 0xFFFF),
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
)


@settings(SETTINGS, max_examples=60)
@given(envelopes, st.booleans())
def test_round_trip(envelope, signed):
    if signed:
        envelope = envelope.signed_with(KEY)
    data = envelope.to_bytes()
    again = Envelope.from_bytes(data)
    assert again == envelope
    assert again.to_bytes() == data
    assert again.verifies_with(KEY.public) is signed
    assert not again.verifies_with(OTHER.public)


def test_layout():
    envelope = command().signed_with(KEY)
    data = envelope.to_bytes()
    body = json.dumps({"state": "off"}, separators=(",", ":")).encode()
    assert data[:4] == b"S1EV" and data[4] == 1 and data[5] == Kind.COMMAND
    assert data[6:14] == bytes.fromhex("001BC50C00000001")
    assert int.from_bytes(data[14:18], "big") == 7
    assert int.from_bytes(data[18:20], "big") == Command.SUPPLY
    assert int.from_bytes(data[20:22], "big") == len(body)
    assert data[HEADER_LEN:HEADER_LEN + len(body)] == body
    assert data[HEADER_LEN + len(body)] == 64 and len(data) == HEADER_LEN + len(body) + 65
    assert "signed" in envelope.describe() and "SUPPLY" in envelope.describe()
    assert "0x7777" in command(command=0x7777).describe()


def test_signature_covers_every_field():
    signed = command().signed_with(KEY)
    assert signed.verifies_with(KEY.public)
    for changes in ({"kind": Kind.RESPONSE}, {"device": "00-1B-C5-0C-00-00-00-02"},
                    {"counter": 8}, {"command": Command.AUX_LOAD},
                    {"payload": {"state": "on"}}):
        assert not dataclasses.replace(signed, **changes).verifies_with(KEY.public), changes
    assert not command().verifies_with(KEY.public)  # unsigned


def test_every_single_byte_flip_is_detected():
    """A signed envelope with any one byte changed fails to parse or fails to verify."""
    data = bytearray(command().signed_with(KEY).to_bytes())
    for index in range(len(data)):
        for flip in (0x01, 0x80):
            tampered = bytearray(data)
            tampered[index] ^= flip
            try:
                envelope = Envelope.from_bytes(bytes(tampered))
            except EnvelopeError:
                continue
            assert not envelope.verifies_with(KEY.public), (index, flip)


def test_non_canonical_payload_is_refused():
    """The signature covers the canonical payload: other spellings of it are malformed (else
    the same signature would cover many byte strings)."""
    good = command().to_bytes()
    for body in (b'{"state": "off"}', b'{"state":"off","state":"off"}', b'{ "state":"off"}'):
        header = bytearray(good[:HEADER_LEN])
        header[20:22] = len(body).to_bytes(2, "big")
        with pytest.raises(EnvelopeError, match="canonical"):
            Envelope.from_bytes(bytes(header) + body + b"\x00")


# -- malformed input ----------------------------------------------------------------------------
GOOD = command().signed_with(KEY).to_bytes()


@pytest.mark.parametrize(("data", "why"), [
    (b"", "shorter than an envelope header"),
    (GOOD[:HEADER_LEN], "shorter than an envelope header"),
    (b"XXXX" + GOOD[4:], "bad magic"),
    (GOOD[:4] + b"\x02" + GOOD[5:], "unsupported envelope version"),
    (GOOD[:5] + b"\x09" + GOOD[6:], "unknown envelope kind"),
    (GOOD[:20] + b"\xff\xff" + GOOD[22:], "payload length"),
    (GOOD[:-1], "signature length"),
    (GOOD + b"\x00", "signature length"),
    (GOOD[:-65] + b"\x10" + GOOD[-64:], "signature length"),
], ids=["empty", "header-only", "magic", "version", "kind", "payload-length",
        "signature-cut", "signature-extra", "signature-length-byte"])
def test_malformed_bytes(data, why):
    with pytest.raises(EnvelopeError, match=why):
        Envelope.from_bytes(data)


def _with_body(body: bytes) -> bytes:
    header = bytearray(GOOD[:HEADER_LEN])
    header[20:22] = len(body).to_bytes(2, "big")
    return bytes(header) + body + b"\x00"


@pytest.mark.parametrize("body", [
    b"\xff\xfe", b"[1, 2]", b"nul", b"[" * 5000, b'{"a":' * 3000, b"1" * 5000,
    b'{"n":' + b"9" * 5000 + b"}",
])
def test_malformed_payload(body):
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(_with_body(body))


@SETTINGS
@given(st.binary(max_size=300))
@example(_with_body(b"[" * 4000))
@example(_with_body(b'{"n":' + b"9" * 5000 + b"}"))
def test_arbitrary_bytes_only_raise_envelope_error(data):
    with contextlib.suppress(EnvelopeError):
        Envelope.from_bytes(data)


@SETTINGS
@given(st.data())
def test_mutated_envelopes_only_raise_envelope_error(data):
    raw = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(EnvelopeError):
        Envelope.from_bytes(bytes(raw[:cut] if data.draw(st.booleans()) else raw))


@pytest.mark.parametrize("changes", [
    {"device": "00-1B-C5"}, {"device": "not an eui"}, {"counter": -1}, {"counter": 2**32},
    {"command": 0x10000}, {"command": -1}, {"payload": {"x": object()}},
    {"payload": {"x": "y" * MAX_PAYLOAD}}, {"signature": b"\x01" * 10},
])
def test_building_bad_envelopes_raises_envelope_error(changes):
    with pytest.raises(EnvelopeError):
        command(**changes).to_bytes()


def test_an_envelope_the_format_cannot_carry_does_not_verify():
    signed = command().signed_with(KEY)
    for changes in ({"counter": -1}, {"device": "00-1B"}, {"payload": {"x": object()}}):
        assert dataclasses.replace(signed, **changes).verifies_with(KEY.public) is False
