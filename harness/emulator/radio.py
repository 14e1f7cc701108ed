"""A virtual coordinator radio: a zigpy ``ControllerApplication`` over an in-memory medium.

The medium carries real serialized ZDO and ZCL frames between zigpy and emulated nodes, so every
request and answer goes through zigpy's own parsing. The radio plays the part a real coordinator's
firmware plays: it enforces the permit window and the install-code link key when a node tries to
join, and reports a delivery failure at once when a node is off, silent or gone (no MAC ACK), so an
emulated run never waits for a reply timeout it cannot get.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zigpy.device
import zigpy.endpoint
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.application import ControllerApplication

from harness.han.app import HanApplicationMixin
from harness.han.clusters import SE_PROFILE_ID

if TYPE_CHECKING:
    from harness.emulator.node import EmulatedNode

LOGGER = logging.getLogger(__name__)

COORDINATOR_IEEE = t.EUI64.convert("00:0d:6f:ff:fe:00:00:01")


@dataclass
class _KeyEntry:
    link_key: t.KeyData
    permit_until: float


class VirtualCoordinator(ControllerApplication):
    """The radio behaviour; :class:`VirtualRadio` adds the HAN mixin in front of it."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._nodes_by_ieee: dict[t.EUI64, EmulatedNode] = {}
        self._network: tuple[zigpy.state.NetworkInfo, zigpy.state.NodeInfo] | None = None
        self._keys: dict[t.EUI64, _KeyEntry] = {}
        self._permit_until = 0.0
        self._next_nwk = 0x1001
        self._connected = False
        #: An injected bench fault (:mod:`harness.fault_injection`): the medium carries nothing.
        self.silent = False

    # -- medium -----------------------------------------------------------------------------
    def attach_node(self, node: EmulatedNode) -> None:
        """Put an emulated node within radio range."""
        self._nodes_by_ieee[node.ieee] = node

    def nodes(self) -> Iterator[EmulatedNode]:
        return iter(self._nodes_by_ieee.values())

    def _node_for(self, address: t.AddrModeAddress) -> EmulatedNode | None:
        for node in self._nodes_by_ieee.values():
            if not node.joined:
                continue
            if address.addr_mode == t.AddrMode.NWK and node.nwk == address.address:
                return node
            if address.addr_mode == t.AddrMode.IEEE and node.ieee == address.address:
                return node
        return None

    def deliver_from_node(self, node: EmulatedNode, packet: t.ZigbeePacket) -> None:
        """A node transmits: zigpy receives the frame on the next loop iteration."""
        if self.silent:
            return
        asyncio.get_running_loop().call_soon(self.packet_received, packet)

    def join_request(self, node: EmulatedNode, link_key: t.KeyData) -> bool:
        """A node asks to join; the radio applies the permit window and the link key."""
        now = asyncio.get_running_loop().time()
        if self.silent:
            return False  # nothing reaches the coordinator
        entry = self._keys.get(node.ieee)
        if entry is None:
            self._refuse(node, "not in the device log (no install-code link key)")
            return False
        if now >= entry.permit_until and now >= self._permit_until:
            self._refuse(node, "joining is not permitted now")
            return False
        if entry.link_key != link_key:
            self._refuse(node, "link key does not match the install code")
            return False
        if node.nwk is None:
            node.nwk = t.NWK(self._next_nwk)
            self._next_nwk += 1
        self._admit(node)
        return True

    def trust_centre_rejoin(self, node: EmulatedNode) -> bool:
        """A node that left on its own rejoins with the network key it kept, as a new address
        (a trust centre rejoin): let back only while it is in the device log."""
        if node.ieee not in self._keys:
            self._refuse(node, "not in the device log (rejoin refused)")
            return False
        node.nwk = t.NWK(self._next_nwk)
        self._next_nwk += 1
        self._admit(node)
        return True

    def _admit(self, node: EmulatedNode) -> None:
        """The node is on the network: it announces itself."""
        node.joined = True
        annce = zdo_t.ZDOCmd.Device_annce
        capability = 0x8E if node.is_router else 0x84
        data = t.serialize(
            [t.uint8_t(0), node.nwk, node.ieee, t.uint8_t(capability)],
            [t.uint8_t, t.NWK, t.EUI64, t.uint8_t],
        )
        self.deliver_from_node(node, node.zdo_packet(annce, data))

    def rejoin_request(self, node: EmulatedNode) -> bool:
        """A node that kept its network credentials rejoins (after power loss); the trust
        centre lets it back only while it is in the device log."""
        if node.ieee not in self._keys:
            self._refuse(node, "not in the device log (rejoin refused)")
            return False
        return True

    def _refuse(self, node: EmulatedNode, reason: str) -> None:
        LOGGER.debug("join refused for %s: %s", node.ieee, reason)
        self.listener_event("han_join_refused", node.ieee, reason)

    def node_left(self, node: EmulatedNode) -> None:
        """A node left the network on its own (it tells its parent, the coordinator)."""
        if node.nwk is not None:
            self.handle_leave(node.nwk, node.ieee)

    # -- ControllerApplication: radio side --------------------------------------------------
    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False

    async def start_network(self) -> None:
        await self.load_network_info()
        node_info = self.state.node_info
        coordinator = zigpy.device.ZigbeeDevice(self, node_info.ieee, node_info.nwk)
        coordinator.node_desc = zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=0x8F,
            manufacturer_code=0x0000,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=128,
            server_mask=0x0041,
            maximum_outgoing_transfer_size=128,
            descriptor_capability_field=0,
        )
        endpoint = coordinator.add_endpoint(1)
        endpoint.status = zigpy.endpoint.Status.ZDO_INIT
        endpoint.profile_id = SE_PROFILE_ID
        endpoint.device_type = 0x0500  # SE Energy Service Interface: the hub
        coordinator.manufacturer = "smets1-dmct"
        coordinator.model = "virtual CHF radio"
        self.devices[coordinator.ieee] = coordinator

    async def force_remove(self, dev: zigpy.device.ZigbeeDevice) -> None:
        node = self._nodes_by_ieee.get(dev.ieee)
        if node is not None:
            node.leave_network(announce=False)

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        """The virtual coordinator accepts any endpoint registration."""

    async def permit_ncp(self, time_s: int = 60) -> None:
        self._permit_until = asyncio.get_running_loop().time() + time_s

    async def permit_with_link_key(
        self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60
    ) -> None:
        until = asyncio.get_running_loop().time() + time_s
        self._keys[node] = _KeyEntry(link_key=link_key, permit_until=until)

    async def forget_link_key(self, ieee: t.EUI64) -> None:
        self._keys.pop(ieee, None)

    async def write_network_info(
        self, *, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo
    ) -> None:
        # zigpy hands the radio a plain int nwk when forming; keep it typed (zigpy-notes).
        node_info = node_info.replace(nwk=t.NWK(node_info.nwk), ieee=COORDINATOR_IEEE)
        self._network = (network_info, node_info)

    async def load_network_info(self, *, load_devices: bool = False) -> None:
        if self._network is None:
            raise zigpy.exceptions.NetworkNotFormed("the virtual radio has no network yet")
        self.state.network_info, self.state.node_info = self._network

    async def reset_network_info(self) -> None:
        self._network = None

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        if packet.dst is None:
            return
        if self.silent:
            raise zigpy.exceptions.DeliveryError(
                "no MAC ACK: the radio is silent (injected bench fault)",
                status=t.MACStatus.MAC_NO_ACK)
        mode = packet.dst.addr_mode
        if mode == t.AddrMode.Broadcast:
            for node in list(self._nodes_by_ieee.values()):
                if node.joined and node.hears():
                    node.receive(packet)
            return
        if mode == t.AddrMode.Group:
            return
        node = self._node_for(packet.dst)
        if node is None or not node.hears():
            raise zigpy.exceptions.DeliveryError(
                f"no MAC ACK from {packet.dst} (node absent, off or silent)",
                status=t.MACStatus.MAC_NO_ACK,
            )
        node.receive(packet)


class VirtualRadio(HanApplicationMixin, VirtualCoordinator):
    """The coordinator radio of the emulated bench (frames captured, no duplicate filter)."""

    duplicate_filter = False
