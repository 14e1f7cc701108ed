"""Which SRV case applies to the DMC under test: decided at collection from data alone.

Every SRV of the SR catalogue is paired with every device type the catalogue lets it target
(CHF for 8.9 and 8.11), so the case ids (``<srv>-<ROLE>``) are the same for every DMC and a
testing issue registry can name them. Whether a pair is *supported* comes from the profile of
that role in the DMC: its ``srvs`` minus ``expectations.restricted_srvs``. Nothing here reads a
profile's ``emulation`` section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.dcc.catalogue import load_sr_catalogue
from harness.dcc.inventory import NETWORK_ROLE, SUPPLIER_ROLE

if TYPE_CHECKING:
    from harness.config.catalogue import Catalogue
    from harness.config.profiles import DeviceProfile, Dmc
    from harness.dcc.catalogue import SrCatalogue, SrvDefinition

#: Roles that may read any device their SRV allows without being responsible for it.
READ_ONLY_ROLES = ("ES", "RSA")
#: SRVs that change a device's configuration: sent twice in a bench day by the repeat case.
CONFIGURATION_SRVS = ("1.1.1", "6.5", "6.7", "6.11", "7.9")


@dataclass(frozen=True)
class Target:
    """One SRV sent to one device role."""

    srv: str
    role: str

    @property
    def id(self) -> str:
        return f"{self.srv}-{self.role}"


def targets(catalogue: SrCatalogue, srvs: tuple[str, ...] | None = None) -> list[Target]:
    """Every (SRV, device type) pair of the catalogue, in catalogue order."""
    return [Target(srv, device_type)
            for srv, definition in catalogue.srvs.items()
            if srvs is None or srv in srvs
            for device_type in definition.device_types]


def permitted_role(definition: SrvDefinition, device_type: str) -> str | None:
    """The User Role that sends ``definition``'s SRV to a device of ``device_type``: the
    device's supplier, else its network operator, else a read-only role; ``None`` if the
    catalogue permits none of them."""
    for role in (SUPPLIER_ROLE.get(device_type), NETWORK_ROLE.get(device_type),
                 *READ_ONLY_ROLES):
        if role is not None and role in definition.roles:
            return role
    return None


@dataclass(frozen=True)
class Support:
    """Whether the DMC must support an SRV on a role, and why (for reasons and messages)."""

    supported: bool
    why: str


def support(profile: DeviceProfile, srv: str) -> Support:
    where = f"{profile.describe()} ({profile.id})"
    if srv in profile.expectations.restricted_srvs:
        return Support(False, f"SR {srv} is restricted on {where}: expectations.restricted_srvs")
    catalogue = load_sr_catalogue()
    if srv in catalogue and (catalogue[srv].all_models or catalogue[srv].records_only):
        return Support(True, f"SR {srv} is carried out by the DCC on its own records (the "
                       f"catalogue's all_models / records_only), so available on {where} "
                       "whatever its srvs")
    if srv not in profile.srvs:
        return Support(False, f"SR {srv} is not in the srvs of {where}")
    return Support(True, f"SR {srv} is in the srvs of {where}")


@dataclass(frozen=True)
class Applicability:
    """What a case does for the DMC under test: run, or be skipped with ``skip`` as reason."""

    target: Target
    support: Support | None
    skip: str | None = None


def applicability(target: Target, sr_catalogue: SrCatalogue, dmc: Dmc,
                  catalogue: Catalogue, *, want_supported: bool) -> Applicability:
    """Whether the supported (``want_supported``) or the unsupported case of ``target``
    applies to ``dmc``. A DMC without the role is left to the ``device`` marker (the plugin
    reports it as not applicable before any fixture runs)."""
    definition = sr_catalogue[target.srv]
    if permitted_role(definition, target.role) is None:
        return Applicability(target, None, f"not applicable: no User Role of the catalogue "
                             f"({', '.join(definition.roles)}) acts on a {target.role}")
    profile = dmc.profile_for(target.role, catalogue)
    if profile is None:
        return Applicability(target, None)  # the device marker skips it
    found = support(profile, target.srv)
    if found.supported != want_supported:
        wanted = "supported" if want_supported else "unsupported"
        return Applicability(target, found, f"not applicable: only for {wanted} SRVs; "
                             f"{found.why}")
    return Applicability(target, found)


def daily_limit(profile: DeviceProfile, srv: str) -> int | None:
    """The documented per-day limit of ``srv`` on the model (``expectations``), if any."""
    return profile.expectations.srv_daily_limits.get(srv)
