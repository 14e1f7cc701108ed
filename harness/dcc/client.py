"""The DCC as a test sees it: send Service Requests as a User, get Service Responses and alerts.

``dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid.eui, RequestType="Add",
JoinTimePeriod=300, InstallCode=...)`` builds the DUIS request (RequestID with a rising
counter, the default User of the role, a signature if the SR is Critical), passes it through the
S1SP model and returns the response. ``build`` and ``submit`` split that in two for tests that
tamper with a request. Every request, response, envelope and alert is kept as evidence, with
install codes masked, and, when allure-pytest runs, each SR is an Allure step with the same
evidence attached (:mod:`harness.report.allure`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from harness.dcc.adapters import AdapterContext, DeviceAdapter, adapter_for
from harness.dcc.alerts import Alert, AlertMatcher, AlertStream
from harness.dcc.catalogue import SrCatalogue, load_sr_catalogue
from harness.dcc.envelope import Envelope, EnvelopeError, Kind
from harness.dcc.inventory import DeviceRecord, Inventory, inventory_for_bench
from harness.dcc.keys import KeyPair, Keystore, User
from harness.dcc.requests import RequestId, ServiceRequest, ServiceResponse
from harness.dcc.s1sp import S1SP
from harness.dcc.tunnel import Exchange, TunnelClient
from harness.han.events import HanEvent, normalise_eui
from harness.report.allure import allure_listening, service_request_step
from harness.streams import TimedStream

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.bench import Bench

#: Parameters whose values are secrets and never reach evidence or reports.
SECRET_PARAMS = frozenset({"InstallCode"})
#: First RequestID counter of each originator (DUIS counters are large and rising).
FIRST_COUNTER = 1_000_000


@dataclass(frozen=True)
class EvidenceItem:
    seq: int
    time: datetime
    kind: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time.isoformat(), "kind": self.kind, **self.data}


class AlertsSinceStart:
    """Alerts as one test sees them: ``expect`` waits for one raised after the test began."""

    def __init__(self, stream: AlertStream, mark: int) -> None:
        self.stream = stream
        self.mark = mark

    def all(self, matcher: AlertMatcher | None = None) -> list[Alert]:
        return self.stream.since(self.mark, matcher)

    def expect(self, matcher: AlertMatcher, timeout: float) -> Alert:
        return self.stream.expect(matcher, timeout, since=self.mark)


class Dcc:
    """The DCC side of one bench: S1SP model, keys, inventory, alerts, evidence."""

    def __init__(
        self,
        bench: Bench,
        *,
        keystore: Keystore | None = None,
        catalogue: SrCatalogue | None = None,
        wrap_adapter: Callable[[DeviceAdapter, str], DeviceAdapter] | None = None,
        envelope_timeout_s: float = 60.0,
    ) -> None:
        runtime = bench.runtime
        assert runtime is not None
        self._bench = bench
        self._runtime = runtime
        self.catalogue = catalogue or load_sr_catalogue()
        self.keystore = keystore or Keystore.test_pki(bench.lab.seed)
        self.alerts = AlertStream(runtime.clock, runtime)
        self.evidence: TimedStream[EvidenceItem] = TimedStream(runtime, "DCC exchange")
        self.tunnel = TunnelClient(bench.chf, self.keystore, response_timeout_s=envelope_timeout_s,
                                   record=self._record)
        members = {bench.chf.eui: ("CHF", bench.chf_profile)}
        members.update({d.eui: (d.role, d.profile) for d in bench.devices.values()})
        self.inventory: Inventory = inventory_for_bench(
            {eui: (kind, profile) for eui, (kind, profile) in members.items()
             if profile is not None},
            self.keystore, bench.status,
        )
        for record in self.inventory.devices.values():
            if record.device_type in ("ESME", "GSME"):
                record.joined_services.update(
                    d.eui for d in bench.devices.values() if d.role in ("PPMID", "IHD"))
        #: The installation as migration data describes it, kept apart from the inventory.
        self._enrollable = {eui: dataclasses.replace(
            r, joined_services=set(r.joined_services), certificates=dict(r.certificates))
            for eui, r in self.inventory.devices.items()}
        adapters: dict[str, DeviceAdapter] = {}
        for eui, record in self.inventory.devices.items():
            adapter = adapter_for(record.profile.adapter)
            adapters[eui] = wrap_adapter(adapter, eui) if wrap_adapter else adapter
            adapters[eui].registration(record, bench.status)
        self.context = AdapterContext(
            chf=bench.chf, tunnel=self.tunnel, keystore=self.keystore, inventory=self.inventory,
            catalogue=self.catalogue, alerts=self.alerts, clock=runtime.clock,
            record=self._record,
        )
        self.s1sp = S1SP(self.context, adapters)
        self._counters: dict[str, int] = {}
        #: Counter of the last alert accepted from each device (a replayed alert is refused).
        self._alert_counters: dict[str, int] = {}
        self._internal_counter = 0
        self._unsubscribe = bench.events.subscribe(self._on_han_event)

    def start(self) -> None:
        """Open a tunnel to every joined device that has one (where devices send alerts)."""
        self._runtime.run(self._open_tunnels())

    async def _open_tunnels(self) -> None:
        for record in self.inventory.devices.values():
            if record.device_type == "CHF" or not self._bench.chf.is_joined(record.eui):
                continue
            han = self._bench.chf.device(record.eui)
            if not han.has_server_cluster("tunneling"):
                continue
            try:
                await self.tunnel.open(record.eui)
            except Exception as exc:  # a device without a tunnel just sends no alerts
                self._record("tunnel", {"device": record.eui, "summary": f"not opened: {exc}"})

    def close(self) -> None:
        self._unsubscribe()

    def _on_han_event(self, event: HanEvent) -> None:
        """Device alerts arrive as signed ALERT envelopes on a tunnel: raise S1SP alerts."""
        if event.kind != "command" or event.name != "transfer_data_to_client":
            return
        value = event.value if isinstance(event.value, dict) else {}
        try:
            envelope = Envelope.from_bytes(bytes(value.get("data", b"")))
        except EnvelopeError:
            return
        if envelope.kind != Kind.ALERT:
            return
        public = self.keystore.device_public(envelope.device)
        if public is None or not envelope.verifies_with(public):
            self._record("alert_rejected", {"device": envelope.device,
                                            "summary": "alert signature does not verify"})
            return
        last = self._alert_counters.get(envelope.device, 0)
        if envelope.counter <= last:
            self._record("alert_rejected", {"device": envelope.device, "summary":
                                            f"alert counter {envelope.counter} is not above "
                                            f"{last} (replay)"})
            return
        self._alert_counters[envelope.device] = envelope.counter
        record = self.inventory.get(envelope.device)
        code = str(envelope.payload.get("alert", "UNKNOWN"))
        recipient = record.network_operator if record is not None else None
        details = {k: v for k, v in envelope.payload.items() if k != "alert"}
        raised = self.alerts.emit(code, envelope.device, recipient=recipient, **details)
        self._record("alert", raised.evidence())

    # -- targets and users ------------------------------------------------------------------
    def eui_of(self, target: str) -> str:
        """A role name of the bench (``"ESME"``, ``"CHF"``) or an EUI-64, as an EUI-64."""
        if target == "CHF":
            return self._bench.chf.eui
        if target in self._bench.devices:
            return self._bench.devices[target].eui
        return normalise_eui(target)

    def user(self, role: str | None = None, name: str | None = None) -> User:
        if name is not None:
            return self.keystore.user(name)
        if role is None:
            raise ValueError("give the User Role (role=...) or a User name (user=...)")
        return self.keystore.user_for_role(role)

    # -- requests ---------------------------------------------------------------------------
    def build(
        self,
        srv: str,
        target: str,
        *,
        role: str | None = None,
        user: str | None = None,
        command_variant: int | None = None,
        counter: int | None = None,
        sign: bool = True,
        **params: Any,
    ) -> ServiceRequest:
        """A request as a User would send it; not sent. ``sign=False`` leaves it unsigned."""
        sender = self.user(role, user)
        if counter is None:
            counter = self._counters.get(sender.eui, FIRST_COUNTER) + 1
            self._counters[sender.eui] = counter
        if command_variant is None:
            command_variant = (self.catalogue[srv].command_variants[0]
                               if srv in self.catalogue else 1)
        request = ServiceRequest(
            srv=srv, request_id=RequestId(sender.eui, self.eui_of(target), counter),
            role=role or sender.role, command_variant=command_variant,
            target=self.eui_of(target), params=params,
        )
        critical = srv in self.catalogue and self.catalogue[srv].critical
        if sign and critical:
            request = dataclasses.replace(request, signature=sender.key.sign(request.body()))
        return request

    def submit(self, request: ServiceRequest) -> ServiceResponse:
        """Pass a (possibly tampered) request through the S1SP; keep both as evidence."""
        evidence_mark = self.evidence.mark()
        self._record("request", request.evidence(SECRET_PARAMS))
        alerts_mark = self.alerts.mark()
        try:
            response = self._runtime.run(self.s1sp.process(request))
        except BaseException as exc:
            self._allure_step(request, None, evidence_mark, error=exc)
            raise
        self._record("response", response.evidence())
        for raised in self.alerts.since(alerts_mark):
            self._record("alert", raised.evidence())
        self._allure_step(request, response, evidence_mark)
        return response

    def send(self, srv: str, target: str, *, role: str | None = None, user: str | None = None,
             command_variant: int | None = None, **params: Any) -> ServiceResponse:
        """Build, sign if Critical, and submit an SR; return the Service Response."""
        return self.submit(self.build(srv, target, role=role, user=user,
                                      command_variant=command_variant, **params))

    # -- envelopes, for device security tests -------------------------------------------------
    def send_envelope(self, envelope: Envelope, *, to: str | None = None) -> Exchange:
        """Send a command envelope as built (tampered, unsigned, replayed, for another device)
        to the device it names or to ``to`` (a role or EUI-64); the device's answer, if any."""
        target = self.eui_of(to) if to is not None else envelope.device
        return self._runtime.run(self.tunnel.send(envelope, to=target))

    def device_command(self, target: str, command: int, payload: dict[str, Any], *,
                       key: KeyPair | None = None) -> Exchange:
        """A command envelope with the device's next counter, signed with ``key`` (the
        device's current management key by default), sent and answered."""
        return self._runtime.run(self.tunnel.command(self.eui_of(target), command, payload,
                                                     key=key))

    # -- the DCC acting as itself (migration) ------------------------------------------------
    def operate(self, srv: str, target: str, **params: Any) -> ServiceResponse:
        """Carry out an SRV's device operation as the DCC itself, not as a User.

        Migration does this (firmware upgrade, commissioning, key rotation): no User, no
        access control, but the same adapter, envelopes and evidence. The target needs no
        inventory entry (before enrolment the DCC acts on migration data).
        """
        eui = self.eui_of(target)
        record = self.inventory.get(eui) or self._migration_record(eui)
        adapter = self.s1sp.adapters[eui]
        request = ServiceRequest(
            srv=srv, request_id=RequestId("DCC", eui, self._next_internal()), role="DCC",
            command_variant=0, target=eui, params=params,
        )
        evidence_mark = self.evidence.mark()
        self._record("operation", request.evidence(SECRET_PARAMS))
        alerts_mark = self.alerts.mark()

        async def _run() -> ServiceResponse:
            result = await adapter.execute(self.context, request, record)
            return self.s1sp.finish(request, result)

        try:
            response = self._runtime.run(_run())
        except BaseException as exc:
            self._allure_step(request, None, evidence_mark, error=exc)
            raise
        self._record("response", response.evidence())
        for raised in self.alerts.since(alerts_mark):
            self._record("alert", raised.evidence())
        self._allure_step(request, response, evidence_mark)
        return response

    def _next_internal(self) -> int:
        self._internal_counter += 1
        return self._internal_counter

    def _migration_record(self, eui: str) -> DeviceRecord:
        """What migration data says of a device the DCC has not enrolled yet."""
        known = self._enrollable.get(eui)
        if known is None:
            raise KeyError(f"{eui} is neither enrolled nor in the migration data")
        return known

    def unenrol_all(self) -> dict[str, DeviceRecord]:
        """Forget every device (the DCC before migration); returns what was enrolled."""
        previous = dict(self.inventory.devices)
        self.inventory.devices.clear()
        return previous

    def enrol(self, records: list[DeviceRecord]) -> None:
        """Add devices to the inventory as migration does, applying each adapter's
        registration behaviour (what the DCC records of the device)."""
        for record in records:
            self.inventory.add(record)
            self.s1sp.adapters[record.eui].registration(record, self._bench.status)

    def reset_enrolment(self) -> None:
        """Back to an enrolled installation, every device commissioned (as a bench starts)."""
        self.unenrol_all()
        records = self.registration_data()
        for record in records:
            record.status = "commissioned"
        self.enrol(records)

    def registration_data(self) -> list[DeviceRecord]:
        """Fresh registration data for the bench's installation (as migration data has it)."""
        return [dataclasses.replace(r, joined_services=set(r.joined_services),
                                    certificates=dict(r.certificates))
                for r in self._enrollable.values()]

    # -- evidence ---------------------------------------------------------------------------
    def _record(self, kind: str, data: dict[str, Any]) -> None:
        clock = self._runtime.clock
        self.evidence.append(EvidenceItem(self.evidence.next_seq(), clock.now(), kind, data))

    def _allure_step(self, request: ServiceRequest, response: ServiceResponse | None,
                     evidence_mark: int, *, error: BaseException | None = None) -> None:
        """The SR as one Allure step (a no-op without allure-pytest), its attachments the very
        evidence items ``dcc.json`` keeps (install codes masked there already)."""
        if not allure_listening():
            return
        items = self.evidence.since(evidence_mark)
        # One attachment per SR (a file each in allure-results: thousands in a full run).
        exchange: dict[str, Any] = {}
        for item in items:
            if item.kind in ("request", "operation", "response") and item.kind not in exchange:
                exchange[item.kind] = item.as_dict()
        others = [i.as_dict() for i in items if i.kind not in ("request", "operation",
                                                                "response")]
        if others:
            exchange["envelopes and alerts"] = others
        srv = request.srv
        name = f" {self.catalogue[srv].name}" if srv in self.catalogue else ""
        if response is not None:
            outcome = response.code or ("HTTP 400 schema failure" if response.http_status == 400
                                        else "no response code")
        else:
            outcome = f"raised {type(error).__name__}"
        target = self._role_of(request.target)
        if request.role == "DCC":
            title = f"DCC operation: SR {srv}{name} on {target} → {outcome}"
        else:
            sender = self.keystore.user_by_eui(request.request_id.originator)
            who = sender.name if sender is not None else request.request_id.originator
            title = f"SR {srv}{name} to {target} as {who} ({request.role}) → {outcome}"
        times = [i.time for i in items]
        parameters = {"RequestID": str(request.request_id)}
        if times:
            parameters["bench time"] = f"{times[0].isoformat()} .. {times[-1].isoformat()}"
        service_request_step(title, parameters=parameters,
                             attachments={"request and response": exchange}, error=error)

    def _role_of(self, eui: str) -> str:
        """A target as a step names it: its role on the bench, else its EUI-64."""
        if eui == self._bench.chf.eui:
            return "CHF"
        return next((role for role, d in self._bench.devices.items() if d.eui == eui), eui)
