"""The emulated S1SP adapter of a device model: DCC-side behaviours the seeds report.

In the real DCC these lived in the S1SP's per-model handling, not in the devices: responses
without a response code (91339/91340), change of supplier events without their CoS loss alert
(61224), SRVs not available after enrolment (the Liberty 110 restrictions), a dormant device's
responsible supplier that cannot be identified in a mixed installation (Aclara), and a network
operator certificate checked against the slot it is meant to replace (risk 9). On an emulated
bench the profile's ``emulation`` section switches each on, around the generic adapter.

Proportions use a random generator seeded from the bench seed, the device and the case
(:mod:`harness.emulator.seeding`), so a run is reproducible and a case's draws do not depend on
the cases before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from harness.dcc.adapters import AdapterContext, AdapterResult, DeviceAdapter
from harness.emulator.seeding import seeded_random

if TYPE_CHECKING:
    import random

    from harness.config.profiles import Emulation
    from harness.dcc.inventory import DeviceRecord
    from harness.dcc.requests import ServiceRequest


class EmulatedModelAdapter:
    """Wraps a model's adapter with its profile's DCC-side ``emulation`` settings."""

    def __init__(self, inner: DeviceAdapter, emulation: Emulation, rng: random.Random,
                 eui: str = "") -> None:
        self.inner = inner
        #: The device this adapter serves (what its generator is derived from).
        self.eui = eui
        self.emulation = emulation
        self.rng = rng
        self.name = f"emulated:{inner.name}"
        self.credential_check: Literal["registration", "slot_owner"] = (
            "registration" if emulation.dno_certificate_replaceable else "slot_owner"
        )

    def supports(self, srv: str, record: DeviceRecord) -> bool:
        """What the emulated device really does: its documented ``srvs`` and any
        ``undocumented_srvs``, less its ``restricted_srvs``."""
        if srv in self.emulation.restricted_srvs:
            return False
        return srv in self.emulation.undocumented_srvs or self.inner.supports(srv, record)

    def registration(self, record: DeviceRecord, installation_status: str) -> None:
        """Adjust what the DCC's registration data says of the device at enrolment."""
        if (installation_status == "mixed" and record.installation_status == "dormant"
                and not self.emulation.dormant_supplier_identifiable_in_mixed):
            record.responsible_supplier = None

    async def execute(
        self, ctx: AdapterContext, request: ServiceRequest, record: DeviceRecord
    ) -> AdapterResult:
        result = await self.inner.execute(ctx, request, record)
        if self.emulation.cos_alert_loss_rate:
            result.alerts = [
                a for a in result.alerts
                if a.code != "COS_LOSS" or self.rng.random() >= self.emulation.cos_alert_loss_rate
            ]
        # Only Service Responses to Users lose their code; the DCC's own operations (migration,
        # role "DCC") are not Service Responses.
        if (request.role != "DCC" and self.emulation.missing_response_code_rate
                and self.rng.random() < self.emulation.missing_response_code_rate):
            result.code = None
        return result


def emulated_adapter(inner: DeviceAdapter, emulation: Emulation, seed: int, eui: str,
                     case: str | None = None) -> EmulatedModelAdapter:
    return EmulatedModelAdapter(inner, emulation, seeded_random("s1sp", seed, eui, case), eui)
