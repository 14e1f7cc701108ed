"""An emulated HAN node: ZDO and ZCL over the virtual medium, joining, power and radio state.

The node parses every frame with zigpy's own types and answers from its clusters' state. It joins
the way a Smart Energy device does: it keeps asking to join (every ``retry_interval_s`` for
``attempt_for_s`` after power-on), and the radio lets it in only inside a permit window and only
with the link key of its install code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation

from harness.emulator import framing
from harness.emulator.seeding import seeded_random
from harness.emulator.zcl import EmulatedCluster, Reply, Status
from harness.han import zclparse
from harness.han.clusters import SE_PROFILE_ID

if TYPE_CHECKING:
    import random

    from harness.clock import Clock
    from harness.config.secrets import InstallCode
    from harness.emulator.radio import VirtualCoordinator

LOGGER = logging.getLogger(__name__)

GC = foundation.GeneralCommand
ZDO = zdo_t.ZDOCmd


class EmulatedNode:
    """One emulated device on the HAN."""

    def __init__(
        self,
        radio: VirtualCoordinator,
        clock: Clock,
        *,
        ieee: str,
        install_code: InstallCode,
        endpoint: int = 1,
        device_id: int = 0x0501,
        profile_id: int = SE_PROFILE_ID,
        manufacturer_code: int = 0x0000,
        is_router: bool = True,
        join_retry_interval_s: float = 5.0,
        join_attempt_for_s: float = 3600.0,
        response_delay_s: float = 0.0,
        sleep_poll_s: float | None = None,
        awake_s: float = 1.0,
        commissioning_awake_s: float = 60.0,
    ) -> None:
        self.radio = radio
        self.clock = clock
        self.ieee = t.EUI64.convert(ieee.replace("-", ":"))
        self.install_code = install_code
        self.endpoint = endpoint
        self.device_id = device_id
        self.profile_id = profile_id
        self.manufacturer_code = manufacturer_code
        self.is_router = is_router
        self.join_retry_interval_s = join_retry_interval_s
        self.join_attempt_for_s = join_attempt_for_s
        self.response_delay_s = response_delay_s
        #: A sleepy end device: wakes every ``sleep_poll_s``, answers for ``awake_s``, and
        #: pushes its Metering attributes to the hub's mirror at each wake (``None``: awake).
        self.sleep_poll_s = sleep_poll_s
        self.awake_s = awake_s
        self.commissioning_awake_s = commissioning_awake_s
        self.awake = sleep_poll_s is None
        self.wakes = 0
        self._wake_timer: asyncio.TimerHandle | None = None

        #: The :class:`~harness.emulator.devices.EmulatedDevice` whose state this node serves.
        self.device: Any = None
        self.server_clusters: dict[int, EmulatedCluster] = {}
        self.client_clusters: dict[int, EmulatedCluster] = {}
        self.nwk: t.NWK | None = None
        self.joined = False
        self.powered = False
        self.radio_silent = False
        #: Fault injection: answer every ZCL request with random bytes (a broken device).
        self.answer_garbage = False
        self.join_attempts = 0
        self.frames_in = 0
        self.malformed_frames = 0
        self._tsn = 0
        self._join_timer: asyncio.TimerHandle | None = None
        self._join_deadline = 0.0
        self._report_timer: asyncio.TimerHandle | None = None
        self._garbage = seeded_random("garbage", 0, str(self.ieee))

    def reseed(self, rng: random.Random) -> None:
        """Draw garbage answers from ``rng`` from now on (a new case began)."""
        self._garbage = rng

    # -- composition ------------------------------------------------------------------------
    def add_cluster(self, cluster: EmulatedCluster) -> EmulatedCluster:
        target = self.client_clusters if cluster.is_client else self.server_clusters
        target[cluster.cluster_id] = cluster
        return cluster

    def server(self, cluster_id: int) -> EmulatedCluster:
        return self.server_clusters[cluster_id]

    # -- power, radio and joining -----------------------------------------------------------
    def hears(self) -> bool:
        """True when frames sent to the node reach it (powered and radio not silenced)."""
        return self.powered and not self.radio_silent

    def power_on(self) -> None:
        if self.powered:
            return
        self.powered = True
        if self.joined and (self.radio_silent or self.radio.rejoin_request(self)):
            # A joined device keeps its network credentials across power loss and announces
            # itself again after rejoining.
            self._announce()
        else:
            # Never joined, or removed from the device log while off: join from scratch.
            self.joined = False
            self.nwk = None
            self.start_joining()
        self._schedule_reports()
        self._schedule_wake()

    def power_off(self) -> None:
        self.powered = False
        self._cancel_join()
        if self._wake_timer is not None:
            self._wake_timer.cancel()
            self._wake_timer = None
        if self._report_timer is not None:
            self._report_timer.cancel()
            self._report_timer = None

    def start_joining(self) -> None:
        """Begin (or restart) join attempts, as after power-on or a join button press."""
        if not self.powered or self.joined:
            return
        self._cancel_join()
        loop = asyncio.get_running_loop()
        self._join_deadline = loop.time() + self.join_attempt_for_s
        self._join_timer = loop.call_soon(self._try_join)

    def _cancel_join(self) -> None:
        if self._join_timer is not None:
            self._join_timer.cancel()
            self._join_timer = None

    def _try_join(self) -> None:
        self._join_timer = None
        if not self.powered or self.joined:
            return
        loop = asyncio.get_running_loop()
        if self.radio_silent:
            accepted = False
        else:
            self.join_attempts += 1
            accepted = self.radio.join_request(self, self.install_code.link_key)
        if accepted:
            self._schedule_reports()
            return
        if loop.time() + self.join_retry_interval_s <= self._join_deadline:
            self._join_timer = loop.call_later(self.join_retry_interval_s, self._try_join)

    def leave_network(self, *, announce: bool = True) -> None:
        """Leave the HAN (on a Mgmt_Leave_req or a local reset), then look for a HAN to join
        again, as a Smart Energy device does after it is removed."""
        was_joined = self.joined
        self.joined = False
        if was_joined and announce:
            self.radio.node_left(self)
        self.nwk = None
        self.start_joining()

    def drop_off_han(self, *, rejoin: bool) -> None:
        """A device defect: it leaves the HAN on its own (telling its parent), then rejoins at
        once with the network credentials it kept (``rejoin``), or stays off: it stops trying
        until it is powered off and on."""
        if not self.joined:
            return
        self.joined = False
        self.radio.node_left(self)
        self._cancel_join()
        self.nwk = None
        if rejoin:
            self.radio.trust_centre_rejoin(self)

    def _announce(self) -> None:
        if self.nwk is None:
            return
        if self.sleep_poll_s is not None:
            # Joined: polls fast while it is commissioned (interviewed), then sleeps.
            self.awake = True
            loop = asyncio.get_running_loop()
            loop.call_later(self.commissioning_awake_s, self._fall_asleep)
        capability = 0x8E if self.is_router else 0x84
        data = t.serialize(
            [t.uint8_t(self._next_tsn()), self.nwk, self.ieee, t.uint8_t(capability)],
            [t.uint8_t, t.NWK, t.EUI64, t.uint8_t],
        )
        self._transmit(self.zdo_packet(ZDO.Device_annce, data))

    # -- framing ----------------------------------------------------------------------------
    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    def zdo_packet(self, cluster_id: int, data: bytes) -> t.ZigbeePacket:
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=self.nwk or t.NWK(0xFFFE)),
            src_ep=0,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)),
            dst_ep=0,
            profile_id=0x0000,
            cluster_id=cluster_id,
            data=t.SerializableBytes(data),
        )

    def zcl_packet(self, cluster_id: int, data: bytes) -> t.ZigbeePacket:
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=self.nwk),
            src_ep=self.endpoint,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)),
            dst_ep=1,
            profile_id=self.profile_id,
            cluster_id=cluster_id,
            data=t.SerializableBytes(data),
        )

    def _transmit(self, packet: t.ZigbeePacket) -> None:
        if not self.hears():
            return
        if self.answer_garbage and packet.dst_ep != 0 and packet.src_ep != 0:
            size = self._garbage.randint(0, 12)
            garbage = bytes(self._garbage.getrandbits(8) for _ in range(size))
            packet = packet.replace(data=t.SerializableBytes(garbage))
        if self.response_delay_s > 0:
            loop = asyncio.get_running_loop()
            loop.call_later(self.response_delay_s, self.radio.deliver_from_node, self, packet)
        else:
            self.radio.deliver_from_node(self, packet)

    # -- receiving --------------------------------------------------------------------------
    def receive(self, packet: t.ZigbeePacket) -> None:
        """A frame from the coordinator reached this node."""
        self.frames_in += 1
        data = packet.data.serialize()
        try:
            if packet.dst_ep == 0:
                self._receive_zdo(packet, data)
            elif packet.dst_ep == self.endpoint and self.awake:  # asleep: the frame is lost
                self._receive_zcl(packet, data)
        except Exception:  # an emulated device must survive any frame; count it as evidence
            self.malformed_frames += 1
            LOGGER.debug("node %s dropped a frame it could not handle", self.ieee, exc_info=True)

    def _receive_zdo(self, packet: t.ZigbeePacket, data: bytes) -> None:
        if not data:
            self.malformed_frames += 1
            return
        cluster = packet.cluster_id
        if cluster >= 0x8000 or cluster not in zdo_t.CLUSTERS:
            return
        tsn = data[:1]
        _, schema = zdo_t.CLUSTERS[cluster]
        try:
            args, _ = t.deserialize(data[1:], schema)
        except (ValueError, KeyError):
            self.malformed_frames += 1
            return
        broadcast = packet.dst is not None and packet.dst.addr_mode == t.AddrMode.Broadcast
        response = self._zdo_response(cluster, args)
        if response is None or broadcast:
            return
        rsp_cluster, body = response
        self._transmit(self.zdo_packet(rsp_cluster, tsn + body))

    def _zdo_response(self, cluster: int, args: list[Any]) -> tuple[int, bytes] | None:
        ok = zdo_t.Status.SUCCESS
        nwk = self.nwk
        if cluster == ZDO.Node_Desc_req:
            return ZDO.Node_Desc_rsp, t.serialize(
                [ok, nwk, self.node_descriptor()], [zdo_t.Status, t.NWK, zdo_t.NodeDescriptor]
            )
        if cluster == ZDO.Active_EP_req:
            return ZDO.Active_EP_rsp, t.serialize(
                [ok, nwk, [self.endpoint]], [zdo_t.Status, t.NWK, t.LVList[t.uint8_t]]
            )
        if cluster == ZDO.Simple_Desc_req:
            if args[1] != self.endpoint:
                return ZDO.Simple_Desc_rsp, t.serialize(
                    [zdo_t.Status.NOT_ACTIVE, nwk], [zdo_t.Status, t.NWK]
                ) + b"\x00"
            return ZDO.Simple_Desc_rsp, t.serialize(
                [ok, nwk, self.simple_descriptor()],
                [zdo_t.Status, t.NWK, zdo_t.SizePrefixedSimpleDescriptor],
            )
        if cluster == ZDO.IEEE_addr_req:
            return ZDO.IEEE_addr_rsp, t.serialize(
                [ok, self.ieee, nwk, t.uint8_t(0), t.uint8_t(0)],
                [zdo_t.Status, t.EUI64, t.NWK, t.uint8_t, t.uint8_t],
            )
        if cluster == ZDO.NWK_addr_req:
            return ZDO.NWK_addr_rsp, t.serialize(
                [ok, self.ieee, nwk, t.uint8_t(0), t.uint8_t(0)],
                [zdo_t.Status, t.EUI64, t.NWK, t.uint8_t, t.uint8_t],
            )
        if cluster in (ZDO.Bind_req, ZDO.Unbind_req):
            return cluster | 0x8000, t.serialize([ok], [zdo_t.Status])
        if cluster == ZDO.Mgmt_Leave_req:
            loop = asyncio.get_running_loop()
            loop.call_soon(self.leave_network)
            return ZDO.Mgmt_Leave_rsp, t.serialize([ok], [zdo_t.Status])
        if cluster == ZDO.Mgmt_Permit_Joining_req:
            return ZDO.Mgmt_Permit_Joining_rsp, t.serialize([ok], [zdo_t.Status])
        return cluster | 0x8000, t.serialize([zdo_t.Status.NOT_SUPPORTED], [zdo_t.Status])

    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        logical = zdo_t.LogicalType.Router if self.is_router else zdo_t.LogicalType.EndDevice
        return zdo_t.NodeDescriptor(
            logical_type=logical,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            # Mains powered, receiver on when idle (an always-listening end device); a sleepy
            # meter (emulation.sleepy): battery, receiver off when idle, as a field GSME.
            mac_capability_flags=0x8E if self.is_router else (
                0x80 if self.sleep_poll_s is not None else 0x8C),
            manufacturer_code=self.manufacturer_code,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=128,
            server_mask=0,
            maximum_outgoing_transfer_size=128,
            descriptor_capability_field=0,
        )

    def simple_descriptor(self) -> zdo_t.SizePrefixedSimpleDescriptor:
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=self.endpoint,
            profile=self.profile_id,
            device_type=self.device_id,
            device_version=0,
            input_clusters=list(self.server_clusters),
            output_clusters=list(self.client_clusters),
        )

    def _receive_zcl(self, packet: t.ZigbeePacket, data: bytes) -> None:
        try:
            hdr, payload = zclparse.parse_header(data)
        except (ValueError, KeyError):
            self.malformed_frames += 1
            return  # not even a header: nothing to answer to
        to_server = hdr.direction == foundation.Direction.Client_to_Server
        clusters = self.server_clusters if to_server else self.client_clusters
        cluster = clusters.get(packet.cluster_id)
        if cluster is None:
            self._default_response(packet.cluster_id, hdr, Status.UNSUPPORTED_CLUSTER)
            return
        if hdr.frame_control.is_manufacturer_specific:
            status = (Status.UNSUP_MANUF_CLUSTER_COMMAND if hdr.frame_control.is_cluster
                      else Status.UNSUP_MANUF_GENERAL_COMMAND)
            self._default_response(packet.cluster_id, hdr, status)
            return
        if hdr.frame_control.is_cluster:
            self._cluster_command(cluster, hdr, payload)
        else:
            self._general_command(cluster, hdr, payload)

    def _general_command(
        self, cluster: EmulatedCluster, hdr: foundation.ZCLHeader, payload: bytes
    ) -> None:
        command_id = hdr.command_id
        if command_id not in (
            GC.Read_Attributes, GC.Write_Attributes, GC.Write_Attributes_Undivided,
            GC.Write_Attributes_No_Response, GC.Configure_Reporting, GC.Default_Response,
            GC.Discover_Attributes,
        ):
            self._default_response(cluster.cluster_id, hdr, Status.UNSUP_GENERAL_COMMAND)
            return
        if command_id == GC.Default_Response:
            return
        schema = foundation.GENERAL_COMMANDS[command_id].schema
        try:
            if command_id == GC.Read_Attributes:
                request = framing.parse_read_attributes(payload)
            else:
                request, _ = schema.deserialize(payload)
        except (ValueError, KeyError, TypeError):
            self.malformed_frames += 1
            self._default_response(cluster.cluster_id, hdr, Status.MALFORMED_COMMAND)
            return
        if command_id == GC.Read_Attributes:
            records = []
            for attrid in request.attribute_ids:
                attr = cluster.find_attribute(attrid)
                value = (Status.UNSUPPORTED_ATTRIBUTE if attr is None
                         else cluster.read_attribute(attr))
                if isinstance(value, Status):
                    records.append(foundation.ReadAttributeRecord(attrid=attrid, status=value))
                else:
                    records.append(foundation.ReadAttributeRecord(
                        attrid=attrid, status=Status.SUCCESS, value=cluster.typed(attr, value)
                    ))
            self._send_general(cluster, hdr.tsn, GC.Read_Attributes_rsp, status_records=records)
        elif command_id in (GC.Write_Attributes, GC.Write_Attributes_Undivided,
                            GC.Write_Attributes_No_Response):
            statuses = []
            for record in request.attributes:
                attr = cluster.find_attribute(record.attrid)
                if attr is None:
                    status = Status.UNSUPPORTED_ATTRIBUTE
                elif record.value.type != attr.zcl_type:
                    status = Status.INVALID_DATA_TYPE
                else:
                    status = cluster.write_attribute(attr, record.value.value)
                statuses.append(foundation.WriteAttributesStatusRecord(
                    status=status, attrid=record.attrid
                ))
            if command_id != GC.Write_Attributes_No_Response:
                self._send_general(cluster, hdr.tsn, GC.Write_Attributes_rsp,
                                   status_records=foundation.WriteAttributesResponse(statuses))
        elif command_id == GC.Configure_Reporting:
            responses = []
            for config in request.config_records:
                status = cluster.configure_reporting(config)
                responses.append(foundation.ConfigureReportingResponseRecord(
                    status=status, direction=config.direction, attrid=config.attrid
                ))
            self._send_general(cluster, hdr.tsn, GC.Configure_Reporting_rsp,
                               status_records=foundation.ConfigureReportingResponse(responses))
            self._schedule_reports()
        elif command_id == GC.Discover_Attributes:
            ids = sorted(
                a.id for a in cluster.cluster.attributes.values()
                if a.id >= request.start_attribute_id
                and not isinstance(cluster.read_attribute(a), Status)
            )[: request.max_attribute_ids]
            info = [foundation.DiscoverAttributesResponseRecord(
                attrid=i, datatype=cluster.cluster.attributes[i].zcl_type
            ) for i in ids]
            self._send_general(cluster, hdr.tsn, GC.Discover_Attributes_rsp,
                               discovery_complete=t.Bool(True), attribute_info=info)

    def _cluster_command(
        self, cluster: EmulatedCluster, hdr: foundation.ZCLHeader, payload: bytes
    ) -> None:
        definition = cluster.incoming_commands().get(hdr.command_id)
        if definition is None:
            self._default_response(cluster.cluster_id, hdr, Status.UNSUP_CLUSTER_COMMAND)
            return
        try:
            command, _ = definition.schema.deserialize(payload)
        except (ValueError, KeyError, TypeError):
            self.malformed_frames += 1
            self._default_response(cluster.cluster_id, hdr, Status.MALFORMED_COMMAND)
            return
        result = cluster.handle_command(hdr, command)
        if isinstance(result, Reply):
            self._send_cluster(cluster, hdr.tsn, result.command, result.args)
        elif isinstance(result, Status):
            self._default_response(cluster.cluster_id, hdr, result)
        elif not hdr.frame_control.disable_default_response:
            self._default_response(cluster.cluster_id, hdr, Status.SUCCESS)

    # -- sending ----------------------------------------------------------------------------
    def _direction_from(self, cluster: EmulatedCluster) -> foundation.Direction:
        return (foundation.Direction.Client_to_Server if cluster.is_client
                else foundation.Direction.Server_to_Client)

    def _send_general(
        self, cluster: EmulatedCluster, tsn: int, command_id: int, **fields: Any
    ) -> None:
        header = framing.general_header(tsn, command_id, self._direction_from(cluster))
        body = framing.general_body(command_id, fields)
        self._transmit(self.zcl_packet(cluster.cluster_id, header + body))

    def _send_cluster(
        self, cluster: EmulatedCluster, tsn: int, name: str, args: dict[str, Any]
    ) -> None:
        definition = next(
            (d for d in cluster.outgoing_commands().values() if d.name == name), None
        )
        if definition is None:
            raise KeyError(f"{cluster.cluster.__name__} has no outgoing command {name!r}")
        header = framing.cluster_header(tsn, definition.id, self._direction_from(cluster))
        body = definition.schema(**args).serialize()
        self._transmit(self.zcl_packet(cluster.cluster_id, header + body))

    def _default_response(self, cluster_id: int, hdr: foundation.ZCLHeader, status: Status) -> None:
        if hdr.frame_control.disable_default_response and status == Status.SUCCESS:
            return
        direction = hdr.direction.flip()
        header = framing.general_header(hdr.tsn, GC.Default_Response, direction)
        body = framing.default_response(hdr.command_id, status)
        self._transmit(self.zcl_packet(cluster_id, header + body))

    def send_report(self, cluster: EmulatedCluster, records: list[foundation.Attribute]) -> None:
        if not self.joined:
            return
        self._send_general(cluster, self._next_tsn(), GC.Report_Attributes,
                           attribute_reports=records)

    def send_cluster_command(
        self, cluster: EmulatedCluster, name: str, args: dict[str, Any]
    ) -> None:
        if not self.joined:
            return
        self._send_cluster(cluster, self._next_tsn(), name, args)

    # -- sleeping (a battery meter) ----------------------------------------------------------
    def _schedule_wake(self) -> None:
        if self.sleep_poll_s is None or not self.powered or self._wake_timer is not None:
            return
        self._wake_timer = asyncio.get_running_loop().call_later(self.sleep_poll_s, self._wake)

    def _wake(self) -> None:
        """Poll: awake for ``awake_s``, the Metering attributes pushed to the hub's mirror."""
        self._wake_timer = None
        if not self.powered:
            return
        self.awake = True
        self.wakes += 1
        self.push_to_mirror()
        loop = asyncio.get_running_loop()
        loop.call_later(self.awake_s, self._fall_asleep)
        self._schedule_wake()

    def _fall_asleep(self) -> None:
        self.awake = False

    def push_to_mirror(self) -> None:
        """Report every Metering attribute the meter has to the hub (its mirror's copy)."""
        metering = self.server_clusters.get(0x0702)
        if metering is None:
            return
        names = [a.name for a in metering.cluster.attributes.values()
                 if not isinstance(metering.read_attribute(a), Status)]
        metering.report_now(*names)

    # -- attribute reporting ----------------------------------------------------------------
    def _schedule_reports(self) -> None:
        """Arm one timer for the earliest report due by its max interval.

        Reports on change are sent when state changes (:meth:`state_changed`), so a quiet
        meter costs one timer per max interval, not one per second of a 7-day scenario.
        """
        if self._report_timer is not None:
            self._report_timer.cancel()
            self._report_timer = None
        if not self.powered:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = [
            (config.last_sent + config.max_interval) if config.last_sent >= 0 else now
            for cluster in self.server_clusters.values()
            for config in cluster.reporting.values()
            if config.max_interval
        ]
        if due:
            self._report_timer = loop.call_at(max(now, min(due)), self._report_tick)

    def state_changed(self) -> None:
        """Device state changed: send reports that are due on change, re-arm the timer."""
        self._send_due_reports()
        self._schedule_reports()

    def _send_due_reports(self) -> None:
        now = asyncio.get_running_loop().time()
        for cluster in self.server_clusters.values():
            records = cluster.due_reports(now)
            if records:
                self.send_report(cluster, records)

    def _report_tick(self) -> None:
        # Due reports are always taken (a silent radio transmits into the void), so the timer
        # moves on instead of firing again at the same instant.
        self._report_timer = None
        self._send_due_reports()
        self._schedule_reports()
