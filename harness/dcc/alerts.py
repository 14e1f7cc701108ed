"""S1SP alerts: (code, device, time, details) on a stream a test waits on with a bench deadline.

Alert codes are symbolic; the table of their meanings is :data:`ALERT_CODES` (DUIS alert codes
for SMETS1 are not public in full, so these names are harness choices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from harness.streams import TimedStream

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.runtime import BenchRuntime


ALERT_CODES: dict[str, str] = {
    "COS_LOSS": "change of supplier: the losing supplier's credentials were replaced",
    "KEY_ROTATED": "the device confirmed a management key rotation",
    "POWER_ALERT": "power outage or restoration reported by an ESME",
    "VOLTAGE_ALERT": "average RMS voltage outside its thresholds",
    "FIRMWARE_ACTIVATED": "the device activated a new firmware image",
    "SUPPLY_CHANGED": "the supply state changed locally (e.g. armed supply restored)",
    "SECURITY_EVENT": "the device refused a command (signature, replay, malformed)",
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

    def evidence(self) -> dict[str, Any]:
        return {"seq": self.seq, "code": self.code, "device": self.device,
                "time": self.time.isoformat(), "recipient": self.recipient,
                "details": self.details}


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

    def __init__(self, clock: Clock, runtime: BenchRuntime) -> None:
        super().__init__(runtime, "alert")
        self._clock = clock

    def emit(self, code: str, device: str, *, recipient: str | None = None,
             **details: Any) -> Alert:
        return self.append(Alert(self.next_seq(), code, device, self._clock.now(),
                                 self._clock.monotonic(), recipient, details))
