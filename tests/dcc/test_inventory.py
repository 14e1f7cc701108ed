"""The DCC's registration data of an enrolled installation (``inventory_for_bench``): each
device's own installation status follows the installation's, and in a mixed installation the
meter named dormant (either one) is dormant and every other device active; the responsible
supplier is registered whichever meter is dormant (losing it is a device defect's doing)."""

from __future__ import annotations

import pytest

from harness.config import load_catalogue
from harness.dcc.inventory import installation_status_of, inventory_for_bench
from harness.dcc.keys import Keystore

ROLES = ("CHF", "ESME", "GSME", "PPMID", "IHD")


@pytest.fixture(scope="module")
def devices() -> dict:
    catalogue = load_catalogue()
    dmc = catalogue.dmc("REF-DMC-001")
    return {f"00-1B-C5-0C-00-00-00-0{n}": (role, dmc.profile_for(role, catalogue))
            for n, role in enumerate(ROLES, start=1)}


@pytest.mark.parametrize(("status", "dormant_meter", "dormant"), [
    ("mixed", "GSME", {"GSME"}),
    ("mixed", "ESME", {"ESME"}),
    ("dormant", "ESME", set(ROLES)),  # dormant_meter is only for mixed installations
    ("active", "ESME", set()),
])
def test_installation_status_per_device(devices, status, dormant_meter, dormant):
    inventory = inventory_for_bench(devices, Keystore.test_pki(0), status, dormant_meter)
    statuses = {r.device_type: r.installation_status for r in inventory.devices.values()}
    assert statuses == {role: "dormant" if role in dormant else "active" for role in ROLES}
    assert all(installation_status_of(role, status, dormant_meter) == statuses[role]
               for role in ROLES)
    suppliers = {r.device_type: r.responsible_supplier for r in inventory.devices.values()}
    assert suppliers["ESME"] and suppliers["GSME"] and suppliers["ESME"] != suppliers["GSME"]


def test_the_default_dormant_meter_is_the_gsme(devices):
    inventory = inventory_for_bench(devices, Keystore.test_pki(0), "mixed")
    assert [r.device_type for r in inventory.devices.values()
            if r.installation_status == "dormant"] == ["GSME"]
