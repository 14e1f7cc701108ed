"""The SRV exercises: per SRV, valid parameters, an observation of device state, the change the
SRV must make, and how to put the state back.

An exercise is data plus a few small methods (:class:`Exercise`); :data:`EXERCISES` is the
table, one entry per SRV of the SR catalogue. Observations are what a lab engineer would look
at: ZigBee reads (supply status, Price, Prepayment, Basic ``sw_build_id``), read SRs (7.4,
7.11, 6.13, 8.9), HAN events (an IHD's MessageConfirmation) and the optical readout. They
never reach into the emulator.

:class:`SrvContext` is one case's view of the bench: the device in one role, the User that may
send an SRV to it, sending with retries for *instrument* reads (a read taken only to observe
state is repeated when its response carries no code; the SRV under test never is).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from fixtures.bench import device_or_skip
from harness.dcc.firmware_image import image_parameters
from harness.han import clusters as se
from harness.han.chf import NotJoined
from harness.han.events import match, normalise_eui
from testpacks.srv.plan import permitted_role, support

if TYPE_CHECKING:
    from harness.bench import Bench, BenchDevice
    from harness.config.profiles import DeviceProfile
    from harness.dcc.catalogue import SrCatalogue, SrvDefinition
    from harness.dcc.requests import ServiceResponse
    from harness.han.device import HanDevice
    from testpacks.srv.plan import Target

#: The code of an SRV not valid for the device type or model.
NOT_SUPPORTED = "E11"
#: The code of a request by a User not authorised for the device (not its supplier).
NOT_AUTHORISED = "E4"
#: How often an instrument read is sent when its response carries no code.
INSTRUMENT_ATTEMPTS = 3
#: Bench seconds a HAN display gets to confirm a message (3.1).
CONFIRMATION_WINDOW_S = 30.0
#: JoinTimePeriod for 8.11 Add: within one ZigBee permit (254 s), so any CHF serves it.
JOIN_TIME_PERIOD_S = 240
#: Supply states by the Metering SupplyStatus value (ZigBee SE).
SUPPLY_NAMES = {0: "Off", 1: "Armed", 2: "On"}
SUPPLY_VALUES = {name: value for value, name in SUPPLY_NAMES.items()}
#: Optical readout lines that change by themselves: time and date (measurements have units).
OPTICAL_VOLATILE = frozenset({"0.9.1", "0.9.2"})
#: Optical lines of an ESME's auxiliary load switches (``1=0,2=1``) and boost button
#: configuration (``1=60`` or ``none``), where its readout has them (device_profiles/README.md);
#: compared with what the DCC reads rather than as fixed settings.
OPTICAL_AUX_LOADS = "C.90.1"
OPTICAL_BOOST = "C.90.2"
OPTICAL_LOAD_LINES = frozenset({OPTICAL_AUX_LOADS, OPTICAL_BOOST})


def parse_load_map(value: str) -> dict[str, int]:
    """``1=60,2=30`` (or ``none``) as ``{"1": 60, "2": 30}``."""
    if value in ("", "none"):
        return {}
    return {k: int(v) for k, v in (item.split("=", 1) for item in value.split(","))}
#: Roles that display messages and are joined to meters by 8.7.1, in order of preference.
HAN_DISPLAYS = ("PPMID", "IHD")


def success_code(definition: SrvDefinition) -> str:
    """I99 for an SRV the catalogue marks as acknowledged (answered before the device acts),
    I0 otherwise. The catalogue has no such marker yet: every SRV is answered I0."""
    return "I99" if getattr(definition, "acknowledged", False) else "I0"


class SrvContext:
    """One case's view of the bench: the device in ``role`` and the DCC that reaches it."""

    def __init__(self, bench: Bench, dcc: Any, role: str) -> None:
        self.bench = bench
        self.dcc = dcc
        self.role = role
        self.catalogue: SrCatalogue = dcc.catalogue
        self.device: BenchDevice | None = None
        if role == "CHF":
            self.eui = bench.chf.eui
            profile = bench.chf_profile
            assert profile is not None, "the bench has no CHF profile"
            self.profile: DeviceProfile = profile
        else:
            self.device = device_or_skip(bench, role)
            self.eui = self.device.eui
            self.profile = self.device.profile

    # -- the device ---------------------------------------------------------------------------
    def ready(self) -> None:
        """Every HAN device joined, as a case expects to find them (a case before may have
        taken one off the HAN and failed before putting it back)."""
        for device in self.bench.devices.values():
            if not device.is_joined:
                try:
                    device.commission()
                except NotJoined as exc:
                    raise NotJoined(f"{device.role} is needed by this case but could not be "
                                    f"joined: {exc}") from None

    @property
    def zigbee(self) -> HanDevice:
        assert self.device is not None, "the CHF is not read over ZigBee"
        return self.device.zigbee

    def role_of(self, eui: str) -> str:
        eui = normalise_eui(eui)
        if eui == self.bench.chf.eui:
            return "CHF"
        return next((d.role for d in self.bench.devices.values() if d.eui == eui), eui)

    def displays(self) -> list[BenchDevice]:
        """The DMC's PPMID and IHD on this bench, PPMID first."""
        return [self.bench.devices[r] for r in HAN_DISPLAYS if r in self.bench.devices]

    def supports(self, srv: str, role: str | None = None) -> bool:
        """Whether the device in ``role`` (default: this case's) must support ``srv``."""
        role = role or self.role
        definition = self.catalogue.srvs.get(srv)
        if definition is None or role not in definition.device_types:
            return False
        profile = self.profile if role == self.role else self._profile_of(role)
        return profile is not None and support(profile, srv).supported

    def _profile_of(self, role: str) -> DeviceProfile | None:
        if role == "CHF":
            return self.bench.chf_profile
        device = self.bench.devices.get(role)
        return device.profile if device is not None else None

    # -- sending ------------------------------------------------------------------------------
    def sender(self, srv: str, role: str | None = None) -> str:
        """The User that sends ``srv`` to the device in ``role``: its responsible supplier or
        network operator as the DCC registered them, else the bench's User of that role."""
        role = role or self.role
        user_role = permitted_role(self.catalogue[srv], role)
        assert user_role is not None, f"no User Role may send SR {srv} to a {role}"
        eui = self.bench.chf.eui if role == "CHF" else self.bench.devices[role].eui
        record = self.dcc.inventory.get(eui)
        user = None
        if record is not None and user_role in ("IS", "GS"):
            user = record.responsible_supplier
        elif record is not None and user_role in ("ED", "GT"):
            user = record.network_operator
        return user or self.dcc.keystore.user_for_role(user_role).name

    def send(self, srv: str, *, role: str | None = None, user: str | None = None,
             **params: Any) -> ServiceResponse:
        """Send ``srv`` to the device in ``role`` (default: this case's) as its User."""
        role = role or self.role
        target = self.bench.chf.eui if role == "CHF" else self.bench.devices[role].eui
        return self.dcc.send(srv, target, user=user or self.sender(srv, role), **params)

    def read(self, srv: str, *, role: str | None = None, user: str | None = None,
             accept: tuple[str, ...] = (), **params: Any) -> ServiceResponse:
        """An instrument: ``srv`` sent to observe state. Repeated when the response carries no
        code; any code but success (or one in ``accept``) fails the case."""
        response = self.send(srv, role=role, user=user, **params)
        for _ in range(INSTRUMENT_ATTEMPTS - 1):
            if response.code is not None:
                break
            response = self.send(srv, role=role, user=user, **params)
        wanted = (success_code(self.catalogue[srv]), *accept)
        if response.code not in wanted:
            raise AssertionError(f"observing by SR {srv} to the {role or self.role}: "
                                 f"{self.describe(response)}")
        return response

    def describe(self, response: ServiceResponse) -> str:
        """A response as failure messages show it; a missing code reads "no response code"."""
        if response.code is None:
            text = "no response code" + (f" (HTTP {response.http_status})"
                                         if response.http_status != 200 else "")
        else:
            text = f"{response.code} ({self.catalogue.meaning(response.code)})"
        return text + (f": {response.detail}" if response.detail else "")

    def is_success(self, srv: str, response: ServiceResponse) -> bool:
        return response.code == success_code(self.catalogue[srv])

    # -- observations -------------------------------------------------------------------------
    def supply(self, role: str | None = None) -> str:
        device = self.bench.devices[role] if role else self.device
        assert device is not None
        value = int(device.zigbee.read_one("metering", "supply_status"))
        return SUPPLY_NAMES.get(value, str(value))

    def log(self, kind: str = "Event") -> list[Any] | None:
        """The device's Event or Security log read by 6.13 (``None`` if it has no 6.13)."""
        if not self.supports("6.13"):
            return None
        entries = self.read("6.13", LogType=kind).body.get("entries")
        if not isinstance(entries, list):
            raise AssertionError(f"6.13 {kind} log of the {self.role}: no list of entries in "
                                 f"the response body")
        return entries

    def boost(self) -> dict[str, Any] | None:
        """The boost button configuration read by 7.11 (``None`` if it has no 7.11)."""
        if not self.supports("7.11"):
            return None
        boost = self.read("7.11").body.get("boost")
        if not isinstance(boost, dict):
            raise AssertionError(f"7.11 of the {self.role}: no boost configuration in the "
                                 "response body")
        return {str(k): v for k, v in boost.items()}

    def optical(self) -> tuple[tuple[str, str], ...] | None:
        """The optical readout's settings lines (not measurements, time or date), if the bench
        has a probe on the device."""
        if self.device is None or not self.device.has_optical:
            return None
        readout = self.device.read_optical()
        return tuple((line.address, line.value) for line in readout.lines
                     if line.unit is None and line.address not in OPTICAL_VOLATILE
                     and line.address not in OPTICAL_LOAD_LINES)

    def optical_loads(self) -> dict[str, dict[str, int]] | None:
        """The readout's auxiliary load switches and boost configuration, if it shows them."""
        if self.device is None or not self.device.has_optical:
            return None
        lines = {line.address: line.value for line in self.device.read_optical().lines}
        if not set(lines) >= OPTICAL_LOAD_LINES:
            return None
        return {"switches": parse_load_map(lines[OPTICAL_AUX_LOADS]),
                "boost": parse_load_map(lines[OPTICAL_BOOST])}

    def aux_switch(self) -> bool | None:
        """Auxiliary load switch 1 over ZigBee (On/Off), if the meter serves it."""
        if self.device is None or not self.zigbee.has_server_cluster("on_off"):
            return None
        return bool(self.zigbee.read_one("on_off", "on_off"))

    def device_log(self) -> dict[str, bool]:
        """The CHF device log read by 8.9: joined flag by EUI-64."""
        body = self.read("8.9", role="CHF").body
        entries = body.get("DeviceLog")
        if not isinstance(entries, list):
            raise AssertionError("8.9: no DeviceLog list in the response body")
        return {normalise_eui(e["DeviceID"]): bool(e.get("Joined")) for e in entries}

    def confirmations(self, mark: int, message_id: Any, euis: list[str],
                      window: float = CONFIRMATION_WINDOW_S) -> set[str]:
        """Which of ``euis`` sent a MessageConfirmation (for ``message_id``, if given) after
        event ``mark``, waiting up to ``window`` bench seconds in all."""
        clock = self.bench.clock
        deadline = clock.monotonic() + window

        def for_message(event: Any) -> bool:
            value = event.value if isinstance(event.value, dict) else {}
            return message_id is None or value.get("message_id") == message_id

        confirmed = set()
        for eui in euis:
            matcher = match("command", device=eui, name="message_confirmation",
                            where=for_message)
            with contextlib.suppress(TimeoutError):
                self.bench.events.expect(matcher, max(0.0, deadline - clock.monotonic()),
                                         since=mark)
                confirmed.add(normalise_eui(eui))
        return confirmed

    def displays_reached(self) -> frozenset[str] | None:
        """Roles of the displays a message sent through this meter (3.1) reaches: the PPMID
        and IHD joined to it. ``None`` if the meter has no 3.1."""
        if not self.supports("3.1"):
            return None
        mark = self.bench.events.mark()
        response = self.read("3.1", accept=("E030101",), Message="DMCT SRV pack: which "
                             "displays are joined?", DurationMinutes=1)
        euis = [d.eui for d in self.displays()]
        confirmed = self.confirmations(mark, response.body.get("MessageId"), euis)
        return frozenset(self.role_of(eui) for eui in confirmed)


