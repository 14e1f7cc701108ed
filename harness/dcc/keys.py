"""Keys: DCC Users' signing keys, device management keys, device identity keys.

Critical Service Requests are signed by the sending User with ECDSA P-256 / SHA-256; commands to
a device are signed by the S1SP with that device's current **management key**; a device signs
its responses and alerts with its own **identity key**. An emulated bench gets a test PKI derived
from the bench seed (reproducible runs); a real bench names PKCS#8 PEM files in its secrets file.

Private keys never leave this module in printable form: ``repr``/``str`` show a fingerprint of
the public key only, and there is no method that returns private key bytes.

Every User (and the DCC) also has an X.509 certificate: DUIS names the signer of a document by
its certificate's issuer and serial number (``harness.dcc.duis``). The test PKI's certificates
are issued by a test CA derived from the bench seed; a lab may trust a User by its certificate
alone (the User keeps its private key).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from harness.config.errors import ConfigError

if TYPE_CHECKING:
    from harness.config.lab import LabConfig
    from harness.config.secrets import SecretStore

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
        """A PKCS#8 PEM private key file (unencrypted) from a bench's secrets file.

        PKCS#8 only, as documented: a SEC1 file (``BEGIN EC PRIVATE KEY``) is refused, not
        guessed at. A file that is not a regular one of at most 64 kB is never read.
        """
        data = _read_key_file(path)
        if PKCS8_HEADER not in data:
            raise ValueError(f"{path}: key {name!r} is not a PKCS#8 PEM private key")
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: key {name!r} is not an EC private key")
        return cls(name, key)

    def private_key_for_signing(self) -> ec.EllipticCurvePrivateKey:
        """The private key object, for an XML signature library (never printed or stored)."""
        return self._private

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
    """A DCC User: a name, a User Role, an originator EUI-64, its certificate and, when the
    bench signs as it, its signing key (``None``: trusted by certificate alone)."""

    name: str
    role: str
    eui: str
    organisation: str
    key: KeyPair | None = field(repr=False)
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)

    @property
    def public(self) -> PublicKey:
        if self.key is not None:
            return self.key.public
        assert self.certificate is not None
        public = self.certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError(f"the certificate of User {self.name!r} is not an EC key")
        return PublicKey(public)

    def signing_key(self) -> KeyPair:
        """The key the bench signs as this User with; an error for a certificate-only User."""
        if self.key is None:
            raise KeyError(f"DCC User {self.name!r} is trusted by certificate alone: the "
                           "harness cannot sign as it (send its signed DUIS documents)")
        return self.key


#: Issuer of the test PKI's certificates (a stand-in for the SMKI Organisation CA).
TEST_CA_NAME = x509.Name([x509.NameAttribute(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
                          x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "DMCT test CA")])


@functools.cache
def test_ca_certificate(seed: int | str) -> x509.Certificate:
    """The seed's test CA's own (self-signed) certificate: the certification path a DUIS
    6.15.1 or 6.23 body gives with a test certificate."""
    ca = KeyPair.derive("test-ca", seed)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return (x509.CertificateBuilder()
            .subject_name(TEST_CA_NAME).issuer_name(TEST_CA_NAME)
            .public_key(ca.public.key).serial_number(1)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365 * 30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca.private_key_for_signing(), hashes.SHA256()))


def test_certificate(key: KeyPair, eui: str, seed: int | str) -> x509.Certificate:
    """A certificate for ``key`` issued by the seed's test CA: serial derived from the key's
    name, the EUI-64 in the subject as SMKI certificates have it."""
    ca = KeyPair.derive("test-ca", seed)
    serial = int.from_bytes(hashlib.sha256(f"{seed}:{key.name}".encode()).digest()[:16],
                            "big") | 1 << 120
    subject = [x509.NameAttribute(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME, "87")]
    if eui and eui != "DCC":
        subject.append(x509.NameAttribute(
            x509.oid.NameOID.COMMON_NAME, eui))
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name(subject)).issuer_name(TEST_CA_NAME)
            .public_key(key.public.key).serial_number(serial)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365 * 30))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(ca.private_key_for_signing(), hashes.SHA256()))


#: Name of the DCC's own credentials owner in a keystore.
DCC_USER = "dcc"
#: The DCC's EUI-64 as a User sees it: the target of a non-device request's RequestID and the
#: originator of responses (DCC Boxed's DSP EUI-64, so its templates need no change).
DCC_EUI = "90-B3-D5-1F-30-00-00-02"

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
    @property
    def dcc(self) -> User:
        """The DCC itself: the owner of the credentials that replace a supplier's at migration."""
        if DCC_USER not in self.users:
            key = KeyPair.derive(DCC_USER, self.seed)
            self.users[DCC_USER] = User(DCC_USER, "DCC", "DCC", "DCC", key,
                                        test_certificate(key, DCC_EUI, self.seed))
        return self.users[DCC_USER]

    @classmethod
    def test_pki(cls, seed: int | str = 0) -> Keystore:
        store = cls(seed)
        for index, (name, role, organisation) in enumerate(TEST_USERS, start=1):
            eui = f"90-B3-D5-1F-30-01-00-{index:02X}"
            key = KeyPair.derive(name, seed)
            store.add_user(User(name, role, eui, organisation, key,
                                test_certificate(key, eui, seed)))
        return store

    @classmethod
    def from_lab(cls, lab: LabConfig, secrets: SecretStore, seed: int | str = 0) -> Keystore:
        """The DCC Users of a lab config's ``dcc`` section, their keys read from the secrets file.

        Only the configured Users: a role the lab does not configure has no User, and asking
        for one (``user_for_role``, ``dcc.send(role=...)``) raises a ``KeyError`` naming the
        role. Management and device identity keys still derive from ``seed``. Without a
        ``dcc`` section: :meth:`test_pki`. A key that is not in the secrets file, cannot be
        read or is not an EC P-256 private key is a one-line :class:`ConfigError` that never
        quotes key material.
        """
        if lab.dcc is None:
            return cls.test_pki(seed)
        store = cls(seed)
        loaded: dict[str, KeyPair] = {}
        for index, configured in enumerate(lab.dcc.users):
            certificate = None
            if configured.certificate is not None:
                try:
                    certificate = load_certificate(configured.certificate)
                except (OSError, ValueError) as exc:
                    line = lab.line_of_key("dcc", "users", index, "certificate")
                    raise ConfigError(lab.path, line, f"dcc.users[{index}].certificate",
                                      f"cannot read the certificate of DCC User "
                                      f"{configured.name!r}: {exc}") from None
            key = None
            if configured.key is not None:
                if configured.key not in loaded:
                    loaded[configured.key] = _user_key(lab, secrets, index)
                key = loaded[configured.key]
                certificate = certificate or test_certificate(key, configured.eui, seed)
            store.add_user(User(configured.name, configured.role, configured.eui,
                                configured.organisation, key, certificate))
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

    def user_by_eui(self, eui: str, role: str | None = None) -> User | None:
        """The User of an originator EUI-64 (of ``role`` when one EUI-64 has several)."""
        return next((u for u in self.users.values()
                     if u.eui == eui and (role is None or u.role == role)), None)

    def users_by_eui(self, eui: str) -> list[User]:
        return [u for u in self.users.values() if u.eui == eui]

    def user_by_certificate(self, issuer: str, serial: int) -> User | None:
        """The User whose certificate has this serial number (and issuer, when given)."""
        for user in [*self.users.values(), self.dcc]:
            cert = user.certificate
            if cert is not None and cert.serial_number == serial and (
                    not issuer or _same_name(cert.issuer, issuer)):
                return user
        return None

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


