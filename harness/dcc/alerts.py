"""S1SP alerts: (code, device, time, details) on a stream a test waits on with a bench deadline.

Alert codes are the harness's symbolic names; :data:`ALERT_CODES` gives each its meaning and
the DUIS form the DCC sends a User (:mod:`harness.dcc.duis.alerts`): a Device Alert with its
GBCS alert code (for a SMETS1 Alert the ``GBCSHexAlertCode``, SMETS1 Supporting Requirements
clause 2) or a DCC Alert with a DCC Alert Code and the DUIS ``DCCAlert`` element that says what
happened. Every alert raised on a DCC's stream carries its signed DUIS document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from harness.streams import TimedStream

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.runtime import BenchRuntime


@dataclass(frozen=True)
class AlertForm:
    """An alert code's meaning and its DUIS form.

    ``kind`` "device": a SMETS1 Device Alert, ``code`` its GBCS alert code (hex; the GBCS
    alert code table's meaning is ``duis_meaning``). ``kind`` "dcc": a DCC Alert, ``code`` its
    DCC Alert Code and ``element`` the ``DCCAlert`` choice. ``reading``: why this form (the
    harness's reading where no public text maps the event to a code)."""

    meaning: str
    kind: Literal["device", "dcc"]
    code: str
    duis_meaning: str
    reading: str
    element: str | None = None


#: The DCC Alert Code the harness writes: the meanings of DUIS's N-codes are in no public text
#: the harness found, so the ``DCCAlert`` element carries what happened (configuration here).
HARNESS_DCC_ALERT_CODE = "N999"

ALERT_CODES: dict[str, AlertForm] = {
    "COS_LOSS": AlertForm(
        "change of supplier: the losing supplier's credentials were replaced", "dcc",
        HARNESS_DCC_ALERT_CODE, "DCCAlert ChangeOfSupplier (the 6.23 request's RequestID)",
        "DUIS's ChangeOfSupplier DCC Alert; its N-code is the harness's", "ChangeOfSupplier"),
    "KEY_ROTATED": AlertForm(
        "the device confirmed a management key rotation", "device", "8F70",
        "Update Security Credentials", "the harness's reading: SMETS1 management keys have no "
        "GBCS alert of their own; 8F70 is GBCS's credentials update"),
    "POWER_ALERT": AlertForm(
        "power outage or restoration reported by an ESME", "device", "8F35",
        "Supply Outage Restored", "GBCS alert code table (ECS80 Supply Outage Restore Alert)"),
    "VOLTAGE_ALERT": AlertForm(
        "average RMS voltage outside its thresholds", "device", "8002",
        "Average RMS Voltage above Average RMS Over Voltage Threshold",
        "GBCS alert code table (the emulator reports an over-voltage reading)"),
    "FIRMWARE_ACTIVATED": AlertForm(
        "the device activated a new firmware image", "device", "8F43",
        "Change in the executing Firmware version", "GBCS alert code table"),
    "SUPPLY_CHANGED": AlertForm(
        "the supply state changed locally (e.g. armed supply restored)", "device", "8161",
        "User Interface Command Input and Successfully Actioned", "GBCS alert code table"),
    "SECURITY_EVENT": AlertForm(
        "the device refused a command (signature, replay, malformed)", "device", "8F3D",
        "Trusted Source Authentication Failure", "GBCS alert code table"),
}


@dataclass(frozen=True)
class Alert:
    seq: int
    code: str
    device: str
    time: datetime
    monotonic: float
    recipient: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: The signed DUIS alert document the DCC sends the recipient (``None`` on a stream
    #: without a DCC: the emulator's own tests).
    document: bytes | None = field(default=None, repr=False, compare=False)

    def evidence(self) -> dict[str, Any]:
        form = ALERT_CODES.get(self.code)
        return {"seq": self.seq, "code": self.code, "device": self.device,
                "time": self.time.isoformat(), "recipient": self.recipient,
                "details": self.details, "duis_alert_code": form.code if form else None}


AlertMatcher = Callable[[Alert], bool]


def alert(code: str | None = None, device: str | None = None,
          recipient: str | None = None) -> AlertMatcher:
    def _match(candidate: Alert) -> bool:
        return ((code is None or candidate.code == code)
                and (device is None or candidate.device == device)
                and (recipient is None or candidate.recipient == recipient))
    return _match


class AlertStream(TimedStream[Alert]):
    """S1SP alerts, appended as the S1SP raises them, waited on with bench deadlines."""

    def __init__(self, clock: Clock, runtime: BenchRuntime, *,
                 render: Callable[[Alert], bytes] | None = None) -> None:
        """``render``: the DCC's, making each alert's signed DUIS document as it is raised."""
        super().__init__(runtime, "alert")
        self._clock = clock
        self.render = render

    def emit(self, code: str, device: str, *, recipient: str | None = None,
             **details: Any) -> Alert:
        raised = Alert(self.next_seq(), code, device, self._clock.now(),
                       self._clock.monotonic(), recipient, details)
        if self.render is not None:
            raised = replace(raised, document=self.render(raised))
        return self.append(raised)