# -- restoring --------------------------------------------------------------------------------

def drive(ctx: SrvContext, srv: str, done: Callable[[], bool], goal: str,
          **params: Any) -> None:
    """Send ``srv`` until ``done()`` (at most twice), to ``goal`` (for the failure message).
    Judged by the state, not the response code: a response without a code that did the job is
    fine here (only the SRV under test is judged by its code)."""
    if done():
        return
    response = None
    for _ in range(2):
        response = ctx.send(srv, **params)
        if done():
            return
    assert response is not None
    raise AssertionError(f"could not {goal} of the {ctx.role}: SR {srv} answered "
                         f"{ctx.describe(response)}")


def supply_on(ctx: SrvContext) -> None:
    """Put the meter's supply back on: 7.1 where the meter has it; otherwise (gas) arm it
    (7.3) and restore it on the HAN as the consumer does (ZCL LocalChangeSupply)."""
    if ctx.supply() == "On":
        return
    if ctx.supports("7.1"):
        drive(ctx, "7.1", lambda: ctx.supply() == "On", "put back on the supply")
        return
    if ctx.supply() == "Off" and ctx.supports("7.3"):
        ctx.send("7.3")
    with contextlib.suppress(Exception):  # judged by the read below
        ctx.zigbee.command("metering", "local_change_supply",
                           proposed_supply_status=SUPPLY_VALUES["On"])
    state = ctx.supply()
    assert state == "On", (f"could not put the {ctx.role}'s supply back on: it reads {state} "
                           "after 7.3 and a local ChangeSupply on the HAN")


