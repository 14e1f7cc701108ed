"""The communications hub function (CHF): the HAN coordinator as a SMETS1 hub behaves.

The CHF keeps the **device log**: the devices allowed on the HAN, each with the link key derived
from its install code. Adding a device opens joining for it for a JoinTimePeriod. ZigBee's permit
duration is one byte (at most 254 s), so a longer period is served by re-opening permit join until
the period ends, unless the CHF's profile caps it (clamp) or refuses it (reject), as
Honeywell Elster's CHF did (testing issue 91342).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import zigpy.types as t
from zigpy.application import ControllerApplication
from zigpy.zcl import foundation

from harness.han.device import HanDevice
from harness.han.events import HanEventStream, match, normalise_eui
from harness.runtime import BenchCallTimeout

if TYPE_CHECKING:
    import zigpy.device

    from harness.config.secrets import InstallCode
    from harness.runtime import BenchRuntime

LOGGER = logging.getLogger(__name__)

#: Longest permit-join duration one ZDO Mgmt_Permit_Joining_req can carry (255 means "forever"
#: on old stacks and is treated as 254 by newer ones).
MAX_PERMIT_S = 254
#: Seconds by which a re-opened permit overlaps the one it extends.
REOPEN_OVERLAP_S = 1
#: Bench seconds to wait for zigpy to finish removing a device (its leave times out at 30 s).
REMOVAL_WAIT_S = 40.0
REMOVAL_POLL_S = 0.05


class JoinTimePeriodRejected(ValueError):
    """The CHF refused a JoinTimePeriod above its limit."""

    def __init__(self, period_s: int, limit_s: int) -> None:
        super().__init__(f"CHF refused JoinTimePeriod {period_s} s (its limit is {limit_s} s)")
        self.period_s = period_s
        self.limit_s = limit_s


class NotJoined(AssertionError):
    """A device expected on the HAN is not joined."""


@dataclass(frozen=True)
class JoinTimePeriodPolicy:
    """How a CHF treats a JoinTimePeriod above ``max_s``: ``reject`` it, ``clamp`` it (and say
    so: the period granted is ``max_s``), or ``cut`` it silently (it says it granted the period
    asked for, but joining closes after ``max_s``)."""

    max_s: int | None = None
    over_limit: Literal["reject", "clamp", "cut"] = "reject"

    def apply(self, period_s: int) -> int:
        """The period the CHF says it granted."""
        if self.max_s is None or period_s <= self.max_s:
            return period_s
        if self.over_limit == "clamp":
            return self.max_s
        if self.over_limit == "cut":
            return period_s
        raise JoinTimePeriodRejected(period_s, self.max_s)

    def served(self, period_s: int) -> int:
        """How long joining really stays open."""
        granted = self.apply(period_s)
        if self.over_limit == "cut" and self.max_s is not None:
            return min(granted, self.max_s)
        return granted


@dataclass
class JoinWindow:
    """Joining opened for one device: what was asked, what the CHF granted, and when."""

    eui: str
    requested_s: int
    granted_s: int
    opened_at: float
    closes_at: float
    permits_sent: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        return self.task is not None and not self.task.done()


@dataclass
class DeviceLogEntry:
    eui: str
    install_code: InstallCode = field(repr=False)
    added_at: datetime
    window: JoinWindow | None = None


class Chf:
    """The coordinator as CHF: device log, join windows, joined devices, HAN events."""

    def __init__(
        self,
        runtime: BenchRuntime,
        app: ControllerApplication,
        events: HanEventStream,
        *,
        join_policy: JoinTimePeriodPolicy | None = None,
        request_timeout: float = 5.0,
        retries: int = 0,
    ) -> None:
        self._runtime = runtime
        self.app = app
        self.events = events
        self.join_policy = join_policy or JoinTimePeriodPolicy()
        self.request_timeout = request_timeout
        self.retries = retries
        self.device_log: dict[str, DeviceLogEntry] = {}
        self._joined: set[str] = set()
        self._initialized: set[str] = set()
        self._endpoints: dict[str, int] = {}
        self._handles: dict[str, HanDevice] = {}
        for ieee, device in app.devices.items():
            if ieee != app.state.node_info.ieee:
                self._joined.add(normalise_eui(ieee))
                if device.is_initialized:
                    self._initialized.add(normalise_eui(ieee))
        app.add_listener(_AppListener(self))

    # -- identity ---------------------------------------------------------------------------
    @property
    def eui(self) -> str:
        return normalise_eui(self.app.state.node_info.ieee)

    # -- device log -------------------------------------------------------------------------
    def add_device(
        self, eui: str, install_code: InstallCode, join_time_period_s: int, *, endpoint: int = 1
    ) -> JoinWindow:
        """Add (or replace) a device log entry and open joining for it.

        Raises :class:`JoinTimePeriodRejected` if the CHF refuses the period; the device log is
        then unchanged.
        """
        return self._runtime.run(
            self.add_device_async(eui, install_code, join_time_period_s, endpoint=endpoint)
        )

    async def add_device_async(
        self, eui: str, install_code: InstallCode, join_time_period_s: int, *, endpoint: int = 1
    ) -> JoinWindow:
        if join_time_period_s < 1:
            raise ValueError(f"JoinTimePeriod must be at least 1 s, got {join_time_period_s}")
        granted = self.join_policy.apply(join_time_period_s)
        eui = normalise_eui(eui)
        previous = self.device_log.get(eui)
        if previous is not None and previous.window is not None and previous.window.task:
            previous.window.task.cancel()
        entry = DeviceLogEntry(eui=eui, install_code=install_code, added_at=self._now())
        self.device_log[eui] = entry
        self._endpoints[eui] = endpoint
        entry.window = await self._open_window(entry, join_time_period_s, granted)
        return entry.window

    def remove_device(self, eui: str) -> bool:
        """Remove a device log entry; a joined device is told to leave. False if absent."""
        return self._runtime.run(self.remove_device_async(eui))

    async def remove_device_async(self, eui: str) -> bool:
        eui = normalise_eui(eui)
        entry = self.device_log.pop(eui, None)
        if entry is None:
            return False
        if entry.window is not None and entry.window.task is not None:
            entry.window.task.cancel()
        ieee = t.EUI64.convert(eui.replace("-", ":"))
        await self.app.forget_link_key(ieee)  # type: ignore[attr-defined]
        if eui in self._joined:
            device = self.app.devices.get(ieee)
            if device is not None:
                with contextlib.suppress(Exception):
                    await device.zdo.leave()
            with contextlib.suppress(Exception):
                await self.app.remove(ieee)
            if device is not None:
                await self._until_forgotten(ieee, device)
            self._forget_joined(eui)
        return True

    async def _until_forgotten(self, ieee: t.EUI64, device: zigpy.device.Device) -> None:
        """Wait until zigpy has dropped a removed device.

        zigpy finishes ``remove`` in a background task that sends the leave again (with
        retries) and only then forgets the device: a device added back and rejoining before
        that would be told to leave once more, or be forgotten after it rejoined.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REMOVAL_WAIT_S):
                while self.app.devices.get(ieee) is device:
                    await asyncio.sleep(REMOVAL_POLL_S)

    def open_join(self, eui: str, join_time_period_s: int) -> JoinWindow:
        """Open joining again for a device already in the device log."""
        eui = normalise_eui(eui)
        entry = self.device_log.get(eui)
        if entry is None:
            raise KeyError(f"{eui} is not in the CHF device log")
        return self.add_device(eui, entry.install_code, join_time_period_s,
                               endpoint=self._endpoints.get(eui, 1))

    # -- join windows -----------------------------------------------------------------------
    async def _open_window(self, entry: DeviceLogEntry, requested: int, granted: int) -> JoinWindow:
        loop = asyncio.get_running_loop()
        now = loop.time()
        served = self.join_policy.served(requested)
        window = JoinWindow(
            eui=entry.eui, requested_s=requested, granted_s=granted,
            opened_at=now, closes_at=now + served,
        )
        ieee = t.EUI64.convert(entry.eui.replace("-", ":"))
        first = min(MAX_PERMIT_S, served)
        # The first permit is sent before returning, so the caller knows joining is open.
        await self._permit(ieee, entry.install_code, first)
        window.permits_sent = 1
        window.task = loop.create_task(self._keep_open(window, ieee, entry.install_code, first))
        return window

    async def _permit(self, ieee: t.EUI64, install_code: InstallCode, seconds: int) -> None:
        # Some radios (zigpy-znp) await the whole window inside permit_with_link_key.
        permit = self.app.permit_with_link_key(node=ieee, link_key=install_code.link_key,
                                               time_s=seconds)
        task = asyncio.ensure_future(permit)
        await asyncio.wait({task}, timeout=1.0)
        if task.done():
            task.result()

    async def _keep_open(
        self, window: JoinWindow, ieee: t.EUI64, install_code: InstallCode, first: int
    ) -> None:
        """Re-open permit join before each permit runs out, until the granted period ends.

        Each re-open overlaps the previous permit by :data:`REOPEN_OVERLAP_S`, so a device
        trying to join at the instant one permit ends and the next begins is never refused.
        """
        loop = asyncio.get_running_loop()
        permit_end = window.opened_at + first
        while permit_end < window.closes_at:
            await asyncio.sleep(max(0.0, permit_end - REOPEN_OVERLAP_S - loop.time()))
            step = min(MAX_PERMIT_S, math.ceil(window.closes_at - loop.time()))
            try:
                await self._permit(ieee, install_code, step)
            except Exception:  # the window stays recorded as served up to here
                LOGGER.warning("CHF could not re-open permit join for %s", window.eui,
                               exc_info=True)
                return
            window.permits_sent += 1
            permit_end = loop.time() + step
        await asyncio.sleep(max(0.0, window.closes_at - loop.time()))

    # -- joined devices ---------------------------------------------------------------------
    def is_joined(self, eui: str) -> bool:
        return normalise_eui(eui) in self._joined

    def joined_devices(self) -> list[str]:
        return sorted(self._joined)

    def wait_for_join(self, eui: str, timeout: float) -> HanDevice:
        """Wait up to ``timeout`` bench seconds for the device to join and finish its interview."""
        eui = normalise_eui(eui)
        try:
            return self._runtime.run(self.wait_for_join_async(eui, timeout))
        except BenchCallTimeout:
            raise  # the bench is stuck (wall-time guard), which says nothing about the device
        except TimeoutError:
            raise NotJoined(
                f"{eui} did not join and complete its interview within {timeout:g} s"
            ) from None

    async def wait_for_join_async(self, eui: str, timeout: float) -> HanDevice:
        eui = normalise_eui(eui)
        if eui in self._initialized and eui in self._joined:
            return self._handle(eui)
        mark = self.events.mark()
        await self.events.wait_for(match("initialized", device=eui), timeout, since=mark)
        return self._handle(eui)

    def device(self, eui: str) -> HanDevice:
        """The joined, interviewed device; raises :class:`NotJoined` otherwise."""
        eui = normalise_eui(eui)
        if eui not in self._joined or eui not in self._initialized:
            raise NotJoined(f"{eui} is not joined to the HAN")
        return self._handle(eui)

    def _handle(self, eui: str) -> HanDevice:
        ieee = t.EUI64.convert(eui.replace("-", ":"))
        zdev = self.app.devices[ieee]
        handle = self._handles.get(eui)
        if handle is None or handle.zigpy_device is not zdev:
            handle = HanDevice(
                self._runtime, zdev, self._endpoints.get(eui, 1),
                request_timeout=self.request_timeout, retries=self.retries,
            )
            self._handles[eui] = handle
        return handle

    def _forget_joined(self, eui: str) -> None:
        self._joined.discard(eui)
        self._initialized.discard(eui)
        self._handles.pop(eui, None)

    def _now(self) -> datetime:
        return self._runtime.clock.now()


