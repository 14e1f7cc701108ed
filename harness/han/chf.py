"""The communications hub function (CHF): the HAN coordinator as a SMETS1 hub behaves.

The CHF keeps the **device log**: the devices allowed on the HAN, each with the link key derived
from its install code. Adding a device opens joining for it for a JoinTimePeriod. ZigBee's permit
duration is one byte (at most 254 s), so a longer period is served by consecutive permits until
the period ends, unless the CHF's profile caps it (clamp) or refuses it (reject), as
Honeywell Elster's CHF did (testing issue 91342).

Permits are the CHF's own, whatever the radio library does: every ``permit_with_link_key`` call
runs as a task the CHF tracks, and before one is cancelled or can end by itself, joining is
closed with ``permit(0)``. zigpy-znp's call, for one, waits out its window and then turns
install-code-only joining off: ended any other way, a device with no install code could join
while a window is open. Whenever a window opens, ends, is replaced or its device is removed,
joining is closed and re-opened for the windows still open (:meth:`Chf._reconcile`).

The device log is enforced whatever the radio: a device that joins while not in the device log
(or, the first time, outside its window) is refused at the door (the application's join gate,
:meth:`harness.han.app.HanApplicationMixin.handle_join`), told to leave and reported as a
``join_refused`` event, and zigpy never holds it; the virtual radio refuses such joins itself,
real radios let any key-holder in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import zigpy.device
import zigpy.types as t
from zigpy.application import ControllerApplication
from zigpy.zcl import foundation

from harness.config.types import eui64_to_zigpy
from harness.han import zclparse
from harness.han.app import HanApplicationMixin
from harness.han.device import HanDevice
from harness.han.events import HanEventStream, match, normalise_eui
from harness.han.mirror import METERING_CLUSTER, MeteringMirror
from harness.runtime import BenchCallTimeout

if TYPE_CHECKING:
    from harness.config.secrets import InstallCode
    from harness.runtime import BenchRuntime

LOGGER = logging.getLogger(__name__)

#: Longest permit-join duration one ZDO Mgmt_Permit_Joining_req can carry (255 means "forever"
#: on old stacks and is treated as 254 by newer ones).
MAX_PERMIT_S = 254
#: Seconds before a permit ends at which the next one of a long window is opened.
REOPEN_OVERLAP_S = 1
#: How long to let a radio library send a permit before carrying on (zigpy-znp's call does
#: not return until its window is over).
PERMIT_SENT_S = 1.0
#: A join the CHF learns of up to this long after its window closed was admitted inside it
#: (zigpy-znp waits up to 5 s for a device's announcement before reporting a join).
JOIN_GRACE_S = 5.0
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
    """Joining opened for one device: what was asked, what the CHF granted, and when.

    ``closed_at`` is set when the CHF closed it: its period ended, it was replaced, or its
    device was removed. ``task`` is the radio's permit call currently serving it.
    """

    eui: str
    requested_s: int
    granted_s: int
    opened_at: float
    closes_at: float
    permits_sent: int = 0
    closed_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    #: When the CHF next acts on it: re-opens joining before its permit runs out, or closes it.
    renew_at: float = field(default=0.0, repr=False)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class PermitRecord:
    """One permit the CHF sent: when, for whom (``None``: closing joining), how long."""

    at: float
    eui: str | None
    seconds: int


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
        #: Every permit sent, in order: the CHF's side of the join timeline.
        self.permits: list[PermitRecord] = []
        self._joined: set[str] = set()
        self._initialized: set[str] = set()
        #: Devices the CHF admitted (joined inside a window while in the device log).
        self._admitted: set[str] = set()
        self._endpoints: dict[str, int] = {}
        self._handles: dict[str, HanDevice] = {}
        self._permit_tasks: dict[str, asyncio.Task[None]] = {}
        #: Metering mirrors of the meters that report to the CHF, by EUI-64.
        self.mirrors: dict[str, MeteringMirror] = {}
        self._joining_open = False
        self._lock: asyncio.Lock | None = None
        self._reopen: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        #: Seconds a radio's permit is asked to outlast the window it serves, so the CHF always
        #: ends it (permit(0), then cancel) before the radio library's own clean-up runs.
        if not isinstance(app, HanApplicationMixin):
            raise TypeError(f"the CHF needs a HAN application (harness.han.radio), not "
                            f"{type(app).__name__}")
        self._han: HanApplicationMixin = app
        self.permit_margin_s: float = float(app.permit_margin_s)
        for ieee, device in app.devices.items():
            if ieee != app.state.node_info.ieee:
                self._joined.add(normalise_eui(ieee))
                self._admitted.add(normalise_eui(ieee))
                if device.is_initialized:
                    self._initialized.add(normalise_eui(ieee))
        app.add_listener(_AppListener(self))
        app.set_join_gate(self._admission)
        app.before_shutdown(self.close_async)

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
        now = asyncio.get_running_loop().time()
        if previous is not None and previous.window is not None:
            previous.window.closed_at = now
        entry = DeviceLogEntry(eui=eui, install_code=install_code, added_at=self._now())
        entry.window = JoinWindow(eui=eui, requested_s=join_time_period_s, granted_s=granted,
                                  opened_at=now,
                                  closes_at=now + self.join_policy.served(join_time_period_s))
        self.device_log[eui] = entry
        self._endpoints[eui] = endpoint
        # A window replaced must end (its permit call cancelled): close and re-open them all.
        # A new one only adds its permit to those running.
        replaced = previous is not None and previous.window is not None \
            and previous.window.task is not None and not previous.window.task.done()
        await self._reconcile(only=None if replaced else eui)
        return entry.window

    def remove_device(self, eui: str) -> bool:
        """Remove a device log entry; a joined device is told to leave. False if absent."""
        return self._runtime.run(self.remove_device_async(eui))

    async def remove_device_async(self, eui: str) -> bool:
        eui = normalise_eui(eui)
        entry = self.device_log.pop(eui, None)
        if entry is None:
            return False
        if entry.window is not None and entry.window.closed_at is None:
            entry.window.closed_at = asyncio.get_running_loop().time()
        self._admitted.discard(eui)
        await self._reconcile()  # its window ends now: joining closes, the others re-open
        ieee = eui64_to_zigpy(eui)
        await self.app.forget_link_key(ieee)  # type: ignore[attr-defined]
        if eui in self._joined:
            device = self.app.devices.get(ieee)
            if isinstance(device, zigpy.device.Device):
                with contextlib.suppress(Exception):
                    await device.zdo.leave()
            with contextlib.suppress(Exception):
                await self.app.remove(ieee)
            if isinstance(device, zigpy.device.Device):
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
    async def _reconcile(self, *, only: str | None = None) -> None:
        """Close joining, end every permit call, and re-open joining for the open windows.

        Runs when a window is replaced or removed, before a permit runs out (the next permit
        of a long window) and when a window's period ends. ``only``: a new window, whose
        permit is added to those running without closing them.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._reopen is not None:
                self._reopen.cancel()
                self._reopen = None
            if only is None:
                await self._close_joining()
            now = loop.time()
            for entry in list(self.device_log.values()):
                window = entry.window
                if window is None or window.closed_at is not None:
                    continue
                if only is not None and entry.eui != only:
                    continue
                remaining = window.closes_at - now
                if remaining <= 1e-3:  # a timer may fire a hair early
                    window.closed_at = now
                    continue
                if remaining + self.permit_margin_s <= MAX_PERMIT_S:
                    seconds = math.ceil(remaining + self.permit_margin_s)
                    window.renew_at = window.closes_at  # last permit: close it at the end
                else:
                    seconds = MAX_PERMIT_S
                    window.renew_at = now + MAX_PERMIT_S - max(REOPEN_OVERLAP_S,
                                                               self.permit_margin_s)
                await self._permit(window, entry.install_code, seconds)
            due = [e.window.renew_at for e in self.device_log.values()
                   if e.window is not None and e.window.closed_at is None]
            if due:
                self._reopen = loop.call_at(min(due), self._spawn_reconcile)

    def _spawn_reconcile(self) -> None:
        self._reopen = None
        self._spawn(self._reconcile())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _permit(self, window: JoinWindow, install_code: InstallCode, seconds: int) -> None:
        """Start the radio's install-code permit for ``window`` as a tracked task."""
        ieee = eui64_to_zigpy(window.eui)
        loop = asyncio.get_running_loop()
        # Some radios (zigpy-znp) await the whole window inside permit_with_link_key: carry
        # on once the call has sent its permit (HanApplicationMixin.permit says so).
        sent = self._han.permit_sent()
        task = loop.create_task(self.app.permit_with_link_key(
            node=ieee, link_key=install_code.link_key, time_s=seconds))
        self._permit_tasks[window.eui] = task
        window.task = task
        self._joining_open = True
        self.permits.append(PermitRecord(loop.time(), window.eui, seconds))
        window.permits_sent += 1
        try:
            await asyncio.wait({task, sent}, timeout=PERMIT_SENT_S,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            sent.cancel()
        if task.done() and not task.cancelled() and task.exception() is not None:
            LOGGER.warning("CHF could not open joining for %s: %s", window.eui,
                           task.exception())

    async def _close_joining(self) -> None:
        """``permit(0)`` first, then end the permit calls (whose clean-up may turn
        install-code-only joining off: harmless once joining is closed)."""
        tasks = list(self._permit_tasks.values())
        self._permit_tasks.clear()
        if self._joining_open:
            self._joining_open = False
            self.permits.append(PermitRecord(asyncio.get_running_loop().time(), None, 0))
            try:
                await self.app.permit(0)
            except Exception:  # the radio is gone; nothing else can close it
                LOGGER.warning("CHF could not close joining", exc_info=True)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close_async(self) -> None:
        """Close joining and end every task of the CHF (before the radio shuts down)."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        for entry in self.device_log.values():
            if entry.window is not None and entry.window.closed_at is None:
                entry.window.closed_at = asyncio.get_running_loop().time()
        await self._close_joining()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def close(self) -> None:
        self._runtime.run(self.close_async())

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Joined and interviewed, and still there: an earlier refusal of the same device
            # (told to leave before it was in the device log) may remove it after a new join.
            if eui in self._initialized and eui in self._joined and self._present(eui):
                return self._handle(eui)
            mark = self.events.mark()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{eui} did not join within {timeout:g} s")
            await self.events.wait_for(match("initialized", device=eui), remaining, since=mark)

    def _present(self, eui: str) -> bool:
        return eui64_to_zigpy(eui) in self.app.devices

    def device(self, eui: str) -> HanDevice:
        """The joined, interviewed device; raises :class:`NotJoined` otherwise."""
        eui = normalise_eui(eui)
        if eui not in self._joined or eui not in self._initialized:
            raise NotJoined(f"{eui} is not joined to the HAN")
        return self._handle(eui)

    def _handle(self, eui: str) -> HanDevice:
        ieee = eui64_to_zigpy(eui)
        zdev = self.app.devices[ieee]
        assert isinstance(zdev, zigpy.device.Device)
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

    def _refusal(self, eui: str) -> str | None:
        """Why a device that just joined must not be on the HAN, or ``None``."""
        entry = self.device_log.get(eui)
        if entry is None:
            return "not in the CHF device log"
        if eui in self._admitted:
            return None  # a rejoin of a device the CHF let in
        window = entry.window
        if window is None:
            return "no join window was opened for it"
        end = window.closed_at if window.closed_at is not None else window.closes_at
        if asyncio.get_running_loop().time() > end + JOIN_GRACE_S:
            return "joined outside its JoinTimePeriod"
        return None

    def _admission(self, ieee: t.EUI64) -> str | None:
        """The join gate: admit a device joining (``None``) or say why it is refused."""
        eui = normalise_eui(ieee)
        reason = self._refusal(eui)
        if reason is None:
            self._admitted.add(eui)
        else:
            LOGGER.warning("CHF refused %s on the HAN: %s", eui, reason)
        return reason

    def _now(self) -> datetime:
        return self._runtime.clock.now()

    # -- Smart Energy Metering mirror -------------------------------------------------------
    def mirror(self, eui: str) -> MeteringMirror:
        """The CHF's Metering mirror of a (sleepy) meter: what it last reported, by name."""
        eui = normalise_eui(eui)
        mirror = self.mirrors.get(eui)
        if mirror is None:
            mirror = self.mirrors[eui] = MeteringMirror(eui)
        return mirror

    def _mirror_report(self, eui: str, name: str, value: Any) -> None:
        if eui in self.device_log or eui in self._admitted:
            self.mirror(eui).update(name, value, self._runtime.clock.monotonic(), self._now())


class _AppListener:
    """zigpy application events turned into HAN events."""

    def __init__(self, chf: Chf) -> None:
        self._chf = chf

    # zigpy hears only of joins the CHF admitted (its join gate); a device it is told of and
    # the CHF no longer admits is one the CHF is removing: it is not joined again.
    def device_joined(self, device: zigpy.device.ZigbeeDevice) -> None:
        eui = normalise_eui(device.ieee)
        if eui not in self._chf._admitted:
            return
        self._chf._joined.add(eui)
        self._chf._initialized.discard(eui)
        self._chf.events.emit("joined", eui, details={"nwk": f"0x{int(device.nwk):04X}"})

    def device_initialized(self, device: zigpy.device.ZigbeeDevice) -> None:
        eui = normalise_eui(device.ieee)
        if device.ieee == self._chf.app.state.node_info.ieee or eui not in self._chf._admitted:
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
            _decode_into_events(self._chf.events, device, cluster, src_ep, message,
                                mirror=self._chf._mirror_report)
        except Exception:  # a garbled frame is evidence, not a crash of the harness
            LOGGER.debug("undecodable frame from %s", device.ieee, exc_info=True)


def _decode_into_events(
    events: HanEventStream,
    device: zigpy.device.ZigbeeDevice,
    cluster_id: int,
    src_ep: int,
    message: bytes,
    *,
    mirror: Any = None,
) -> None:
    hdr, _ = zclparse.parse_header(message)
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
    _, payload = zclparse.deserialize(zcl, message, keep=True)  # zigpy's parse takes it
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
            if mirror is not None and cluster_id == METERING_CLUSTER:
                mirror(normalise_eui(device.ieee), name, record.value.value)
        return
    commands = zcl.client_commands if from_server else zcl.server_commands
    definition = commands.get(hdr.command_id)
    name = definition.name if definition is not None else f"0x{hdr.command_id:02X}"
    value: Any = payload.as_dict() if hasattr(payload, "as_dict") else payload
    events.emit("command", device.ieee, cluster=cluster_id, name=name, value=value,
                details={"tsn": hdr.tsn})