def supply_off(ctx: SrvContext) -> None:
    """Switch the meter's supply off: 7.2 where supported, else on the HAN."""
    if ctx.supply() == "Off":
        return
    if ctx.supports("7.2"):
        drive(ctx, "7.2", lambda: ctx.supply() == "Off", "switch off the supply")
        return
    with contextlib.suppress(Exception):
        ctx.zigbee.command("metering", "local_change_supply",
                           proposed_supply_status=SUPPLY_VALUES["Off"])
    state = ctx.supply()
    assert state == "Off", f"could not switch the {ctx.role}'s supply off: it reads {state}"


# -- the exercise model -----------------------------------------------------------------------

class Exercise:
    """How one SRV is exercised. Subclasses override what differs from "no observation"."""

    srv: str = ""
    #: A read SR: no state change; its body is checked against the device (``check_read``).
    read_only: bool = False
    #: Makes a change no DCC User can undo (decommissioning): marked ``destructive``.
    destructive: bool = False
    #: What :meth:`observe` shows, for messages.
    what: str = "device state"

    def observe(self, ctx: SrvContext) -> Any:
        """A snapshot of the state the SRV acts on (``None``: nothing observable)."""
        return None

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        """Bring the device where the SRV's change shows; True if anything was done."""
        return False

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {}

    def expected_codes(self, ctx: SrvContext, before: Any) -> tuple[str, ...]:
        return (success_code(ctx.catalogue[self.srv]),)

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        """What :meth:`observe` must show once the SRV executed (``None``: not checked)."""
        return None

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        """Why the state after the SRV is not what it should make it, or ``None``."""
        wanted = self.expected(ctx, params, before)
        if wanted is None:
            return None
        after = self.observe(ctx)
        if after != wanted:
            return f"{self.what} went from {before!r} to {after!r}, expected {wanted!r}"
        return None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        """Why the state shows a change after a refused SRV, or ``None``."""
        if self.read_only or before is None:
            return None
        after = self.observe(ctx)
        if after != before:
            return f"{self.what} changed from {before!r} to {after!r}"
        return None

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        """For a read SR: why its body disagrees with the device, or ``None``."""
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        """Put back what the case changed (``original``: :meth:`observe` before anything)."""


