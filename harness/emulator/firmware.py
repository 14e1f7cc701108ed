"""The security side of an emulated device's firmware: signed commands in, signed answers out.

A command envelope is accepted only if it is for this device, its signature verifies against
the device's *current* management key, and its counter is above the last one accepted; anything
else is refused, logged in the security log, and changes nothing. Profile ``emulation`` settings
switch on the seeds' device behaviours (key rotation unconfirmed on the first attempt, an SRV
limited per day, voltage thresholds that cannot be set, a flood of power and voltage alerts).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zigpy.zcl.clusters.smartenergy import SupplyStatus

from harness.dcc.envelope import Command, Envelope, EnvelopeError, Kind
from harness.dcc.envelope import Status as S
from harness.dcc.firmware_image import IMAGE_MAGIC
from harness.dcc.keys import KeyPair, PublicKey

if TYPE_CHECKING:
    from harness.config.profiles import Emulation
    from harness.emulator.devices import EmulatedDevice

LOGGER = logging.getLogger(__name__)

#: Which SRV a command serves, for ``emulation.srv_daily_limits`` (keyed by SRV).
COMMAND_SRV = {Command.GAS_FLOW: "6.7", Command.VOLTAGE_CONFIG: "6.5",
               Command.TARIFF: "1.1.1", Command.CLOCK_SYNC: "6.11"}
#: The command of each migration step a device sees, for ``emulation.han_leave``.
STEP_COMMAND = {"replace_credentials": Command.CERT_UPDATE, "firmware_upgrade": Command.FIRMWARE,
                "key_rotation": Command.KEY_ROTATE}
SUPPLY = {"on": SupplyStatus.Supply_On, "off": SupplyStatus.Supply_Off,
          "armed": SupplyStatus.Supply_Off_Armed}
MAX_LOG = 200


@dataclass
class FirmwareState:
    """What the device firmware keeps between commands (inspectable on the debug console)."""

    management_key: PublicKey
    #: The keys rotations replaced (only honoured by ``key_rotation.old_key_accepted``).
    replaced_keys: list[PublicKey] = field(default_factory=list)
    last_counter: int = 0
    certificates: dict[str, str] = field(default_factory=dict)
    boost: dict[int, int] = field(default_factory=dict)
    aux_loads: dict[int, bool] = field(default_factory=dict)
    gas_flow: dict[str, int] = field(default_factory=dict)
    voltage: dict[str, int] = field(default_factory=dict)
    joined_services: set[str] = field(default_factory=set)
    clock_offset_s: float = 0.0
    rotated_at: float | None = None
    #: Counter of the last alert sent: alerts carry a rising counter, as commands do, so the
    #: S1SP can refuse a replayed one.
    alert_counter: int = 0
    security_log: list[dict[str, Any]] = field(default_factory=list)
    event_log: list[dict[str, Any]] = field(default_factory=list)
    daily_counts: dict[tuple[str, str], int] = field(default_factory=dict)


class DeviceFirmware:
    """See the module docstring."""

    def __init__(
        self,
        device: EmulatedDevice,
        emulation: Emulation,
        *,
        management_key: PublicKey,
        identity: KeyPair,
        rng: random.Random,
    ) -> None:
        self.device = device
        self.emulation = emulation
        self.identity = identity
        self.rng = rng
        self.state = FirmwareState(management_key=management_key)
        if emulation.boost_from_han_config:
            # Boost configured on the HAN before migration: load 1 for an hour.
            self.state.boost[1] = 60
        self._alert_timer: asyncio.TimerHandle | None = None
        self._boosting: dict[int, asyncio.TimerHandle] = {}
        self.send_alert_bytes: Any = None  # set by the Tunneling cluster
        self._left_han = False

    # -- envelopes --------------------------------------------------------------------------
    def handle(self, data: bytes) -> bytes | None:
        """Process one command envelope; the answer's bytes, or ``None`` for no answer."""
        now = self.device.clock.monotonic()
        try:
            envelope = Envelope.from_bytes(data)
        except EnvelopeError as exc:
            self._security("malformed", str(exc))
            return self._answer(0, 0, S.MALFORMED, reason=str(exc))
        if envelope.kind != Kind.COMMAND:
            self._security("not_a_command", envelope.kind.name)
            return None
        if envelope.device != self.device.eui:
            self._security("wrong_device", envelope.device)
            return self._answer(envelope.counter, envelope.command, S.WRONG_DEVICE)
        if not envelope.signature:
            self._security("unsigned", envelope.describe())
            return self._answer(envelope.counter, envelope.command, S.BAD_SIGNATURE,
                                reason="unsigned")
        if not self._verifies(envelope):
            self._security("bad_signature", envelope.describe())
            return self._answer(envelope.counter, envelope.command, S.BAD_SIGNATURE,
                                reason="signature does not verify against the current "
                                "management key")
        if envelope.counter <= self.state.last_counter:
            self._security("replay", f"counter {envelope.counter} <= {self.state.last_counter}")
            return self._answer(envelope.counter, envelope.command, S.REPLAY)
        self.state.last_counter = envelope.counter
        try:
            outcome = self._execute(envelope, now)
        except (KeyError, TypeError, ValueError) as exc:
            self._security("malformed", f"{envelope.describe()}: {exc}")
            return self._answer(envelope.counter, envelope.command, S.MALFORMED,
                                reason=f"bad payload: {exc}")
        self._maybe_leave_han(envelope.command)
        if outcome is None:
            return None
        status, payload = outcome
        return self._answer(envelope.counter, envelope.command, status, **payload)

    def _verifies(self, envelope: Envelope) -> bool:
        """Signed with the current management key (or, with the ``old_key_accepted`` defect,
        one a rotation replaced)."""
        if envelope.verifies_with(self.state.management_key):
            return True
        return self.emulation.key_rotation.old_key_accepted and any(
            envelope.verifies_with(key) for key in self.state.replaced_keys)

    def _maybe_leave_han(self, command: int) -> None:
        """``emulation.han_leave``: once the named step's command is carried out, leave the
        HAN right after answering it (once)."""
        leave = self.emulation.han_leave
        if leave is None or self._left_han or command != STEP_COMMAND[leave.after_step]:
            return
        self._left_han = True
        loop = asyncio.get_running_loop()
        # After the answer (sent with call_soon by the Tunneling cluster) has gone out.
        loop.call_soon(lambda: loop.call_soon(
            lambda: self.device.node.drop_off_han(rejoin=leave.rejoins)))

    def _answer(self, counter: int, command: int, status: str, **payload: Any) -> bytes:
        body = {"status": str(status), **payload}
        envelope = Envelope(Kind.RESPONSE, self.device.eui, counter, command, body)
        return envelope.signed_with(self.identity).to_bytes()

    def _security(self, what: str, detail: str) -> None:
        self._log(self.state.security_log, what, detail)

    def log_security(self, what: str, detail: str) -> None:
        """A refusal outside the envelopes (a HAN command) in the security log."""
        self._security(what, detail)

    def _event(self, what: str, detail: str = "") -> None:
        self._log(self.state.event_log, what, detail)

    def _log(self, log: list[dict[str, Any]], what: str, detail: str) -> None:
        log.append({"time": self.device.clock.now().isoformat(), "event": what,
                    "detail": detail[:200]})
        del log[:-MAX_LOG]

    # -- commands ---------------------------------------------------------------------------
    def _execute(self, envelope: Envelope, now: float) -> tuple[str, dict[str, Any]] | None:
        command = Command(envelope.command) if envelope.command in Command._value2member_map_ \
            else None
        payload = envelope.payload
        if command is None:
            return S.UNSUPPORTED, {"reason": f"unknown command 0x{envelope.command:04X}"}
        limited = self._daily_limit_hit(command)
        if limited:
            return S.REFUSED, {"reason": limited}
        state = self.state
        device = self.device
        if command == Command.SUPPLY:
            if device.meter is None:
                return S.UNSUPPORTED, {"reason": "no supply contactor"}
            device.set_supply(SUPPLY[payload["state"]])
            self._event("supply", payload["state"])
            return S.OK, {"supply": payload["state"]}
        if command == Command.AUX_LOAD:
            state.aux_loads[int(payload["load"])] = bool(payload["on"])
            self._event("aux_load", f"{payload['load']} {'on' if payload['on'] else 'off'}")
            return S.OK, {}
        if command == Command.BOOST_CONFIG:
            load = int(payload["load"])
            if payload["add"]:
                state.boost[load] = int(payload["duration_min"])
            else:
                state.boost.pop(load, None)
            self._event("boost_config", str(state.boost))
            return S.OK, {}
        if command == Command.READ_BOOST:
            return S.OK, {"boost": {str(k): v for k, v in sorted(state.boost.items())}}
        if command == Command.KEY_ROTATE:
            return self._rotate(PublicKey.from_bytes(bytes.fromhex(payload["public_key"])), now)
        if command == Command.CERT_UPDATE:
            PublicKey.from_bytes(bytes.fromhex(payload["public_key"]))  # must be a key
            state.certificates[str(payload["slot"])] = str(payload["owner"])
            self._security("certificate_replaced", f"{payload['slot']}: {payload['owner']}")
            return S.OK, {}
        if command == Command.TARIFF:
            device.tariff["unit_price"] = int(payload["unit_rate"])
            device.tariff["standing_charge"] = int(payload["standing_charge"])
            device.tariff["issuer_event_id"] = device.tariff.get("issuer_event_id", 0) + 1
            self._event("tariff", f"{payload['unit_rate']}/{payload['standing_charge']}")
            return S.OK, {}
        if command == Command.GAS_FLOW:
            state.gas_flow = {k: int(v) for k, v in payload.items()}
            self._event("gas_flow", str(state.gas_flow))
            return S.OK, {}
        if command == Command.VOLTAGE_CONFIG:
            if not self.emulation.alerts.voltage_threshold_settable:
                return S.REFUSED, {"reason": "voltage thresholds cannot be set on this model"}
            state.voltage = {k: int(v) for k, v in payload.items()}
            self._event("voltage_config", str(state.voltage))
            return S.OK, {}
        if command == Command.CLOCK_SYNC:
            state.clock_offset_s = 0.0
            self._event("clock_sync", str(payload.get("utc", "")))
            return S.OK, {}
        if command == Command.READ_LOG:
            log = state.security_log if payload.get("log") == "security" else state.event_log
            return S.OK, {"entries": log[-50:]}
        if command == Command.FIRMWARE:
            return self._firmware(payload)
        if command == Command.JOIN_SERVICE:
            other = str(payload["other"])
            if payload["join"]:
                state.joined_services.add(other)
            else:
                state.joined_services.discard(other)
            self._event("join_service", f"{other} {'joined' if payload['join'] else 'unjoined'}")
            return S.OK, {}
        return S.UNSUPPORTED, {"reason": f"{command.name} is not a command"}

    def _daily_limit_hit(self, command: Command) -> str | None:
        srv = COMMAND_SRV.get(command)
        limit = self.emulation.srv_daily_limits.get(srv) if srv else None
        if limit is None:
            return None
        key = (srv, self.device.clock.now().date().isoformat())
        count = self.state.daily_counts.get(key, 0)
        if count >= limit:
            return f"SR {srv} already run {count} time(s) today (limit {limit} per day)"
        self.state.daily_counts[key] = count + 1
        return None

    def _rotate(self, new_key: PublicKey, now: float) -> tuple[str, dict[str, Any]] | None:
        settings = self.emulation.key_rotation
        state = self.state
        if new_key == state.management_key:
            # The same rotation again: the key is already in use; confirm if the device is
            # ready to (110031: only a repeat at least min_repeat_interval_s later confirms).
            if (state.rotated_at is not None
                    and now - state.rotated_at < settings.min_repeat_interval_s):
                return None
            return S.OK, {"key": new_key.fingerprint, "repeat": True}
        state.replaced_keys.append(state.management_key)
        state.management_key = new_key
        state.rotated_at = now
        self._security("management_key_rotated", new_key.fingerprint)
        if not settings.confirm_first_attempt:
            return None  # rotated, but no confirmation (110031)
        return S.OK, {"key": new_key.fingerprint}

    def _firmware(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        image = bytes.fromhex(payload["image"])
        if hashlib.sha256(image).hexdigest() != str(payload["hash"]).lower():
            self._security("firmware_rejected", "hash mismatch")
            return S.REFUSED, {"reason": "image hash does not match"}
        manufacturer = self.device.profile.manufacturer.encode()[:16].ljust(16, b"\x00")
        if not image.startswith(IMAGE_MAGIC) or image[4:20] != manufacturer:
            self._security("firmware_rejected", "not an image for this manufacturer")
            return S.REFUSED, {"reason": "not a firmware image for this device"}
        version = image[20:36].rstrip(b"\x00").decode("ascii", errors="replace")
        if version != str(payload["version"]):
            return S.REFUSED, {"reason": "image version does not match FirmwareVersion"}
        self.device.firmware_version = version
        self._event("firmware_activated", version)
        return S.OK, {"version": version}

    # -- auxiliary loads and the boost button ---------------------------------------------
    def aux_load_on(self, load: int) -> bool:
        """A load is on when the DCC switched it on, or a boost on it is running."""
        return self.state.aux_loads.get(load, False) or load in self._boosting

    def press_boost(self) -> str:
        """The consumer presses the boost button: every load configured on it runs for its
        boost duration (bench time), whoever configured it (the HAN before migration, or
        the DCC after)."""
        if not self.state.boost:
            return "no boost configured"
        loop = asyncio.get_running_loop()
        for load, minutes in self.state.boost.items():
            handle = self._boosting.pop(load, None)
            if handle is not None:
                handle.cancel()
            self._boosting[load] = loop.call_later(minutes * 60.0, self._boost_ends, load)
        self._event("boost_pressed", str(self.state.boost))
        self.device.node.state_changed()
        running = ", ".join(f"load {k} for {v} min" for k, v in sorted(self.state.boost.items()))
        return f"boost {running}"

    def _boost_ends(self, load: int) -> None:
        self._boosting.pop(load, None)
        self._event("boost_ended", f"load {load}")
        self.device.node.state_changed()

    # -- alerts -----------------------------------------------------------------------------
    def reseed(self, rng: random.Random) -> None:
        """Draw from ``rng`` from now on; a pending alert is rescheduled from it (on the loop),
        so when the next one comes depends on the case, not on the cases before."""
        self.rng = rng
        if self._alert_timer is not None:
            self.stop_alerts()
            self.start_alerts()

    def start_alerts(self) -> None:
        """Risk 11: power and voltage alerts at the profile's rate (seeded, bench time)."""
        rate = self.emulation.alerts.power_voltage_alerts_per_hour
        if rate <= 0 or self._alert_timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._alert_timer = loop.call_later(self.rng.expovariate(rate / 3600.0), self._alert)

    def stop_alerts(self) -> None:
        if self._alert_timer is not None:
            self._alert_timer.cancel()
            self._alert_timer = None

    def _alert(self) -> None:
        self._alert_timer = None
        code = "POWER_ALERT" if self.rng.random() < 0.5 else "VOLTAGE_ALERT"
        self.raise_alert(code, {"reading_v": 253 if code == "VOLTAGE_ALERT" else None})
        self.start_alerts()

    def raise_alert(self, code: str, details: dict[str, Any]) -> None:
        if self.send_alert_bytes is None:
            return
        self.state.alert_counter += 1
        envelope = Envelope(Kind.ALERT, self.device.eui, self.state.alert_counter, Command.ALERT,
                            {"alert": code, **{k: v for k, v in details.items() if v is not None}})
        self.send_alert_bytes(envelope.signed_with(self.identity).to_bytes())