class _AppListener:
    """zigpy application events turned into HAN events."""

    def __init__(self, chf: Chf) -> None:
        self._chf = chf

    def device_joined(self, device: zigpy.device.ZigbeeDevice) -> None:
        eui = normalise_eui(device.ieee)
        self._chf._joined.add(eui)
        self._chf._initialized.discard(eui)
        self._chf.events.emit("joined", eui, details={"nwk": f"0x{int(device.nwk):04X}"})

    def device_initialized(self, device: zigpy.device.ZigbeeDevice) -> None:
        eui = normalise_eui(device.ieee)
        if device.ieee == self._chf.app.state.node_info.ieee:
            return
        self._chf._joined.add(eui)
        self._chf._initialized.add(eui)
        self._chf.events.emit(
            "initialized", eui,
            details={"manufacturer": device.manufacturer, "model": device.model},
        )

    def device_init_failure(self, device: zigpy.device.ZigbeeDevice) -> None:
        self._chf.events.emit("init_failed", device.ieee)

    def device_left(self, device: zigpy.device.ZigbeeDevice) -> None:
        eui = normalise_eui(device.ieee)
        self._chf._forget_joined(eui)
        self._chf.events.emit("left", eui)

    def device_removed(self, device: zigpy.device.ZigbeeDevice) -> None:
        self._chf._forget_joined(normalise_eui(device.ieee))

    def han_join_refused(self, ieee: t.EUI64, reason: str) -> None:
        self._chf.events.emit("join_refused", ieee, details={"reason": reason})

    def handle_message(
        self,
        device: zigpy.device.ZigbeeDevice,
        profile: int,
        cluster: int,
        src_ep: int,
        dst_ep: int,
        message: bytes,
    ) -> None:
        if src_ep == 0 or dst_ep == 0:
            return
        try:
            _decode_into_events(self._chf.events, device, cluster, src_ep, message)
        except Exception:  # a garbled frame is evidence, not a crash of the harness
            LOGGER.debug("undecodable frame from %s", device.ieee, exc_info=True)


