"""Device adapters: how the S1SP turns a validated Service Request into HAN operations.

The S1SP model (:mod:`harness.dcc.s1sp`) does what every device shares: schema, roles,
signatures, replay, inventory. Everything model-specific is an adapter, chosen by the device
profile's ``adapter`` name (``smart-energy`` unless a profile says otherwise). A lab plugs in the
adapter of a real device model by registering it under the ``smets1_dmct.adapters`` entry point
group: a class implementing :class:`DeviceAdapter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.dcc.alerts import AlertStream
    from harness.dcc.catalogue import SrCatalogue
    from harness.dcc.inventory import DeviceRecord, Inventory
    from harness.dcc.keys import Keystore
    from harness.dcc.requests import ServiceRequest
    from harness.dcc.tunnel import TunnelClient
    from harness.han.chf import Chf

ENTRY_POINT_GROUP = "smets1_dmct.adapters"
DEFAULT_ADAPTER = "smart-energy"


@dataclass
class AlertSpec:
    """An alert an adapter wants raised: the S1SP stamps and publishes it."""

    code: str
    device: str
    recipient: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdapterResult:
    """What an adapter did: a response code, a body, and alerts to raise."""

    code: str | None
    body: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    alerts: list[AlertSpec] = field(default_factory=list)


@dataclass
class AdapterContext:
    """What an adapter may use: the CHF, the tunnel, keys, inventory, alerts and the clock."""

    chf: Chf
    tunnel: TunnelClient
    keystore: Keystore
    inventory: Inventory
    catalogue: SrCatalogue
    alerts: AlertStream
    clock: Clock
    record: Callable[[str, dict[str, Any]], None]


class DeviceAdapter(Protocol):
    """Executes SRs on one device model. Implementations must not raise for device failures:
    a device that is unreachable, silent or answers garbage is a response code (E20/E21)."""

    name: str

    async def execute(
        self, ctx: AdapterContext, request: ServiceRequest, record: DeviceRecord
    ) -> AdapterResult: ...

    def supports(self, srv: str, record: DeviceRecord) -> bool:
        """False for an SRV this model cannot do after enrolment (the S1SP answers E11)."""
        ...

    def registration(self, record: DeviceRecord, installation_status: str) -> None:
        """Adjust the DCC's registration data of a device at enrolment (usually nothing)."""
        ...

    #: How the S1SP checks a network operator certificate update (see ``s1sp``):
    #: ``registration`` (against registration data) or ``slot_owner`` (against the certificate
    #: already in the slot, which strands a wrongly placed certificate: risk 9).
    credential_check: Literal["registration", "slot_owner"]


def adapter_registry() -> dict[str, Callable[[], DeviceAdapter]]:
    """Adapters by name: the built-in ones plus those registered by entry point."""
    from harness.dcc.smart_energy import SmartEnergyAdapter

    registry: dict[str, Callable[[], DeviceAdapter]] = {DEFAULT_ADAPTER: SmartEnergyAdapter}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        registry[entry.name] = entry.load()
    return registry


def adapter_for(name: str | None) -> DeviceAdapter:
    registry = adapter_registry()
    name = name or DEFAULT_ADAPTER
    try:
        return registry[name]()
    except KeyError:
        raise KeyError(f"no device adapter named {name!r}; adapters: "
                       f"{', '.join(sorted(registry))}") from None
