"""Configuration a hostile lab could write (issue 13, item 4): each case is one clear line
(file, line, field; exit 2 from ``dmct``) or is accepted and works, never a hang, a traceback,
an echoed secret or a terminal escape code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from labkit import EMULATED_LAB, LabFiles

from harness.cli import main
from harness.config import ConfigError, SecretStore, load_catalogue, load_lab_config
from harness.config.environment import BadEnvironment, fuzz_examples
from harness.config.errors import MAX_MESSAGE
from harness.config.secrets import load_secrets_file
from harness.config.types import parse_srv
from harness.dcc.keys import Keystore
from harness.text import printable

from .helpers import MINIMAL_LAB, TEST_CODE, line_of, raises_config_error, write

EMULATED = EMULATED_LAB.read_text()


def _lab(tmp_path: Path, text: str, name: str = "lab.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line(err: ConfigError, path: Path, *fragments: str) -> str:
    text = str(err)
    assert "\n" not in text and text.startswith(f"{path}:"), text
    assert len(text) < 700, len(text)
    for fragment in fragments:
        assert fragment in text, text
    return text


# -- YAML -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    "deep: " + "[" * 500 + "]" * 500 + "\n",
    "deep: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
    "deep:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(500)),
])
def test_yaml_nested_500_deep_is_one_line(tmp_path, extra):
    path = _lab(tmp_path, EMULATED + extra)
    err = raises_config_error(load_lab_config, path, env={})
    _one_line(err, path, "nested more than 32 levels deep")
    assert err.line is not None and err.line >= line_of(path, "deep:")


@pytest.mark.parametrize("extra", ["loop: &a\n  <<: *a\n",
                                   "loop: &a\n  x: 1\n  <<: [*a]\n",
                                   "one: &b\n  two: &c\n    <<: *b\n"])
def test_a_self_referencing_merge_key_is_one_line(tmp_path, extra):
    path = _lab(tmp_path, EMULATED + extra)
    err = raises_config_error(load_lab_config, path, env={})
    _one_line(err, path)
    assert "recursive" in err.message


def test_a_4000_digit_number_is_one_line_and_not_echoed(tmp_path):
    path = _lab(tmp_path, EMULATED.replace("channel: 15", "channel: " + "7" * 4000))
    err = raises_config_error(load_lab_config, path, env={})
    text = _one_line(err, path, "radio.channel", "4000 digits")
    assert "7777777777" not in text


def test_a_float_too_large_for_its_field_is_one_line(tmp_path):
    path = _lab(tmp_path, EMULATED.replace("seed: 0", "seed: 1" + "0" * 400 + ".5"))
    _one_line(raises_config_error(load_lab_config, path, env={}), path, "seed")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("2026-01-05T09:00:00+00:00", "9999-12-31T23:59:59+00:00", "clock.start"),
    ("2026-01-05T09:00:00+00:00", "1970-01-01T00:00:00+00:00", "clock.start"),
    ("seed: 0", "seed: 18446744073709551616", "seed"),
    ("seed: 0", "seed: -1", "seed"),
    ("channels: 4", "channels: 100000000000000", "serial_adapters[6].channels"),
    ("pan_id: 0x1A62", "pan_id: .nan", "radio.pan_id"),
    ("role: console\n", "role: console\n    baudrate: 100000000000\n",
     "serial_adapters[1].baudrate"),
])
def test_numbers_are_bounded_to_their_wire_type(tmp_path, old, new, field):
    assert old in EMULATED
    path = _lab(tmp_path, EMULATED.replace(old, new, 1))
    err = raises_config_error(load_lab_config, path, env={})
    _one_line(err, path)
    assert err.field == field, str(err)


def test_clock_start_at_its_bounds_is_accepted(tmp_path):
    path = _lab(tmp_path, EMULATED.replace("2026-01-05T09:00:00+00:00",
                                           "2099-12-31T00:00:00+00:00"))
    assert load_lab_config(path, env={}).clock.start.year == 2099


@pytest.mark.parametrize(("escape", "what"), [("\\ud800", "lone surrogate"),
                                              ("\\e[2J\\e]0;pwned\\a", "control character"),
                                              ("\\x9b31m", "control character"),
                                              ("\\0", "control character")])
def test_a_lone_surrogate_or_control_character_in_a_string_is_one_line(tmp_path, escape, what):
    text = EMULATED.replace("bench: emulated\n", f'bench: "bench {escape}"\n', 1)
    path = _lab(tmp_path, text)
    err = raises_config_error(load_lab_config, path, env={})
    _one_line(err, path, what)
    assert err.line == 6 and err.field == "bench"


def test_a_tab_and_newlines_in_a_description_are_fine(tmp_path):
    text = EMULATED.replace("description: Emulated",
                            'description: "tab\\there\\nnext line" #', 1)
    assert load_lab_config(_lab(tmp_path, text), env={}).description == "tab\there\nnext line"


@pytest.mark.parametrize("size", [9_000, 1_000_000])
def test_an_error_never_echoes_a_huge_unknown_id(tmp_path, size):
    path = _lab(tmp_path, EMULATED.replace("dmc: REF-DMC-001", "dmc: " + "X" * size))
    err = raises_config_error(load_lab_config, path, env={})
    _one_line(err, path, "dmc")
    assert len(err.message) <= MAX_MESSAGE + 40


def test_a_huge_unknown_key_is_clipped(tmp_path):
    path = _lab(tmp_path, EMULATED + "k" * 1000 + ": 1\n")  # YAML keys stop at 1024
    _one_line(raises_config_error(load_lab_config, path, env={}), path, "unknown key")


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("protocol: lcus", "protocol: usbrelay", "serial_adapters[6].protocol"),
    ("relay: {adapter: relays, channel: 1}", "relay: {adapter: nosuch, channel: 1}",
     "no relay board named 'nosuch'"),
    ("relay: {adapter: relays, channel: 1}", "relay: {adapter: esme-optical, channel: 1}",
     "has role optical, not relay"),
    ("relay: {adapter: relays, channel: 1}", "relay: {adapter: Relays!, channel: 1}",
     "relay.adapter"),
])
def test_unknown_relay_adapter_names_are_one_line(tmp_path, old, new, fragment):
    path = _lab(tmp_path, EMULATED.replace(old, new, 1))
    _one_line(raises_config_error(load_lab_config, path, env={}), path, fragment)


@pytest.mark.parametrize("srv", ["\uff18.\uff11\uff11", "\u0668.\u0661\u0661", "8.\u0b67",
                                 "8.11.1.1", "8888.11"])
def test_srvs_in_non_ascii_digits_are_refused(srv):
    with pytest.raises(ValueError, match="an SRV looks like"):
        parse_srv(srv)
    assert parse_srv("6.15.1") == "6.15.1"


def test_a_profile_with_an_srv_in_arabic_indic_digits_is_one_line(tmp_path):
    files = LabFiles(tmp_path)
    files.profile_variant("ref-esme", "odd-esme", srvs=["\u0668.\u0661\u0661"])
    err = raises_config_error(load_catalogue, [files.profiles])
    assert "\n" not in str(err) and "srvs" in err.field and "odd-esme" in err.file


# -- secrets --------------------------------------------------------------------------------------

def _secrets_lab(tmp_path: Path, secrets: str) -> Path:
    return write(tmp_path / "lab.yaml", MINIMAL_LAB.replace(
        "install_code: emulated\n", "install_code: emulated\n", 1) + f"secrets_file: {secrets}\n")


@pytest.mark.timeout(30)
def test_a_secrets_file_that_is_a_fifo_is_one_line_not_a_hang(tmp_path):
    os.mkfifo(tmp_path / "secrets.yaml")
    lab = load_lab_config(_secrets_lab(tmp_path, "secrets.yaml"), env={})
    err = raises_config_error(SecretStore.load, lab, env={})
    assert "not a regular file" in err.message and "\n" not in str(err)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_secrets_file_that_is_a_device_is_one_line(tmp_path, device):
    lab = load_lab_config(_secrets_lab(tmp_path, "unused.yaml"), env={})
    err = raises_config_error(SecretStore.load, lab, env={"DMCT_SECRETS_FILE": device})
    assert err.file == device and "not a regular file" in err.message


def test_a_secrets_file_too_large_is_one_line(tmp_path):
    path = tmp_path / "secrets.yaml"
    path.write_text("install_codes:\n" + "# padding\n" * 40_000)
    err = raises_config_error(load_secrets_file, path)
    assert "larger than a secrets file can be" in err.message


@pytest.mark.parametrize("code", [TEST_CODE, ":".join(TEST_CODE[i:i + 2]
                                                      for i in range(0, len(TEST_CODE), 2))])
def test_an_install_code_written_as_the_name_is_never_echoed(tmp_path, code):
    path = write(tmp_path / "secrets.yaml", f"""
        install_codes:
          "{code}": bench-gsme
        """)
    err = raises_config_error(load_secrets_file, path)
    text = " ".join(str(e) for e in err.all)
    assert TEST_CODE not in text.replace(":", "") and "83FE" not in text.replace(":", "")
    assert "swapped" in err.message and err.line == 2


def test_an_install_code_as_a_top_level_key_is_never_echoed(tmp_path):
    path = write(tmp_path / "secrets.yaml", f'"{TEST_CODE}": bench-gsme\n')
    err = raises_config_error(load_secrets_file, path)
    assert TEST_CODE not in str(err) and "unknown key" in err.message


def _key_bench(tmp_path: Path, pem: bytes) -> tuple:
    (tmp_path / "key.pem").write_bytes(pem)
    write(tmp_path / "secrets.yaml", "keys:\n  is-signing: key.pem\n")
    lab_path = write(tmp_path / "lab.yaml", MINIMAL_LAB + """
        secrets_file: secrets.yaml
        dcc:
          users:
            - name: import-supplier
              role: IS
              eui: "90:B3:D5:1F:30:02:00:01"
              organisation: Lab Supplier A
              key: is-signing
        """.replace("\n        ", "\n"))
    lab = load_lab_config(lab_path, env={})
    return lab, SecretStore.load(lab, env={})


def test_a_sec1_ec_key_is_refused_where_the_docs_say_pkcs8(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    sec1 = key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())
    assert b"BEGIN EC PRIVATE KEY" in sec1
    lab, secrets = _key_bench(tmp_path, sec1)
    err = raises_config_error(Keystore.from_lab, lab, secrets)
    assert "SEC1" in err.message and "PKCS#8" in err.message and "openssl pkcs8" in err.message
    for line in sec1.splitlines()[1:-1]:
        assert line.decode() not in str(err)
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    lab, secrets = _key_bench(tmp_path, pkcs8)
    assert Keystore.from_lab(lab, secrets) is not None


@pytest.mark.timeout(30)
def test_a_key_file_that_is_a_fifo_is_one_line(tmp_path):
    write(tmp_path / "secrets.yaml", "keys:\n  is-signing: key.pem\n")
    os.mkfifo(tmp_path / "key.pem")
    err = raises_config_error(load_secrets_file, tmp_path / "secrets.yaml")
    assert "not a regular file" in err.message


# -- the environment and the terminal ------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e3", "\u0665", "9" * 50, "5\x1b[2J"])
def test_a_bad_fuzz_examples_setting_is_one_line(value):
    with pytest.raises(BadEnvironment) as bad:
        fuzz_examples(5, {"DMCT_FUZZ_EXAMPLES": value})
    message = str(bad.value)
    assert message.startswith("environment variable DMCT_FUZZ_EXAMPLES=") and "\n" not in message
    assert "\x1b" not in message and len(message) < 200
    assert fuzz_examples(5, {"DMCT_FUZZ_EXAMPLES": " 500 "}) == 500
    assert fuzz_examples(5, {}) == 5


def test_dmct_run_refuses_a_bad_fuzz_examples_before_it_writes(tmp_path, capsys, monkeypatch,
                                                              clean_run_env):
    monkeypatch.setenv("DMCT_FUZZ_EXAMPLES", "abc")
    assert main(["run", "--pack", "security", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DMCT_FUZZ_EXAMPLES=abc" in err
    assert not (tmp_path / "out").exists()


def test_printable_strips_escape_sequences_and_shows_other_controls():
    assert printable("ok\x1b[31mred\x1b[0m") == "okred"
    assert printable("\x1b]0;title\x07after") == "after"
    assert printable("a\x00b\x9bc\x7f") == "a\\x00b\\x9bc\\x7f"
    assert printable("line\nnext\ttab") == "line\nnext\ttab"
    assert printable("line\nnext", keep_newlines=False) == "line\\nnext"
    assert printable("\ud800") == "\\ud800"


def test_a_record_reason_holds_no_escape_code():
    from harness.pytest_plugin import _one_line as reason_line

    assert reason_line("model 'Evil\x1b[2J\x1b]0;x\x07' is not 'ESME'") == (
        "model 'Evil' is not 'ESME'")


@pytest.mark.timeout(120)
def test_lab_check_prints_a_devices_strings_without_escape_codes(capsys, monkeypatch,
                                                                 clean_run_env):
    from harness.han.device import HanDevice

    monkeypatch.setattr(HanDevice, "manufacturer",
                        property(lambda self: "Evil\x1b[2J\x1b]0;pwned\x07Corp\x00"))
    code = main(["lab", "check", "--lab", str(EMULATED_LAB)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out
    assert "EvilCorp\\x00" in out


@pytest.mark.parametrize("argv", [["run", "--pack", "P" * 100_000],
                                  ["run", "--dmc", "D" * 100_000],
                                  ["report", "R" * 5_000], ["report", "R" * 5_000, "--final"],
                                  ["run", "--out", "O" * 5_000, "--pack", "smoke"],
                                  ["run", "--lab", "L" * 5_000],
                                  ["run", "--pack", f"smoke{TEST_CODE}"]])
def test_a_usage_error_echoing_what_was_typed_is_bounded(capsys, clean_run_env, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 1100 and TEST_CODE not in err
