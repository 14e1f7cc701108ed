"""A DMC's ``population`` (installs and devices per EPCL entry): shipped figures, rejections."""

from __future__ import annotations

import pytest

from harness.config import load_catalogue, validate_all

from .helpers import assert_error, line_of, raises_config_error, write

DMC = """
id: ACME-DMC-001
name: Acme test DMC
devices:
  CHF: ref-chf-1.0.0
  ESME: ref-esme-1.0.0
  IHD: ref-ihd-1.0.0
epcl:
  dormant: PH-ACME-1
population:
  dormant:
    at_target_firmware: {installs: 10, devices: 20}
    upgradable_to_target_firmware: {installs: 4, devices: 4}
    source: lab survey
source: lab
"""


def test_shipped_populations_cite_the_seeds():
    catalogue = load_catalogue()
    elster = catalogue.dmc("HONEYWELL-ELSTER-DMC-001").population_for("dormant")
    assert elster is not None and elster.at_target_firmware.installs == 50_000
    assert "seed 001" in elster.source
    itron = catalogue.dmc("ITRON-DMC-001")
    assert itron.population_for("active").at_target_firmware.installs == 24_000
    assert itron.population_for("dormant") is None  # the seed gives no figure
    liberty = catalogue.dmc("SECURE-LIBERTY110-DMC-001").population_for("dormant")
    assert liberty.upgradable_to_target_firmware.installs == 66_000
    assert "seed 004" in liberty.source
    assert catalogue.dmc("ACLARA-IOC-DMC-001").population_for("dormant") is None
    for dmc in catalogue.dmcs.values():
        for status in ("active", "dormant", "mixed"):
            population = dmc.population_for(status)
            if population is not None:
                assert dmc.epcl_id(status) is not None
                # Every shipped device count is an estimate or invented, and says so.
                assert population.placeholder, f"{dmc.id}/{status}"


def test_a_lab_dmc_with_a_population_loads(tmp_path):
    write(tmp_path / "extra" / "dmcs" / "x.yaml", DMC)
    dmc = load_catalogue([tmp_path / "extra"]).dmc("ACME-DMC-001")
    population = dmc.population_for("dormant")
    assert (population.at_target_firmware.installs, population.at_target_firmware.devices) == (
        10, 20)
    assert population.placeholder is False and dmc.population_for("active") is None
    assert dmc.population_for("retired") is None


@pytest.mark.parametrize(
    ("old", "new", "anchor", "field", "fragments"),
    [
        (  # a population without an EPCL entry for its status
            "  dormant:\n    at_target", "  mixed:\n    at_target", "  mixed:",
            "population.mixed", ("no EPCL entry for mixed installations", "epcl.mixed"),
        ),
        (
            "{installs: 10, devices: 20}", "{installs: 10, devices: 9}", "at_target_firmware",
            "population.dormant.at_target_firmware.devices",
            ("9 devices in 10 installations", "at least one device"),
        ),
        (  # the DMC has 3 devices: 4 installations hold at most 12
            "{installs: 4, devices: 4}", "{installs: 4, devices: 13}", "upgradable_to",
            "population.dormant.upgradable_to_target_firmware.devices",
            ("at most 3 devices (CHF, ESME, IHD)",),
        ),
        (
            "{installs: 10, devices: 20}", "{installs: -1, devices: 20}", "at_target_firmware",
            "population.dormant.at_target_firmware.installs", ("must be at least 0",),
        ),
        (
            "{installs: 10, devices: 20}", '{installs: "50,000", devices: 20}',
            "at_target_firmware", "population.dormant.at_target_firmware.installs",
            ("expected an integer", "'50,000'"),
        ),
        (
            "    upgradable_to_target_firmware: {installs: 4, devices: 4}\n", "", ("dormant:", 2),
            "population.dormant.upgradable_to_target_firmware",
            ("required key 'upgradable_to_target_firmware' is missing",),
        ),
        (
            "    source: lab survey\n", "    source: lab survey\n    installs: 3\n", "installs: 3",
            "population.dormant.installs", ("unknown key 'installs'", "at_target_firmware"),
        ),
        (
            "  dormant:\n    at_target", "  retired:\n    at_target", "retired:",
            "population.retired", ("unknown key 'retired'", "dormant"),
        ),
    ],
)
def test_population_rejections(tmp_path, old, new, anchor, field, fragments):
    assert old in DMC
    path = write(tmp_path / "extra" / "dmcs" / "x.yaml", DMC.replace(old, new))
    err = raises_config_error(load_catalogue, [tmp_path / "extra"])
    fragment, occurrence = anchor if isinstance(anchor, tuple) else (anchor, 1)
    assert_error(err, path, line_of(path, fragment, occurrence), field, *fragments)


def test_every_population_problem_is_listed(tmp_path):
    text = DMC.replace("devices: 20}", "devices: 9}").replace("devices: 4}", "devices: 13}")
    write(tmp_path / "extra" / "dmcs" / "x.yaml", text)
    fields = [e.field for e in validate_all([tmp_path / "extra"])]
    assert fields == ["population.dormant.at_target_firmware.devices",
                      "population.dormant.upgradable_to_target_firmware.devices"]
