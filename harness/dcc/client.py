"""The DCC as a test sees it: send Service Requests as a User, get Service Responses and alerts.

``dcc.send("8.11", "CHF", role="IS", DeviceID=ppmid.eui, RequestType="Add",
JoinTimePeriod=300, InstallCode=...)`` builds the DUIS request document (RequestID with a
rising counter, the default User of the role), signs it as that User, passes it through the
DCC's DUIS interface (XSD, signature) and the S1SP model, and returns the response with its
signed DUIS document. ``build`` and ``submit`` (or ``document`` and ``submit_document``) split
that for tests that tamper with a request. Every request, response, envelope and alert is kept
as evidence, with install codes masked, and, when allure-pytest runs, each SR is an Allure step
with the same evidence attached (:mod:`harness.report.allure`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.dcc.adapters import AdapterContext, DeviceAdapter, adapter_for
from harness.dcc.alerts import ALERT_CODES, Alert, AlertMatcher, AlertStream
from harness.dcc.catalogue import (
    SrCatalogue,
    SrvDefinition,
    load_sr_catalogue,
    split_install_code,
)
from harness.dcc.duis.alerts import build_alert
from harness.dcc.duis.bodies import CA_PARAM, CERTIFICATE_PARAM
from harness.dcc.duis.documents import (
    Smets1Origin,
    build_request,
    build_response,
    schema_or_none,
    serialise,
)
from harness.dcc.duis.gateway import Admitted, Refusal, admit
from harness.dcc.duis.signing import Signer
from harness.dcc.envelope import Envelope, EnvelopeError, Kind
from harness.dcc.inventory import (
    NETWORK_ROLE,
    SUPPLIER_ROLE,
    DeviceRecord,
    Inventory,
    inventory_for_bench,
)
from harness.dcc.keys import DCC_EUI, KeyPair, Keystore, User, test_ca_certificate
from harness.dcc.requests import RequestId, ServiceRequest, ServiceResponse
from harness.dcc.s1sp import S1SP
from harness.dcc.tunnel import Exchange, TunnelClient
from harness.han.events import HanEvent, normalise_eui
from harness.report.allure import allure_listening, service_request_step
from harness.streams import TimedStream

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Protocol

    from harness.config.profiles import DeviceProfile
    from harness.han.chf import Chf
    from harness.han.events import HanEventStream
    from harness.runtime import BenchRuntime

    class DeviceView(Protocol):
        """What the DCC reads of a bench device."""

        eui: str
        role: str
        profile: DeviceProfile

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


def _duis_spelling(definition: SrvDefinition, params: dict[str, Any],
                   counter: int) -> dict[str, Any]:
    """Parameters as a DUIS document writes them: EUI-64s as 8 octets joined by ``-``; a
    top-up without a UTRN gets one made of the counter and the amount (20 digits)."""
    out = dict(params)
    for name, value in params.items():
        spec = definition.parameters.get(name)
        if spec is not None and spec.type == "eui64" and isinstance(value, str):
            with contextlib.suppress(ValueError):  # the schema check names a bad one
                out[name] = normalise_eui(value)
    if definition.srv == "2.2" and out.get("UTRN") is None and isinstance(out.get("Amount"), int):
        out["UTRN"] = f"{counter % 10**14:014d}{out['Amount'] % 10**6:06d}"
    return out


def _der_base64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


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
        *,
        runtime: BenchRuntime,
        chf: Chf,
        chf_profile: DeviceProfile | None,
        devices: Mapping[str, DeviceView],
        events: HanEventStream,
        status: Callable[[], str],
        keystore: Keystore,
        dormant_meter: str = "GSME",
        catalogue: SrCatalogue | None = None,
        wrap_adapter: Callable[[DeviceAdapter, str], DeviceAdapter] | None = None,
        envelope_timeout_s: float = 60.0,
    ) -> None:
        """What the DCC uses of a bench: its event loop and clock, the CHF, the devices by
        role (EUI-64, role, profile), the HAN events (alerts arrive there), the installation
        status (and, when it is mixed, which meter is dormant) and the keys.
        :meth:`for_bench` takes them from a :class:`Bench`."""
        self._runtime = runtime
        self._chf = chf
        self._devices = devices
        self._status = status
        self.catalogue = catalogue or load_sr_catalogue()
        #: The DUIS XSD request documents are checked against (``None``: not installed; see
        #: docs/duis.md for how a lab provides it).
        self.schema = schema_or_none()
        self.keystore = keystore
        self.alerts = AlertStream(runtime.clock, runtime, render=self._alert_document)
        self.evidence: TimedStream[EvidenceItem] = TimedStream(runtime, "DCC exchange")
        #: Set by the bench while a case collects evidence: an SR's items then go into the
        #: case's ``dcc.json``, the one attachment of the case that holds its SRs, so its
        #: Allure step attaches nothing of its own (it names the items by ``seq``).
        self.case_evidence = False
        self.tunnel = TunnelClient(chf, self.keystore, response_timeout_s=envelope_timeout_s,
                                   record=self._record)
        members = {chf.eui: ("CHF", chf_profile)}
        members.update({d.eui: (d.role, d.profile) for d in devices.values()})
        self.inventory: Inventory = inventory_for_bench(
            {eui: (kind, profile) for eui, (kind, profile) in members.items()
             if profile is not None},
            self.keystore, status(), dormant_meter,
        )
        for record in self.inventory.devices.values():
            if record.device_type in ("ESME", "GSME"):
                record.joined_services.update(
                    d.eui for d in devices.values() if d.role in ("PPMID", "IHD"))
        #: The installation as migration data describes it, kept apart from the inventory.
        self._enrollable = {eui: dataclasses.replace(
            r, joined_services=set(r.joined_services), certificates=dict(r.certificates))
            for eui, r in self.inventory.devices.items()}
        adapters: dict[str, DeviceAdapter] = {}
        for eui, record in self.inventory.devices.items():
            adapter = adapter_for(record.profile.adapter)
            adapters[eui] = wrap_adapter(adapter, eui) if wrap_adapter else adapter
            adapters[eui].registration(record, status())
        self.context = AdapterContext(
            chf=chf, tunnel=self.tunnel, keystore=self.keystore, inventory=self.inventory,
            catalogue=self.catalogue, alerts=self.alerts, clock=runtime.clock,
            record=self._record,
        )
        self.s1sp = S1SP(self.context, adapters)
        self._counters: dict[str, int] = {}
        #: Counter of the last alert accepted from each device (a replayed alert is refused).
        self._alert_counters: dict[str, int] = {}
        self._internal_counter = 0
        self._dcc_signer: Signer | None = None
        self._unsubscribe = events.subscribe(self._on_han_event)

    @classmethod
    def for_bench(cls, bench: Bench, *, keystore: Keystore | None = None,
                  **options: Any) -> Dcc:
        """The DCC of ``bench`` (its test PKI unless ``keystore`` is given)."""
        assert bench.runtime is not None
        return cls(runtime=bench.runtime, chf=bench.chf, chf_profile=bench.chf_profile,
                   devices=bench.devices, events=bench.events, status=lambda: bench.status,
                   dormant_meter=bench.dormant_meter,
                   keystore=keystore or Keystore.test_pki(bench.lab.seed), **options)

    def start(self) -> None:
        """Open a tunnel to every joined device that has one (where devices send alerts)."""
        self._runtime.run(self._open_tunnels())

    async def _open_tunnels(self) -> None:
        for record in self.inventory.devices.values():
            if record.device_type == "CHF" or not self._chf.is_joined(record.eui):
                continue
            han = self._chf.device(record.eui)
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

    def _alert_document(self, raised: Alert) -> bytes:
        """The signed DUIS alert document the DCC sends ``raised``'s recipient (one without a
        recipient goes to the device's responsible supplier, else its network operator)."""
        record = self.inventory.get(raised.device)
        name = raised.recipient or (record.responsible_supplier or record.network_operator
                                    if record is not None else None)
        user = self.keystore.users.get(name) if name else None
        recipient = user.eui if user is not None else DCC_EUI
        form = ALERT_CODES.get(raised.code)
        device_alert = form is None or form.kind == "device"
        root = build_alert(raised, originator=raised.device if device_alert else DCC_EUI,
                           recipient=recipient, counter=raised.seq)
        if self._dcc_signer is None:
            self._dcc_signer = Signer.of(self.keystore.dcc)
        return serialise(self._dcc_signer.sign(root))

    # -- targets and users ------------------------------------------------------------------
    def eui_of(self, target: str) -> str:
        """A role name of the bench (``"ESME"``, ``"CHF"``) or an EUI-64, as an EUI-64."""
        if target == "CHF":
            return self._chf.eui
        if target in self._devices:
            return self._devices[target].eui
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
        **params: Any,
    ) -> ServiceRequest:
        """A request as a User would send it; not sent (:meth:`submit` makes and signs its
        DUIS document)."""
        sender = self.user(role, user)
        if counter is None:
            counter = self._counters.get(sender.eui, FIRST_COUNTER) + 1
            self._counters[sender.eui] = counter
        definition = self.catalogue.srvs.get(srv)
        if command_variant is None:
            command_variant = definition.command_variants[0] if definition else 1
        if "InstallCode" in params and definition and "InstallCodeCRC" in definition.parameters:
            # A lab holds install codes with their CRC; DUIS carries the code alone.
            code, crc = split_install_code(params["InstallCode"])
            params = {**params, "InstallCode": code}
            if crc is not None and "InstallCodeCRC" not in params:
                params["InstallCodeCRC"] = crc
        if definition is not None:
            params = _duis_spelling(definition, params, counter)
        device = self.eui_of(target)
        addressed = DCC_EUI if definition is not None and definition.non_device else device
        return ServiceRequest(
            srv=srv, request_id=RequestId(sender.eui, addressed, counter),
            role=role or sender.role, command_variant=command_variant, target=device,
            params=params,
        )

    def document(self, request: ServiceRequest, *, sign: bool = True,
                 key: KeyPair | None = None) -> bytes:
        """The DUIS request document of ``request``, signed by its User (or ``key``, under
        the User's certificate) unless ``sign`` is false."""
        definition = self.catalogue[request.srv]
        record = self.inventory.get(request.target)
        root = build_request(definition, request.request_id, request.command_variant,
                             self._document_params(request), target=request.target,
                             now=self._runtime.clock.now(),
                             device_type=record.device_type if record is not None else None)
        if sign:
            sender = (self.keystore.user_by_eui(request.request_id.originator, request.role)
                      or self.keystore.user_for_role(request.role))
            assert sender.certificate is not None
            signer = Signer(key or sender.signing_key(), sender.certificate)
            root = signer.sign(root)
        return serialise(root)

    def _document_params(self, request: ServiceRequest) -> dict[str, Any]:
        """The parameters a document of ``request`` is written from: for 6.15.1 and 6.23 also
        the new owner's certificate and its issuer's, which DUIS's body carries (an owner the
        bench does not know keeps the harness's own body: its client's checks answer it)."""
        params = dict(request.params)
        owner: str | None = None
        if request.srv == "6.23":
            owner = params.get("NewSupplier")
        elif request.srv == "6.15.1" and params.get("CredentialType") in (
                "SupplierCertificate", "NetworkOperatorCertificate"):
            sender = self.keystore.user_by_eui(request.request_id.originator, request.role)
            owner = params.get("NewCredentialOwner") or (sender.name if sender else None)
        user = self.keystore.users.get(str(owner)) if owner is not None else None
        if user is not None and user.certificate is not None:
            params[CERTIFICATE_PARAM] = _der_base64(user.certificate)
            params[CA_PARAM] = _der_base64(test_ca_certificate(self.keystore.seed))
        return params

    def submit(self, request: ServiceRequest, *, sign: bool = True,
               key: KeyPair | None = None) -> ServiceResponse:
        """Send ``request`` as its signed DUIS document; keep both as evidence."""
        if request.srv not in self.catalogue:
            # No document can be written for an SRV DUIS does not have: the S1SP model says so.
            return self._runtime.run(self.s1sp.process(request))
        return self.submit_document(self.document(request, sign=sign, key=key))

    def submit_document(self, data: bytes, *,
                        command_variants: tuple[int, ...] | None = None) -> ServiceResponse:
        """A DUIS request document through the DCC's interface and the S1SP: the Service
        Response, its signed DUIS document in ``document``. ``command_variants``: those the
        web service it came by takes (a request in another is E12). Never raises for bad
        input."""
        outcome = admit(data, catalogue=self.catalogue, keystore=self.keystore,
                        schema=self.schema, now=self._runtime.clock.now())
        if (command_variants is not None and not isinstance(outcome, Refusal)
                and outcome.request.command_variant not in command_variants):
            request = outcome.request
            outcome = Refusal(f"Command Variant {request.command_variant} is not one this DUIS "
                              "web service takes", code="E12",
                              request_id=str(request.request_id), srv=request.srv,
                              service_reference=outcome.document.service_reference,
                              schema_version=outcome.document.schema_version)
        if isinstance(outcome, Refusal):
            self._record("request", {"refused_at_interface": True,
                                     "request_id": outcome.request_id, "srv": outcome.srv})
            response = self._refusal_response(outcome)
            self._record("response", response.evidence())
            return response
        request = dataclasses.replace(outcome.request, role=self._role_for(outcome))
        return self.execute(request, schema_version=outcome.document.schema_version)

    def _role_for(self, admitted: Admitted) -> str:
        """The role a User ID held in several roles sends in: the one responsible for the
        target device (its supplier, else its network operator), else the first eligible."""
        if not admitted.alternatives:
            return admitted.user.role
        record = self.inventory.get(admitted.request.target)
        kinds = ({SUPPLIER_ROLE.get(record.device_type), NETWORK_ROLE.get(record.device_type)}
                 if record is not None else set())
        for user in (admitted.user, *admitted.alternatives):
            if user.role in kinds:
                return user.role
        return admitted.user.role

    def _refusal_response(self, refusal: Refusal) -> ServiceResponse:
        response = ServiceResponse(refusal.request_id, refusal.srv, refusal.code,
                                   self._runtime.clock.now(), http_status=refusal.http_status,
                                   detail=refusal.detail)
        if refusal.code is None:
            return response
        return self._with_document(response, refusal.schema_version, refusal.request_id,
                                   service_reference=refusal.service_reference)

    def _with_document(self, response: ServiceResponse, schema_version: str,
                       request_id: str, *, service_reference: str = "",
                       from_device: bool = False) -> ServiceResponse:
        """``response`` with its DUIS document, built and signed by the DCC when first read
        (:attr:`ServiceResponse.document`); none for a response without a code (DUIS cannot
        express one). ``from_device``: the S1SP carried the request out on its device; the
        answer (I0, or the device's own refusal) is a SMETS1 Response."""
        if response.code is None:
            return response
        entry = self.catalogue.codes.get(response.code)
        own = entry is not None and not entry.duis
        reference = service_reference or (self.catalogue[response.srv].service_reference
                                          if response.srv in self.catalogue else response.srv)
        response_id = None
        smets1 = None
        try:
            rid = RequestId.parse(request_id)
            response_id = str(RequestId(rid.target, rid.originator, rid.counter))
            if from_device and (response.code == "I0" or own):
                smets1 = Smets1Origin(rid.target, rid.originator, rid.counter)
        except ValueError:
            pass
        code = entry.xml_code if own and entry is not None else response.code
        harness_code = response.code if own else None
        if self._dcc_signer is None:
            self._dcc_signer = Signer.of(self.keystore.dcc)
        signer = self._dcc_signer

        def sign_document() -> bytes:
            return serialise(signer.sign(build_response(
                request_id=request_id or None, response_id=response_id, code=code,
                harness_code=harness_code, time=response.time,
                service_reference=reference, srv=response.srv, body=response.body,
                schema_version=schema_version, smets1=smets1)))

        return dataclasses.replace(response, sign_document=sign_document)

    def execute(self, request: ServiceRequest, *,
                schema_version: str | None = None) -> ServiceResponse:
        """``request`` as the DCC passes it on once its document passed the interface:
        countersigned, through the S1SP, kept as evidence; with ``schema_version``, the
        response's DUIS document too. Called directly (no document), it is the in-process SR
        the benchmark compares DUIS XML with."""
        request = dataclasses.replace(
            request, signature=self.keystore.dcc.signing_key().sign(request.body()))
        evidence_mark = self.evidence.mark()
        alerts_mark = self.alerts.mark()
        self._record("request", request.evidence(SECRET_PARAMS))
        try:
            response = self._runtime.run(self.s1sp.process(request))
        except BaseException as exc:
            self._allure_step(request, None, evidence_mark, error=exc)
            raise
        if schema_version is not None:
            definition = self.catalogue.srvs.get(request.srv)
            response = self._with_document(
                response, schema_version, str(request.request_id),
                from_device=definition is not None and not definition.non_device
                and not definition.records_only)
        self._record("response", response.evidence())
        for raised in self.alerts.since(alerts_mark):
            self._record("alert", raised.evidence())
        self._allure_step(request, response, evidence_mark)
        return response

    def send(self, srv: str, target: str, *, role: str | None = None, user: str | None = None,
             command_variant: int | None = None, **params: Any) -> ServiceResponse:
        """Build, sign and submit an SR as its DUIS document; return the Service Response."""
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
            self.s1sp.adapters[record.eui].registration(record, self._status())

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
        """The SR as one Allure step (a no-op without allure-pytest). In a case, the step names
        its items in the case's ``dcc.json`` (attached once, linked); outside one (a fixture
        set up before the case collects evidence) they are in no case's ``dcc.json``, so the
        step attaches them itself, the very evidence items (install codes masked already)."""
        if not allure_listening():
            return
        items = self.evidence.since(evidence_mark)
        exchange: dict[str, Any] = {}
        if not self.case_evidence:
            for item in items:
                if item.kind in ("request", "operation", "response") and (
                        item.kind not in exchange):
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
        if self.case_evidence:
            if items:
                parameters["dcc.json"] = f"seq {items[0].seq}..{items[-1].seq}"
            service_request_step(title, parameters=parameters, attachments={}, error=error)
        else:
            service_request_step(title, parameters=parameters,
                                 attachments={"request and response": exchange}, error=error)

    def _role_of(self, eui: str) -> str:
        """A target as a step names it: its role on the bench, else its EUI-64."""
        if eui == self._chf.eui:
            return "CHF"
        return next((role for role, d in self._devices.items() if d.eui == eui), eui)