@contextlib.contextmanager
def restoring(exercise: Exercise, ctx: SrvContext, original: Any) -> Iterator[None]:
    """Run the body, then :meth:`Exercise.restore`; a restore failure never hides the body's."""
    try:
        yield
    except BaseException as exc:
        try:
            exercise.restore(ctx, original)
        except Exception as problem:  # the body's failure is the one to report
            exc.add_note(f"restoring the state afterwards failed too: {problem}")
        raise
    exercise.restore(ctx, original)


def _other(value: int, step: int, maximum: int) -> int:
    """A valid value different from ``value``."""
    return value + step if value + step <= maximum else value - step


# -- reads --------------------------------------------------------------------------------------

class RegisterRead(Exercise):
    """4.1.1: the import register between two ZigBee reads of it, taken around the SR."""

    srv = "4.1.1"
    read_only = True

    def observe(self, ctx: SrvContext) -> Any:
        assert ctx.device is not None
        return ctx.device.read_register_kwh()

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        assert ctx.device is not None
        after = ctx.device.read_register_kwh()
        value = response.body.get("ImportRegister")
        if value is None:
            return f"the body has no ImportRegister: {response.body}"
        reading = Decimal(str(value))
        if response.body.get("Unit", "kWh") != "kWh":
            return f"the register is in {response.body['Unit']}, not kWh"
        rounding = Decimal("0.001")
        if not before - rounding <= reading <= after + rounding:
            return (f"it reads {reading} kWh while ZigBee read {before} kWh before and "
                    f"{after} kWh after")
        return None


class SupplyRead(Exercise):
    """7.4: the supply status the meter shows in Metering SupplyStatus."""

    srv = "7.4"
    read_only = True

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.supply()

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        after = ctx.supply()
        said = response.body.get("SupplyStatus")
        if said not in (before, after):
            return f"it says SupplyStatus {said!r}, ZigBee SupplyStatus reads {after}"
        return None


class LogRead(Exercise):
    """6.13: both logs read; each a list of entries, and a second read keeps what the first
    showed (a log only grows)."""

    srv = "6.13"
    read_only = True

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"LogType": "Event"}

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        first = response.body.get("entries")
        if not isinstance(first, list) or not all(isinstance(e, dict) for e in first):
            return f"the body has no list of log entries: {response.body}"
        again = ctx.log("Event")
        if first and again is not None and first[-1] not in again:
            return f"a second read no longer shows the latest entry {first[-1]}"
        security = ctx.log("Security")
        if security is not None and not all(isinstance(e, dict) for e in security):
            return "the Security log is not a list of entries"
        return None


class BoostRead(Exercise):
    """7.11: the boost configuration, stable between two reads; present if the model is
    documented to keep the boost configured on the HAN (``expectations``)."""

    srv = "7.11"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        boost = response.body.get("boost")
        if not isinstance(boost, dict):
            return f"the body has no boost configuration: {response.body}"
        again = ctx.boost()
        if again != {str(k): v for k, v in boost.items()}:
            return f"two reads disagree: {boost} then {again}"
        if ctx.profile.expectations.boost_from_han_config and not boost:
            return ("no boost configured, but the model is documented to keep its HAN boost "
                    "configuration (expectations.boost_from_han_config)")
        return None


class Commission(Exercise):
    """8.1.1: the device, already on the HAN, is (still) commissioned and answers ZigBee."""

    srv = "8.1.1"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        status = response.body.get("Status", "commissioned")
        if status != "commissioned":
            return f"it reports the device {status}"
        try:
            ctx.zigbee.read_one("basic", "manufacturer")
        except Exception as exc:
            return f"the device no longer answers over ZigBee: {exc}"
        return None


class DeviceLogRead(Exercise):
    """8.9: every device of the installation listed, joined exactly when it answers ZigBee."""

    srv = "8.9"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        entries = response.body.get("DeviceLog")
        if not isinstance(entries, list):
            return f"the body has no DeviceLog list: {response.body}"
        logged = {normalise_eui(e["DeviceID"]): bool(e.get("Joined")) for e in entries}
        problems = []
        for device in ctx.bench.devices.values():
            if device.eui not in logged:
                problems.append(f"the {device.role} is not in the device log")
                continue
            try:
                device.zigbee.read_one("basic", "manufacturer")
                answers = True
            except Exception:
                answers = False
            if logged[device.eui] != answers:
                problems.append(f"the {device.role} is listed "
                                f"{'joined' if logged[device.eui] else 'not joined'} but "
                                f"{'answers' if answers else 'does not answer'} over ZigBee")
        return "; ".join(problems) or None


class InventoryRead(Exercise):
    """8.2 (non-device): the DCC's record of the device: its id, its type and who supplies it."""

    srv = "8.2"
    read_only = True

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        body = response.body
        eui = ctx.bench.chf.eui if ctx.role == "CHF" else ctx.bench.devices[ctx.role].eui
        problems = []
        if normalise_eui(str(body.get("DeviceID", ""))) != eui:
            problems.append(f"DeviceID {body.get('DeviceID')!r}, not the {ctx.role} {eui}")
        if body.get("DeviceType") != ctx.role:
            problems.append(f"DeviceType {body.get('DeviceType')!r}, not {ctx.role}")
        if ctx.role in ("ESME", "GSME") and not body.get("ResponsibleSupplier"):
            problems.append("the responsible supplier cannot be identified")
        return "; ".join(problems) or None


