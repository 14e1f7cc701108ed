"""Lab config loading: the shipped benches load, every rejection is one located line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harness.config import (
    ConfigError,
    SecretStore,
    default_lab_config_path,
    load_lab_config,
)
from harness.config.lab import DEFAULT_CLOCK_START
from harness.config.types import PortSpec

from .helpers import (
    MINIMAL_LAB,
    REAL_LAB,
    TEST_CODE,
    assert_error,
    line_of,
    raises_config_error,
    write,
)

LAB_DIR = Path(__file__).resolve().parents[2] / "lab_config"


# -- shipped configs ------------------------------------------------------------------------------


def test_default_path_is_packaged_emulated_yaml():
    path = default_lab_config_path()
    assert path.name == "emulated.yaml"
    assert path.is_file()


def test_emulated_yaml_loads():
    lab = load_lab_config(default_lab_config_path(), env={})
    assert lab.is_emulated
    assert lab.dmc_ids == ["REF-DMC-001"]
    assert lab.installation_statuses == ["dormant", "active", "mixed"]
    assert lab.clock.mode == "virtual"
    assert lab.clock.start == DEFAULT_CLOCK_START
    assert "REF-DMC-001" in lab.catalogue.dmcs
    (installation,) = lab.installations
    assert [d.role for d in installation.devices] == ["ESME", "GSME", "PPMID", "IHD"]
    assert all(d.install_code.kind == "emulated" for d in installation.devices)
    assert all(a.is_emulated for a in lab.serial_adapters)
    relays = lab.adapter("relays")
    assert relays.role == "relay" and relays.channels == 4
    assert sorted(d.relay.channel for d in installation.devices) == [1, 2, 3, 4]
    esme = installation.device("ESME")
    assert set(lab.adapters_for(esme)) == {"optical", "console"}
    assert lab.adapter("esme-optical").baudrate == 300
    assert lab.adapter("esme-console").baudrate == 115200
    # No pinned profile: the DMC under test decides.
    assert lab.profile_for(esme, "REF-DMC-001").id == "ref-esme-1.0.0"
    assert lab.profile_for(esme, "ITRON-DMC-001").id == "itron-esme-ph1"
    assert lab.warnings() == []


def test_example_bench_loads_with_env_and_secrets(tmp_path):
    secrets = write(
        tmp_path / "secrets.yaml",
        f"""
        install_codes:
          bench1-ppmid: "{TEST_CODE}"
          bench1-ihd: "0011223344556677FC05"
        """,
    )
    env = {
        "DMCT_SECRETS_FILE": str(secrets),
        "DMCT_ESME_INSTALL_CODE": TEST_CODE,
        "DMCT_GSME_INSTALL_CODE": "00 11 22 33 44 55 66 77 FC 05",
    }
    lab = load_lab_config(LAB_DIR / "example-bench.yaml", env=env)
    assert not lab.is_emulated
    assert lab.radio.type == "ezsp"
    assert lab.radio.port.path.startswith("/dev/serial/by-id/")
    assert lab.radio.flow_control == "software"
    assert lab.radio.database == (LAB_DIR / "zigpy-bench-1.db").absolute()
    assert lab.radio.extended_pan_id == "00-1B-C5-0C-FF-FE-00-01"
    assert lab.clock.mode == "real" and lab.clock.start is None
    assert lab.adapter("esme-optical").port == PortSpec(usb_serial="A10K5TRW")
    assert lab.adapter("esme-optical").baudrate == 300
    assert lab.adapter("esme-console").port.path == "rfc2217://bench-1-ts.lab.example:4001"
    devices = lab.installations[0].devices
    # All three EUI-64 spellings are normalised to DUIS style.
    assert [d.eui64 for d in devices] == [
        "00-1B-C5-0C-00-10-00-01",
        "00-1B-C5-0C-00-10-00-02",
        "00-1B-C5-0C-00-10-00-03",
        "00-1B-C5-0C-00-10-00-04",
    ]
    assert lab.secrets_path == secrets
    assert lab.safety.allow_destructive is False

    store = SecretStore.load(lab, env)
    assert store.check(lab) == []
    codes = {d.role: store.install_code(d.install_code) for d in devices}
    assert codes["ESME"].reveal() == TEST_CODE
    assert codes["PPMID"] == codes["ESME"]
    assert len(codes["IHD"]) == 8


def test_example_secrets_file_is_a_valid_example():
    from harness.config.secrets import load_secrets_file

    secrets = load_secrets_file(LAB_DIR / "example-secrets.yaml")
    assert set(secrets.install_codes) == {"bench1-ppmid", "bench1-ihd"}
    assert secrets.install_codes["bench1-ppmid"].code.reveal() == TEST_CODE


def test_minimal_lab_defaults(lab_file):
    lab = load_lab_config(lab_file(MINIMAL_LAB), env={})
    assert lab.radio.channel == 15
    assert lab.radio.pan_id == 0x1A62
    assert lab.radio.baudrate == 115200
    assert lab.clock.mode == "virtual"
    assert lab.clock.start == dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    assert lab.output_dir == Path("dmct-results")
    assert lab.seed == 0
    assert lab.safety.allow_destructive is False
    assert lab.adapter("relays").protocol == "lcus"
    assert lab.dmc_ids == ["REF-DMC-001"]


def test_models_remember_their_location(lab_file):
    path = lab_file(MINIMAL_LAB)
    lab = load_lab_config(path, env={})
    gsme = lab.installations[0].device("GSME")
    assert gsme.source_file == path
    assert gsme.line == line_of(path, "- role: GSME")
    assert gsme.field_path == "installations[0].devices[1]"
    assert gsme.install_code.line == line_of(path, "install_code", 2)
    assert lab.path == path


# -- rejections -----------------------------------------------------------------------------------


def test_unknown_key_names_it_and_lists_allowed(lab_file):
    path = lab_file(MINIMAL_LAB.replace("  type: virtual", "  type: virtual\n  chanel: 20"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "chanel"),
        "radio.chanel",
        "unknown key 'chanel'",
        "allowed keys:",
        "channel",
        "pan_id",
    )


def test_unknown_top_level_key(lab_file):
    path = lab_file(MINIMAL_LAB + "colour: blue\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "colour"), "colour", "unknown key 'colour'", "bench")


def test_duplicate_key_in_lab_config(lab_file):
    path = lab_file(MINIMAL_LAB + "seed: 1\nseed: 2\n")
    err = raises_config_error(load_lab_config, path, env={})
    first, second = line_of(path, "seed: 1"), line_of(path, "seed: 2")
    assert_error(err, path, second, "seed", f"first at line {first}", f"again at line {second}")


def test_string_where_int_expected(lab_file):
    path = lab_file(MINIMAL_LAB.replace("  type: virtual", '  type: virtual\n  channel: "15"'))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err, path, line_of(path, "channel:"), "radio.channel", "expected an integer", "'15'"
    )


def test_bool_is_not_an_int(lab_file):
    path = lab_file(MINIMAL_LAB + "seed: true\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "seed:"), "seed", "expected an integer")


def test_yes_is_not_a_bool(lab_file):
    path = lab_file(MINIMAL_LAB + "safety:\n  allow_destructive: yes\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "allow_destructive"),
        "safety.allow_destructive",
        "expected true or false",
    )


def test_channel_out_of_range(lab_file):
    path = lab_file(MINIMAL_LAB.replace("  type: virtual", "  type: virtual\n  channel: 27"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "channel: 27"), "radio.channel", "at most 26")


def test_hex_pan_id_accepted_and_range_checked(lab_file):
    lab = load_lab_config(
        lab_file(MINIMAL_LAB.replace("  type: virtual", "  type: virtual\n  pan_id: 0x1234")),
        env={},
    )
    assert lab.radio.pan_id == 0x1234
    path = lab_file(MINIMAL_LAB.replace("  type: virtual", "  type: virtual\n  pan_id: 0xFFFF"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "pan_id"), "radio.pan_id", "at most 65534")


def test_missing_required_key_points_at_parent_mapping(lab_file):
    text = MINIMAL_LAB.replace("        eui64: 00-1B-C5-0C-00-00-00-02\n", "")
    path = lab_file(text)
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "- role: GSME"),
        "installations[0].devices[1].eui64",
        "required key 'eui64' is missing",
    )


def test_missing_top_level_key(lab_file):
    path = lab_file(MINIMAL_LAB.replace("bench: test-bench\n", ""))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, 1, "bench", "required key 'bench' is missing")


@pytest.mark.parametrize(
    "bad",
    [
        "00-1B-C5-0C-00-00-00",
        "00-1B-C5-0C-00-00-00-0G",
        "00:1B-C5-0C-00-00-00-01",
        "001BC50C0000000",
    ],
)
def test_malformed_eui64(lab_file, bad):
    path = lab_file(MINIMAL_LAB.replace("00-1B-C5-0C-00-00-00-02", bad))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "eui64:", 2),
        "installations[0].devices[1].eui64",
        "malformed EUI-64",
        "00-1B-C5-0C-00-00-00-01",
    )


def test_unquoted_numeric_eui64_asks_for_quotes(lab_file):
    path = lab_file(MINIMAL_LAB.replace("00-1B-C5-0C-00-00-00-02", "1234567890123456"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "1234567890123456"),
        "installations[0].devices[1].eui64",
        "quote it",
    )


def test_duplicate_eui64(lab_file):
    path = lab_file(MINIMAL_LAB.replace("00-1B-C5-0C-00-00-00-02", "00:1b:c5:0c:00:00:00:01"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "00:1b:c5"),
        "installations[0].devices[1].eui64",
        "already used",
        f"line {line_of(path, '00-1B-C5-0C-00-00-00-01')}",
    )


def test_two_devices_of_one_role(lab_file):
    path = lab_file(MINIMAL_LAB.replace("- role: GSME", "- role: ESME"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "- role: ESME", 2),
        "installations[0].devices[1].role",
        "already has a ESME",
    )


def test_unknown_dmc(lab_file):
    path = lab_file(MINIMAL_LAB.replace("dmc: REF-DMC-001", "dmc: REF-DMC-01"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "dmc:"),
        "dmc",
        "unknown DMC id 'REF-DMC-01'",
        "did you mean",
        "REF-DMC-001",
    )


def test_unknown_dmc_in_list(lab_file):
    path = lab_file(MINIMAL_LAB.replace("dmc: REF-DMC-001", "dmc:\n  - REF-DMC-001\n  - NOPE-DMC"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "NOPE-DMC"), "dmc[1]", "unknown DMC id 'NOPE-DMC'")


def test_bad_installation_status(lab_file):
    path = lab_file(
        MINIMAL_LAB.replace(
            "installation_status: dormant", "installation_status: [dormant, sleepy]"
        )
    )
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err, path, line_of(path, "sleepy"), "installation_status[1]", "must be one of", "'sleepy'"
    )


def test_unknown_profile(lab_file):
    path = lab_file(
        MINIMAL_LAB.replace(
            "      - role: GSME\n", "      - role: GSME\n        profile: ref-gsme\n"
        )
    )
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "profile: ref-gsme"),
        "installations[0].devices[1].profile",
        "unknown profile id 'ref-gsme'",
        "ref-gsme-1.0.0",
    )


def test_profile_role_mismatch(lab_file):
    path = lab_file(
        MINIMAL_LAB.replace(
            "      - role: GSME\n", "      - role: GSME\n        profile: ref-esme-1.0.0\n"
        )
    )
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "profile: ref-esme"),
        "installations[0].devices[1].profile",
        "is a ESME",
        "role is GSME",
    )


def test_pinned_profile_must_match_every_dmc(lab_file):
    text = MINIMAL_LAB.replace(
        "      - role: ESME\n", "      - role: ESME\n        profile: ref-esme-1.0.0\n"
    ).replace("dmc: REF-DMC-001", "dmc: [REF-DMC-001, ITRON-DMC-001]")
    path = lab_file(text)
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "profile: ref-esme"),
        "installations[0].devices[0].profile",
        "the bench has Reference Reference ESME",
        "DMC ITRON-DMC-001 needs Itron",
        "itron-esme-ph1",
    )


def test_emulated_port_with_real_radio(lab_file):
    text = REAL_LAB.replace('port: {usb_serial: "A10K5TRW"}', "port: emulated")
    path = lab_file(text)
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "port: emulated"),
        "serial_adapters[0].port",
        "'emulated' ports need a virtual radio",
        "ezsp",
    )


def test_real_port_with_virtual_radio(lab_file):
    path = lab_file(MINIMAL_LAB.replace("port: emulated", "port: /dev/ttyUSB3", 1))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err, path, line_of(path, "/dev/ttyUSB3"), "serial_adapters[0].port", "must be 'emulated'"
    )


def test_emulated_install_code_with_real_radio(lab_file):
    path = lab_file(REAL_LAB.replace("{env: DMCT_ESME_CODE}", "emulated"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "install_code: emulated"),
        "installations[0].devices[0].install_code",
        "need a virtual radio",
    )


def test_install_code_literal_rejected_without_echo(lab_file):
    path = lab_file(REAL_LAB.replace("{env: DMCT_ESME_CODE}", f'"{TEST_CODE}"'))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, TEST_CODE),
        "installations[0].devices[0].install_code",
        "must not be written in the lab config",
        "{env: VAR_NAME}",
        "{secret: NAME}",
    )
    assert TEST_CODE not in str(err) and TEST_CODE.lower() not in str(err)
    assert all(TEST_CODE not in str(other) for other in err.others)


def test_install_code_literal_as_mapping_rejected(lab_file):
    path = lab_file(REAL_LAB.replace("{env: DMCT_ESME_CODE}", f"{{code: {TEST_CODE}}}"))
    err = raises_config_error(load_lab_config, path, env={})
    assert "must not be written in the lab config" in err.message
    assert TEST_CODE not in str(err)


def test_bad_env_var_name(lab_file):
    path = lab_file(REAL_LAB.replace("{env: DMCT_ESME_CODE}", '{env: "1-BAD"}'))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "1-BAD"),
        "installations[0].devices[0].install_code",
        "environment variable name",
    )


def test_radio_port_required_for_real_radio(lab_file):
    path = lab_file(REAL_LAB.replace("  port: /dev/ttyUSB0\n", ""))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "radio:"), "radio.port", "required key 'port'")


def test_radio_port_forbidden_for_virtual_radio(lab_file):
    path = lab_file(MINIMAL_LAB.replace("  type: virtual", "  type: virtual\n  port: /dev/ttyUSB0"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err, path, line_of(path, "/dev/ttyUSB0"), "radio.port", "not used with a virtual radio"
    )


def test_radio_port_url_scheme(lab_file):
    path = lab_file(REAL_LAB.replace("port: /dev/ttyUSB0", "port: loop://"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "loop://"), "radio.port", "unsupported port URL scheme")


def test_relative_port_path_rejected(lab_file):
    path = lab_file(REAL_LAB.replace("port: /dev/ttyUSB0", "port: ttyUSB0"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "ttyUSB0"), "radio.port", "absolute device path")


def test_usb_serial_must_be_text(lab_file):
    path = lab_file(REAL_LAB.replace('{usb_serial: "A10K5TRW"}', "{usb_serial: 12345678}"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "usb_serial"), "serial_adapters[0].port", "quote it")


def test_unknown_serial_adapter_on_device(lab_file):
    path = lab_file(MINIMAL_LAB.replace("serial: [esme-optical]", "serial: [esme-optcal]"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "esme-optcal"),
        "installations[0].devices[0].serial[0]",
        "no serial adapter named 'esme-optcal'",
    )


def test_relay_adapter_not_allowed_under_serial(lab_file):
    path = lab_file(MINIMAL_LAB.replace("serial: [esme-optical]", "serial: [esme-optical, relays]"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "serial: [esme-optical, relays]"),
        "installations[0].devices[0].serial[1]",
        "is a relay board",
    )


def test_two_optical_adapters_on_one_device(lab_file):
    text = MINIMAL_LAB.replace(
        "  - name: relays\n",
        "  - name: spare-optical\n    port: emulated\n    role: optical\n  - name: relays\n",
    ).replace("serial: [esme-optical]", "serial: [esme-optical, spare-optical]")
    path = lab_file(text)
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "serial: [esme-optical, spare"),
        "installations[0].devices[0].serial[1]",
        "at most one optical adapter",
    )


def test_relay_channel_out_of_range(lab_file):
    path = lab_file(MINIMAL_LAB.replace("channel: 1}", "channel: 5}"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "channel: 5"),
        "installations[0].devices[0].relay.channel",
        "channels 1..4",
    )


def test_relay_must_name_a_relay_board(lab_file):
    path = lab_file(MINIMAL_LAB.replace("adapter: relays", "adapter: esme-optical"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "adapter: esme-optical"),
        "installations[0].devices[0].relay.adapter",
        "has role optical, not relay",
    )


def test_channels_only_for_relay_role(lab_file):
    path = lab_file(
        MINIMAL_LAB.replace("    role: optical\n", "    role: optical\n    channels: 2\n")
    )
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "channels: 2"),
        "serial_adapters[0].channels",
        "only for role relay",
    )


def test_duplicate_adapter_name(lab_file):
    path = lab_file(MINIMAL_LAB.replace("  - name: relays", "  - name: esme-optical"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "- name: esme-optical", 2),
        "serial_adapters[1].name",
        "duplicate serial adapter name",
    )


def test_bad_lab_name(lab_file):
    path = lab_file(MINIMAL_LAB.replace("id: home-1", "id: Home 1"))
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "id: Home 1"), "installations[0].id", "lower-case")


def test_missing_profile_paths_dir(lab_file, tmp_path):
    path = lab_file(MINIMAL_LAB + "profile_paths:\n  - extra-profiles\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "- extra-profiles"),
        "profile_paths[0]",
        "profile directory not found",
        str(tmp_path / "extra-profiles"),
    )


def test_virtual_clock_with_real_radio(lab_file):
    path = lab_file(REAL_LAB + "clock:\n  mode: virtual\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(
        err,
        path,
        line_of(path, "mode: virtual"),
        "clock.mode",
        "virtual clock needs the virtual radio",
    )


def test_clock_start_needs_timezone(lab_file):
    path = lab_file(MINIMAL_LAB + "clock:\n  start: 2026-01-05T09:00:00\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "start:"), "clock.start", "timezone")


def test_clock_start_only_for_virtual(lab_file):
    path = lab_file(REAL_LAB + "clock:\n  mode: real\n  start: 2026-01-05T09:00:00+00:00\n")
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "start:"), "clock.start", "only a virtual clock")


def test_no_installations(lab_file):
    text = (
        MINIMAL_LAB[: MINIMAL_LAB.index("installations:")]
        + "installations: []\ndmc: REF-DMC-001\ninstallation_status: dormant\n"
    )
    path = lab_file(text)
    err = raises_config_error(load_lab_config, path, env={})
    assert_error(err, path, line_of(path, "installations:"), "installations", "at least 1 item")


def test_several_errors_first_in_file_order_and_others_kept(lab_file):
    text = MINIMAL_LAB.replace("bench: test-bench", "bench: test-bench\nseed: x").replace(
        "00-1B-C5-0C-00-00-00-02", "nope"
    )
    path = lab_file(text)
    err = raises_config_error(load_lab_config, path, env={})
    assert err.field == "seed"
    assert [e.field for e in err.others] == ["installations[0].devices[1].eui64"]
    assert err.others[0].line > err.line


def test_select_overrides_dmc_and_status(lab_file):
    lab = load_lab_config(lab_file(MINIMAL_LAB), env={})
    other = lab.select(["ITRON-DMC-001"], ["active", "dormant"])
    assert other.dmc_ids == ["ITRON-DMC-001"]
    assert other.installation_statuses == ["active", "dormant"]
    assert other.catalogue is lab.catalogue
    err = raises_config_error(lab.select, ["NOPE"])
    assert err.field == "dmc" and "given on the command line" in err.message


def test_select_rechecks_pinned_profiles(lab_file):
    path = lab_file(
        MINIMAL_LAB.replace(
            "      - role: ESME\n", "      - role: ESME\n        profile: ref-esme-1.0.0\n"
        )
    )
    lab = load_lab_config(path, env={})
    err = raises_config_error(lab.select, ["ACLARA-IOC-DMC-001"])
    assert err.field == "installations[0].devices[0].profile"
    assert "ACLARA-IOC-DMC-001 (given on the command line) needs" in err.message


def test_warnings_for_dmc_roles_missing_on_bench(lab_file):
    lab = load_lab_config(lab_file(MINIMAL_LAB), env={})
    notes = lab.warnings()
    assert any("has a PPMID but no installation has one" in n for n in notes)


def test_config_error_is_not_a_traceback_for_cli(lab_file):
    """What the CLI prints: exactly one line."""
    path = lab_file(MINIMAL_LAB.replace("type: virtual", "type: zigbee"))
    err = raises_config_error(load_lab_config, path, env={})
    assert str(err).count("\n") == 0
    assert isinstance(err, ConfigError)
    assert "must be one of 'virtual', 'ezsp', 'znp' or 'deconz'" in str(err)


def test_model_dump_reads_like_the_yaml_and_holds_no_secret(lab_file, recwarn):
    import json

    lab = load_lab_config(LAB_DIR / "example-bench.yaml", env={})
    data = json.loads(lab.model_dump_json())
    assert not [w for w in recwarn if "serializ" in str(w.message).lower()]
    devices = data["installations"][0]["devices"]
    assert devices[0]["install_code"] == {"env": "DMCT_ESME_INSTALL_CODE"}
    assert devices[2]["install_code"] == {"secret": "bench1-ppmid"}
    assert data["serial_adapters"][0]["port"] == {"usb_serial": "A10K5TRW"}
    emulated = json.loads(load_lab_config(default_lab_config_path(), env={}).model_dump_json())
    assert emulated["serial_adapters"][0]["port"] == "emulated"
    assert emulated["clock"]["start"] == "2026-01-05T09:00:00+00:00"


def test_code_pasted_into_another_field_is_not_echoed(lab_file):
    path = lab_file(MINIMAL_LAB.replace("dmc: REF-DMC-001", f"dmc: {TEST_CODE}"))
    err = raises_config_error(load_lab_config, path, env={})
    assert err.field == "dmc"
    assert TEST_CODE not in str(err) and "not shown" in str(err)


def test_broken_lab_profile_dir_reported_with_lab_errors(lab_file, tmp_path):
    broken = write(tmp_path / "extra" / "models" / "x.yaml", "id: [oops\n")
    path = lab_file(MINIMAL_LAB + "profile_paths: [extra]\nseed: -1.5\n")
    err = raises_config_error(load_lab_config, path, env={})
    # Shape errors of the lab file stop before the catalogue is read ...
    assert err.field == "seed"
    path = lab_file(
        MINIMAL_LAB.replace("00-1B-C5-0C-00-00-00-02", "00-1B-C5-0C-00-00-00-01")
        + "profile_paths: [extra]\n"
    )
    err = raises_config_error(load_lab_config, path, env={})
    # ... cross-checks of the lab file come first, then the catalogue file's error.
    assert err.file == str(path) and err.field == "installations[0].devices[1].eui64"
    assert [e.file for e in err.others] == [str(broken)]


def test_warnings_for_mixed_without_both_meters(lab_file):
    text = MINIMAL_LAB.replace("installation_status: dormant", "installation_status: mixed")
    gsme = MINIMAL_LAB[MINIMAL_LAB.index("      - role: GSME") : MINIMAL_LAB.index("dmc:")]
    text = text.replace(gsme, "")
    lab = load_lab_config(lab_file(text), env={})
    assert any("mixed installations need an ESME and a GSME" in n for n in lab.warnings())
