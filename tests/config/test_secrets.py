"""Install codes and the secret store: CRC, link key, masking, errors that name the source only."""

from __future__ import annotations

import pickle

import pytest
import zigpy.types as t

from harness.config import InstallCode, SecretStore, load_lab_config
from harness.config.secrets import InstallCodeRef, crc16_x25, load_secrets_file

from .helpers import (
    REAL_LAB,
    TEST_CODE,
    TEST_LINK_KEY,
    assert_error,
    line_of,
    raises_config_error,
    write,
)

#: The test code with its last CRC digit changed.
BAD_CRC = TEST_CODE[:-1] + "6"
#: The same test code without the CRC: a valid hex string of a wrong length for "with CRC".
NO_CRC = TEST_CODE[:-4]


def _assert_no_secret(text: str, *codes: str) -> None:
    for code in codes:
        assert code not in text
        assert code.lower() not in text
        assert code[:12] not in text.upper()


# -- InstallCode ----------------------------------------------------------------------------------


def test_se_test_vector():
    code = InstallCode.parse(TEST_CODE)
    assert code.link_key == t.KeyData.convert(
        ":".join(TEST_LINK_KEY[i : i + 2] for i in range(0, 32, 2))
    )
    assert bytes(code.link_key).hex().upper() == TEST_LINK_KEY
    assert code.code == bytes.fromhex(TEST_CODE)
    assert code.code_without_crc == bytes.fromhex(NO_CRC)
    assert code.reveal() == TEST_CODE
    assert len(code) == 16


def test_with_crc_computes_x25():
    code = InstallCode.with_crc(bytes.fromhex(NO_CRC))
    assert code == InstallCode.parse(TEST_CODE)
    assert crc16_x25(bytes.fromhex(NO_CRC)).to_bytes(2, "little").hex().upper() == "C3B5"
    assert crc16_x25(b"123456789") == 0x906E  # the CRC-16/X-25 check value


@pytest.mark.parametrize("length", [6, 8, 12, 16])
def test_all_lengths(length):
    code = InstallCode.with_crc(bytes(range(1, length + 1)))
    assert len(code.code) == length + 2
    assert isinstance(code.link_key, t.KeyData)


def test_parse_ignores_separators():
    spaced = " ".join(TEST_CODE[i : i + 2] for i in range(0, len(TEST_CODE), 2))
    assert InstallCode.parse(spaced) == InstallCode.parse(TEST_CODE)
    assert InstallCode.parse(TEST_CODE.lower()) == InstallCode.parse(TEST_CODE)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (BAD_CRC, "CRC"),
        (NO_CRC, "16 bytes with its CRC"),
        (TEST_CODE + "00", "19 bytes"),
        ("XYZ", "hex digits"),
        ("", "empty"),
    ],
)
def test_parse_rejects_without_echo(text, fragment):
    with pytest.raises(ValueError) as info:
        InstallCode.parse(text)
    assert fragment in str(info.value)
    _assert_no_secret(str(info.value), TEST_CODE, NO_CRC)


def test_with_crc_rejects_bad_length():
    with pytest.raises(ValueError, match="expected 6, 8, 12 or 16"):
        InstallCode.with_crc(b"\x01" * 7)


def test_install_code_is_masked_everywhere():
    code = InstallCode.parse(TEST_CODE)
    for text in (repr(code), str(code), f"{code}", f"{code!r}", f"{code:>40}", repr([code])):
        assert "masked" in text
        _assert_no_secret(text, TEST_CODE)
    assert repr(code) == "InstallCode(<16 bytes + CRC, masked>)"
    assert not hasattr(code, "hex")


def test_install_code_is_immutable_and_hashable():
    code = InstallCode.parse(TEST_CODE)
    with pytest.raises(AttributeError):
        code._code = b""  # type: ignore[misc]
    assert {code, InstallCode.parse(TEST_CODE)} == {code}
    assert pickle.loads(pickle.dumps(code)) == code


# -- store: environment variables -----------------------------------------------------------------


@pytest.fixture
def real_lab(lab_file):
    path = lab_file(REAL_LAB)
    return path, load_lab_config(path, env={})