# -- configuration seen in the device's logs ---------------------------------------------------

class LoggedConfiguration(Exercise):
    """An SRV whose only trace a DCC User can read is an entry in the device's log (6.13)."""

    log_type = "Event"
    fixed_params: dict[str, Any] = {}
    what = "the device's log (6.13)"

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.log(self.log_type)

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return dict(self.fixed_params)

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        if before is None:
            return None
        after = self.observe(ctx)
        if after == before:
            return f"the device's {self.log_type} log (6.13) shows no new entry"
        return None


class GasFlow(LoggedConfiguration):
    srv = "6.7"
    fixed_params = {"UncontrolledGasFlowThreshold": 120,
                    "StabilisationPeriod": 10, "MeasurementPeriod": 60}


class ClockSync(LoggedConfiguration):
    srv = "6.11"


class Voltage(LoggedConfiguration):
    srv = "6.5"
    fixed_params = {"AverageRmsOverVoltageThreshold": 253,
                    "AverageRmsUnderVoltageThreshold": 216}


class Credentials(LoggedConfiguration):
    """6.15.1 with a certificate, replaced by the supplier with its own. Management key
    rotation is the migration packs' (110031)."""

    srv = "6.15.1"
    log_type = "Security"
    fixed_params = {"CredentialType": "SupplierCertificate"}


# -- tariff, credit, messages -------------------------------------------------------------------

class Tariff(Exercise):
    """1.1.1: the new unit rate and standing charge readable from the Price cluster."""

    srv = "1.1.1"
    what = "the Price cluster's tariff"

    def observe(self, ctx: SrvContext) -> Any:
        if not ctx.zigbee.has_server_cluster("price"):
            return None
        values = ctx.zigbee.read("price", "no_tier_block1_price", "standing_charge")
        return {"UnitRate": int(values["no_tier_block1_price"]),
                "StandingCharge": int(values["standing_charge"])}

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        spec = ctx.catalogue[self.srv].parameters
        base = before or {"UnitRate": 2000, "StandingCharge": 4000}
        return {name: _other(base[name], step, spec[name].max or 100_000_000)
                for name, step in (("UnitRate", 137), ("StandingCharge", 211))}

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        return None if before is None else dict(params)

    def restore(self, ctx: SrvContext, original: Any) -> None:
        if original is not None:
            drive(ctx, self.srv, lambda: self.observe(ctx) == original, "put back the tariff",
                  **original)


class TopUp(Exercise):
    """2.2: credit up by the amount on a meter in prepayment mode; a meter in credit mode
    answers the catalogue's E020202 (not in prepayment mode) and keeps its credit."""

    srv = "2.2"
    what = "the Prepayment cluster's credit"
    amount = 250
    #: Credit a prepayment meter may spend between the two reads (pence).
    spend_tolerance = 1

    def observe(self, ctx: SrvContext) -> Any:
        if not ctx.zigbee.has_server_cluster("prepayment"):
            return None
        values = ctx.zigbee.read("prepayment", "payment_control_configuration",
                                 "credit_remaining")
        mode = int(values["payment_control_configuration"])
        return {"prepayment": bool(mode & se.PaymentControlConfiguration.Prepayment_Enabled),
                "credit": int(values["credit_remaining"])}

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"Amount": self.amount}

    def expected_codes(self, ctx: SrvContext, before: Any) -> tuple[str, ...]:
        if before is not None and not before["prepayment"]:
            return ("E020202",)
        return super().expected_codes(ctx, before)

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        if before is None:
            return None
        after = self.observe(ctx)
        if not before["prepayment"]:
            return None if after == before else (
                f"the meter is in credit mode, yet {self.what} went from {before} to {after}")
        gained = after["credit"] - before["credit"]
        if not params["Amount"] - self.spend_tolerance <= gained <= params["Amount"]:
            return (f"credit went from {before['credit']}p to {after['credit']}p, expected up "
                    f"by {params['Amount']}p")
        return None


class DisplayMessage(Exercise):
    """3.1: each display the response names (or every joined PPMID/IHD) confirms the message
    (ZCL MessageConfirmation on the HAN)."""

    srv = "3.1"
    what = "messages on the HAN displays"

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.bench.events.mark()

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"Message": f"DMCT SRV pack: SR 3.1 through the {ctx.role}",
                "DurationMinutes": 5}

    def expected_codes(self, ctx: SrvContext, before: Any) -> tuple[str, ...]:
        if not any(d.is_joined for d in ctx.displays()):
            return ("E030101",)  # no IHD or PPMID joined to show it
        return super().expected_codes(ctx, before)

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        named = response.body.get("DisplayedOn")
        if response.code == "E030101":
            named = []
        elif not isinstance(named, list):
            named = [d.eui for d in ctx.displays() if d.is_joined]
        euis = [normalise_eui(e) for e in named]
        confirmed = ctx.confirmations(before, response.body.get("MessageId"), euis)
        missing = [ctx.role_of(e) for e in euis if e not in confirmed]
        if missing:
            return (f"no MessageConfirmation from the {', '.join(missing)} within "
                    f"{CONFIRMATION_WINDOW_S:g} s")
        return None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        shown = ctx.confirmations(before, None, [d.eui for d in ctx.displays()])
        if shown:
            return f"the message was shown on the {', '.join(map(ctx.role_of, shown))}"
        return None