# -- real benches: Users' keys from the secrets file -------------------------------------------


def _user_key(lab: LabConfig, secrets: SecretStore, index: int) -> KeyPair:
    """The signing key of ``lab.dcc.users[index]``; a one-line ConfigError if it is unusable."""
    assert lab.dcc is not None
    user = lab.dcc.users[index]
    field_path = f"dcc.users[{index}].key"
    line = lab.line_of_key("dcc", "users", index, "key")
    if secrets.secrets_file is None:
        raise ConfigError(
            lab.path, line, field_path,
            f"key {user.key!r} of DCC User {user.name!r} needs a secrets file: set "
            "secrets_file in the lab config or the DMCT_SECRETS_FILE environment variable",
        )
    if user.key not in secrets.key_names():
        known = ", ".join(secrets.key_names()) or "none"
        raise ConfigError(
            lab.path, line, field_path,
            f"no key {user.key!r} under keys: in secrets file {secrets.secrets_file} "
            f"(keys there: {known})",
        )
    path = secrets.key_path(user.key)
    try:
        return KeyPair.from_pem(user.key, path)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        # Never pass the library's message on: describe the file ourselves.
        problem = pem_problem(path)
    raise secrets.key_error(
        user.key, f"{problem} (the key of DCC User {user.name!r}, {lab.path}:{line})"
    )


