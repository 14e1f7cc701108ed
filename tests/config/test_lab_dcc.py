"""The lab config's ``dcc`` section: DCC Users of a real bench and their signing keys.

Shape and cross checks point at ``file:line: dcc.users[i].field``; keys are resolved through the
secrets file and loaded as PKCS#8 PEM EC P-256 keys; every key problem is one line that names
the secrets file and never shows key material.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness.config import ConfigError, SecretStore, load_lab_config
from harness.config.lab import RESERVED_USER_NAMES
from harness.dcc.keys import DCC_USER, Keystore, PublicKey

from .helpers import MINIMAL_LAB, assert_error, line_of, raises_config_error, write

LAB_DIR = Path(__file__).resolve().parents[2] / "lab_config"

DCC_SECTION = """
secrets_file: secrets.yaml
dcc:
  users:
    - name: import-supplier
      role: IS
      eui: "90:B3:D5:1F:30:02:00:01"
      organisation: Lab Supplier A
      key: is-signing
    - name: dno
      role: ED
      eui: 90-B3-D5-1F-30-02-00-02
      organisation: Lab DNO
      key: ed-signing
"""


def _pem(key: object, *, encrypted: bool = False) -> bytes:
    encryption = (serialization.BestAvailableEncryption(b"pass") if encrypted
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                             serialization.PrivateFormat.PKCS8, encryption)


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    """A lab config with a dcc section and a secrets file with two generated P-256 keys."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "is.pem").write_bytes(_pem(_p256()))
    (keys / "ed.pem").write_bytes(_pem(_p256()))
    write(tmp_path / "secrets.yaml", """
        keys:
          is-signing: keys/is.pem
          ed-signing: keys/ed.pem
        """)
    write(tmp_path / "lab.yaml", MINIMAL_LAB + DCC_SECTION)
    return tmp_path


def _load(directory: Path, **replace: str) -> tuple:
    lab_path = directory / "lab.yaml"
    text = lab_path.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    lab_path.write_text(text)
    lab = load_lab_config(lab_path, env={})
    return lab, SecretStore.load(lab, env={})


# -- the section ----------------------------------------------------------------------------


def test_dcc_section_loads_and_normalises(bench_dir):
    lab, _secrets = _load(bench_dir)
    assert lab.dcc is not None
    users = lab.dcc.users
    assert [(u.name, u.role, u.eui, u.organisation, u.key) for u in users] == [
        ("import-supplier", "IS", "90-B3-D5-1F-30-02-00-01", "Lab Supplier A", "is-signing"),
        ("dno", "ED", "90-B3-D5-1F-30-02-00-02", "Lab DNO", "ed-signing"),
    ]
    assert lab.dcc.user("dno").role == "ED"
    with pytest.raises(KeyError, match="no DCC User 'nobody'"):
        lab.dcc.user("nobody")


def test_no_dcc_section_is_none(lab_file):
    assert load_lab_config(lab_file(MINIMAL_LAB), env={}).dcc is None


def test_example_bench_has_a_documented_dcc_section():
    lab = load_lab_config(LAB_DIR / "example-bench.yaml", env={})
    assert lab.dcc is not None
    assert any(u.role == "IS" for u in lab.dcc.users)
    text = (LAB_DIR / "example-secrets.yaml").read_text()
    for user in lab.dcc.users:  # the example secrets file shows where each key would go
        assert f"{user.key}:" in text


def test_dcc_is_a_reserved_user_name():
    assert DCC_USER in RESERVED_USER_NAMES  # the keystore's own DCC credentials owner


USER = """
    - name: {name}
      role: {role}
      eui: {eui}
      organisation: Org
      key: {key}
"""


def _user(name: str = "gas-supplier", role: str = "GS", eui: str = "90-B3-D5-1F-30-02-00-09",
          key: str = "is-signing") -> str:
    return textwrap.indent(textwrap.dedent(USER).format(name=name, role=role, eui=eui, key=key),
                           "  ").replace("\n  \n", "\n")