def _decode_into_events(
    events: HanEventStream,
    device: zigpy.device.ZigbeeDevice,
    cluster_id: int,
    src_ep: int,
    message: bytes,
) -> None:
    hdr, _ = foundation.ZCLHeader.deserialize(message)
    is_report = (
        hdr.frame_control.frame_type == foundation.FrameType.GLOBAL_COMMAND
        and hdr.command_id == foundation.GeneralCommand.Report_Attributes
    )
    if not (is_report or hdr.frame_control.is_cluster):
        return
    endpoint = device.endpoints.get(src_ep)
    if endpoint is None:
        return
    from_server = hdr.direction == foundation.Direction.Server_to_Client
    clusters = endpoint.in_clusters if from_server else endpoint.out_clusters
    zcl = clusters.get(cluster_id)
    if zcl is None:
        return
    _, payload = zcl.deserialize(message)
    if is_report:
        for record in payload.attribute_reports:
            try:
                name = zcl.find_attribute(record.attrid).name
            except KeyError:
                name = f"0x{record.attrid:04X}"
            events.emit(
                "attribute_report", device.ieee, cluster=cluster_id, name=name,
                value=record.value.value,
            )
        return
    commands = zcl.client_commands if from_server else zcl.server_commands
    definition = commands.get(hdr.command_id)
    name = definition.name if definition is not None else f"0x{hdr.command_id:02X}"
    value: Any = payload.as_dict() if hasattr(payload, "as_dict") else payload
    events.emit("command", device.ieee, cluster=cluster_id, name=name, value=value,
                details={"tsn": hdr.tsn})