class ChangeOfSupplier(Exercise):
    """6.23: afterwards the device answers the new supplier and refuses the old one (E4);
    put back by the new supplier. (The CoS loss alert is the migration packs' case, 61224.)"""

    srv = "6.23"
    what = "the supplier the device answers"

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.sender(self.srv)

    def _probe(self, ctx: SrvContext) -> tuple[str, dict[str, Any]]:
        for srv, params in (("7.4", {}), ("4.1.1", {}), ("6.13", {"LogType": "Event"})):
            if ctx.supports(srv):
                return srv, params
        pytest.skip(f"blocked: the {ctx.role} supports no read SR to tell who it answers")
        raise AssertionError  # unreachable

    def _new_supplier(self, ctx: SrvContext, current: str) -> str:
        role = ctx.dcc.keystore.user(current).role
        others = sorted(u.name for u in ctx.dcc.keystore.users.values()
                        if u.role == role and u.name != current)
        if not others:
            pytest.skip(f"blocked: bench {ctx.bench.lab.bench} has a single {role} User; "
                        "a change of supplier needs two")
        return others[0]

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"NewSupplier": self._new_supplier(ctx, before)}

    def _answers(self, ctx: SrvContext, user: str) -> bool | str | None:
        """True if the device answers ``user`` (a read probe succeeds), else the code."""
        srv, params = self._probe(ctx)
        response = ctx.send(srv, user=user, **params)
        for _ in range(INSTRUMENT_ATTEMPTS - 1):
            if response.code is not None:
                break
            response = ctx.send(srv, user=user, **params)
        return True if ctx.is_success(srv, response) else response.code

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        new, old = params["NewSupplier"], before
        problems = []
        if (code := self._answers(ctx, new)) is not True:
            problems.append(f"the new supplier {new} is answered {code}")
        if (code := self._answers(ctx, old)) != NOT_AUTHORISED:
            problems.append(f"the old supplier {old} is answered {code}, not {NOT_AUTHORISED}")
        return "; ".join(problems) or None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        new, old = params["NewSupplier"], before
        problems = []
        if (code := self._answers(ctx, old)) is not True:
            problems.append(f"the supplier {old} is no longer answered ({code})")
        if (code := self._answers(ctx, new)) != NOT_AUTHORISED:
            problems.append(f"the other supplier {new} is answered {code}")
        return "; ".join(problems) or None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        for _ in range(2):
            current = ctx.sender(self.srv)
            if current == original:
                return
            ctx.send(self.srv, user=current, NewSupplier=original)
        assert ctx.sender(self.srv) == original, (
            f"could not give the {ctx.role} back to its supplier {original}")


# -- supply -------------------------------------------------------------------------------------

class Supply(Exercise):
    """7.1 / 7.2 / 7.3: Metering SupplyStatus reads On / Off / Armed afterwards."""

    what = "the Metering SupplyStatus"

    def __init__(self, srv: str, target: str, start: str) -> None:
        #: The state the SRV must leave, and the state to start from so the change shows.
        self.srv, self.target, self.start = srv, target, start

    def observe(self, ctx: SrvContext) -> Any:
        return ctx.supply()

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if original == self.start:
            return False
        (supply_on if self.start == "On" else supply_off)(ctx)
        return True

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        return self.target

    def restore(self, ctx: SrvContext, original: Any) -> None:
        supply_on(ctx)


# -- auxiliary load and boost --------------------------------------------------------------------

class AuxLoad(Exercise):
    """7.5 / 7.6: the switch shows in the device's event log; the boost configuration (7.11)
    and the optical readout's settings stay as they were. Refused: nothing changes."""

    what = "event log, boost configuration (7.11) and optical settings"
    load = 1

    def __init__(self, srv: str) -> None:
        self.srv = srv

    def observe(self, ctx: SrvContext) -> Any:
        loads = ctx.optical_loads()
        return {"event_log": ctx.log("Event"), "boost": ctx.boost(), "optical": ctx.optical(),
                "switch_zigbee": ctx.aux_switch(),
                "switch_optical": None if loads is None else loads["switches"].get("1")}

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if self.srv == "7.6" and ctx.supports("7.5"):  # something to deactivate
            ctx.send("7.5", AuxiliaryLoad=self.load)
            return True
        return False

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"AuxiliaryLoad": self.load}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        after = self.observe(ctx)
        problems = []
        if before["event_log"] is not None and after["event_log"] == before["event_log"]:
            problems.append("the event log (6.13) shows no new entry")
        for key in ("boost", "optical"):
            if after[key] != before[key]:
                problems.append(f"{key} changed from {before[key]} to {after[key]}")
        on = self.srv == "7.5"
        if after["switch_zigbee"] is not None and after["switch_zigbee"] != on:
            problems.append(f"the switch reads {'on' if after['switch_zigbee'] else 'off'} "
                            "over ZigBee (On/Off)")
        if after["switch_optical"] is not None and after["switch_optical"] != int(on):
            problems.append(f"the optical readout shows load 1 = {after['switch_optical']}")
        return "; ".join(problems) or None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        after = self.observe(ctx)
        changed = [f"{key} from {before[key]} to {after[key]}" for key in before
                   if after[key] != before[key]]
        return ("changed: " + "; ".join(changed)) if changed else None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        if self.srv == "7.5" and ctx.supports("7.6"):
            ctx.send("7.6", AuxiliaryLoad=self.load)


