"""The SR catalogue and the response code table: shipped content, parameter checks, broken files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from labkit import line_of

from harness.config.errors import ConfigError
from harness.config.secrets import InstallCode
from harness.dcc.catalogue import (
    DEVICE_TYPES,
    ROLES,
    ParameterSpec,
    catalogue_dir,
    install_code_of,
    load_sr_catalogue,
)

# -- the shipped catalogue against the domain reference ----------------------------------------
# shared/reference/smets1-domain.md section 4 (from the DCC's DUIS request matrix), one row per
# SRV of a grouped row: srv -> (critical, roles, device types). The device types are the
# harness's reading (the S1SR is not public in full). tests/dcc/test_duis_matrix.py checks the
# catalogue against the matrix file itself when the DUIS tools are installed.
ANY = ("ESME", "GSME", "PPMID", "IHD")
METERS = ("ESME", "GSME")
DOMAIN_TABLE: dict[str, tuple[bool, str, tuple[str, ...]]] = {
    "1.1.1": (True, "IS GS", METERS),
    "2.2": (False, "IS GS", METERS),
    "3.1": (False, "IS GS", METERS),
    "4.1.1": (False, "IS GS ED GT", METERS),
    "6.5": (False, "ED", ("ESME",)),
    "6.7": (True, "GS", ("GSME",)),
    "6.11": (True, "IS GS", METERS),
    "6.12": (False, "IS", ("ESME",)),
    "6.13": (False, "IS GS ED GT RSA", METERS),
    "6.14.1": (True, "IS", ("ESME",)),
    "6.14.2": (True, "IS", ("ESME",)),
    "6.14.3": (True, "IS", ("ESME",)),
    "6.15.1": (True, "IS GS ED GT", METERS),
    "6.22": (False, "IS GS ED", METERS),
    "6.23": (False, "IS GS", METERS),
    "7.1": (True, "IS", ("ESME",)),
    "7.2": (True, "IS GS", METERS),
    "7.3": (True, "IS GS", METERS),
    "7.4": (False, "IS ES GS RSA ED GT", METERS),
    "7.5": (True, "IS", ("ESME",)),
    "7.6": (True, "IS", ("ESME",)),
    "7.7": (False, "IS ED OU", ("ESME",)),
    "7.8": (True, "IS", ("ESME",)),
    "7.9": (False, "IS", ("ESME",)),
    "7.10": (False, "IS", ("ESME",)),
    "7.11": (False, "IS OU", ("ESME",)),
    "7.12": (True, "IS", ("ESME",)),
    "7.13": (True, "IS", ("ESME",)),
    "8.1.1": (True, "IS GS", ANY),
    "8.2": (False, "IS ES GS RSA ED GT OU", ("ESME", "GSME", "CHF", "PPMID", "IHD")),
    "8.3": (False, "IS GS", ANY),
    "8.7.1": (True, "IS GS", METERS),
    "8.8.1": (True, "IS GS", METERS),
    "8.9": (False, "IS GS OU", ("CHF",)),
    "8.11": (False, "IS GS OU", ("CHF",)),
    "11.1": (False, "IS GS", ANY),
    "11.4": (False, "IS GS", ("PPMID",)),
}
NON_DEVICE = {"8.2", "8.3", "11.1", "11.4"}


@pytest.fixture(scope="module")
def catalogue():
    return load_sr_catalogue()


def test_shipped_catalogue_loads_with_its_code_table(catalogue):
    assert catalogue.path == catalogue_dir() / "sr_catalogue.yaml"
    assert {"I0", "I99", "E1", "E2", "E3", "E4", "E5", "E11", "E12", "E19", "E20",
            "E21"} <= set(catalogue.codes)
    for definition in catalogue.srvs.values():
        assert set(definition.roles) <= set(ROLES)
        assert set(definition.device_types) <= set(DEVICE_TYPES)
        assert definition.command_variants
        assert all(code in catalogue.codes for code in definition.response_codes)
        # SR-specific codes follow E<ss><rr><nn> of their own SRV.
        digits = "".join(f"{int(part):02d}" for part in definition.srv.split("."))[:4]
        assert all(code.startswith(f"E{digits}") for code in definition.response_codes), (
            definition.srv, definition.response_codes)


@pytest.mark.parametrize("srv", DOMAIN_TABLE)
def test_every_srv_of_the_domain_table_is_there_as_the_reference_says(catalogue, srv):
    critical, roles, device_types = DOMAIN_TABLE[srv]
    definition = catalogue[srv]
    assert definition.critical is critical
    assert set(definition.roles) == set(roles.split())
    assert set(definition.device_types) == set(device_types)
    assert definition.non_device is (srv in NON_DEVICE)
    # Command Variants on a SMETS1 bench (docs/duis.md): 8 for a non-device request, 4 for a
    # Critical one, 1 for the others.
    assert definition.command_variants == ((8,) if srv in NON_DEVICE else (4,) if critical
                                           else (1,))


def test_unknown_srv_and_meanings(catalogue):
    assert "9.99" not in catalogue
    with pytest.raises(KeyError, match=r"9\.99"):
        catalogue["9.99"]
    assert catalogue.meaning("E19") == "failed authorisation: device does not exist"
    assert catalogue.meaning(None) == "no response code"
    assert catalogue.meaning("E999") == "unknown code"
    assert catalogue.roles_not_permitted("7.1") == ["GS", "ES", "ED", "GT", "RSA", "OU"]


# -- 8.11's parameters --------------------------------------------------------------------------
CODE = bytes(range(16)).hex()
DEVICE = "00-1B-C5-0C-00-00-00-03"


def add(**changes):
    return {"DeviceID": DEVICE, "RequestType": "Add", "JoinTimePeriod": 300,
            "InstallCode": CODE} | changes


@pytest.mark.parametrize("period", [1, 255, 3600])
def test_8_11_join_time_period_in_range(catalogue, period):
    assert catalogue["8.11"].check_parameters(add(JoinTimePeriod=period)) == []


@pytest.mark.parametrize(("period", "why"), [
    (0, "below the minimum 1"), (3601, "above the maximum 3600"), (-5, "below"),
    (300.0, "must be an integer"), ("300", "must be an integer"), (True, "must be an integer"),
])
def test_8_11_join_time_period_refused(catalogue, period, why):
    errors = catalogue["8.11"].check_parameters(add(JoinTimePeriod=period))
    assert len(errors) == 1 and why in errors[0] and "JoinTimePeriod" in errors[0]


@pytest.mark.parametrize("length", [6, 8, 12, 16])
def test_8_11_install_code_lengths(catalogue, length):
    code = bytes(range(length))
    assert catalogue["8.11"].check_parameters(add(InstallCode=code.hex())) == []
    # Separators are allowed, as on a device label.
    spaced = " ".join(f"{b:02X}" for b in code)
    assert catalogue["8.11"].check_parameters(add(InstallCode=spaced)) == []


@pytest.mark.parametrize("length", [0, 4, 5, 17, 19, 20])
def test_8_11_install_code_outside_the_xsd_limits_is_a_schema_error(catalogue, length):
    code = bytes(range(length)).hex()
    errors = catalogue["8.11"].check_parameters(add(InstallCode=code))
    assert len(errors) == 1 and "InstallCode is" in errors[0]
    assert code not in errors[0] or not code  # a secret is never echoed


def test_8_11_install_code_length_and_crc_are_checked_by_the_adapter(catalogue):
    code = bytes(range(16))
    with_crc = InstallCode.with_crc(code)
    assert install_code_of(code.hex()) == with_crc
    assert install_code_of(code, with_crc.code[-2:].hex()) == with_crc
    with pytest.raises(ValueError, match="CRC"):
        install_code_of(code.hex(), "0000")
    with pytest.raises(ValueError, match="6, 8, 12 or 16"):
        install_code_of(bytes(range(7)).hex())
    with pytest.raises(ValueError):
        install_code_of(12345)


@pytest.mark.parametrize(("value", "ok"), [
    ("Add", True), ("Remove", True), ("add", False), ("Delete", False), (1, False)])
def test_8_11_request_type(catalogue, value, ok):
    params = add(RequestType=value) if value != "Remove" else {"DeviceID": DEVICE,
                                                               "RequestType": "Remove"}
    errors = catalogue["8.11"].check_parameters(params)
    assert (errors == []) is ok, errors
    if not ok:
        assert "RequestType" in errors[0]


def test_8_11_conditional_requirements(catalogue):
    check = catalogue["8.11"].check_parameters
    assert check({"DeviceID": DEVICE, "RequestType": "Remove"}) == []
    errors = check({"DeviceID": DEVICE, "RequestType": "Add"})
    assert sorted(errors) == [
        "InstallCode is required for SR 8.11 when RequestType is Add",
        "JoinTimePeriod is required for SR 8.11 when RequestType is Add",
    ]
    assert check(add(JoinTimePeriod=None)) == [
        "JoinTimePeriod is required for SR 8.11 when RequestType is Add"]
    assert check({"RequestType": "Remove"}) == ["DeviceID is required for SR 8.11"]
    assert check({"DeviceID": DEVICE}) == ["RequestType is required for SR 8.11"]
    assert check(add(Bogus=1)) == ["unknown parameter 'Bogus' for SR 8.11"]
    assert check(add(DeviceID="00-1B-C5")) == [
        "DeviceID must be an EUI-64 like 00-1B-C5-0C-00-00-00-01"]


# -- each parameter type ------------------------------------------------------------------------
def spec(kind: str, **limits) -> ParameterSpec:
    return ParameterSpec(name="P", type=kind, **limits)


@pytest.mark.parametrize(("kind", "limits", "good", "bad"), [
    ("integer", {"min": 1, "max": 5}, [1, 5], [0, 6, 1.0, "3", True, None]),
    ("string", {"min_length": 2, "max_length": 4}, ["ab", "abcd"], ["a", "abcde", 12, b"ab"]),
    ("string", {"pattern": "^[0-9]{3}$"}, ["123"], ["12", "1234", "abc", "123\n"]),
    ("enum", {"values": ("Event", "Security")}, ["Event", "Security"],
     ["event", "", 1, None]),
    ("hex", {"min_bytes": 2, "max_bytes": 3}, ["0102", "01 02 03", "01:02", b"\x01\x02"],
     ["01", "01020304", "xyz", "012", 12, None]),
    ("eui64", {}, ["00-1B-C5-0C-00-00-00-01", "00:1b:c5:0c:00:00:00:01", "001BC50C00000001"],
     ["00-1B-C5-0C-00-00-00", "00-1B-C5-0C-00-00-00-0G", 1, None]),
    ("install_code", {}, [InstallCode.with_crc(bytes(range(16))).code.hex()], ["00" * 9, "zz", 5]),
    ("datetime", {}, [datetime(2026, 1, 5, tzinfo=UTC), "2026-01-05T09:00:00+00:00",
                      "2026-01-05"], ["yesterday", 20260105, None]),
])
def test_parameter_types(kind, limits, good, bad):
    parameter = spec(kind, **limits)
    for value in good:
        assert parameter.check(value) is None, (kind, value)
    for value in bad:
        problem = parameter.check(value)
        assert problem and problem.startswith("P "), (kind, value, problem)


def test_unknown_parameter_type_is_reported():
    assert "unknown type" in spec("float").check(1.0)


# -- broken catalogue files ---------------------------------------------------------------------
GOOD = '''\
"4.1.1":
  name: Read Instantaneous Import Registers
  critical: false
  roles: [IS, ES]
  device_types: [ESME]
  command_variants: [1]
  parameters: {}
"8.11":
  name: Update HAN Device Log
  critical: false
  roles: [IS, GS]
  device_types: [CHF]
  command_variants: [1]
  parameters:
    DeviceID: {type: eui64, required: true}
    RequestType: {type: enum, values: [Add, Remove], required: true}
    JoinTimePeriod: {type: integer, min: 1, max: 3600, required_when: {RequestType: Add}}
  response_codes: [E081101]
'''

BROKEN = {
    # name: (old text, new text, fragment on the offending line, field)
    "unknown key": ("  parameters: {}\n", "  parameters: {}\n  colour: blue\n",
                    "colour: blue", '["4.1.1"].colour'),
    "unknown role": ("roles: [IS, ES]", "roles: [IS, XX]", "roles: [IS, XX]",
                     '["4.1.1"].roles[1]'),
    "code not in the table": ("[E081101]", "[E081199]", "[E081199]",
                              '["8.11"].response_codes[0]'),
    "bad SRV key": ('"4.1.1":', '"4.x":', '"4.x":', '["4.x"]'),
    "unquoted SRV key": ('"8.11":', "8.10:", "8.10:", '["8.1"]'),
    "unknown device type": ("device_types: [CHF]", "device_types: [HUB]",
                            "device_types: [HUB]", '["8.11"].device_types[0]'),
    "roles not a list": ("roles: [IS, ES]", "roles: 7", "roles: 7", '["4.1.1"].roles'),
    "critical not a bool": ("critical: false\n  roles: [IS, ES]",
                            'critical: "no"\n  roles: [IS, ES]', 'critical: "no"',
                            '["4.1.1"].critical'),
    "command variant not an integer": ("command_variants: [1]\n  parameters: {}",
                                       "command_variants: [one]\n  parameters: {}",
                                       "[one]", '["4.1.1"].command_variants[0]'),
    "parameters not a mapping": ("parameters: {}", "parameters: [DeviceID]",
                                 "parameters: [DeviceID]", '["4.1.1"].parameters'),
    "parameter type unknown": ("{type: eui64, required: true}", "{type: mac, required: true}",
                               "type: mac", '["8.11"].parameters.DeviceID'),
    "parameter limit not an integer": ("min: 1, max: 3600", "min: 1, max: lots",
                                       "max: lots", '["8.11"].parameters.JoinTimePeriod.max'),
    "enum without values": ("{type: enum, values: [Add, Remove], required: true}",
                            "{type: enum, required: true}", "RequestType: {type: enum",
                            '["8.11"].parameters.RequestType'),
    "condition on an unknown parameter": ("required_when: {RequestType: Add}",
                                          "required_when: {Kind: Add}",
                                          "required_when: {Kind",
                                          '["8.11"].parameters.JoinTimePeriod.required_when'),
    "bad pattern": ("DeviceID: {type: eui64, required: true}",
                    'DeviceID: {type: string, pattern: "([0-9]"}', "pattern:",
                    '["8.11"].parameters.DeviceID.pattern'),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_catalogue_is_a_config_error_with_file_and_line(tmp_path: Path, case):
    old, new, fragment, field = BROKEN[case]
    assert old in GOOD
    path = tmp_path / f"{case.replace(' ', '-')}.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_sr_catalogue(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == line_of(path, fragment), str(error)
    assert error.field == field, str(error)
    assert str(error).startswith(f"{path}:{error.line}: ")


def test_good_catalogue_file_loads(tmp_path: Path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    catalogue = load_sr_catalogue(path)
    assert set(catalogue.srvs) == {"4.1.1", "8.11"}
    assert catalogue["8.11"].line == line_of(path, '"8.11":')


@pytest.mark.parametrize(("text", "fragment", "field"), [
    ('I0: {meaning: "success", category: success}\n', "I0:", "I0"),
    ('I0: {meaning: "success", category: happy, source: x}\n', "I0:", "I0.category"),
    ('I0: {meaning: "success", category: success, source: x, extra: 1}\n', "I0:", "I0.extra"),
    ('X7: {meaning: "what", category: success, source: x}\n', "X7:", "X7"),
])
def test_broken_code_table_is_a_config_error(tmp_path: Path, text, fragment, field):
    codes = tmp_path / "codes.yaml"
    codes.write_text(text)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(GOOD.replace("  response_codes: [E081101]\n", ""))
    with pytest.raises(ConfigError) as caught:
        load_sr_catalogue(catalogue, codes)
    assert (caught.value.file, caught.value.line, caught.value.field) == (
        str(codes), line_of(codes, fragment), field)
