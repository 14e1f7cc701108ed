"""No secret in anything a run writes: install codes, link keys, private keys, the network key.

One real ``dmct run`` on the emulated bench (REF-DMC-001, dormant: the smoke pack joins every
device with its install code, the dormant pack migrates the installation, commissions the
devices with SR 8.11 install codes and rotates management keys), with zigpy's DEBUG logs
captured (``--log-level=DEBUG``: zigpy logs the HAN's network key there) and Allure results.
Then every file under the output directory (reports in every format present, ``records.jsonl``,
evidence including pcap bytes and transcripts, Allure results and attachments, run state) and
the command's stdout and stderr are scanned, as bytes, for:

- every device's install code (the emulated factory codes of the lab's devices), with and
  without its CRC, and its derived link key: raw bytes, hex in upper and lower case, bare and
  with ``:``, ``-`` or space between octets;
- every private key of the keystore (the test PKI's Users and the DCC, every device's identity
  key and management keys of every generation a run reaches): the raw scalar in the same forms,
  in decimal, and its PEM (PKCS#8 and traditional) base64;
- any key in zigpy's notation (16 or more ``:``-separated octets), which is how the network
  key, whose value the run picks at random, would appear.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from runkit import WHOLE_RUNS, dmct_environment

from harness.config import InstallCode, default_lab_config_path, load_lab_config
from harness.dcc.keys import DCC_USER, TEST_USERS, KeyPair
from harness.emulator.devices import factory_install_code
from harness.emulator.radio import COORDINATOR_IEEE
from harness.han.events import normalise_eui
from harness.log_redaction import MASK, KeyRedactingFilter, redact
from harness.text import mask_secrets

pytestmark = WHOLE_RUNS

DMC = "REF-DMC-001"
STATUS = "dormant"
#: Management key generations looked for per device (a run rotates a few times at most).
GENERATIONS = 12
#: A key in zigpy's notation (16 or more octets, one separator throughout): how the network key,
#: whose value the run picks at random, would appear. The scan's own pattern, not the masking
#: rule's (which masks more: frames in evidence are long hex on purpose).
KEY_OCTETS = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}([:\- ])[0-9A-Fa-f]{2}"
                        r"(?:\1[0-9A-Fa-f]{2}){14,}(?![0-9A-Fa-f])")


def byte_forms(raw: bytes) -> list[bytes]:
    """``raw`` as bytes and as hex text in the ways a log, a report or a UI might print it."""
    hexed = raw.hex()
    octets = [hexed[i:i + 2] for i in range(0, len(hexed), 2)]
    forms = [raw]
    for text in (hexed, *(sep.join(octets) for sep in (":", "-", " "))):
        forms += [text.encode(), text.upper().encode()]
    return forms


def private_forms(key: KeyPair) -> list[bytes]:
    # The test reaches into the key pair on purpose: it is looking for exactly what must not leak.
    private = key._private
    scalar = private.private_numbers().private_value
    forms = [*byte_forms(scalar.to_bytes(32, "big")), str(scalar).encode()]
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = private.private_bytes(serialization.Encoding.PEM, fmt,
                                    serialization.NoEncryption())
        body = pem.splitlines()[1:-1]
        forms += [b"".join(body), body[0]]
    return forms


def secrets_of_the_bench() -> dict[str, list[bytes]]:
    """What must never appear, by a name for the failure message."""
    lab = load_lab_config(default_lab_config_path())
    euis = [normalise_eui(d.eui64) for i in lab.installations for d in i.devices]
    secrets: dict[str, list[bytes]] = {}
    for eui in euis:
        code = InstallCode.with_crc(factory_install_code(lab.seed, eui))
        secrets[f"install code of {eui}"] = byte_forms(code.code)
        secrets[f"install code of {eui} without CRC"] = byte_forms(code.code_without_crc)
        secrets[f"link key of {eui}"] = byte_forms(bytes(code.link_key))
    names = [name for name, _role, _org in TEST_USERS] + [DCC_USER]
    for eui in [*euis, normalise_eui(str(COORDINATOR_IEEE))]:
        names.append(f"device:{eui}")
        names += [f"management:{eui}:{generation}" for generation in range(GENERATIONS)]
    for name in names:
        secrets[f"private key {name}"] = private_forms(KeyPair.derive(name, lab.seed))
    return secrets


def leaks(data: bytes, secrets: dict[str, list[bytes]]) -> list[str]:
    found = [name for name, forms in secrets.items() if any(f in data for f in forms)]
    text = data.decode("latin-1")
    found += [f"key octets {m.group()[:11]}..." for m in KEY_OCTETS.finditer(text)]
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[Path, subprocess.CompletedProcess[bytes]]:
    out = tmp_path_factory.mktemp("secrets-run")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--dmc", DMC, "--status", STATUS,
         "--pack", "smoke", "--pack", "dormant", "--out", str(out), "-v",
         "--evidence", "all", "--",
         "--log-level=DEBUG"],
        cwd=out, env=dmct_environment(), capture_output=True, timeout=300, check=False)
    return out, done


@pytest.fixture(scope="module")
def secrets() -> dict[str, list[bytes]]:
    return secrets_of_the_bench()


def test_the_scan_finds_a_planted_secret_in_any_form(secrets: dict[str, list[bytes]]) -> None:
    for name, forms in list(secrets.items())[::7]:
        for form in forms:
            assert name in leaks(b"\x00frame " + form + b" end", secrets), (name, form)
    assert leaks(b"network_key=Key(key=" + b":".join([b"ab"] * 16) + b")", secrets)
    assert not leaks(b"EUI 00:1b:c5:0c:00:00:00:01 and 00-1B-C5-0C-00-00-00-02, RequestID "
                     b"90-B3-D5-1F-30-01-00-01:00-0D-6F-FF-FE-00-00-01:1000005", secrets)


def test_the_run_did_what_the_scan_relies_on(run: tuple[Path, subprocess.CompletedProcess[bytes]]
                                             ) -> None:
    out, done = run
    assert done.returncode == 0, done.stdout.decode()[-3000:]
    directory = out / DMC / STATUS
    records = [json.loads(line) for line in (directory / "records.jsonl").read_text().splitlines()]
    assert {r["pack"] for r in records} == {"smoke", "dormant"}
    dcc = "".join(p.read_text() for p in directory.glob("evidence/*/dcc.json"))
    assert '"InstallCode": "<masked>"' in dcc  # an 8.11 Add carried an install code
    assert '"srv": "6.15.1"' in dcc  # a management key rotation
    assert list(directory.glob("evidence/*/frames.pcap"))
    attachments = list((directory / "allure-results").glob("*-attachment*"))
    assert attachments
    logs = b"".join(p.read_bytes() for p in attachments if p.suffix == ".txt")
    # zigpy logged the network key at DEBUG, and the run masked it.
    assert b"network_key=Key(key=" + MASK.encode() in logs


def test_no_file_the_run_wrote_holds_a_secret(
        run: tuple[Path, subprocess.CompletedProcess[bytes]],
        secrets: dict[str, list[bytes]]) -> None:
    out, done = run
    scanned = {"stdout": done.stdout, "stderr": done.stderr}
    scanned.update({str(p.relative_to(out)): p.read_bytes()
                    for p in sorted(out.rglob("*")) if p.is_file()})
    assert len(scanned) > 50
    found = {name: leaks(data, secrets) for name, data in scanned.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_log_records_lose_key_octets_and_keep_euis() -> None:
    import logging

    record = logging.LogRecord("zigpy.application", logging.DEBUG, __file__, 1,
                               "Network info: %s, device %s", (
                                   "network_key=Key(key=" + ":".join(["5a"] * 16) + ")",
                                   "00:1b:c5:0c:00:00:00:01"), None)
    assert KeyRedactingFilter().filter(record)
    assert record.getMessage() == (f"Network info: network_key=Key(key={MASK}), "
                                   "device 00:1b:c5:0c:00:00:00:01")
    assert redact("AB-CD-" * 17 + "EF") == MASK
    request_id = "90-B3-D5-1F-30-01-00-01:00-0D-6F-FF-FE-00-00-01:1000005"
    assert redact(request_id) == request_id


@pytest.mark.parametrize(("text", "masked"), [
    ("key " + ":".join(["5a"] * 16), True),  # zigpy's Key repr
    ("key " + " ".join(["5A"] * 16), True),  # a radio library's octets
    ("code 83FED3407A939723A5C639B26916D505C3B5", True),  # an install code written together
    ("code 83FE-D340-7A93-9723-A5C6-39B2-6916-D505-C3B5", True),  # ... in groups, as printed
    ("code 0011223344556677C3B5", True),  # an 8-octet install code and its CRC (20 digits)
    ("EUI 00:1b:c5:0c:00:00:00:01", False),
    ("EUI 001BC50C00000001", False),
    ("RequestID 90-B3-D5-1F-30-01-00-01:00-0D-6F-FF-FE-00-00-01:1000005", False),
    ("at 0x7f784f332ad0, a bad bed faced a dead cab", False),
])
def test_errors_reports_and_logs_mask_by_one_rule(text, masked):
    """The log filter and the errors' masking are one rule: what one masks the other does."""
    assert redact(text) == mask_secrets(text)
    assert (MASK in redact(text)) is masked, redact(text)
