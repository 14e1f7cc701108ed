"""The generic Smart Energy adapter: SRs as ZCL reads and commands, and signed envelopes.

Reads (registers, supply status) and consumer-facing commands (top-up, messages) are plain ZCL
on the device's Smart Energy clusters. Security-relevant commands (supply, credentials and keys,
firmware, tariff, auxiliary load and boost, configuration) go in a signed envelope over the
Tunneling cluster (:mod:`harness.dcc.envelope`). Device log SRs go to the CHF.

Failures are response codes, never exceptions: a device the radio cannot reach is E20, one that
does not answer is E21, a refusal is the SRV's own code.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import zigpy.exceptions

from harness.dcc.adapters import AdapterContext, AdapterResult, AlertSpec
from harness.dcc.catalogue import install_code_of
from harness.dcc.envelope import Command
from harness.dcc.envelope import Status as DeviceStatus
from harness.dcc.inventory import NETWORK_ROLE, SUPPLIER_ROLE
from harness.han.chf import JoinTimePeriodRejected, NotJoined
from harness.han.events import normalise_eui

if TYPE_CHECKING:
    from harness.dcc.inventory import DeviceRecord
    from harness.dcc.keys import Keystore, User
    from harness.dcc.requests import ServiceRequest
    from harness.dcc.tunnel import Exchange

LOGGER = logging.getLogger(__name__)

Handler = Callable[["SmartEnergyAdapter", AdapterContext, "ServiceRequest", "DeviceRecord"],
                   Awaitable[AdapterResult]]

#: SR-specific code for a device refusing an envelope command, per SRV.
REFUSAL_CODES = {
    "1.1.1": "E010101", "6.7": "E060701", "6.5": "E060501", "6.15.1": "E061504",
    "6.23": "E062301", "8.7.1": "E080702", "8.8.1": "E080801", "11.1": "E110101",
    "11.4": "E110401",
}
SUPPLY_STATES = {"7.1": "on", "7.2": "off", "7.3": "armed"}
SUPPLY_NAMES = {0: "Off", 1: "Armed", 2: "On"}
MESSAGE_CONFIRMATION_REQUIRED = 0x80


class SmartEnergyAdapter:
    """See the module docstring."""

    name = "smart-energy"
    credential_check: Literal["registration", "slot_owner"] = "registration"

    def supports(self, srv: str, record: DeviceRecord) -> bool:
        """The model's SRVs are its profile's (the CHF's too). The S1SP does not ask for an SRV
        the catalogue marks ``all_models`` (8.3): that needs nothing of the model."""
        return srv in record.profile.srvs

    def registration(self, record: DeviceRecord, installation_status: str) -> None:
        """The generic adapter keeps the registration data as enrolment wrote it."""

    async def execute(
        self, ctx: AdapterContext, request: ServiceRequest, record: DeviceRecord
    ) -> AdapterResult:
        handler = HANDLERS.get(request.srv)
        if handler is None:
            return AdapterResult("E11", detail=f"the adapter cannot execute SR {request.srv}")
        try:
            return await handler(self, ctx, request, record)
        except NotJoined as exc:
            return AdapterResult("E20", detail=str(exc))
        except zigpy.exceptions.DeliveryError as exc:
            return AdapterResult("E20", detail=f"delivery failed: {exc}")
        except TimeoutError:
            return AdapterResult("E21", detail="no response from the device")
        except zigpy.exceptions.ZigbeeException as exc:
            return AdapterResult("E21", detail=f"ZigBee failure: {exc}")

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def envelope_result(
        request: ServiceRequest, exchange: Exchange, *, no_answer: str = "E21"
    ) -> AdapterResult:
        answer = exchange.response
        if answer is None:
            return AdapterResult(no_answer, detail="the device sent no answer")
        if not exchange.response_verified:
            return AdapterResult("E21", detail="the device's answer did not verify "
                                 "against its identity key")
        status = str(answer.payload.get("status"))
        body = {k: v for k, v in answer.payload.items() if k not in ("status", "reason")}
        reason = str(answer.payload.get("reason", ""))
        if status == DeviceStatus.OK:
            return AdapterResult("I0", body=body)
        if status == DeviceStatus.UNSUPPORTED:
            return AdapterResult("E11", detail=f"device: {reason or status}")
        if status in (DeviceStatus.REFUSED, DeviceStatus.BUSY):
            return AdapterResult(REFUSAL_CODES.get(request.srv, "E21"),
                                 detail=f"device refused: {reason or status}")
        # bad_signature, replay, malformed, wrong_device: the DCC and the device disagree.
        return AdapterResult("E20", detail=f"device refused the command: {status}"
                             + (f" ({reason})" if reason else ""))

    async def _envelope(
        self, ctx: AdapterContext, request: ServiceRequest, record: DeviceRecord,
        command: Command, payload: dict[str, Any],
    ) -> AdapterResult:
        exchange = await ctx.tunnel.command(record.eui, command, payload)
        return self.envelope_result(request, exchange)

    # -- reads ------------------------------------------------------------------------------
    async def read_registers(self, ctx: AdapterContext, request: ServiceRequest,
                             record: DeviceRecord) -> AdapterResult:
        values = await ctx.chf.device(record.eui).read_async(
            "metering", "current_summ_delivered", "multiplier", "divisor")
        kwh = (Decimal(int(values["current_summ_delivered"]) * int(values["multiplier"]))
               / (int(values["divisor"]) or 1))
        return AdapterResult("I0", body={"ImportRegister": f"{kwh:.3f}", "Unit": "kWh"})

    async def read_supply(self, ctx: AdapterContext, request: ServiceRequest,
                          record: DeviceRecord) -> AdapterResult:
        value = await ctx.chf.device(record.eui).read_async("metering", "supply_status")
        status = int(value["supply_status"])
        return AdapterResult("I0", body={"SupplyStatus": SUPPLY_NAMES.get(status, str(status))})

    # -- consumer-facing ZCL ----------------------------------------------------------------
    async def top_up(self, ctx: AdapterContext, request: ServiceRequest,
                     record: DeviceRecord) -> AdapterResult:
        han = ctx.chf.device(record.eui)
        config = await han.read_async("prepayment", "payment_control_configuration")
        if not int(config["payment_control_configuration"]) & 0x0002:
            return AdapterResult("E020202", detail="the meter is in credit mode")
        amount = int(request.params["Amount"])
        utrn = (request.params.get("UTRN")
                or f"{request.request_id.counter % 10**14:014d}{amount:06d}")
        response = await han.command_async("prepayment", "consumer_top_up",
                                           originating_device=0, top_up_code=utrn.encode())
        result = int(getattr(response, "result_type", 0xFF))
        if result not in (0x00, 0x10, 0x11, 0x12):
            return AdapterResult("E020201", detail=f"top-up result {result}")
        return AdapterResult("I0", body={"CreditRemaining": int(response.credit_remaining),
                                         "TopUpValue": int(response.top_up_value)})

    async def display_message(self, ctx: AdapterContext, request: ServiceRequest,
                              record: DeviceRecord) -> AdapterResult:
        shown: list[str] = []
        failed: list[str] = []
        message_id = request.request_id.counter & 0xFFFFFFFF
        for other in sorted(record.joined_services):
            if not ctx.chf.is_joined(other):
                continue
            han = ctx.chf.device(other)
            if not han.has_client_cluster("messaging"):
                continue
            try:
                await han.client_command_async(
                    "messaging", "display_message", message_id=message_id,
                    message_control=MESSAGE_CONFIRMATION_REQUIRED, start_time=0,
                    duration_in_minutes=int(request.params.get("DurationMinutes", 60)),
                    message=str(request.params["Message"]),
                )
            except (zigpy.exceptions.ZigbeeException, TimeoutError) as exc:
                # One display out of reach does not keep the message from the others.
                failed.append(f"{other}: {exc}")
                continue
            shown.append(other)
        if not shown and failed:
            return AdapterResult("E20", detail="no display could be reached: "
                                 + "; ".join(failed))
        if not shown:
            return AdapterResult("E030101", detail="no IHD or PPMID joined to the meter")
        return AdapterResult("I0", body={"DisplayedOn": shown, "MessageId": message_id},
                             detail="; ".join(f"not shown on {f}" for f in failed))

    # -- envelopes --------------------------------------------------------------------------
    async def supply(self, ctx: AdapterContext, request: ServiceRequest,
                     record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.SUPPLY,
                                    {"state": SUPPLY_STATES[request.srv]})

    async def aux_load(self, ctx: AdapterContext, request: ServiceRequest,
                       record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.AUX_LOAD, {
            "load": request.params["AuxiliaryLoad"], "on": request.srv == "7.5"})

    async def boost_config(self, ctx: AdapterContext, request: ServiceRequest,
                           record: DeviceRecord) -> AdapterResult:
        payload: dict[str, Any] = {"load": request.params["AuxiliaryLoad"],
                                   "add": request.srv == "7.9"}
        if request.srv == "7.9":
            payload["duration_min"] = request.params["BoostDurationMinutes"]
        return await self._envelope(ctx, request, record, Command.BOOST_CONFIG, payload)

    async def read_boost(self, ctx: AdapterContext, request: ServiceRequest,
                         record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.READ_BOOST, {})

    async def tariff(self, ctx: AdapterContext, request: ServiceRequest,
                     record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.TARIFF, {
            "unit_rate": request.params["UnitRate"],
            "standing_charge": request.params["StandingCharge"]})

    async def gas_flow(self, ctx: AdapterContext, request: ServiceRequest,
                       record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.GAS_FLOW, {
            "threshold": request.params["UncontrolledGasFlowThreshold"],
            "stabilisation_s": request.params["StabilisationPeriod"],
            "measurement_s": request.params["MeasurementPeriod"]})

    async def voltage_config(self, ctx: AdapterContext, request: ServiceRequest,
                             record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.VOLTAGE_CONFIG, {
            "over_v": request.params["AverageRmsOverVoltageThreshold"],
            "under_v": request.params["AverageRmsUnderVoltageThreshold"]})

    async def clock_sync(self, ctx: AdapterContext, request: ServiceRequest,
                         record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.CLOCK_SYNC,
                                    {"utc": ctx.clock.now().isoformat()})

    async def read_log(self, ctx: AdapterContext, request: ServiceRequest,
                       record: DeviceRecord) -> AdapterResult:
        return await self._envelope(ctx, request, record, Command.READ_LOG,
                                    {"log": _log_name(request.params["LogType"])})

    async def join_service(self, ctx: AdapterContext, request: ServiceRequest,
                           record: DeviceRecord) -> AdapterResult:
        other = normalise_eui(request.params["OtherDeviceID"])
        join = request.srv == "8.7.1"
        if join and (other not in ctx.chf.device_log or not ctx.chf.is_joined(other)):
            return AdapterResult("E080702", detail=f"{other} is not joined to the HAN")
        if not join and other not in record.joined_services:
            return AdapterResult("E080801", detail=f"{other} is not joined to this meter")
        result = await self._envelope(ctx, request, record, Command.JOIN_SERVICE,
                                      {"other": other, "join": join})
        if result.code == "I0":
            if join:
                record.joined_services.add(other)
            else:
                record.joined_services.discard(other)
        return result

    async def firmware(self, ctx: AdapterContext, request: ServiceRequest,
                       record: DeviceRecord) -> AdapterResult:
        image = bytes.fromhex(str(request.params["Image"]))
        claimed = str(request.params["ImageHash"]).lower()
        if hashlib.sha256(image).hexdigest() != claimed:
            return AdapterResult(REFUSAL_CODES[request.srv], detail="ImageHash does not match "
                                 "the image (checked by the DCC before sending)")
        result = await self._envelope(ctx, request, record, Command.FIRMWARE, {
            "version": request.params["FirmwareVersion"], "image": image.hex(),
            "hash": claimed})
        if result.code == "I0":
            result.alerts.append(AlertSpec("FIRMWARE_ACTIVATED", record.eui,
                                           details={"version": request.params["FirmwareVersion"]}))
        return result

    # -- credentials ------------------------------------------------------------------------
    async def credentials(self, ctx: AdapterContext, request: ServiceRequest,
                          record: DeviceRecord) -> AdapterResult:
        kind = request.params["CredentialType"]
        if kind == "ManagementKey":
            return await self.rotate_management_key(ctx, request, record)
        slot = "supplier" if kind == "SupplierCertificate" else "network_operator"
        sender = ctx.keystore.user_by_eui(request.request_id.originator)
        owner_name = (request.params.get("NewCredentialOwner")
                      or (sender.name if sender else None))
        slot_role = (SUPPLIER_ROLE if slot == "supplier" else NETWORK_ROLE).get(
            record.device_type)
        try:
            owner = _named_user(ctx.keystore, str(owner_name), slot_role)
        except KeyError as exc:
            return AdapterResult(REFUSAL_CODES["6.15.1"], detail=str(exc))
        # A slot holds a certificate of its own role's Users, or the DCC's (migration puts
        # the DCC's in the supplier slot).
        if owner.role not in (slot_role, "DCC"):
            return AdapterResult(REFUSAL_CODES["6.15.1"], detail=f"{owner.name} is a "
                                 f"{owner.role} User: a {record.device_type}'s {slot} "
                                 f"certificate belongs to a {slot_role} User")
        result = await self._envelope(ctx, request, record, Command.CERT_UPDATE, {
            "slot": slot, "owner": owner.name,
            "public_key": owner.public.to_bytes().hex()})
        if result.code == "I0":
            record.certificates[slot] = owner.name
        return result

    async def rotate_management_key(self, ctx: AdapterContext, request: ServiceRequest,
                                    record: DeviceRecord) -> AdapterResult:
        """One rotation attempt. If an earlier attempt went unconfirmed the device may already
        use the candidate key, so the candidate is tried first (the DCC's fix for 110031)."""
        keystore = ctx.keystore
        pending = self._pending.get(record.eui)
        current = keystore.management_key(record.eui)
        candidate = pending or keystore.new_management_key(record.eui)
        payload = {"public_key": candidate.public.to_bytes().hex()}
        signers = [candidate, current] if pending is not None else [current]
        for signer in signers:
            exchange = await ctx.tunnel.command(record.eui, Command.KEY_ROTATE, payload,
                                                key=signer)
            result = self.envelope_result(request, exchange, no_answer="E061501")
            if result.code == "I0":
                keystore.commit_rotation(record.eui, candidate)
                self._pending.pop(record.eui, None)
                result.body["KeyFingerprint"] = candidate.public.fingerprint
                result.alerts.append(AlertSpec("KEY_ROTATED", record.eui))
                return result
            if result.code == "E061501":
                self._pending[record.eui] = candidate
                return AdapterResult("E061501", detail="the device did not confirm the key "
                                     "rotation; repeat it (at least 5 minutes later)")
            if exchange.response is not None and signer is candidate:
                continue  # the device still holds the current key: try that
            return result
        return AdapterResult("E061501", detail="the key rotation was not confirmed")

    async def change_of_supplier(self, ctx: AdapterContext, request: ServiceRequest,
                                 record: DeviceRecord) -> AdapterResult:
        try:
            new = _named_user(ctx.keystore, str(request.params["NewSupplier"]),
                              SUPPLIER_ROLE.get(record.device_type))
        except KeyError as exc:
            return AdapterResult("E062301", detail=str(exc))
        if new.role != SUPPLIER_ROLE.get(record.device_type):
            return AdapterResult("E062301", detail=f"{new.name} is a {new.role} User, not a "
                                 f"supplier of a {record.device_type}")
        old = record.responsible_supplier
        result = await self._envelope(ctx, request, record, Command.CERT_UPDATE, {
            "slot": "supplier", "owner": new.name,
            "public_key": new.public.to_bytes().hex()})
        if result.code == "I0":
            record.certificates["supplier"] = new.name
            record.responsible_supplier = new.name
            result.alerts.append(AlertSpec("COS_LOSS", record.eui, recipient=old,
                                           details={"new_supplier": new.name,
                                                    "request_id": str(request.request_id)}))
        return result

    # -- lifecycle --------------------------------------------------------------------------
    async def commission(self, ctx: AdapterContext, request: ServiceRequest,
                         record: DeviceRecord) -> AdapterResult:
        if record.device_type == "CHF":  # the hub itself: the HAN it forms is what it serves
            record.status = "commissioned"
            return AdapterResult("I0", body={"Status": record.status})
        if not ctx.chf.is_joined(record.eui):
            return AdapterResult("E20", detail=f"{record.eui} is not joined to the HAN")
        # Joined once is not enough: a device switched off since must not be commissioned, so
        # the S1SP hears from it first (no answer: E21, as any SR to a silent device).
        await ctx.chf.device(record.eui).read_async("basic", "sw_build_id")
        record.status = "commissioned"
        return AdapterResult("I0", body={"Status": record.status})

    async def decommission(self, ctx: AdapterContext, request: ServiceRequest,
                           record: DeviceRecord) -> AdapterResult:
        record.status = "decommissioned"
        if record.device_type in ("PPMID", "IHD") and record.eui in ctx.chf.device_log:
            await ctx.chf.remove_device_async(record.eui)
        return AdapterResult("I0", body={"Status": record.status})

    # -- the CHF ----------------------------------------------------------------------------
    async def read_device_log(self, ctx: AdapterContext, request: ServiceRequest,
                              record: DeviceRecord) -> AdapterResult:
        entries = [{"DeviceID": eui, "Joined": ctx.chf.is_joined(eui)}
                   for eui in sorted(ctx.chf.device_log)]
        return AdapterResult("I0", body={"DeviceLog": entries})

    async def update_device_log(self, ctx: AdapterContext, request: ServiceRequest,
                                record: DeviceRecord) -> AdapterResult:
        device = normalise_eui(request.params["DeviceID"])
        if request.params["RequestType"] == "Remove":
            if not await ctx.chf.remove_device_async(device):
                return AdapterResult("E081104", detail=f"{device} is not in the device log")
            return AdapterResult("I0")
        try:
            code = install_code_of(request.params["InstallCode"],
                                   request.params.get("InstallCodeCRC"))
        except ValueError as exc:
            return AdapterResult("E081102", detail=str(exc))
        endpoint = 1
        target = ctx.inventory.get(device)
        if target is not None:
            endpoint = target.profile.zigbee.endpoint
        try:
            window = await ctx.chf.add_device_async(
                device, code, int(request.params["JoinTimePeriod"]), endpoint=endpoint)
        except JoinTimePeriodRejected as exc:
            return AdapterResult("E081101", detail=str(exc))
        return AdapterResult("I0", body={"JoinTimePeriodGranted": window.granted_s})

    _pending: dict[str, Any]

    def __init__(self) -> None:
        self._pending = {}


def _log_name(log_to_read: str) -> str:
    """DUIS's LogToRead as the device names its log (GSMEEvent is the GSME's event log)."""
    return log_to_read.removeprefix("GSME").lower()


HANDLERS: dict[str, Handler] = {
    "1.1.1": SmartEnergyAdapter.tariff,
    "2.2": SmartEnergyAdapter.top_up,
    "3.1": SmartEnergyAdapter.display_message,
    "4.1.1": SmartEnergyAdapter.read_registers,
    "6.7": SmartEnergyAdapter.gas_flow,
    "6.11": SmartEnergyAdapter.clock_sync,
    "6.13": SmartEnergyAdapter.read_log,
    "6.5": SmartEnergyAdapter.voltage_config,
    "6.15.1": SmartEnergyAdapter.credentials,
    "6.23": SmartEnergyAdapter.change_of_supplier,
    "7.1": SmartEnergyAdapter.supply,
    "7.2": SmartEnergyAdapter.supply,
    "7.3": SmartEnergyAdapter.supply,
    "7.4": SmartEnergyAdapter.read_supply,
    "7.5": SmartEnergyAdapter.aux_load,
    "7.6": SmartEnergyAdapter.aux_load,
    "7.9": SmartEnergyAdapter.boost_config,
    "7.10": SmartEnergyAdapter.boost_config,
    "7.11": SmartEnergyAdapter.read_boost,
    "8.1.1": SmartEnergyAdapter.commission,
    "8.3": SmartEnergyAdapter.decommission,
    "8.7.1": SmartEnergyAdapter.join_service,
    "8.8.1": SmartEnergyAdapter.join_service,
    "8.9": SmartEnergyAdapter.read_device_log,
    "8.11": SmartEnergyAdapter.update_device_log,
    "11.1": SmartEnergyAdapter.firmware,
    "11.4": SmartEnergyAdapter.firmware,
}


def _named_user(keystore: Keystore, ref: str, role: str | None) -> User:
    """A User by name, or by the EUI-64 a DUIS body's certificate names (of ``role`` first
    when one EUI-64 has several); ``KeyError`` naming it otherwise."""
    try:
        return keystore.user(ref)
    except KeyError:
        try:
            eui = normalise_eui(ref)
        except ValueError:
            raise KeyError(f"no DCC User named {ref!r}") from None
    users = keystore.users_by_eui(eui)
    if not users:
        raise KeyError(f"no DCC User has EUI-64 {eui}")
    return next((u for u in users if u.role == role), users[0])