class Boost(Exercise):
    """7.9 / 7.10: the boost configuration read by 7.11 gains / loses the load; the optical
    readout's settings agree. Refused: neither changes (Liberty 110: restricted)."""

    what = "boost configuration (7.11) and optical settings"
    duration_min = 45

    def __init__(self, srv: str) -> None:
        self.srv = srv

    def observe(self, ctx: SrvContext) -> Any:
        loads = ctx.optical_loads()
        return {"boost": ctx.boost(), "optical": ctx.optical(),
                "optical_boost": None if loads is None else loads["boost"]}

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if self.srv == "7.10" and original["boost"] == {} and ctx.supports("7.9"):
            ctx.send("7.9", AuxiliaryLoad=2, BoostDurationMinutes=30)  # something to remove
            return True
        return False

    def _load(self, before: Any) -> int:
        configured = sorted(int(k) for k in (before["boost"] or {}))
        if self.srv == "7.10":
            return configured[0] if configured else 1
        return next((n for n in range(1, 6) if n not in configured), 1)

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        load = self._load(before)
        if self.srv == "7.10":
            return {"AuxiliaryLoad": load}
        current = (before["boost"] or {}).get(str(load))
        duration = self.duration_min if current != self.duration_min else self.duration_min + 5
        return {"AuxiliaryLoad": load, "BoostDurationMinutes": duration}

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        if before["boost"] is None:
            return None
        boost = dict(before["boost"])
        load = str(params["AuxiliaryLoad"])
        if self.srv == "7.9":
            boost[load] = params["BoostDurationMinutes"]
        else:
            boost.pop(load, None)
        optical_boost = None if before["optical_boost"] is None else dict(boost)
        return {"boost": boost, "optical": before["optical"], "optical_boost": optical_boost}

    def restore(self, ctx: SrvContext, original: Any) -> None:
        if original["boost"] is None:
            return
        current = ctx.boost() or {}
        for load in sorted(set(current) - set(original["boost"])):
            if ctx.supports("7.10"):
                ctx.send("7.10", AuxiliaryLoad=int(load))
        for load, duration in sorted(original["boost"].items()):
            if current.get(load) != duration and ctx.supports("7.9"):
                ctx.send("7.9", AuxiliaryLoad=int(load), BoostDurationMinutes=int(duration))
        after = ctx.boost()
        assert after == original["boost"], (
            f"could not put the boost configuration back: {after}, was {original['boost']}")


# -- HAN services and the device log -------------------------------------------------------------

class JoinService(Exercise):
    """8.7.1 / 8.8.1: a message sent through the meter (3.1) reaches / no longer reaches the
    PPMID (else the IHD); without 3.1 on the meter, its event log shows the change."""

    what = "displays reached through the meter (3.1), else its event log"

    def __init__(self, srv: str) -> None:
        self.srv = srv
        self.join = srv == "8.7.1"

    def _other(self, ctx: SrvContext) -> BenchDevice:
        displays = ctx.displays()
        if not displays:
            pytest.skip(f"not applicable: DMC {ctx.bench.dmc.id} has no PPMID or IHD to join "
                        "to a meter")
        return displays[0]

    def observe(self, ctx: SrvContext) -> Any:
        reached = ctx.displays_reached()
        return reached if reached is not None else ctx.log("Event")

    def _set(self, ctx: SrvContext, joined: bool) -> None:
        srv = "8.7.1" if joined else "8.8.1"
        if ctx.supports(srv):
            ctx.read(srv, accept=("E080702", "E080801"), OtherDeviceID=self._other(ctx).eui)

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        if isinstance(original, frozenset):
            role = self._other(ctx).role
            if (role in original) == (not self.join):
                return False
        self._set(ctx, joined=not self.join)
        return True

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {"OtherDeviceID": self._other(ctx).eui}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        after = self.observe(ctx)
        if isinstance(after, frozenset):
            role = self._other(ctx).role
            if (role in after) != self.join:
                state = "does not reach" if self.join else "still reaches"
                return f"a message through the {ctx.role} {state} the {role} ({sorted(after)})"
            return None
        if before is not None and after == before:
            return "the event log (6.13) shows no new entry"
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        self._set(ctx, joined=True)
        if isinstance(original, frozenset):
            after = self.observe(ctx)
            assert after == original, (f"could not restore the displays reached through the "
                                       f"{ctx.role}: {sorted(after)}, was {sorted(original)}")


