"""What a Smart Energy HAN needs from any zigpy ``ControllerApplication``.

zigpy is built for Home Automation: a ``ZigbeeDevice`` silently drops every ZCL frame whose APS
profile is not HA (0x0104) or ZLL, so a Smart Energy meter (profile 0x0109) would never answer an
interview. :class:`HanApplicationMixin` is mixed into the chosen radio's application class (virtual,
bellows, zigpy-znp or zigpy-deconz) so that devices are :class:`SmartEnergyDevice`, frames are
captured in both directions, and, on a medium that never duplicates frames, zigpy's 10-second
duplicate filter is off (it drops identical replies once the 8-bit sequence number wraps, and each
dropped reply costs a full reply timeout).

The CHF's device log is enforced at the door: every join a radio library reports goes through
the CHF's join gate (:meth:`HanApplicationMixin.set_join_gate`) before zigpy hears of it. A
refused joiner is told to leave through a zigpy device of its own that zigpy never holds, so
nothing of a refusal (a half-done interview, a leave still being retried, zigpy's late removal)
lands on the same device joining again once the CHF admits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import zigpy.device
import zigpy.exceptions
import zigpy.profiles.zha
import zigpy.profiles.zll
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.device import ResponseKey
from zigpy.zcl import Cluster

from harness.han import zclparse
from harness.han.clusters import SE_PROFILE_ID
from harness.han.frames import FrameLog, format_address

if TYPE_CHECKING:
    from harness.clock import Clock

LOGGER = logging.getLogger(__name__)


#: APS profiles whose payload is ZCL: Home Automation, ZLL (as zigpy decides) and Smart Energy.
ZCL_PROFILES = frozenset({zigpy.profiles.zha.PROFILE_ID, zigpy.profiles.zll.PROFILE_ID,
                          SE_PROFILE_ID})


class SmartEnergyDevice(zigpy.device.ZigbeeDevice):
    """A zigpy device that accepts ZCL frames on the Smart Energy profile."""

    def _parse_packet_header(self, packet: t.ZigbeePacket) -> Any:
        # ZCL framing is identical on every profile; zigpy only checks the profile id to decide
        # whether the payload is ZCL at all. The header is zigpy's, parsed once per distinct
        # header (harness.han.zclparse).
        if packet.src_ep == 0 or packet.profile_id not in ZCL_PROFILES:
            return super()._parse_packet_header(packet)
        hdr, _ = zclparse.parse_header(packet.data.serialize())
        return hdr, ResponseKey(endpoint_id=packet.src_ep, cluster_id=packet.cluster_id,
                                direction=hdr.frame_control.direction, tsn=hdr.tsn)

    def _parse_packet_command(self, packet: t.ZigbeePacket, endpoint: Any,
                              zcl_cluster: Cluster | None) -> Any:
        # The command the CHF's decode of this frame parsed, if it did (harness.han.zclparse).
        if packet.src_ep == 0 or zcl_cluster is None:
            return super()._parse_packet_command(packet, endpoint, zcl_cluster)
        return zclparse.deserialize(zcl_cluster, packet.data.serialize())[1]

    def _should_filter_packet(self, packet: t.ZigbeePacket) -> bool:
        app = self._application
        if not getattr(app, "duplicate_filter", True):
            return False
        duplicate = super()._should_filter_packet(packet)
        # zigpy's filter drops any frame equal to one seen in the last 10 s. Once the 8-bit
        # sequence number wraps, a meter's unchanged answer to a new request is equal to its
        # answer 256 requests ago: a reply a request is still waiting for is no duplicate
        # (a retransmitted copy comes after the first copy answered it).
        return duplicate and not self._answers_pending_request(packet)

    def _answers_pending_request(self, packet: t.ZigbeePacket) -> bool:
        try:
            _, key = self._parse_packet_header(packet)
        except (ValueError, KeyError):
            return False
        return key is not None and key in self._requests


#: The coordinator's Smart Energy endpoint (ESI): zigpy registers 1 (HA), 2 (ZLL) and 242 (GP).
SE_ENDPOINT = 9
#: Energy Service Interface: the hub's Smart Energy device id.
SE_ESI_DEVICE_ID = 0x0500
#: Server clusters of the hub's ESI: Basic, Identify, Time, Price, DRLC, Metering (the GSME
#: mirror), Messaging, Tunneling, Prepayment, Key Establishment.
SE_ESI_SERVER_CLUSTERS = [0x0000, 0x0003, 0x000A, 0x0700, 0x0701, 0x0702, 0x0703, 0x0704,
                          0x0705, 0x0800]
#: Client clusters: what it reads and commands on meters and displays.
SE_ESI_CLIENT_CLUSTERS = [0x0000, 0x0700, 0x0702, 0x0703, 0x0704, 0x0705, 0x0800]


class PayloadTooLarge(zigpy.exceptions.DeliveryError):
    """A frame larger than the destination (or the radio) can take in one APS transfer."""


#: The CHF's decision on a device joining: ``None`` admits it, else why it is refused.
JoinGate = Callable[[t.EUI64], "str | None"]
#: Bench seconds between two leaves sent to a device the CHF keeps refusing.
REFUSED_LEAVE_PAUSE_S = 1.0
#: NWK addresses from here up are not a device's (broadcasts, "unknown"): a leave reported with
#: one is not checked against the device's address.
FIRST_RESERVED_NWK = 0xFFF8


class HanApplicationMixin:
    """Mixed in front of a radio's ``ControllerApplication`` by :func:`harness.han.radio`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._permit_waiters: list[asyncio.Future[None]] = []
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        self._join_gate: JoinGate | None = None
        #: Leaves being sent to refused joiners, by EUI-64 (one at a time per device), and the
        #: address each was last refused at.
        self._refusal_leaves: dict[t.EUI64, asyncio.Task[None]] = {}
        self._refused_at: dict[t.EUI64, t.NWK] = {}

    #: The radio type (``znp``...), ``None`` for the virtual radio.
    radio_type: str | None = None
    #: Largest APS payload the radio library takes in one request, ``None`` if unbounded.
    max_payload: int | None = None

    #: zigpy's duplicate-frame filter; a radio whose medium never duplicates turns it off.
    duplicate_filter: bool = True

    frames: FrameLog
    bench_clock: Clock | None
    _frame_observers: list[Callable[[str, t.ZigbeePacket], None]]

    #: Seconds a permit is asked to outlast the window it serves (see ``harness.han.chf``):
    #: 0 on the virtual radio, whose permits end exactly; real radios get a margin.
    permit_margin_s: float = 0.0

    async def permit(self, time_s: int = 60, node: Any = None) -> None:
        await super().permit(time_s=time_s, node=node)  # type: ignore[misc]
        waiters, self._permit_waiters = self._permit_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def permit_sent(self) -> asyncio.Future[None]:
        """A future resolved once the next permit has been sent to the radio (zigpy-znp's
        ``permit_with_link_key`` only returns when its window is over)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._permit_waiters.append(waiter)
        return waiter

    def before_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` when the application shuts down, before the radio is let go (the CHF
        closes joining and ends its permit calls)."""
        self._shutdown_hooks.append(hook)

    async def shutdown(self, *, db: bool = True) -> None:
        hooks, self._shutdown_hooks = self._shutdown_hooks, []
        for hook in hooks:
            try:
                await hook()
            except Exception:  # shutting down goes on whatever a hook did
                LOGGER.warning("shutdown hook failed", exc_info=True)
        leaves = list(self._refusal_leaves.values())
        for task in leaves:
            task.cancel()
        await asyncio.gather(*leaves, return_exceptions=True)
        await super().shutdown(db=db)  # type: ignore[misc]

    # -- joins and leaves ---------------------------------------------------------------------
    def set_join_gate(self, gate: JoinGate | None) -> None:
        """Let ``gate`` decide every join before zigpy hears of it (the CHF's device log)."""
        self._join_gate = gate

    def handle_join(self, nwk: t.NWK, ieee: t.EUI64, parent_nwk: t.NWK | None, *,
                    handle_rejoin: bool = True) -> None:
        """A join (or announcement) the radio reports: zigpy's, once the gate admits it.

        A refused joiner never becomes a zigpy device: zigpy would start its interview, keep
        the object, and hand it (half-interviewed, with a leave to it still being retried) to
        the same device's next join, admitted or not.
        """
        ieee = t.EUI64(ieee)
        reason = self._join_gate(ieee) if self._join_gate is not None else None
        if reason is not None:
            self.refuse_join(nwk, ieee, reason)
            return
        self._refused_at.pop(ieee, None)
        leave = self._refusal_leaves.pop(ieee, None)
        if leave is not None:
            leave.cancel()  # a leave still on its way must not reach the admitted device
        super().handle_join(nwk, ieee, parent_nwk,  # type: ignore[misc]
                            handle_rejoin=handle_rejoin)

    def refuse_join(self, nwk: t.NWK, ieee: t.EUI64, reason: str) -> None:
        """Report a refused join (``han_join_refused``) and tell the device, at the address
        it joined with, to leave."""
        self.listener_event("han_join_refused", ieee, reason)  # type: ignore[attr-defined]
        self._refused_at[ieee] = nwk
        pending = self._refusal_leaves.get(ieee)
        if pending is None or pending.done():
            self._refusal_leaves[ieee] = asyncio.get_running_loop().create_task(
                self._make_leave(ieee))

    async def _make_leave(self, ieee: t.EUI64) -> None:
        """Tell a refused device to leave, again each time it was refused since, at most every
        :data:`REFUSED_LEAVE_PAUSE_S` (a device let back in at once by a radio that permits it
        would otherwise be refused and told to leave without bench time passing)."""
        try:
            while (nwk := self._refused_at.pop(ieee, None)) is not None:
                stranger = SmartEnergyDevice(self, ieee, nwk)  # type: ignore[arg-type]
                # No reply awaited: zigpy routes replies only to devices it holds, and the
                # device leaves once it has the request.
                with contextlib.suppress(Exception):
                    await stranger.zdo.Mgmt_Leave_req(ieee, stranger.zdo.LeaveOptions.NONE,
                                                      expect_reply=False)
                await asyncio.sleep(REFUSED_LEAVE_PAUSE_S)
        finally:
            if self._refusal_leaves.get(ieee) is asyncio.current_task():
                del self._refusal_leaves[ieee]

    def handle_leave(self, nwk: t.NWK, ieee: t.EUI64) -> None:
        """A leave the radio reports, unless it is of an address the device no longer has.

        zigpy finds the device by EUI-64 alone: a late report of a leave at an earlier
        address (EmberZNet reports a joiner that failed to authenticate as left, after it may
        have joined again under another address) would forget the device's current join.
        """
        device = self.devices.get(t.EUI64(ieee))  # type: ignore[attr-defined]
        if (device is not None and int(nwk) < FIRST_RESERVED_NWK
                and int(device.nwk) != int(nwk)):
            LOGGER.debug("ignored a leave of %s at 0x%04X: it is at 0x%04X now", ieee, nwk,
                         device.nwk)
            return
        super().handle_leave(nwk, ieee)  # type: ignore[misc]

    def attach_bench(self, clock: Clock, frames: FrameLog) -> None:
        """Give the application the bench clock and frame log (before ``startup``)."""
        self.bench_clock = clock
        self.frames = frames

    def _capture(self, direction: str, packet: t.ZigbeePacket) -> None:
        frames = getattr(self, "frames", None)
        clock = getattr(self, "bench_clock", None)
        if frames is None or clock is None:
            return
        frames.record(direction, packet, clock.now(), clock.monotonic())  # type: ignore[arg-type]

    def add_device(self, ieee: t.EUI64, nwk: t.NWK) -> zigpy.device.ZigbeeDevice:
        assert isinstance(ieee, t.EUI64)
        device = SmartEnergyDevice(self, ieee, nwk)  # type: ignore[arg-type]
        self.devices[ieee] = device  # type: ignore[attr-defined]
        return device

    async def register_endpoints(self) -> None:
        """zigpy's endpoints, and the hub's Smart Energy endpoint (profile 0x0109): meters
        answer and report to it, and the GSME mirror lives on it."""
        await super().register_endpoints()  # type: ignore[misc]
        await self.add_endpoint(zdo_t.SimpleDescriptor(  # type: ignore[attr-defined]
            endpoint=SE_ENDPOINT, profile=SE_PROFILE_ID, device_type=SE_ESI_DEVICE_ID,
            device_version=0, input_clusters=SE_ESI_SERVER_CLUSTERS,
            output_clusters=SE_ESI_CLIENT_CLUSTERS,
        ))

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        self._check_size(packet)
        self._capture("tx", packet)
        await super().send_packet(packet)  # type: ignore[misc]

    def _check_size(self, packet: t.ZigbeePacket) -> None:
        """Refuse, with the reason, a frame the destination or the radio cannot take: the
        radio libraries do no APS fragmentation of their own (zigpy-znp raises on a frame
        over one MT frame; a device drops one over its maximum incoming transfer size)."""
        size = len(packet.data.serialize())
        if self.max_payload is not None and size > self.max_payload:
            raise PayloadTooLarge(
                f"a {size}-byte frame to {format_address(packet.dst)} is larger than radio "
                f"{self.radio_type} takes in one request ({self.max_payload} bytes; no APS "
                "fragmentation through the radio library)")
        if self.radio_type is None:
            return  # the virtual medium carries any frame (the emulator reassembles nothing)
        device = None
        with contextlib.suppress(KeyError, ValueError):
            device = self.get_device_with_address(packet.dst)  # type: ignore[attr-defined]
        node_desc = getattr(device, "node_desc", None)
        limit = getattr(node_desc, "maximum_incoming_transfer_size", None)
        if limit and size > limit:
            raise PayloadTooLarge(
                f"a {size}-byte frame to {format_address(packet.dst)} is larger than its "
                f"maximum incoming transfer size ({limit} bytes, from its node descriptor)")

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        self._capture("rx", packet)
        try:
            super().packet_received(packet)  # type: ignore[misc]
        except (ValueError, KeyError) as exc:
            # A frame zigpy cannot parse (a broken or hostile device: a ZCL header cut short,
            # garbage): it is in the frame log as evidence; dropping it here keeps the radio's
            # receive path (a radio library callback, or the bench loop) from failing on it.
            LOGGER.warning("dropped a frame from %s that zigpy cannot parse (cluster 0x%04X, "
                           "%d bytes): %s", format_address(packet.src), packet.cluster_id,
                           len(packet.data.serialize()), exc)
        finally:
            zclparse.forget()  # the CHF's parse of this frame is no other frame's

    async def forget_link_key(self, ieee: t.EUI64) -> None:
        """Drop a device's install-code link key from the coordinator, if the radio keeps one.

        It does nothing unless the radio class below the mixin defines it: the virtual radio,
        and the bellows and zigpy-znp applications (``harness.han.radio``), whose dongles keep
        the key after the join window. A radio that fails to forget it is a warning, not a
        failed removal.
        """
        radio_forget = getattr(super(), "forget_link_key", None)
        if radio_forget is None:
            return
        try:
            await radio_forget(ieee)
        except Exception as exc:  # defence in depth only: the removal itself goes on
            # (the exception's type alone: a radio library's text may quote the key sent)
            LOGGER.warning("the radio may keep the install-code key of removed device %s "
                           "(%s); the CHF still refuses it", ieee, type(exc).__name__)
