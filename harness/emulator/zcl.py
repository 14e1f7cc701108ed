"""The node side of ZCL: emulated clusters answer real frames from their device's state.

An emulated cluster names the zigpy cluster class it implements (for ids and types) and declares
its behaviour as plain methods:

- ``attr_<name>(self)`` returns an attribute's current value (computed from state at read time);
- ``static`` holds fixed attribute values; ``writable`` names the attributes a client may write,
  and ``write_<name>(self, value)`` may check and apply a write (return a ``Status`` to refuse);
- ``cmd_<name>(self, hdr, command)`` handles a cluster command and returns a :class:`Reply`, a
  ``Status`` for a Default Response, or ``None`` for a success Default Response.

The node (:mod:`harness.emulator.node`) does the framing: it parses with zigpy's schemas, so a
malformed frame is refused the way the ZCL specification says, never with a Python exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import zigpy.types as t
import zigpy.zcl
from zigpy.zcl import foundation

if TYPE_CHECKING:
    from harness.emulator.node import EmulatedNode

Status = foundation.Status


@dataclass
class Reply:
    """A cluster-specific response command: its name in the other direction's defs, and args."""

    command: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportingConfig:
    attribute: foundation.ZCLAttributeDef
    min_interval: int
    max_interval: int
    reportable_change: Any
    last_value: Any = None
    last_sent: float = -1.0


class EmulatedCluster:
    """Base of every emulated cluster; see the module docstring for the declarative hooks."""

    cluster: ClassVar[type[zigpy.zcl.Cluster]]
    static: ClassVar[dict[str, Any]] = {}
    writable: ClassVar[frozenset[str]] = frozenset()
    #: True for a client cluster of the device (it receives server-to-client commands).
    is_client: ClassVar[bool] = False

    def __init__(self, node: EmulatedNode) -> None:
        self.node = node
        self.values: dict[str, Any] = dict(self.static)
        self.reporting: dict[int, ReportingConfig] = {}

    @property
    def cluster_id(self) -> int:
        return int(self.cluster.cluster_id)

    # -- attributes -------------------------------------------------------------------------
    def find_attribute(self, attrid: int) -> foundation.ZCLAttributeDef | None:
        return self.cluster.attributes.get(attrid)

    def read_attribute(self, attr: foundation.ZCLAttributeDef) -> Any:
        """Current value, or ``Status.UNSUPPORTED_ATTRIBUTE``."""
        getter: Callable[[], Any] | None = getattr(self, f"attr_{attr.name}", None)
        if getter is not None:
            return getter()
        if attr.name in self.values:
            return self.values[attr.name]
        return Status.UNSUPPORTED_ATTRIBUTE

    def write_attribute(self, attr: foundation.ZCLAttributeDef, value: Any) -> Status:
        if self.read_attribute(attr) is Status.UNSUPPORTED_ATTRIBUTE:
            return Status.UNSUPPORTED_ATTRIBUTE
        if attr.name not in self.writable:
            return Status.READ_ONLY
        writer = getattr(self, f"write_{attr.name}", None)
        if writer is not None:
            result = writer(value)
            if isinstance(result, Status):
                return result
        else:
            self.values[attr.name] = value
        return Status.SUCCESS

    def typed(self, attr: foundation.ZCLAttributeDef, value: Any) -> foundation.TypeValue:
        return foundation.TypeValue(type=attr.zcl_type, value=attr.type(value))

    # -- commands ---------------------------------------------------------------------------
    def incoming_commands(self) -> dict[int, foundation.ZCLCommandDef]:
        """Commands this side receives: server commands for a server cluster, and vice versa."""
        return self.cluster.client_commands if self.is_client else self.cluster.server_commands

    def outgoing_commands(self) -> dict[int, foundation.ZCLCommandDef]:
        return self.cluster.server_commands if self.is_client else self.cluster.client_commands

    def handle_command(
        self, hdr: foundation.ZCLHeader, command: Any
    ) -> Reply | Status | None:
        definition = self.incoming_commands().get(hdr.command_id)
        if definition is None:
            return Status.UNSUP_CLUSTER_COMMAND
        handler = getattr(self, f"cmd_{definition.name}", None)
        if handler is None:
            return Status.UNSUP_CLUSTER_COMMAND
        return handler(hdr, command)

    # -- reporting --------------------------------------------------------------------------
    def configure_reporting(self, config: foundation.AttributeReportingConfig) -> Status:
        attr = self.find_attribute(config.attrid)
        if attr is None or self.read_attribute(attr) is Status.UNSUPPORTED_ATTRIBUTE:
            return Status.UNSUPPORTED_ATTRIBUTE
        if config.max_interval == 0xFFFF:
            self.reporting.pop(config.attrid, None)
            return Status.SUCCESS
        self.reporting[config.attrid] = ReportingConfig(
            attribute=attr,
            min_interval=config.min_interval,
            max_interval=config.max_interval,
            reportable_change=getattr(config, "reportable_change", None),
        )
        return Status.SUCCESS

    def due_reports(self, now: float) -> list[foundation.Attribute]:
        """Attributes whose report is due at ``now`` (max interval passed, or changed enough)."""
        due = []
        for config in self.reporting.values():
            value = self.read_attribute(config.attribute)
            if isinstance(value, Status):
                continue
            first = config.last_sent < 0
            changed = config.last_value is not None and _changed(
                value, config.last_value, config.reportable_change
            )
            # Compare with the same sums the node's timer is armed with (last_sent + interval),
            # never with a difference: float rounding must not make a due report look early,
            # or the timer fires again at the same instant forever.
            max_due = first or bool(config.max_interval
                                    and now >= config.last_sent + config.max_interval)
            min_ok = first or now >= config.last_sent + config.min_interval
            if max_due or (changed and min_ok):
                config.last_value = value
                config.last_sent = now
                due.append(
                    foundation.Attribute(
                        attrid=config.attribute.id, value=self.typed(config.attribute, value)
                    )
                )
        return due

    def report_now(self, *names: str) -> None:
        """Send an unsolicited attribute report (a meter announcing a change of state)."""
        records = []
        for name in names:
            attr = self.cluster.attributes_by_name[name]
            value = self.read_attribute(attr)
            if not isinstance(value, Status):
                records.append(foundation.Attribute(attrid=attr.id, value=self.typed(attr, value)))
        if records:
            self.node.send_report(self, records)

    def send_command(self, name: str, **args: Any) -> None:
        """Send an unsolicited cluster command (e.g. an alert) to the coordinator."""
        self.node.send_cluster_command(self, name, args)


def _changed(value: Any, last: Any, threshold: Any) -> bool:
    if isinstance(value, int | float) and isinstance(last, int | float):
        step = threshold if isinstance(threshold, int | float) and threshold > 0 else 1
        return abs(value - last) >= step
    return bool(value != last)


def uint(value: int, bits: int) -> int:
    """Clamp a counter into an unsigned field (registers wrap in real meters; we saturate)."""
    return max(0, min(int(value), (1 << bits) - 1))


def utc_seconds(node: EmulatedNode) -> t.UTCTime:
    """ZigBee UTCTime: seconds since 2000-01-01 00:00 UTC, from the bench clock."""
    now = node.clock.now()
    return t.UTCTime(int(now.timestamp()) - 946684800)
