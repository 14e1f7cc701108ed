"""One SRV case's view of the bench (:class:`SrvContext`): the device in one role, the User
that may send an SRV to it, sending with retries for *instrument* reads (a read taken only to
observe state is repeated when its response carries no code; the SRV under test never is), the
observations a lab engineer would make, and the helpers that put a meter's supply back.

Observations are ZigBee reads (supply status, Price, Prepayment, Basic ``sw_build_id``), read SRs
(7.4, 7.11, 6.13, 8.9), HAN events (an IHD's MessageConfirmation) and the optical readout. They
never reach into the emulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fixtures.bench import device_or_skip
from harness.han.chf import NotJoined
from harness.han.events import match, normalise_eui
from testpacks.srv.plan import permitted_role, support

if TYPE_CHECKING:
    from harness.bench import Bench, BenchDevice
    from harness.config.profiles import DeviceProfile
    from harness.dcc.catalogue import SrCatalogue, SrvDefinition
    from harness.dcc.requests import ServiceResponse
    from harness.han.device import HanDevice

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
    (7.3) and restore it on the HAN as the consumer does (ZCL LocalChangeSupply, which a meter
    takes only to restore an armed supply)."""
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
    """Switch the meter's supply off with 7.2, the only legitimate way (a meter refuses a
    supply change on the HAN)."""
    if ctx.supply() == "Off":
        return
    assert ctx.supports("7.2"), (f"the {ctx.role} ({ctx.profile.describe()}) has no 7.2: no "
                                 "legitimate way to switch its supply off")
    drive(ctx, "7.2", lambda: ctx.supply() == "Off", "switch off the supply")