class DeviceLogUpdate(Exercise):
    """8.11: Remove takes the IHD (else the PPMID) out of the device log and off the HAN; Add
    with its install code lets it join inside the JoinTimePeriod, listed joined by 8.9."""

    srv = "8.11"
    what = "the device log (8.9) and the HAN"

    def _device(self, ctx: SrvContext) -> BenchDevice:
        for role in reversed(HAN_DISPLAYS):
            if role in ctx.bench.devices:
                return ctx.bench.devices[role]
        pytest.skip(f"not applicable: DMC {ctx.bench.dmc.id} has no IHD or PPMID to add to "
                    "the device log")
        raise AssertionError  # unreachable

    def observe(self, ctx: SrvContext) -> Any:
        device = self._device(ctx)
        logged = ctx.device_log()
        return {"listed": device.eui in logged, "listed_joined": logged.get(device.eui, False),
                "on_han": device.is_joined}

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        device = self._device(ctx)
        response = ctx.send(self.srv, DeviceID=device.eui, RequestType="Remove")
        assert ctx.is_success(self.srv, response), (
            f"8.11 Remove of the {device.role}: {ctx.describe(response)}")
        state = self.observe(ctx)
        assert not state["listed"] and not state["on_han"], (
            f"after 8.11 Remove the {device.role} is still "
            f"{'in the device log' if state['listed'] else 'on the HAN'}")
        return True

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        device = self._device(ctx)
        return {"DeviceID": device.eui, "RequestType": "Add",
                "JoinTimePeriod": JOIN_TIME_PERIOD_S,
                "InstallCode": device.install_code.reveal()}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        device = self._device(ctx)
        try:
            device.wait_joined(JOIN_TIME_PERIOD_S)
        except NotJoined:
            if device.power is None:
                return f"the {device.role} did not join within {JOIN_TIME_PERIOD_S} s"
            device.power.cycle()  # a device that gave up trying joins again after power-on
            try:
                device.wait_joined(JOIN_TIME_PERIOD_S)
            except NotJoined:
                return (f"the {device.role} did not join within the JoinTimePeriod, even "
                        "after a power cycle")
        state = self.observe(ctx)
        if not state["listed_joined"]:
            return f"the {device.role} joined but 8.9 does not list it joined: {state}"
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        device = self._device(ctx)
        if not device.is_joined:
            device.commission(JOIN_TIME_PERIOD_S)


class Decommission(Exercise):
    """8.3: a decommissioned device is refused SRs (E5). Only a new enrolment undoes it, so
    the case is destructive. Refused: the device stays joined and listed by 8.9."""

    srv = "8.3"
    destructive = True
    what = "the device's place on the HAN and in the device log"

    def observe(self, ctx: SrvContext) -> Any:
        logged = ctx.device_log()
        return {"on_han": ctx.device is not None and ctx.device.is_joined,
                "listed": ctx.eui in logged}

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        probe = next((s for s in ("8.1.1", "7.4", "6.13") if ctx.supports(s)), None)
        if probe is None:
            return None
        answer = ctx.send(probe, **({"LogType": "Event"} if probe == "6.13" else {}))
        if answer.code != "E5":
            return f"the decommissioned device is answered {ctx.describe(answer)} to {probe}"
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        record = ctx.dcc.inventory.get(ctx.eui)
        if record is not None and record.status == "decommissioned":
            ctx.dcc.reset_enrolment()
        assert ctx.device is not None
        if not ctx.device.is_joined:
            ctx.device.commission()


# -- firmware ----------------------------------------------------------------------------------

class Firmware(Exercise):
    """11.1 / 11.4: Basic ``sw_build_id`` reads the new version; the old one is put back."""

    what = "the firmware version (Basic sw_build_id)"
    versions = ("SRV-CHECK-1", "SRV-CHECK-2")

    def __init__(self, srv: str) -> None:
        self.srv = srv

    def observe(self, ctx: SrvContext) -> Any:
        return str(ctx.zigbee.read_one("basic", "sw_build_id"))

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        version = self.versions[0] if before != self.versions[0] else self.versions[1]
        return image_parameters(ctx.profile.manufacturer, version)

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        return params["FirmwareVersion"]

    def restore(self, ctx: SrvContext, original: Any) -> None:
        drive(ctx, self.srv, lambda: self.observe(ctx) == original,
              f"put back firmware {original}",
              **image_parameters(ctx.profile.manufacturer, original))


#: The exercises by SRV: one per SRV of the SR catalogue (a harness test checks it).
class Unmodelled(Exercise):
    """An SRV of the DUIS catalogue whose body the harness does not model (6.12, 6.14.x, 6.22,
    7.7, 7.8, 7.12, 7.13): sent without parameters, judged by its response code only."""

    def __init__(self, srv: str) -> None:
        self.srv = srv


EXERCISES: dict[str, Exercise] = {exercise.srv: exercise for exercise in (
    Tariff(),
    TopUp(),
    DisplayMessage(),
    RegisterRead(),
    GasFlow(),
    ClockSync(),
    LogRead(),
    Voltage(),
    Credentials(),
    ChangeOfSupplier(),
    Supply("7.1", target="On", start="Off"),
    Supply("7.2", target="Off", start="On"),
    Supply("7.3", target="Armed", start="Off"),
    SupplyRead(),
    AuxLoad("7.5"),
    AuxLoad("7.6"),
    Boost("7.9"),
    Boost("7.10"),
    BoostRead(),
    Commission(),
    Decommission(),
    JoinService("8.7.1"),
    JoinService("8.8.1"),
    DeviceLogRead(),
    InventoryRead(),
    DeviceLogUpdate(),
    Firmware("11.1"),
    Firmware("11.4"),
    *(Unmodelled(srv) for srv in ("6.12", "6.14.1", "6.14.2", "6.14.3", "6.22", "7.7", "7.8",
                                  "7.12", "7.13")),
)}


def case_marks(target: Target) -> list[Any]:
    """The markers of a case about ``target``: its SRV, the device it needs (the CHF is always
    there), and ``destructive`` when the SRV's exercise is."""
    marks = [pytest.mark.srv(target.srv)]
    if target.role != "CHF":
        marks.append(pytest.mark.device(target.role))
    exercise = EXERCISES.get(target.srv)
    if exercise is not None and exercise.destructive:
        marks.append(pytest.mark.destructive)
    return marks
