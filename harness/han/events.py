"""The HAN as a timestamped event stream: joins, leaves, attribute reports, unsolicited commands.

Events are appended on the bench loop and stamped with bench time. A test waits for one with a
deadline on the bench clock (``expect``), so under the virtual clock waiting costs no wall time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from harness.streams import TimedStream

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.runtime import BenchRuntime

EventKind = Literal[
    "joined",  # a device joined (zigpy device_joined)
    "initialized",  # its interview finished
    "init_failed",  # its interview failed
    "left",  # it left the network
    "attribute_report",  # ZCL Report_Attributes, one event per attribute
    "command",  # a cluster-specific ZCL command from the device
    "join_refused",  # a join attempt the coordinator refused (only radios that report it)
]


@dataclass(frozen=True)
class HanEvent:
    seq: int
    time: datetime
    monotonic: float
    kind: EventKind
    device: str
    cluster: int | None = None
    name: str | None = None
    value: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "kind": self.kind,
            "device": self.device,
            "cluster": None if self.cluster is None else f"0x{self.cluster:04X}",
            "name": self.name,
            "value": _jsonable(self.value),
            "details": {k: _jsonable(v) for k, v in self.details.items()},
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


Matcher = Callable[[HanEvent], bool]


def match(
    kind: EventKind | None = None,
    device: str | None = None,
    name: str | None = None,
    cluster: int | None = None,
    where: Matcher | None = None,
) -> Matcher:
    """A matcher on the usual fields; ``device`` is an EUI-64 in any accepted spelling."""
    wanted = None if device is None else normalise_eui(device)

    def _match(event: HanEvent) -> bool:
        return (
            (kind is None or event.kind == kind)
            and (wanted is None or event.device == wanted)
            and (name is None or event.name == name)
            and (cluster is None or event.cluster == cluster)
            and (where is None or where(event))
        )

    return _match


def normalise_eui(eui: Any) -> str:
    """EUI-64 as DUIS spells it: eight upper-case hex octets joined by ``-``."""
    try:
        return _normalised(str(eui))
    except ValueError:
        raise ValueError(f"not an EUI-64: {eui!r}") from None


@lru_cache(maxsize=1024)
def _normalised(text: str) -> str:
    # A bench has a handful of devices and names them on every SR and event: each spelling is
    # normalised once (a wrong one raises, and nothing is kept for it).
    text = text.replace(":", "").replace("-", "").strip()
    if len(text) != 16:
        raise ValueError(text)
    int(text, 16)
    return "-".join(text[i : i + 2] for i in range(0, 16, 2)).upper()


class HanEventStream(TimedStream[HanEvent]):
    """HAN events, appended on the bench loop, waited on with bench-clock deadlines."""

    def __init__(self, clock: Clock, runtime: BenchRuntime) -> None:
        super().__init__(runtime, "HAN event")
        self._clock = clock

    def emit(self, kind: EventKind, device: Any, **fields: Any) -> HanEvent:
        return self.append(HanEvent(
            seq=self.next_seq(),
            time=self._clock.now(),
            monotonic=self._clock.monotonic(),
            kind=kind,
            device=normalise_eui(device),
            **fields,
        ))