#: The PEM header of an unencrypted PKCS#8 private key (the one form the docs name).
PKCS8_HEADER = b"-----BEGIN PRIVATE KEY-----"
#: Largest key file read, in bytes (a P-256 PEM is about 250).
MAX_KEY_FILE_BYTES = 64 * 1024


def _read_key_file(path: Path) -> bytes:
    from harness.config.errors import ConfigError
    from harness.config.source import read_regular_file

    try:
        return read_regular_file(path, MAX_KEY_FILE_BYTES, "key file")
    except ConfigError as exc:
        raise OSError(exc.message) from None


def pem_problem(path: Path) -> str:
    """Why ``path`` is not a usable signing key, in words that never quote its content."""
    try:
        data = _read_key_file(path)
    except OSError as exc:
        return f"cannot read key file {path}: {exc.strerror or exc}"
    if b"-----BEGIN EC PRIVATE KEY-----" in data:
        return (f"key file {path} is a SEC1 EC key (-----BEGIN EC PRIVATE KEY-----); the "
                "harness reads unencrypted PKCS#8 keys: convert it with openssl pkcs8 -topk8 "
                "-nocrypt -in OLD.pem -out NEW.pem")
    if b"-----BEGIN" not in data:
        return (f"key file {path} is not PEM (expected an unencrypted PKCS#8 private key, "
                "-----BEGIN PRIVATE KEY-----)")
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        return (f"key file {path} is encrypted; the harness reads unencrypted PKCS#8 keys "
                "(keep the file readable by the lab user only)")
    if b"PRIVATE KEY-----" not in data:
        return (f"key file {path} holds no private key (a public key or a certificate?); a "
                "DCC User signs with its private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return f"key file {path} is encrypted; the harness reads unencrypted PKCS#8 keys"
    except (ValueError, UnsupportedAlgorithm):
        return (f"key file {path} is not a PEM private key the harness can read (expected an "
                "unencrypted PKCS#8 EC P-256 private key)")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = type(key).__name__.replace("PrivateKey", "").lstrip("_") or "non-EC"
        return (f"key file {path} is not an EC key ({kind}); DCC Users sign with ECDSA P-256 "
                "(an EC private key on secp256r1)")
    if not isinstance(key.curve, ec.SECP256R1):
        return (f"key file {path} holds an EC key on {key.curve.name}; DCC Users sign with "
                "P-256 (secp256r1)")
    return f"key file {path} cannot be used as a signing key"


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM (or DER) X.509 certificate file; ``ValueError`` naming the file."""
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError(f"{path} is not an X.509 certificate (PEM or DER)") from None


@functools.cache
def _name_parts(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(part.strip().split("=", 1)) for part in text.split(",")
                     if "=" in part)


def _same_name(name: x509.Name, text: str) -> bool:
    """An X509IssuerName as written in a signature (``CN=Z1, OU=07``) against a certificate's
    issuer: the same attributes, in any order and spacing."""
    return _name_parts(text) == _name_parts(_rfc4514(name))


@functools.lru_cache(maxsize=256)
def _rfc4514(name: x509.Name) -> str:
    return name.rfc4514_string()
