"""The S1SP model: a Service Request in, a Service Response (and alerts) out.

The order of checks is the DCC's: DUIS schema (a failure never gets a response code: HTTP
400), the originator and its signature, the RequestID counter (replays), the User Role for the
SRV (E2), the target device (E19), the SRV for that device type and model (E11), the Command
Variant (E12), the device's status (E5), the User's authority over that device (E4). Only then
does the device's adapter act. Every outcome is a code from the one table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from harness.dcc.adapters import AdapterContext, AdapterResult, DeviceAdapter
from harness.dcc.inventory import NETWORK_ROLE, SUPPLIER_ROLE
from harness.dcc.requests import ServiceRequest, ServiceResponse
from harness.han.events import normalise_eui

if TYPE_CHECKING:
    from harness.dcc.catalogue import SrvDefinition
    from harness.dcc.inventory import DeviceRecord

LOGGER = logging.getLogger(__name__)

#: Device statuses an SRV may target; commissioning SRs also work on installed devices.
ACTIVE_STATUSES = frozenset({"commissioned"})
COMMISSIONING_SRVS = frozenset({"8.1.1", "8.11", "8.9", "11.1", "11.4"})
#: Roles whose SRVs (reads) need no responsibility for the device beyond the role check, and
#: the device types each may read (the export supplier is an electricity role).
READ_ROLES = {"ES": frozenset({"ESME"}), "RSA": frozenset({"ESME", "GSME"})}
#: 6.15.1: who may replace each kind of credential (a party replaces its own, never another's).
CREDENTIAL_OWNER_ROLES = {"SupplierCertificate": ("IS", "GS"),
                          "NetworkOperatorCertificate": ("ED", "GT")}
#: A RequestID counter is a positive integer below 2^64 (DUIS RequestIDType).
MAX_COUNTER = 2**64 - 1


class S1SP:
    """See the module docstring. ``adapters`` maps a device EUI-64 to its adapter."""

    def __init__(self, ctx: AdapterContext, adapters: dict[str, DeviceAdapter]) -> None:
        self.ctx = ctx
        self.adapters = adapters
        self._last_counter: dict[str, int] = {}

    # -- the pipeline -----------------------------------------------------------------------
    async def process(self, request: ServiceRequest) -> ServiceResponse:
        ctx = self.ctx
        catalogue = ctx.catalogue
        if request.srv not in catalogue:
            return self._reject(request, 400, f"SRV {request.srv} is not a DUIS service")
        definition = catalogue[request.srv]
        request_id_errors = _request_id_errors(request, definition)
        if request_id_errors:
            return self._reject(request, 400, "; ".join(request_id_errors))
        coded = definition.coded_failure(dict(request.params))
        if coded is not None:  # the SRV's own validation of a parameter (8.11 JoinTimePeriod)
            code, why = coded
            return self._respond(request, code, detail=why)
        errors = definition.check_parameters(dict(request.params))
        if errors:
            return self._reject(request, 400, "; ".join(errors))

        user = ctx.keystore.user_by_eui(request.request_id.originator, request.role)
        if user is None:
            return self._respond(request, "E1", detail="unknown originator "
                                 f"{request.request_id.originator} in role {request.role}")
        if not ctx.keystore.dcc.public.verify(request.body(), request.signature):
            # The S1SP acts only on what the DCC countersigned (docs/duis.md).
            what = "missing" if not request.signature else "does not verify"
            return self._respond(request, "E1", detail=f"the DCC's countersignature {what}")
        last = self._last_counter.get(user.eui)
        if last is not None and request.request_id.counter <= last:
            return self._respond(request, "E1", detail=f"RequestID counter "
                                 f"{request.request_id.counter} is not above {last} (replay)")
        self._last_counter[user.eui] = request.request_id.counter

        if request.role not in definition.roles:
            return self._respond(request, "E2", detail=f"role {request.role} may not send "
                                 f"SR {request.srv} (roles: {', '.join(definition.roles)})")
        record = ctx.inventory.get(normalise_eui(request.target))
        if record is None:
            return self._respond(request, "E19", detail=f"device {request.target} is not in "
                                 "the DCC inventory")
        adapter = self.adapters[record.eui]
        if record.device_type not in definition.device_types:
            return self._respond(request, "E11", detail=f"SR {request.srv} is not valid for a "
                                 f"{record.device_type}")
        if definition.records_only:
            if request.command_variant not in definition.command_variants:
                return self._respond(request, "E12", detail=f"Command Variant "
                                     f"{request.command_variant} not applicable to SR "
                                     f"{request.srv}")
            return self._respond(request, "I0", body=self._inventory_entry(record))
        if not definition.all_models and not adapter.supports(request.srv, record):
            return self._respond(request, "E11", detail=f"SR {request.srv} is not available "
                                 f"for {record.profile.describe()}")
        if request.command_variant not in definition.command_variants:
            return self._respond(request, "E12", detail=f"Command Variant "
                                 f"{request.command_variant} not applicable to SR {request.srv}")
        if record.status not in ACTIVE_STATUSES and not (
            request.srv in COMMISSIONING_SRVS and record.status != "decommissioned"
        ):
            return self._respond(request, "E5", detail=f"device status {record.status}")
        refusal = self._authority(request, definition, record, user.name, adapter)
        if refusal is not None:
            return self._respond(request, "E4", detail=refusal)

        result = await adapter.execute(ctx, request, record)
        return self.finish(request, result)

    @staticmethod
    def _inventory_entry(record: DeviceRecord) -> dict[str, Any]:
        """8.2 Read Inventory: what the DCC's records say of a device."""
        return {
            "DeviceID": record.eui, "DeviceType": record.device_type,
            "DeviceStatus": record.status, "InstallationStatus": record.installation_status,
            "ResponsibleSupplier": record.responsible_supplier,
            "NetworkOperator": record.network_operator,
            "Model": record.profile.describe(),
        }

    # -- access to one device ---------------------------------------------------------------
    def _authority(self, request: ServiceRequest, definition: SrvDefinition,
                   record: DeviceRecord, user: str, adapter: DeviceAdapter) -> str | None:
        """Why this User may not act on this device, or ``None``."""
        role = request.role
        credential = (request.params.get("CredentialType") if request.srv == "6.15.1"
                      else None)
        owner_roles = CREDENTIAL_OWNER_ROLES.get(str(credential))
        if owner_roles is not None and role not in owner_roles:
            return (f"a {role} User may not replace the {credential} of a device (only "
                    f"{' or '.join(owner_roles)} Users replace their own)")
        if role in ("IS", "GS"):
            if record.device_type == "CHF":
                suppliers = {r.responsible_supplier for r in self.ctx.inventory.devices.values()
                             if r.device_type != "CHF"}
                return None if user in suppliers else f"{user} supplies no meter on this HAN"
            if SUPPLIER_ROLE.get(record.device_type) != role:
                return f"a {role} User is not responsible for a {record.device_type}"
            if record.responsible_supplier is None:
                return (f"the responsible supplier of {record.eui} cannot be identified "
                        "(registration data)")
            if record.responsible_supplier != user:
                return f"{user} is not the responsible supplier of {record.eui}"
            return None
        if role in ("ED", "GT"):
            if NETWORK_ROLE.get(record.device_type) != role:
                return f"a {role} User has no network role for a {record.device_type}"
            return self._network_operator_check(request, record, user, adapter)
        if role in READ_ROLES:
            if record.device_type not in READ_ROLES[role]:
                return f"a {role} User has no business with a {record.device_type}"
            return None
        return f"role {role} has no authority over devices"

    def _network_operator_check(self, request: ServiceRequest, record: DeviceRecord,
                                user: str, adapter: DeviceAdapter) -> str | None:
        """The registration data check on network operator certificates (risk 9).

        Checked against the registration data, a wrongly placed certificate can be replaced by
        the registered operator; checked against the certificate in the slot (``slot_owner``),
        it can never be replaced, and the operator loses access to the device.
        """
        replacing = (request.srv == "6.15.1"
                     and request.params.get("CredentialType") == "NetworkOperatorCertificate")
        if adapter.credential_check == "slot_owner" and replacing:
            holder = record.certificates.get("network_operator")
            if holder is not None and holder != user:
                return (f"registration data check: {user} is not the operator whose "
                        f"certificate ({holder}) is in the slot")
            return None
        if record.network_operator != user:
            return f"{user} is not the registered network operator of {record.eui}"
        return None

    # -- responses --------------------------------------------------------------------------
    def _reject(self, request: ServiceRequest, http_status: int, detail: str) -> ServiceResponse:
        return ServiceResponse(str(request.request_id), request.srv, None, self.ctx.clock.now(),
                               http_status=http_status, detail=detail)

    def _respond(self, request: ServiceRequest, code: str | None, *,
                 body: dict[str, Any] | None = None, detail: str = "") -> ServiceResponse:
        return ServiceResponse(str(request.request_id), request.srv, code, self.ctx.clock.now(),
                               body=body or {}, detail=detail)

    def finish(self, request: ServiceRequest, result: AdapterResult) -> ServiceResponse:
        """The response to an executed request; the adapter's alerts are raised now."""
        for spec in result.alerts:
            self.ctx.alerts.emit(spec.code, spec.device, recipient=spec.recipient,
                                 **spec.details)
        return self._respond(request, result.code, body=result.body, detail=result.detail)


def _request_id_errors(request: ServiceRequest, definition: SrvDefinition) -> list[str]:
    """Schema errors of the RequestID: two EUI-64s and a counter 1..2^64-1; its target is the
    request's target (DUIS addresses a device request by its RequestID; a non-device request
    names the DCC there and the device in its body)."""
    request_id = request.request_id
    errors = []
    try:
        normalise_eui(request_id.originator)
        target = normalise_eui(request_id.target)
    except ValueError:
        return [f"RequestID {request_id} does not start with two EUI-64s"]
    if isinstance(request_id.counter, bool) or not isinstance(request_id.counter, int) or not (
            1 <= request_id.counter <= MAX_COUNTER):
        errors.append(f"RequestID counter {request_id.counter} is not an integer 1..2^64-1")
    try:
        same_target = normalise_eui(request.target) == target
    except ValueError:
        same_target = False
    if not same_target and not definition.non_device:
        errors.append(f"the request's target {request.target} is not the RequestID's {target}")
    return errors
