"""The S1SP's inventory: what the DCC knows of each enrolled device (its registration data).

Access control reads it: a supplier may send SRs only to devices it is the responsible supplier
for (E4), a device must exist (E19) and be in a status the SR allows (E5). Migration (later)
writes it; :func:`inventory_for_bench` builds the state of an installation already enrolled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from harness.config.profiles import DeviceProfile
    from harness.dcc.keys import Keystore

DeviceStatus = Literal["pending", "installed_not_commissioned", "commissioned",
                       "decommissioned", "suspended"]
#: Which supplier role is responsible for a device type (its commodity).
SUPPLIER_ROLE = {"ESME": "IS", "GSME": "GS", "PPMID": "IS", "IHD": "IS", "CHF": "IS"}
#: Which network role owns a device type's network-operator slot.
NETWORK_ROLE = {"ESME": "ED", "GSME": "GT"}


@dataclass
class DeviceRecord:
    eui: str
    device_type: str
    profile: DeviceProfile
    status: DeviceStatus = "commissioned"
    #: Responsible supplier User name per supplier role (``None``: cannot be identified).
    responsible_supplier: str | None = None
    network_operator: str | None = None
    installation_status: Literal["active", "dormant"] = "active"
    #: PPMID / IHD EUI-64s joined to this meter by 8.7.1 (Join Service).
    joined_services: set[str] = field(default_factory=set)
    #: Owner (User name) of the certificate in each of the device's slots, as the DCC holds it.
    certificates: dict[str, str] = field(default_factory=dict)


class Inventory:
    def __init__(self) -> None:
        self.devices: dict[str, DeviceRecord] = {}

    def add(self, record: DeviceRecord) -> DeviceRecord:
        self.devices[record.eui] = record
        return record

    def get(self, eui: str) -> DeviceRecord | None:
        return self.devices.get(eui)

    def of_type(self, device_type: str) -> list[DeviceRecord]:
        return [r for r in self.devices.values() if r.device_type == device_type]


def installation_status_of(device_type: str, installation_status: str,
                           dormant_meter: str = "GSME") -> Literal["active", "dormant"]:
    """A device's own status in its installation. In a mixed installation (its meters differ
    in status) ``dormant_meter`` is dormant and every other device active."""
    if installation_status == "mixed":
        return "dormant" if device_type == dormant_meter else "active"
    return "dormant" if installation_status == "dormant" else "active"


def inventory_for_bench(
    devices: dict[str, tuple[str, DeviceProfile]],
    keystore: Keystore,
    installation_status: str,
    dormant_meter: str = "GSME",
) -> Inventory:
    """An enrolled installation: every device commissioned, suppliers and operators registered.

    ``devices`` maps EUI-64 to ``(device type, profile)``. In a mixed installation the meter
    ``dormant_meter`` (the lab config installation's) is dormant and the other active.
    """
    inventory = Inventory()
    for eui, (device_type, profile) in devices.items():
        supplier_role = SUPPLIER_ROLE.get(device_type, "IS")
        network_role = NETWORK_ROLE.get(device_type)
        meter_status = installation_status_of(device_type, installation_status, dormant_meter)
        # A bench configures only the Users it has (lab config ``dcc``): a role without a User
        # leaves the device without a registered supplier / operator (E4 for anyone else).
        supplier = _user_name(keystore, supplier_role)
        operator = _user_name(keystore, network_role) if network_role else None
        certificates = {"supplier": supplier} if supplier is not None else {}
        if operator is not None:
            certificates["network_operator"] = operator
        inventory.add(DeviceRecord(
            eui=eui, device_type=device_type, profile=profile,
            responsible_supplier=supplier, network_operator=operator,
            installation_status=meter_status,
            certificates=certificates,
        ))
    return inventory


def _user_name(keystore: Keystore, role: str) -> str | None:
    try:
        return keystore.user_for_role(role).name
    except KeyError:
        return None