def test_env_code_resolves(real_lab):
    _path, lab = real_lab
    store = SecretStore.load(lab, {"DMCT_ESME_CODE": TEST_CODE})
    esme = lab.installations[0].device("ESME")
    assert store.install_code(esme.install_code).reveal() == TEST_CODE
    _assert_no_secret(repr(store), TEST_CODE)


def test_env_code_not_set(real_lab):
    path, lab = real_lab
    store = SecretStore.load(lab, {})
    esme = lab.installations[0].device("ESME")
    err = raises_config_error(store.install_code, esme.install_code)
    assert_error(
        err,
        path,
        line_of(path, "DMCT_ESME_CODE"),
        "installations[0].devices[0].install_code",
        "environment variable DMCT_ESME_CODE is not set",
    )


@pytest.mark.parametrize(
    ("value", "fragment"), [(BAD_CRC, "CRC"), (NO_CRC, "16 bytes with its CRC")]
)
def test_env_code_bad_names_variable_not_value(real_lab, value, fragment):
    path, lab = real_lab
    store = SecretStore.load(lab, {"DMCT_ESME_CODE": value})
    esme = lab.installations[0].device("ESME")
    err = raises_config_error(store.install_code, esme.install_code)
    assert_error(
        err,
        path,
        line_of(path, "DMCT_ESME_CODE"),
        "installations[0].devices[0].install_code",
        "environment variable DMCT_ESME_CODE",
        fragment,
    )
    _assert_no_secret(str(err), TEST_CODE, NO_CRC, value)
    _assert_no_secret(repr(err), TEST_CODE, NO_CRC, value)


# -- store: secrets file --------------------------------------------------------------------------


def test_secret_code_resolves_from_lab_secrets_file(lab_file, tmp_path):
    write(tmp_path / "secrets.yaml", f'install_codes:\n  bench-gsme: "{TEST_CODE}"\n')
    path = lab_file(REAL_LAB + "secrets_file: secrets.yaml\n")
    lab = load_lab_config(path, env={})
    assert lab.secrets_path == tmp_path / "secrets.yaml"
    store = SecretStore.load(lab, {})
    gsme = lab.installations[0].device("GSME")
    assert store.install_code(gsme.install_code).reveal() == TEST_CODE


def test_secrets_file_env_override(real_lab, tmp_path):
    _path, lab = real_lab
    secrets = write(tmp_path / "other.yaml", f'install_codes:\n  bench-gsme: "{TEST_CODE}"\n')
    store = SecretStore.load(lab, {"DMCT_SECRETS_FILE": str(secrets)})
    assert store.secrets_file == secrets
    gsme = lab.installations[0].device("GSME")
    assert store.install_code(gsme.install_code) == InstallCode.parse(TEST_CODE)


@pytest.mark.parametrize(
    ("value", "fragment"), [(BAD_CRC, "CRC"), (NO_CRC, "16 bytes with its CRC")]
)
def test_secrets_file_bad_code_names_file_and_line_not_value(real_lab, tmp_path, value, fragment):
    _path, lab = real_lab
    secrets = write(
        tmp_path / "secrets.yaml",
        f"""
        install_codes:
          good: "{TEST_CODE}"
          bench-gsme: "{value}"
        """,
    )
    err = raises_config_error(SecretStore.load, lab, {"DMCT_SECRETS_FILE": str(secrets)})
    assert_error(err, secrets, 3, "install_codes.bench-gsme", fragment)
    _assert_no_secret(str(err), value, NO_CRC)
    _assert_no_secret(repr(err), value, NO_CRC)


def test_secrets_file_unquoted_code_is_an_error(tmp_path):
    secrets = write(tmp_path / "s.yaml", "install_codes:\n  a: 0x1234\n")
    err = raises_config_error(load_secrets_file, secrets)
    assert_error(err, secrets, 2, "install_codes.a", "hex string", "quote it")
    assert "4660" not in str(err) and "1234" not in str(err)


def test_secret_name_missing_from_file(real_lab, tmp_path):
    path, lab = real_lab
    secrets = write(tmp_path / "s.yaml", f'install_codes:\n  other: "{TEST_CODE}"\n')
    store = SecretStore.load(lab, {"DMCT_SECRETS_FILE": str(secrets)})
    gsme = lab.installations[0].device("GSME")
    err = raises_config_error(store.install_code, gsme.install_code)
    assert_error(
        err,
        path,
        line_of(path, "bench-gsme"),
        "installations[0].devices[1].install_code",
        "no install code 'bench-gsme'",
        str(secrets),
        "other",
    )
    _assert_no_secret(str(err), TEST_CODE)