@pytest.mark.parametrize(
    ("extra", "replace", "fragment", "occurrence", "field", "message"),
    [
        ("", {"role: ED": "role: DNO"}, "role: DNO", 1, "dcc.users[1].role",
         "must be one of 'IS', 'GS', 'ES', 'ED', 'GT', 'RSA' or 'OU'"),
        ("", {"eui: 90-B3-D5-1F-30-02-00-02": "eui: 90-B3-D5-1F-30-02-00"},
         "eui: 90-B3-D5-1F-30-02-00", 1, "dcc.users[1].eui", "EUI-64"),
        ("", {"name: dno": "name: import-supplier"}, "name: import-supplier", 2,
         "dcc.users[1].name", "duplicate DCC User name 'import-supplier' (first at line"),
        ("", {"name: dno": "name: dcc"}, "name: dcc", 1, "dcc.users[1].name",
         "reserved for the DCC itself"),
        # One User ID may hold several roles (DCC Boxed's supplier), not one role twice.
        ("", {"eui: 90-B3-D5-1F-30-02-00-02": 'eui: "90b3d51f30020001"', "role: ED": "role: IS"},
         "90b3d51f30020001", 1, "dcc.users[1].eui", "already the EUI-64 of the DCC User at line"),
        ("", {"eui: 90-B3-D5-1F-30-02-00-02": "eui: 00-1B-C5-0C-00-00-00-02"},
         "eui: 00-1B-C5-0C-00-00-00-02", 1, "dcc.users[1].eui",
         "is the EUI-64 of the device at line"),
        ("", {"role: IS": "role: GS"}, "users:", 1, "dcc.users",
         "at least one User must have role IS"),
        ("", {"      organisation: Lab DNO\n": ""}, "- name: dno", 1, "dcc.users[1].organisation",
         "required key 'organisation' is missing"),
        ("", {"key: ed-signing": "key: keys/ed.pem"}, "key: keys/ed.pem", 1,
         "dcc.users[1].key", "not a path"),
        ("", {"key: ed-signing": 'key: "-----BEGIN PRIVATE KEY-----"'}, "BEGIN PRIVATE", 1,
         "dcc.users[1].key", "must not be written in the lab config"),
        ("", {"      organisation: Lab DNO": "      organisation: Lab DNO\n      colour: red"},
         "colour: red", 1, "dcc.users[1].colour", "unknown key 'colour'"),
        ("", {"  users:\n": "  users: []\n  extra:\n"}, "users: []", 1, "dcc.users",
         "at least 1 item"),
    ],
    ids=["unknown role", "bad EUI", "duplicate name", "reserved name", "duplicate EUI",
         "device EUI", "no IS user", "missing field", "key as path", "key pasted",
         "unknown key", "empty users"],
)
def test_dcc_section_errors(bench_dir, extra, replace, fragment, occurrence, field, message):
    lab_path = bench_dir / "lab.yaml"
    text = lab_path.read_text() + extra
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    if "extra:" in text:  # the empty-users case: drop the now orphaned list items
        text = text.split("  extra:\n")[0]
    lab_path.write_text(text)
    err = raises_config_error(load_lab_config, lab_path, env={})
    assert_error(err, lab_path, line_of(lab_path, fragment, occurrence), field, message)


def test_pasted_key_is_not_echoed(bench_dir):
    lab_path = bench_dir / "lab.yaml"
    secret = "30770201010420" + "AB" * 32
    lab_path.write_text(lab_path.read_text().replace("key: ed-signing", f'key: "{secret}"'))
    err = raises_config_error(load_lab_config, lab_path, env={})
    assert err.field == "dcc.users[1].key"
    assert secret not in str(err) and secret[:16] not in str(err)


# -- keys -----------------------------------------------------------------------------------


def test_keys_load_from_the_secrets_file(bench_dir):
    lab, secrets = _load(bench_dir)
    store = Keystore.from_lab(lab, secrets, seed=7)
    assert sorted(store.users) == ["dno", "import-supplier"]
    supplier = store.user("import-supplier")
    assert (supplier.role, supplier.eui, supplier.organisation) == (
        "IS", "90-B3-D5-1F-30-02-00-01", "Lab Supplier A")
    assert store.user_for_role("IS") is supplier
    assert store.user_by_eui("90-B3-D5-1F-30-02-00-02").name == "dno"
    # The key is the PEM's: what it signs verifies against the file's public key.
    private = serialization.load_pem_private_key((bench_dir / "keys/is.pem").read_bytes(), None)
    public = PublicKey(private.public_key())
    assert supplier.key.public == public
    assert public.verify(b"body", supplier.key.sign(b"body"))
    # Nothing of the key in its printable forms.
    text = repr(store.users) + repr(supplier.key) + str(supplier.key)
    for line in (bench_dir / "keys/is.pem").read_text().splitlines()[1:-1]:
        assert line not in text
    # Device keys still come from the seed.
    assert store.seed == 7


def test_roles_the_lab_does_not_configure_have_no_user(bench_dir):
    lab, secrets = _load(bench_dir)
    store = Keystore.from_lab(lab, secrets)
    with pytest.raises(KeyError, match="no DCC User with role 'GS' on this bench"):
        store.user_for_role("GS")
    assert "gas-supplier" not in store.users  # no test-PKI User slips in


def test_without_a_dcc_section_from_lab_is_the_test_pki(lab_file):
    lab = load_lab_config(lab_file(MINIMAL_LAB), env={})
    store = Keystore.from_lab(lab, SecretStore.load(lab, env={}), seed=3)
    reference = Keystore.test_pki(3)
    assert {n: u.key.public for n, u in store.users.items()} == {
        n: u.key.public for n, u in reference.users.items()}


