"""The signed envelope: how security-relevant commands reach a device over the Tunneling cluster.

The byte format is documented in ``docs/envelope.md``; this module is its only implementation,
shared by the S1SP (which builds commands and checks responses) and the emulated devices
(which check commands and build responses), so both sides read the same bytes.

A command is signed with the device's current management key; the device refuses it unless the
signature verifies against that key and the counter is above the last one it accepted. Responses
and alerts are signed with the device's identity key.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from harness.dcc.keys import SIGNATURE_LEN, KeyPair, PublicKey

MAGIC = b"S1EV"
VERSION = 1
_HEADER = struct.Struct(">4sBB8sIHH")  # magic, version, kind, EUI-64, counter, command, length
HEADER_LEN = _HEADER.size  # 22
MAX_PAYLOAD = 8192
#: Manufacturer-defined tunnel protocol id the harness uses for envelopes (ZigBee SE reserves
#: 200-254 for manufacturer-defined protocols).
TUNNEL_PROTOCOL_ID = 200


class Kind(enum.IntEnum):
    COMMAND = 0x01
    RESPONSE = 0x02
    ALERT = 0x03


class Command(enum.IntEnum):
    """Command codes; payloads are documented in ``docs/envelope.md``."""

    SUPPLY = 0x0101
    AUX_LOAD = 0x0102
    BOOST_CONFIG = 0x0103
    READ_BOOST = 0x0104
    KEY_ROTATE = 0x0201
    CERT_UPDATE = 0x0202
    TARIFF = 0x0301
    GAS_FLOW = 0x0302
    VOLTAGE_CONFIG = 0x0303
    CLOCK_SYNC = 0x0304
    READ_LOG = 0x0305
    FIRMWARE = 0x0401
    JOIN_SERVICE = 0x0501
    # Alerts (device to S1SP)
    ALERT = 0x0F00


class Status(enum.StrEnum):
    """What a device says in a response envelope's ``status``."""

    OK = "ok"
    BAD_SIGNATURE = "bad_signature"
    REPLAY = "replay"
    MALFORMED = "malformed"
    WRONG_DEVICE = "wrong_device"
    UNSUPPORTED = "unsupported"
    REFUSED = "refused"
    BUSY = "busy"


class EnvelopeError(ValueError):
    """Bytes that are not a well-formed envelope."""


@dataclass(frozen=True)
class Envelope:
    kind: Kind
    device: str
    counter: int
    command: int
    payload: dict[str, Any] = field(default_factory=dict)
    signature: bytes = b""

    # -- bytes ------------------------------------------------------------------------------
    def signed_part(self) -> bytes:
        """Header and canonical payload: what a signature covers. Raises
        :class:`EnvelopeError` for a field the format cannot carry."""
        if not isinstance(self.counter, int) or not 0 <= self.counter <= 0xFFFFFFFF:
            raise EnvelopeError(f"counter {self.counter!r} is not a 32-bit unsigned integer")
        if not isinstance(self.command, int) or not 0 <= self.command <= 0xFFFF:
            raise EnvelopeError(f"command {self.command!r} is not a 16-bit unsigned integer")
        try:
            kind = int(Kind(self.kind))
        except ValueError:
            raise EnvelopeError(f"unknown envelope kind {self.kind!r}") from None
        body = _payload_bytes(self.payload)
        return _HEADER.pack(MAGIC, VERSION, kind, _eui_bytes(self.device),
                            self.counter, self.command, len(body)) + body

    def to_bytes(self) -> bytes:
        if len(self.signature) not in (0, SIGNATURE_LEN):
            raise EnvelopeError("a signature is 64 bytes (r || s) or absent")
        return self.signed_part() + bytes([len(self.signature)]) + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse; raises :class:`EnvelopeError` for anything malformed (never another error)."""
        if len(data) < HEADER_LEN + 1:
            raise EnvelopeError(f"{len(data)} bytes is shorter than an envelope header")
        magic, version, kind, eui, counter, command, length = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise EnvelopeError("bad magic")
        if version != VERSION:
            raise EnvelopeError(f"unsupported envelope version {version}")
        try:
            kind_value = Kind(kind)
        except ValueError:
            raise EnvelopeError(f"unknown envelope kind {kind}") from None
        if length > MAX_PAYLOAD or HEADER_LEN + length + 1 > len(data):
            raise EnvelopeError("payload length runs past the end of the envelope")
        body = data[HEADER_LEN:HEADER_LEN + length]
        signature_len = data[HEADER_LEN + length]
        signature = data[HEADER_LEN + length + 1:]
        if signature_len not in (0, SIGNATURE_LEN) or len(signature) != signature_len:
            raise EnvelopeError("signature length does not match")
        try:
            payload = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            # ValueError covers JSONDecodeError and integers too long to convert; a deeply
            # nested document exhausts the recursion limit.
            raise EnvelopeError("payload is not UTF-8 JSON") from None
        if not isinstance(payload, dict):
            raise EnvelopeError("payload is not a JSON object")
        try:
            canonical = _payload_bytes(payload)
        except EnvelopeError:
            canonical = None
        if canonical != body:
            # The signature covers the canonical form: accepting other spellings would let
            # the same signature cover many byte strings.
            raise EnvelopeError("payload is not in canonical form (sorted keys, no spaces)")
        return cls(kind_value, _eui_text(eui), counter, command, payload, bytes(signature))

    # -- signatures -------------------------------------------------------------------------
    def signed_with(self, key: KeyPair) -> Envelope:
        return Envelope(self.kind, self.device, self.counter, self.command, self.payload,
                        key.sign(self.signed_part()))

    def verifies_with(self, public: PublicKey) -> bool:
        if not self.signature:
            return False
        try:
            signed = self.signed_part()
        except EnvelopeError:
            return False  # nothing the format can carry was signed
        return public.verify(signed, self.signature)

    def describe(self) -> str:
        """One line for evidence: never includes key material."""
        try:
            name = Command(self.command).name
        except ValueError:
            name = f"0x{self.command:04X}"
        signed = "signed" if self.signature else "unsigned"
        return f"{self.kind.name} {name} #{self.counter} to/from {self.device} ({signed})"


def _payload_bytes(payload: dict[str, Any]) -> bytes:
    if not isinstance(payload, dict):
        raise EnvelopeError("the payload must be a mapping")
    try:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise EnvelopeError(f"the payload cannot be carried as JSON: {exc}") from None
    if len(body) > MAX_PAYLOAD:
        raise EnvelopeError(f"the payload is {len(body)} bytes, more than {MAX_PAYLOAD}")
    return body


def _eui_bytes(eui: str) -> bytes:
    try:
        data = bytes.fromhex(str(eui).replace("-", "").replace(":", ""))
    except ValueError:
        data = b""
    if len(data) != 8:
        raise EnvelopeError(f"{eui!r} is not an EUI-64")
    return data


def _eui_text(data: bytes) -> str:
    return "-".join(f"{b:02X}" for b in data)