def test_secret_without_secrets_file(real_lab):
    path, lab = real_lab
    store = SecretStore.load(lab, {})
    gsme = lab.installations[0].device("GSME")
    err = raises_config_error(store.install_code, gsme.install_code)
    assert_error(
        err,
        path,
        line_of(path, "bench-gsme"),
        "installations[0].devices[1].install_code",
        "needs a secrets file",
        "DMCT_SECRETS_FILE",
    )


def test_missing_secrets_file_named_by_lab(lab_file):
    path = lab_file(REAL_LAB + "secrets_file: missing.yaml\n")
    lab = load_lab_config(path, env={})
    err = raises_config_error(SecretStore.load, lab, {})
    assert_error(err, path, line_of(path, "secrets_file"), "secrets_file", "secrets file not found")


def test_missing_secrets_file_named_by_env(real_lab, tmp_path):
    _path, lab = real_lab
    missing = tmp_path / "nope.yaml"
    err = raises_config_error(SecretStore.load, lab, {"DMCT_SECRETS_FILE": str(missing)})
    assert_error(err, missing, None, "(document)", "DMCT_SECRETS_FILE")


def test_key_paths(real_lab, tmp_path):
    _path, lab = real_lab
    (tmp_path / "keys").mkdir()
    pem = tmp_path / "keys" / "supplier.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n")
    secrets = write(tmp_path / "s.yaml", "keys:\n  supplier: keys/supplier.pem\n")
    store = SecretStore.load(lab, {"DMCT_SECRETS_FILE": str(secrets)})
    assert store.key_path("supplier") == pem
    err = raises_config_error(store.key_path, "dno")
    assert err.file == str(secrets) and "no key named 'dno'" in err.message


def test_missing_key_file(tmp_path):
    secrets = write(tmp_path / "s.yaml", "keys:\n  supplier: keys/none.pem\n")
    err = raises_config_error(load_secrets_file, secrets)
    assert_error(
        err, secrets, 2, "keys.supplier", "key file not found", str(tmp_path / "keys" / "none.pem")
    )


def test_unknown_section_in_secrets_file(tmp_path):
    secrets = write(tmp_path / "s.yaml", f'install_code:\n  a: "{TEST_CODE}"\n')
    err = raises_config_error(load_secrets_file, secrets)
    assert_error(err, secrets, 1, "install_code", "unknown key", "install_codes, keys")


def test_duplicate_secret_name(tmp_path):
    secrets = write(
        tmp_path / "s.yaml", f'install_codes:\n  a: "{TEST_CODE}"\n  a: "{TEST_CODE}"\n'
    )
    err = raises_config_error(load_secrets_file, secrets)
    assert_error(err, secrets, 3, "install_codes.a", "duplicate key")
    _assert_no_secret(str(err), TEST_CODE)


def test_check_collects_every_device(real_lab):
    _path, lab = real_lab
    store = SecretStore.load(lab, {"DMCT_ESME_CODE": BAD_CRC})
    errors = store.check(lab)
    assert [e.field for e in errors] == [
        "installations[0].devices[0].install_code",
        "installations[0].devices[1].install_code",
    ]
    for err in errors:
        _assert_no_secret(str(err), BAD_CRC)


def test_emulated_ref_has_no_code(lab_file):
    from .helpers import MINIMAL_LAB

    lab = load_lab_config(lab_file(MINIMAL_LAB), env={})
    store = SecretStore.load(lab, {})
    ref = lab.installations[0].devices[0].install_code
    assert ref == InstallCodeRef("emulated")
    err = raises_config_error(store.install_code, ref)
    assert "the emulator issues" in err.message


def test_refs_print_without_values():
    assert str(InstallCodeRef("env", "X")) == "{env: X}"
    assert str(InstallCodeRef("secret", "a")) == "{secret: a}"
    assert str(InstallCodeRef("emulated")) == "emulated"