def test_two_users_may_share_a_key(bench_dir):
    lab, secrets = _load(bench_dir, **{"key: ed-signing": "key: is-signing"})
    store = Keystore.from_lab(lab, secrets)
    assert store.user("dno").key.public == store.user("import-supplier").key.public


def test_missing_key_name_points_at_the_user_and_names_the_secrets_file(bench_dir):
    lab, secrets = _load(bench_dir, **{"key: ed-signing": "key: dno-signing"})
    err = raises_config_error(Keystore.from_lab, lab, secrets)
    lab_path = bench_dir / "lab.yaml"
    assert_error(err, lab_path, line_of(lab_path, "key: dno-signing"), "dcc.users[1].key",
                 "no key 'dno-signing' under keys: in secrets file",
                 str(bench_dir / "secrets.yaml"), "keys there: ed-signing, is-signing")


def test_no_secrets_file_is_a_one_line_error(bench_dir):
    lab, secrets = _load(bench_dir, **{"secrets_file: secrets.yaml\n": ""})
    err = raises_config_error(Keystore.from_lab, lab, secrets)
    lab_path = bench_dir / "lab.yaml"
    assert_error(err, lab_path, line_of(lab_path, "key: is-signing"), "dcc.users[0].key",
                 "needs a secrets file", "DMCT_SECRETS_FILE")


def _bad_key(bench_dir: Path, content: bytes) -> ConfigError:
    (bench_dir / "keys/ed.pem").write_bytes(content)
    lab, secrets = _load(bench_dir)
    return raises_config_error(Keystore.from_lab, lab, secrets)


P256_PEM = _pem(_p256())


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"this is not a key\n", "is not PEM"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAAnotbase64!!\n-----END PRIVATE KEY-----\n",
         "not a PEM private key the harness can read"),
        (P256_PEM.replace(P256_PEM.splitlines()[2], b"A" * 64), "not a PEM private key"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
         "is not an EC key (RSA)"),
        (_pem(ed25519.Ed25519PrivateKey.generate()), "is not an EC key (Ed25519)"),
        (_pem(ec.generate_private_key(ec.SECP384R1())), "EC key on secp384r1"),
        (_pem(_p256(), encrypted=True), "is encrypted"),
        (_p256().public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo),
         "holds no private key"),
    ],
    ids=["not pem", "garbage pem", "corrupt pem", "rsa", "ed25519", "p384", "encrypted",
         "public key"],
)
def test_unusable_key_is_one_line_at_the_secrets_file(bench_dir, content, fragment):
    err = _bad_key(bench_dir, content)
    secrets_path = bench_dir / "secrets.yaml"
    assert_error(err, secrets_path, line_of(secrets_path, "ed-signing:"), "keys.ed-signing",
                 fragment, str(bench_dir / "keys/ed.pem"), "the key of DCC User 'dno'",
                 f"{bench_dir / 'lab.yaml'}:{line_of(bench_dir / 'lab.yaml', 'key: ed-signing')}")
    for line in content.splitlines()[1:-1]:  # no key material, not even a line of it
        if len(line) > 8:
            assert line.decode() not in str(err)


def test_unreadable_key_file(bench_dir, monkeypatch):
    lab, secrets = _load(bench_dir)
    real = os.open

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if Path(path).name == "ed.pem":  # root reads any file: refuse it here instead
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    err = raises_config_error(Keystore.from_lab, lab, secrets)
    assert err.field == "keys.ed-signing"
    assert "cannot read key file" in err.message and "Permission denied" in err.message
    assert "\n" not in str(err)


def test_a_user_trusted_by_certificate_alone(bench_dir, tmp_path):
    """A User given by its certificate keeps its key: the bench verifies its documents but
    cannot sign as it."""
    from cryptography.hazmat.primitives import serialization

    from harness.config.secrets import SecretStore
    from harness.dcc.keys import KeyPair, Keystore, test_certificate

    key = KeyPair.derive("their-user", 7)
    pem = test_certificate(key, "90-B3-D5-1F-30-02-00-09", 7).public_bytes(
        serialization.Encoding.PEM)
    (bench_dir / "their-user.pem").write_bytes(pem)
    lab_path = bench_dir / "lab.yaml"
    text = lab_path.read_text() + textwrap.indent(textwrap.dedent("""
        - name: their-user
          role: GS
          eui: 90-B3-D5-1F-30-02-00-09
          organisation: Theirs
          certificate: their-user.pem
    """), "    ").replace("\n    \n", "\n")
    lab_path.write_text(text)
    lab = load_lab_config(lab_path, env={})
    store = Keystore.from_lab(lab, SecretStore.load(lab, env={}), seed=7)
    user = store.user("their-user")
    assert user.key is None and user.public == key.public
    with pytest.raises(KeyError, match="trusted by certificate alone"):
        user.signing_key()
