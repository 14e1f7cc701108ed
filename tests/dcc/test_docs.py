"""The DCC format docs stay current: every SRV, response code, command and status is in them, and
the worked envelope example is what the code builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.dcc.catalogue import PARAMETER_TYPES, ROLE_NAMES, ROLES, load_sr_catalogue
from harness.dcc.envelope import HEADER_LEN, Command, Envelope, Kind, Status
from harness.dcc.keys import SIGNATURE_LEN, Keystore

ROOT = Path(__file__).resolve().parents[2]
SR_DOC = ROOT / "docs" / "sr-catalogue.md"
ENVELOPE_DOC = ROOT / "docs" / "envelope.md"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _rows(section: str) -> list[list[str]]:
    """The cells of every table row of ``section`` (header and rule rows included)."""
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")]
            for line in section.splitlines() if line.startswith("| ")]


def _fenced_after(text: str, marker: str) -> str:
    """The fenced block right after ``<!-- marker -->``."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"no fenced block after <!-- {marker} --> in the doc"
    return match.group(1)


# -- docs/sr-catalogue.md -------------------------------------------------------------------


def test_every_srv_has_a_current_row():
    catalogue = load_sr_catalogue()
    rows = {row[0]: row for row in _rows(_section(SR_DOC.read_text(), "Every SRV"))}
    missing = [srv for srv in catalogue.srvs if srv not in rows]
    assert missing == [], f"docs/sr-catalogue.md has no row for SRV(s) {missing}"
    for srv, definition in catalogue.srvs.items():
        _srv, name, critical, roles, device_types, variants, params, codes, unverified = rows[srv]
        where = f"docs/sr-catalogue.md, row of SRV {srv}"
        assert name == definition.name, where
        assert critical == ("Y" if definition.critical else "N"), where
        assert roles.split() == list(definition.roles), where
        assert device_types.split() == list(definition.device_types), where
        assert [int(v) for v in variants.split(", ")] == list(definition.command_variants), where
        for parameter in definition.parameters:
            assert f"`{parameter}`" in params, f"{where}: parameter {parameter}"
        if not definition.parameters:
            assert params == "none", where
        assert (codes.split(", ") if codes != "none" else []) == list(definition.response_codes), \
            where
        assert (unverified.split(", ") if unverified != "none" else []) == \
            list(definition.unverified), where
    extra = sorted(set(rows) - set(catalogue.srvs) - {"SRV", "---"})
    assert extra == [], f"docs/sr-catalogue.md lists SRVs the catalogue does not have: {extra}"


def test_every_response_code_is_in_the_doc():
    catalogue = load_sr_catalogue()
    rows = {row[0].strip("`"): row for row in _rows(_section(SR_DOC.read_text(),
                                                               "The response code table"))}
    missing = [code for code in catalogue.codes if code not in rows]
    assert missing == [], f"docs/sr-catalogue.md does not list response code(s) {missing}"
    for code, entry in catalogue.codes.items():
        assert rows[code][1] == entry.category, f"docs/sr-catalogue.md: category of {code}"


def test_roles_and_parameter_types_are_documented():
    text = SR_DOC.read_text()
    roles = {row[0].strip("`"): row[1] for row in _rows(_section(text, "The catalogue file, "
                                                                        "field by field"))}
    for role in ROLES:
        assert roles.get(role, "").startswith(ROLE_NAMES[role]), f"role {role} in the doc"
    for kind in PARAMETER_TYPES:
        assert f"| `{kind}` |" in text, f"parameter type {kind} in docs/sr-catalogue.md"


# -- docs/envelope.md -----------------------------------------------------------------------


def test_every_command_status_and_kind_is_documented():
    text = ENVELOPE_DOC.read_text()
    commands = {row[0].strip("`"): row[1] for row in _rows(_section(text, "Command codes"))}
    for command in Command:
        assert commands.get(f"0x{command.value:04X}") == command.name, \
            f"command {command.name} (0x{command.value:04X}) in docs/envelope.md"
    statuses = _section(text, "Response statuses")
    for status in Status:
        assert f"`{status.value}`" in statuses, f"status {status.value} in docs/envelope.md"
    for kind in Kind:
        assert f"`0x{kind.value:02x}` {kind.name.lower()}" in text, f"kind {kind.name}"


def test_worked_example_is_what_the_code_builds():
    text = ENVELOPE_DOC.read_text()
    namespace: dict[str, object] = {}
    exec(compile(_fenced_after(text, "worked-example:code"), "docs/envelope.md", "exec"),
         namespace)
    signed_part = namespace["signed_part"]
    data = namespace["data"]
    assert isinstance(signed_part, bytes) and isinstance(data, bytes)

    shown = [line.split()[0] for line in _fenced_after(text, "worked-example:hex").splitlines()
             if line.strip()]
    assert shown[-1] == f"<{SIGNATURE_LEN}", "the signature is shown as <64 bytes>"
    hex_shown = "".join(shown[:-1])
    assert hex_shown == signed_part.hex() + f"{SIGNATURE_LEN:02x}"
    assert data[:len(signed_part) + 1].hex() == hex_shown
    assert len(data) == len(signed_part) + 1 + SIGNATURE_LEN
    assert f"The envelope is {len(data)} bytes" in text

    # What the doc says of the bytes holds: it parses, verifies with the key, and the header
    # fields sit where the table puts them.
    envelope = Envelope.from_bytes(data)
    key = Keystore.test_pki(seed=0).management_key(envelope.device)
    assert envelope.verifies_with(key.public)
    assert envelope.payload == {"state": "off"} and envelope.command == Command.SUPPLY
    assert HEADER_LEN == 22 and data[20:22] == len(signed_part[22:]).to_bytes(2, "big")


def test_voltage_alert_example_is_what_the_code_builds():
    text = ENVELOPE_DOC.read_text()
    alert = Envelope(Kind.ALERT, "00-1B-C5-0C-00-00-00-01", 0, Command.ALERT,
                     {"alert": "VOLTAGE_ALERT", "reading_v": 253})
    assert f"`{alert.signed_part().hex()}`" in text


# -- README ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", ["docs/sr-catalogue.md", "docs/envelope.md"])
def test_readme_links_the_dcc_docs(doc):
    assert f"]({doc})" in (ROOT / "README.md").read_text()
