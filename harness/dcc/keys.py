"""Keys: DCC Users' signing keys, device management keys, device identity keys.

Critical Service Requests are signed by the sending User with ECDSA P-256 / SHA-256; commands to
a device are signed by the S1SP with that device's current **management key**; a device signs
its responses and alerts with its own **identity key**. An emulated bench gets a test PKI derived
from the bench seed (reproducible runs); a real bench names PKCS#8 PEM files in its secrets file.

Private keys never leave this module in printable form: ``repr``/``str`` show a fingerprint of
the public key only, and there is no method that returns private key bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

CURVE = ec.SECP256R1()
#: Order of the P-256 group: private scalars are taken modulo it.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIGNATURE_LEN = 64


class KeyPair:
    """An ECDSA P-256 key pair that signs, verifies and never prints its private half."""

    __slots__ = ("_private", "name", "public")

    def __init__(self, name: str, private: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private.curve, ec.SECP256R1):
            raise ValueError(f"key {name!r} is not on P-256")
        self.name = name
        self._private = private
        self.public = PublicKey(private.public_key())

    @classmethod
    def derive(cls, name: str, seed: int | str) -> KeyPair:
        """A key pair derived from a seed and a name: the test PKI of emulated benches."""
        digest = hashlib.sha256(f"smets1-dmct-test-pki:{seed}:{name}".encode()).digest()
        scalar = int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1
        return cls(name, ec.derive_private_key(scalar, CURVE))

    @classmethod
    def generate(cls, name: str) -> KeyPair:
        return cls(name, ec.generate_private_key(CURVE))

    @classmethod
    def from_pem(cls, name: str, path: Path) -> KeyPair:
        """A PKCS#8 PEM private key file (unencrypted) from a bench's secrets file."""
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: key {name!r} is not an EC private key")
        return cls(name, key)

    def sign(self, data: bytes) -> bytes:
        """Raw 64-byte ``r || s`` signature over SHA-256 of ``data``."""
        der = self._private.sign(data, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def __repr__(self) -> str:
        return f"KeyPair({self.name!r}, public {self.public.fingerprint}, private masked)"

    __str__ = __repr__


@dataclass(frozen=True)
class PublicKey:
    """An ECDSA P-256 public key: verifies raw signatures, serialises as SEC1 uncompressed."""

    key: ec.EllipticCurvePublicKey = field(repr=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        return cls(ec.EllipticCurvePublicKey.from_encoded_point(CURVE, data))

    def to_bytes(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.X962,
                                     serialization.PublicFormat.UncompressedPoint)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    def verify(self, data: bytes, signature: bytes) -> bool:
        if len(signature) != SIGNATURE_LEN:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        try:
            self.key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"PublicKey({self.fingerprint})"


@dataclass(frozen=True)
class User:
    """A DCC User: a name, a User Role, an originator EUI-64 and a signing key."""

    name: str
    role: str
    eui: str
    organisation: str
    key: KeyPair = field(repr=False)


#: The test PKI's Users: (name, role, organisation). Two of each supplier and distributor role
#: so change of supplier and a wrongly placed DNO certificate can be exercised.
TEST_USERS: tuple[tuple[str, str, str], ...] = (
    ("import-supplier", "IS", "Supplier A"),
    ("import-supplier-b", "IS", "Supplier B"),
    ("gas-supplier", "GS", "Supplier A"),
    ("gas-supplier-b", "GS", "Supplier B"),
    ("export-supplier", "ES", "Supplier A"),
    ("dno", "ED", "DNO North"),
    ("dno-b", "ED", "DNO South"),
    ("gas-transporter", "GT", "Gas Transporter"),
    ("supplier-agent", "RSA", "Agent"),
    ("other-user", "OU", "Other"),
)


class Keystore:
    """Users, management keys and device identity keys of one bench."""

    def __init__(self, seed: int | str = 0) -> None:
        self.seed = seed
        self.users: dict[str, User] = {}
        self._default_by_role: dict[str, str] = {}
        self._management: dict[str, list[KeyPair]] = {}
        self._device_public: dict[str, PublicKey] = {}
        self._generation: dict[str, int] = {}

    # -- users ------------------------------------------------------------------------------
    @classmethod
    def test_pki(cls, seed: int | str = 0) -> Keystore:
        store = cls(seed)
        for index, (name, role, organisation) in enumerate(TEST_USERS, start=1):
            eui = f"90-B3-D5-1F-30-01-00-{index:02X}"
            store.add_user(User(name, role, eui, organisation, KeyPair.derive(name, seed)))
        return store

    def add_user(self, user: User) -> None:
        self.users[user.name] = user
        self._default_by_role.setdefault(user.role, user.name)

    def user_for_role(self, role: str) -> User:
        """The bench's default User for a role (the first one added)."""
        try:
            return self.users[self._default_by_role[role]]
        except KeyError:
            raise KeyError(f"no DCC User with role {role!r} on this bench") from None

    def user(self, name: str) -> User:
        try:
            return self.users[name]
        except KeyError:
            raise KeyError(f"no DCC User named {name!r}; users: "
                           f"{', '.join(sorted(self.users))}") from None

    def user_by_eui(self, eui: str) -> User | None:
        return next((u for u in self.users.values() if u.eui == eui), None)

    # -- device management keys -------------------------------------------------------------
    def management_key(self, eui: str) -> KeyPair:
        """The management key the S1SP currently holds as the device's."""
        if eui not in self._management:
            self._management[eui] = [KeyPair.derive(f"management:{eui}:0", self.seed)]
        return self._management[eui][-1]

    def management_keys(self, eui: str) -> list[KeyPair]:
        """Every management key the device has had, oldest first."""
        self.management_key(eui)
        return list(self._management[eui])

    def new_management_key(self, eui: str) -> KeyPair:
        """A fresh candidate key for a rotation (not current until :meth:`commit_rotation`)."""
        generation = self._generation.get(eui, 0) + 1
        self._generation[eui] = generation
        return KeyPair.derive(f"management:{eui}:{generation}", self.seed)

    def commit_rotation(self, eui: str, key: KeyPair) -> None:
        self.management_key(eui)
        if self._management[eui][-1] is not key:
            self._management[eui].append(key)

    # -- device identity keys ---------------------------------------------------------------
    def device_identity(self, eui: str) -> KeyPair:
        """An emulated device's identity key (the emulator holds it; the S1SP its public half)."""
        return KeyPair.derive(f"device:{eui}", self.seed)

    def register_device_public(self, eui: str, public: PublicKey) -> None:
        self._device_public[eui] = public

    def device_public(self, eui: str) -> PublicKey | None:
        return self._device_public.get(eui)
