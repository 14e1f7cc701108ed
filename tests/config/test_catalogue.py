"""The device profile / DMC catalogue: the shipped data validates, lab additions, rejections."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import (
    UnknownIdError,
    load_catalogue,
    load_lab_config,
    validate_all,
)
from harness.config.catalogue import packaged_profiles_dir
from harness.config.types import SE_DEVICE_IDS

from .helpers import MINIMAL_LAB, assert_error, line_of, raises_config_error, write

NEW_PROFILE = """
id: acme-ihd-2.0
device_type: IHD
manufacturer: Acme
model: Glow 2
firmware:
  version: "2.0"
source: "lab purchase, 2026"
srvs: ["8.1.1"]
"""

NEW_DMC = """
id: ACME-DMC-001
name: Acme test DMC
devices:
  CHF: ref-chf-1.0.0
  ESME: ref-esme-1.0.0
  IHD: acme-ihd-2.0
epcl:
  dormant: PH-ACME-1
source: lab
"""


# -- shipped data ---------------------------------------------------------------------------------


def test_packaged_catalogue_validates():
    assert validate_all() == []


def test_packaged_catalogue_content():
    catalogue = load_catalogue()
    assert set(catalogue.dmcs) == {
        "REF-DMC-001",
        "REF-DMC-001-SE1",
        "HONEYWELL-ELSTER-DMC-001",
        "ITRON-DMC-001",
        "ACLARA-IOC-DMC-001",
        "SECURE-LIBERTY110-DMC-001",
    }
    for dmc in catalogue.dmcs.values():
        for role, _profile_id in dmc.devices.items():
            assert dmc.profile_for(role, catalogue).device_type == role
        assert dmc.source
    for profile in catalogue.profiles.values():
        assert profile.source
        assert profile.zigbee.device_id == SE_DEVICE_IDS[profile.device_type]
        assert (profile.source_file is not None and profile.line == 1) or profile.line > 0


def test_reference_dmc_is_healthy():
    catalogue = load_catalogue()
    ref = catalogue.dmc("REF-DMC-001")
    assert {ref.epcl_id(s) for s in ("active", "dormant", "mixed")} == {
        "PH-REF-001-A",
        "PH-REF-001-D",
        "PH-REF-001-M",
    }
    default = type(catalogue.profile("ref-esme-1.0.0").emulation)
    for role in ref.roles:
        profile = ref.profile_for(role, catalogue)
        assert profile.manufacturer == "Reference"
        assert profile.model_placeholder and profile.firmware.placeholder
        emulation = profile.emulation.model_dump(exclude={"meter"})
        healthy = default.model_validate({}).model_dump(exclude={"meter"})
        assert emulation == healthy, role
    assert catalogue.profile("ref-esme-1.0.0").expectations.prepayment_capable


def test_seeded_behaviours_are_switched_on():
    c = load_catalogue()
    chf = c.dmc("HONEYWELL-ELSTER-DMC-001").profile_for("CHF", c)
    limit = chf.emulation.chf.join_time_period_limit
    assert (limit.max_s, limit.over_limit) == (255, "reject")
    for role in ("ESME", "GSME"):
        hel = c.dmc("HONEYWELL-ELSTER-DMC-001").profile_for(role, c)
        assert hel.emulation.missing_response_code_rate == 0.05
        assert hel.emulation.cos_alert_loss_rate == 0.34
        itron = c.dmc("ITRON-DMC-001").profile_for(role, c)
        assert itron.emulation.cos_alert_loss_rate > 0
        aclara = c.dmc("ACLARA-IOC-DMC-001").profile_for(role, c)
        assert aclara.emulation.key_rotation.confirm_first_attempt is False
        assert aclara.emulation.key_rotation.min_repeat_interval_s == 300
        assert aclara.emulation.dormant_supplier_identifiable_in_mixed is False
    itron_gsme = c.dmc("ITRON-DMC-001").profile_for("GSME", c)
    assert itron_gsme.emulation.srv_daily_limits == {"6.7": 1}
    itron_esme = c.dmc("ITRON-DMC-001").profile_for("ESME", c)
    assert itron_esme.emulation.alerts.voltage_threshold_settable is False
    assert itron_esme.emulation.alerts.power_voltage_alerts_per_hour > 0
    liberty = c.dmc("SECURE-LIBERTY110-DMC-001").profile_for("ESME", c)
    assert liberty.model == "Liberty 110" and not liberty.model_placeholder
    assert liberty.firmware.placeholder
    for block in (liberty.expectations, liberty.emulation):
        assert block.restricted_srvs == ["7.5", "7.6", "7.9", "7.10"]
        assert block.boost_from_han_config is True
    assert "7.11" in liberty.srvs and "7.11" not in liberty.expectations.restricted_srvs


def test_epcl_statuses_of_seeded_dmcs():
    c = load_catalogue()
    assert [
        s for s in ("active", "dormant", "mixed") if c.dmc("HONEYWELL-ELSTER-DMC-001").epcl_id(s)
    ] == ["dormant"]
    assert [s for s in ("active", "dormant", "mixed") if c.dmc("ITRON-DMC-001").epcl_id(s)] == [
        "active",
        "dormant",
    ]
    assert all(c.dmc("ACLARA-IOC-DMC-001").epcl_id(s) for s in ("active", "dormant", "mixed"))


def test_substantive_equivalence():
    c = load_catalogue()
    child = c.dmc("REF-DMC-001-SE1")
    assert child.is_substantively_equivalent
    assert c.tested_parent("REF-DMC-001-SE1").id == "REF-DMC-001"
    assert [d.id for d in c.children_of("REF-DMC-001")] == ["REF-DMC-001-SE1"]


def test_unknown_ids_raise_key_error_with_close_ids():
    c = load_catalogue()
    with pytest.raises(KeyError) as info:
        c.dmc("REF-DMC-01")
    assert isinstance(info.value, UnknownIdError)
    assert str(info.value).startswith("unknown DMC id 'REF-DMC-01'; did you mean REF-DMC-001,")
    with pytest.raises(KeyError, match=r"ref-esme-1\.0\.0"):
        c.profile("ref-esme")


def test_every_emulated_behaviour_defaults_off():
    from harness.config.profiles import Emulation

    e = Emulation.model_validate({})
    assert e.meter is None
    assert e.chf.join_time_period_limit is None
    assert e.key_rotation.confirm_first_attempt is True
    assert e.srv_daily_limits == {} and e.restricted_srvs == []
    assert e.missing_response_code_rate == 0 and e.cos_alert_loss_rate == 0
    assert e.boost_from_han_config is False
    assert e.dormant_supplier_identifiable_in_mixed and e.dno_certificate_replaceable
    assert e.alerts.power_voltage_alerts_per_hour == 0 and e.alerts.voltage_threshold_settable
    assert e.response_delay_s == 0


# -- lab additions --------------------------------------------------------------------------------


def test_profile_paths_add_a_model_and_a_dmc(tmp_path, lab_file):
    write(tmp_path / "lab-profiles" / "models" / "acme-ihd.yaml", NEW_PROFILE)
    write(tmp_path / "lab-profiles" / "dmcs" / "ACME-DMC-001.yaml", NEW_DMC)
    catalogue = load_catalogue([tmp_path / "lab-profiles"])
    profile = catalogue.profile("acme-ihd-2.0")
    assert profile.zigbee.device_id == 0x0502  # In-Premise Display, by default
    assert profile.expectations.optical_port is False
    assert profile.source_file == tmp_path / "lab-profiles" / "models" / "acme-ihd.yaml"
    assert catalogue.dmc("ACME-DMC-001").profile_for("IHD", catalogue) is profile
    assert "REF-DMC-001" in catalogue.dmcs  # packaged ones stay

    text = (
        MINIMAL_LAB.replace("dmc: REF-DMC-001", "dmc: ACME-DMC-001")
        + "profile_paths: [lab-profiles]\n"
    )
    lab = load_lab_config(lab_file(text), env={})
    assert lab.catalogue.dmc("ACME-DMC-001").name == "Acme test DMC"
    assert lab.profile_paths == [tmp_path / "lab-profiles"]


def test_flat_profile_path_classifies_by_content(tmp_path):
    write(tmp_path / "flat" / "acme-ihd.yaml", NEW_PROFILE)
    write(tmp_path / "flat" / "acme-dmc.yaml", NEW_DMC)
    catalogue = load_catalogue([tmp_path / "flat"])
    assert "acme-ihd-2.0" in catalogue.profiles and "ACME-DMC-001" in catalogue.dmcs


def test_duplicate_id_across_files_names_both(tmp_path):
    copy = write(
        tmp_path / "extra" / "models" / "my-ref-esme.yaml",
        NEW_PROFILE.replace("acme-ihd-2.0", "ref-esme-1.0.0"),
    )
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    packaged = packaged_profiles_dir() / "models" / "ref-esme.yaml"
    assert_error(
        err,
        copy,
        1,
        "id",
        "duplicate profile id 'ref-esme-1.0.0'",
        f"{packaged}:{line_of(packaged, 'id:')}",
    )


def test_duplicate_dmc_id(tmp_path):
    copy = write(
        tmp_path / "extra" / "dmcs" / "x.yaml", NEW_DMC.replace("ACME-DMC-001", "REF-DMC-001")
    )
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    assert_error(
        err, copy, line_of(copy, "id:"), "id", "duplicate DMC id 'REF-DMC-001'", "REF-DMC-001.yaml"
    )


def test_dmc_with_unknown_profile(tmp_path):
    dmc = write(tmp_path / "extra" / "dmcs" / "x.yaml", NEW_DMC)
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    assert_error(err, dmc, line_of(dmc, "IHD:"), "devices.IHD", "unknown profile id 'acme-ihd-2.0'")


def test_dmc_role_mismatch(tmp_path):
    dmc = write(
        tmp_path / "extra" / "dmcs" / "x.yaml",
        NEW_DMC.replace("IHD: acme-ihd-2.0", "IHD: ref-ppmid-1.0.0"),
    )
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    assert_error(err, dmc, line_of(dmc, "IHD:"), "devices.IHD", "is a PPMID", "not a IHD")


def test_dmc_without_chf(tmp_path):
    dmc = write(
        tmp_path / "extra" / "dmcs" / "x.yaml",
        NEW_DMC.replace("  CHF: ref-chf-1.0.0\n", "").replace("acme-ihd-2.0", "ref-ihd-1.0.0"),
    )
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    assert_error(err, dmc, line_of(dmc, "devices:"), "devices.CHF", "required key 'CHF' is missing")


def test_substantive_equivalence_cycle_and_unknown_parent(tmp_path):
    base = NEW_DMC.replace("IHD: acme-ihd-2.0", "IHD: ref-ihd-1.0.0")
    a = write(
        tmp_path / "extra" / "dmcs" / "a.yaml",
        base.replace("ACME-DMC-001", "A") + "substantively_equivalent_to: B\n",
    )
    write(
        tmp_path / "extra" / "dmcs" / "b.yaml",
        base.replace("ACME-DMC-001", "B") + "substantively_equivalent_to: A\n",
    )
    write(
        tmp_path / "extra" / "dmcs" / "c.yaml",
        base.replace("ACME-DMC-001", "C") + "substantively_equivalent_to: REF-DMC-01\n",
    )
    errors = validate_all([tmp_path / "extra"])
    assert [e.field for e in errors] == ["substantively_equivalent_to"] * 3
    assert errors[0].file == str(a) and "cycle: A -> B -> A" in errors[0].message
    assert "unknown DMC id 'REF-DMC-01'" in errors[2].message


def test_target_firmware_role_must_be_in_dmc(tmp_path):
    dmc = write(
        tmp_path / "extra" / "dmcs" / "x.yaml",
        NEW_DMC.replace("acme-ihd-2.0", "ref-ihd-1.0.0") + 'target_firmware:\n  GSME: "2"\n',
    )
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    assert_error(err, dmc, line_of(dmc, "GSME:"), "target_firmware.GSME", "no GSME")


@pytest.mark.parametrize(
    ("old", "new", "anchor", "field", "fragments"),
    [
        ('srvs: ["8.1.1"]', "srvs: [8.11]", "srvs:", "srvs[0]", ("must be quoted", "8.11")),
        ('srvs: ["8.1.1"]', 'srvs: ["8-11"]', "srvs:", "srvs[0]", ('looks like "8.11"',)),
        ("device_type: IHD", "device_type: HUB", "device_type", "device_type", ("must be one of",)),
        (
            'version: "2.0"',
            "version: 2.10",
            "version",
            "firmware.version",
            ("expected a string", "quote it"),
        ),
        (
            None,
            "zigbee:\n  server_clusters: [basic, metring]",
            "server_clusters",
            "zigbee.server_clusters[1]",
            ("unknown cluster 'metring'", "metering"),
        ),
        (None, "zigbee:\n  endpoint: 241", "endpoint", "zigbee.endpoint", ("at most 240",)),
        (
            None,
            "optical:\n  flag_id: ACM\n  identification: X",
            "optical:",
            "optical",
            ("only ESME and GSME",),
        ),
        (
            None,
            "emulation:\n  meter: {demand: 1}",
            "meter:",
            "emulation.meter",
            ("only ESME and GSME",),
        ),
        (
            None,
            "emulation:\n  cos_alert_loss_rate: 1.5",
            "cos_alert",
            "emulation.cos_alert_loss_rate",
            ("at most 1",),
        ),
        (
            None,
            "emulation:\n  chf: {join_time_period_limit: {max_s: 255}}",
            "chf:",
            "emulation.chf",
            ("only a CHF",),
        ),
        (
            None,
            'expectations:\n  restricted_srvs: ["7.9"]',
            "restricted_srvs",
            "expectations.restricted_srvs[0]",
            ("not in this profile's srvs",),
        ),
        (
            None,
            'emulation:\n  srv_daily_limits: {"6.7": 1}',
            '"6.7"',
            'emulation.srv_daily_limits["6.7"]',
            ("not in this profile's srvs",),
        ),
        (
            None,
            "emulation:\n  srv_daily_limits: {6.7: 1}",
            "6.7",
            'emulation.srv_daily_limits["6.7"]',
            ("invalid key", "must be quoted"),
        ),
        (
            None,
            "emulation:\n  flakiness: 0.5",
            "flakiness",
            "emulation.flakiness",
            ("unknown key 'flakiness'", "cos_alert_loss_rate"),
        ),
        (
            None,
            "expectations:\n  optical_port: 1",
            "optical_port",
            "expectations.optical_port",
            ("expected true or false",),
        ),
        (
            None,
            "expectations:\n  join_time_period_max_s: 255",
            "join_time_period_max_s",
            "expectations.join_time_period_max_s",
            ("only a CHF",),
        ),
    ],
)
def test_profile_rejections(tmp_path, old, new, anchor, field, fragments):
    text = NEW_PROFILE + new + "\n" if old is None else NEW_PROFILE.replace(old, new)
    path = write(tmp_path / "extra" / "models" / "p.yaml", text)
    errors = validate_all([tmp_path / "extra"])
    assert errors, new
    assert_error(errors[0], path, line_of(path, anchor), field, *fragments)


def test_profile_missing_source(tmp_path):
    path = write(
        tmp_path / "extra" / "models" / "p.yaml",
        NEW_PROFILE.replace('source: "lab purchase, 2026"\n', ""),
    )
    (err,) = validate_all([tmp_path / "extra"])
    assert_error(err, path, 1, "source", "required key 'source' is missing")


def test_validate_all_collects_errors_from_every_file(tmp_path):
    a = write(
        tmp_path / "extra" / "models" / "a.yaml",
        NEW_PROFILE.replace("device_type: IHD", "device_type: TV"),
    )
    b = write(tmp_path / "extra" / "models" / "b.yaml", "id: [broken\n")
    c = write(tmp_path / "extra" / "dmcs" / "c.yaml", NEW_DMC.replace("name: Acme test DMC\n", ""))
    errors = validate_all([tmp_path / "extra"])
    assert {e.file for e in errors} >= {str(a), str(b), str(c)}
    assert any(e.field == "name" and e.file == str(c) for e in errors)
    # load_catalogue stops at the first but keeps the rest.
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    assert len(err.all) == len(errors)


def test_missing_extra_dir(tmp_path):
    err = raises_config_error(load_catalogue, [tmp_path / "nope"])
    assert_error(err, tmp_path / "nope", None, "(document)", "profile directory not found")


def test_packaged_dir_is_inside_the_distribution():
    root = packaged_profiles_dir()
    assert (root / "__init__.py").is_file()
    assert (root / "README.md").is_file()
    assert Path(root).name == "device_profiles"


def test_optical_register_defaults_by_type(tmp_path):
    c = load_catalogue()
    assert c.profile("ref-esme-1.0.0").optical_register == "1.8.0"
    assert c.profile("ref-gsme-1.0.0").optical_register == "7-0:3.0.0"
    assert c.profile("ref-ihd-1.0.0").optical_register is None
    text = NEW_PROFILE.replace("device_type: IHD", "device_type: ESME") + (
        "optical:\n  flag_id: ACM\n  identification: X1\n  register_obis: 1.8.1\n"
    )
    write(tmp_path / "extra" / "models" / "p.yaml", text)
    assert load_catalogue([tmp_path / "extra"]).profile("acme-ihd-2.0").optical_register == "1.8.1"
