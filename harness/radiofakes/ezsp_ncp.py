"""A fake Silicon Labs EmberZNet NCP: the EZSP commands bellows sends, answered from a model.

Written from Silicon Labs UG100 (EZSP Reference Guide: frame ids, parameter layouts, status
codes) and bellows' observable behaviour (which commands its ``ControllerApplication`` sends to
start, form, permit, join, interview and send, and what it checks in the answers). The NCP speaks
EZSP protocol version 8 (extended frame header), stack type 2, and reports EmberZNet 6.7.8.

The model holds what a real NCP keeps in NVM (network parameters, security state, the key
table) across host resets and reconnections, and what it forgets (whether the stack is up, the
negotiated protocol version, the permit window). The air around it, the devices and the trust
centre's join decisions, is :mod:`harness.radiofakes.devices`.

Joins are reported as EmberZNet reports them: an admitted device gives
``trustCenterJoinHandler`` (and ``childJoinHandler`` for an end device) then its Device_annce
as an ``incomingMessageHandler`` broadcast; a device refused for want of an install-code key gives
``trustCenterJoinHandler`` with ``DENY_JOIN``; a device presenting a wrong key is let on the
network by the trust centre (which cannot tell) but never decrypts the network key, so it is
reported joined and then, after its authentication timeout, left (``DEVICE_LEFT``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.radiofakes import ezsp_frames as f
from harness.radiofakes.devices import (
    DEFAULT_TC_LINK_KEY,
    Admission,
    ScriptedDevice,
    TimelineEntry,
    TrustCentre,
    format_eui,
)

LOGGER = logging.getLogger(__name__)

PROTOCOL_VERSION = 8
STACK_TYPE = 2
#: EmberZNet 6.7.8.0, as the VERSION_INFO value and ``version``'s stackVersion report it.
STACK_VERSION = (6, 7, 8, 0)
STACK_BUILD = 373
WILDCARD_EUI = b"\xff" * 8
COORDINATOR_NWK = 0x0000
#: Seconds a device presenting a wrong key stays on the network before it gives up.
AUTHENTICATION_TIMEOUT_S = 0.5
#: Seconds the MAC takes to give up on a unicast that is never acknowledged.
MAC_FAILURE_DELAY_S = 0.05


class Cmd(enum.IntEnum):
    """EZSP v8 frame ids (UG100) of the commands and callbacks the fake knows."""

    VERSION = 0x00
    GET_LIBRARY_STATUS = 0x01
    ADD_ENDPOINT = 0x02
    NOP = 0x05
    GET_MFG_TOKEN = 0x0B
    SET_CONCENTRATOR = 0x10
    SET_MANUFACTURER_CODE = 0x15
    NETWORK_INIT = 0x17
    NETWORK_STATE = 0x18
    STACK_STATUS_HANDLER = 0x19
    START_SCAN = 0x1A
    SCAN_COMPLETE_HANDLER = 0x1C
    FORM_NETWORK = 0x1E
    LEAVE_NETWORK = 0x20
    PERMIT_JOINING = 0x22
    CHILD_JOIN_HANDLER = 0x23
    TRUST_CENTER_JOIN_HANDLER = 0x24
    GET_EUI64 = 0x26
    GET_NODE_ID = 0x27
    GET_NETWORK_PARAMETERS = 0x28
    SEND_UNICAST = 0x34
    SEND_BROADCAST = 0x36
    SEND_MULTICAST = 0x38
    MESSAGE_SENT_HANDLER = 0x3F
    INCOMING_MESSAGE_HANDLER = 0x45
    ENERGY_SCAN_RESULT_HANDLER = 0x48
    GET_CHILD_DATA = 0x4A
    GET_CONFIGURATION_VALUE = 0x52
    SET_CONFIGURATION_VALUE = 0x53
    SET_POLICY = 0x55
    INVALID_COMMAND = 0x58
    SET_SOURCE_ROUTE_DISCOVERY_MODE = 0x5A
    GET_ADDRESS_TABLE_REMOTE_EUI64 = 0x5E
    GET_ADDRESS_TABLE_REMOTE_NODE_ID = 0x5F
    LOOKUP_NODE_ID_BY_EUI64 = 0x60
    LOOKUP_EUI64_BY_NODE_ID = 0x61
    GET_MULTICAST_TABLE_ENTRY = 0x63
    SET_MULTICAST_TABLE_ENTRY = 0x64
    READ_AND_CLEAR_COUNTERS = 0x65
    ADD_OR_UPDATE_KEY_TABLE_ENTRY = 0x66
    SET_INITIAL_SECURITY_STATE = 0x68
    GET_CURRENT_SECURITY_STATE = 0x69
    GET_KEY = 0x6A
    GET_KEY_TABLE_ENTRY = 0x71
    FIND_KEY_TABLE_ENTRY = 0x75
    ERASE_KEY_TABLE_ENTRY = 0x76
    SET_EXTENDED_TIMEOUT = 0x7E
    GET_EXTENDED_TIMEOUT = 0x7F
    REPLACE_ADDRESS_TABLE_ENTRY = 0x82
    SET_RADIO_POWER = 0x99
    REMOVE_DEVICE = 0xA8
    GET_VALUE = 0xAA
    SET_VALUE = 0xAB
    SET_SOURCE_ROUTE = 0xAE
    ADD_TRANSIENT_LINK_KEY = 0xAF
    CLEAR_KEY_TABLE = 0xB1
    GP_SINK_TABLE_CLEAR_ALL = 0xE2
    READ_COUNTERS = 0xF1


class EmberStatus(enum.IntEnum):
    SUCCESS = 0x00
    ERR_FATAL = 0x01
    NOT_FOUND = 0x03
    DELIVERY_FAILED = 0x66
    INVALID_CALL = 0x70
    NETWORK_UP = 0x90
    NETWORK_DOWN = 0x91
    NOT_JOINED = 0x93
    INDEX_OUT_OF_RANGE = 0xB1
    TABLE_ENTRY_ERASED = 0xB6


class EzspStatus(enum.IntEnum):
    SUCCESS = 0x00
    ERROR_INVALID_FRAME_ID = 0x31
    ERROR_INVALID_ID = 0x37


class NetworkState(enum.IntEnum):
    NO_NETWORK = 0
    JOINED_NETWORK = 2


class DeviceUpdate(enum.IntEnum):
    SECURED_REJOIN = 0
    UNSECURED_JOIN = 1
    DEVICE_LEFT = 2


class JoinDecision(enum.IntEnum):
    USE_PRECONFIGURED_KEY = 0
    DENY_JOIN = 2
    NO_ACTION = 3


class NodeType(enum.IntEnum):
    COORDINATOR = 1
    ROUTER = 2
    END_DEVICE = 3
    SLEEPY_END_DEVICE = 4


class Decision(enum.IntFlag):
    """Bits of the TRUST_CENTER_POLICY decision (EZSP v8+)."""

    ALLOW_JOINS = 0x01
    ALLOW_UNSECURED_REJOINS = 0x02
    SEND_KEY_IN_CLEAR = 0x04
    IGNORE_UNSECURED_REJOINS = 0x08
    JOINS_USE_INSTALL_CODE_KEY = 0x10
    DEFER_JOINS = 0x20


TRUST_CENTER_POLICY = 0x00
#: EzspConfigId values the fake answers with a specific value (others: what was set, or 0).
CONFIG_SECURITY_LEVEL = 0x0D
CONFIG_ADDRESS_TABLE_SIZE = 0x05
CONFIG_MULTICAST_TABLE_SIZE = 0x06
CONFIG_KEY_TABLE_SIZE = 0x1E
CONFIG_TRANSIENT_KEY_TIMEOUT_S = 0x36
DEFAULT_CONFIG = {
    CONFIG_SECURITY_LEVEL: 5,
    CONFIG_ADDRESS_TABLE_SIZE: 8,
    CONFIG_MULTICAST_TABLE_SIZE: 16,
    CONFIG_KEY_TABLE_SIZE: 4,
    CONFIG_TRANSIENT_KEY_TIMEOUT_S: 300,
}
VALUE_FREE_BUFFERS = 0x03
VALUE_VERSION_INFO = 0x11
VALUE_NWK_FRAME_COUNTER = 0x23
VALUE_APS_FRAME_COUNTER = 0x24
MFG_STRING = 0x01
MFG_BOARD_NAME = 0x02
KEY_TRUST_CENTER_LINK = 1
KEY_CURRENT_NETWORK = 3
#: EmberKeyStructBitmask bits.
KEY_HAS_SEQUENCE_NUMBER = 0x01
KEY_HAS_OUTGOING_FRAME_COUNTER = 0x02
KEY_HAS_PARTNER_EUI64 = 0x08
#: EmberInitialSecurityBitmask / EmberCurrentSecurityBitmask bits.
TRUST_CENTER_GLOBAL_LINK_KEY = 0x0004
TRUST_CENTER_USES_HASHED_LINK_KEY = 0x0084
HAVE_TRUST_CENTER_LINK_KEY = 0x0010
#: EmberApsOption: retry the APS frame until it is acknowledged.
APS_OPTION_RETRY = 0x0040
APS_RETRIES = 3
#: Incoming/outgoing message types.
INCOMING_UNICAST = 0
INCOMING_BROADCAST = 4
OUTGOING_DIRECT = 0
OUTGOING_MULTICAST = 3
OUTGOING_BROADCAST = 6
#: Counters in an EmberZNet 6.7 readCounters answer.
COUNTER_COUNT = 41
ZDO_PROFILE = 0x0000
ZDO_DEVICE_ANNCE = 0x0013
ZDO_NODE_DESC_REQ = 0x0002
ZDO_SIMPLE_DESC_REQ = 0x0004
ZDO_ACTIVE_EP_REQ = 0x0005
ZDO_MGMT_LEAVE_REQ = 0x0034


@dataclass
class NetworkNvm:
    """What the NCP keeps in flash for its network."""

    parameters: f.NetworkParameters
    network_key: bytes
    network_key_seq: int
    tc_link_key: bytes
    security_bitmask: int
    nwk_frame_counter: int = 0
    aps_frame_counter: int = 0


@dataclass
class KeyTableEntry:
    eui: bytes
    key: bytes


@dataclass
class TransientKey:
    key: bytes
    expires: float


@dataclass
class NcpCounters:
    """What the fake saw, for tests."""

    commands: dict[str, int] = field(default_factory=dict)
    invalid_commands: list[int] = field(default_factory=list)
    unicasts: int = 0
    mac_failures: int = 0
    #: Unicasts held for a sleepy device until its next poll.
    deferred_deliveries: int = 0


Send = Callable[[bytes], None]


class EzspNcp:
    """The NCP model. Runs on one asyncio loop; ``send`` writes an EZSP frame to the host.

    ``devices`` are the scripted devices in radio range; ``trust_centre`` decides their joins.
    Between host connections the model keeps its NVM; :meth:`attach` binds the current link.
    """

    def __init__(
        self,
        *,
        ieee: bytes = bytes.fromhex("f0debc0a006f0d00"),
        trust_centre: TrustCentre | None = None,
    ) -> None:
        self.ieee = ieee
        #: Devices not on the network try to join whenever the host opens joining, as a device
        #: left in joining mode keeps looking for a network that permits it.
        self.auto_join = False
        #: Seconds between a permit opening and the waiting devices' join attempts.
        self.auto_join_delay_s = 0.05
        #: Seconds a device that left waits before it tries to join again (as the ZNP fake's
        #: devices do): it does not rejoin in the same breath as the host removes it.
        self.rejoin_after_leave_s = 0.2
        self._left_at: dict[bytes, float] = {}
        self.trust_centre = trust_centre or TrustCentre()
        self.devices: dict[bytes, ScriptedDevice] = {}
        self.nvm: NetworkNvm | None = None
        self.key_table: list[KeyTableEntry | None] = []
        self.transient_keys: dict[bytes, TransientKey] = {}
        self.counters = NcpCounters()
        #: Endpoints the host registered: simple descriptor bodies after the endpoint byte.
        self.endpoints: dict[int, bytes] = {}
        self._send: Send | None = None
        self._after: list[Callable[[], None]] = []
        self._initial_security: tuple[int, bytes, bytes, int, bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self.power_on_reset()

    # -- lifecycle -------------------------------------------------------------------------

    def power_on_reset(self) -> None:
        """What a reset forgets: the running stack, the protocol version, RAM tables."""
        self.version = 4
        self.network_up = False
        self.config: dict[int, int] = dict(DEFAULT_CONFIG)
        self.values: dict[int, bytes] = {}
        self.policies: dict[int, int] = {}
        self.extended_timeout: set[bytes] = set()
        self.endpoints = {}
        self._last_sequence = 0xFF
        self._aps_sequence = 0
        # Joining closes, the trust-centre policy returns to its default (joins allowed with
        # any preconfigured key) and the transient key table, kept in RAM, empties.
        now = self.now()
        self.trust_centre.permit(0, now)
        self.trust_centre.set_install_code_only(False, now)
        for eui in self.transient_keys:
            self.trust_centre.remove_key(eui)
        self.trust_centre.set_wildcard_key(None, now)
        self.transient_keys = {}
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def attach(self, loop: asyncio.AbstractEventLoop, send: Send | None) -> None:
        self._loop = loop
        self._send = send

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` ``delay`` seconds on (cancelled by a reset)."""
        assert self._loop is not None
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = self._loop.call_later(delay, run)
        self._timers.add(handle)

    # -- frames from the host --------------------------------------------------------------

    def frame_received(self, frame: bytes) -> None:
        try:
            header, params = f.parse_header(frame)
        except f.FrameError as exc:
            LOGGER.warning("EZSP fake: %s", exc)
            return
        self._last_sequence = header.sequence
        try:
            name, handler = _HANDLERS[Cmd(header.frame_id)]
        except (ValueError, KeyError):
            self.counters.invalid_commands.append(header.frame_id)
            LOGGER.debug("EZSP fake: no command 0x%04X", header.frame_id)
            self._respond(header, Cmd.INVALID_COMMAND, f.u8(EzspStatus.ERROR_INVALID_FRAME_ID))
            return
        self.counters.commands[name] = self.counters.commands.get(name, 0) + 1
        try:
            answer = handler(self, f.Reader(params))
        except f.FrameError as exc:
            LOGGER.warning("EZSP fake: %s: %s", name, exc)
            self._respond(header, Cmd.INVALID_COMMAND, f.u8(EzspStatus.ERROR_INVALID_FRAME_ID))
            return
        self._respond(header, Cmd(header.frame_id), answer)
        for callback in self._after:
            callback()
        self._after.clear()

    def _then(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` right after the current command's response is sent."""
        self._after.append(callback)

    def _respond(self, header: f.EzspHeader, frame_id: int, params: bytes) -> None:
        if self._send is not None:
            self._send(f.build_frame(header.sequence, frame_id, params,
                                     extended=header.extended))

    def callback(self, frame_id: int, params: bytes) -> None:
        """Send an asynchronous callback to the host."""
        if self._send is None:
            return
        self._send(f.build_frame(self._last_sequence, frame_id, params,
                                 extended=self.version >= 8, callback=True))

    # -- command handlers ------------------------------------------------------------------

    def _version(self, r: f.Reader) -> bytes:
        desired = r.u8()
        if desired >= PROTOCOL_VERSION:
            self.version = PROTOCOL_VERSION
        build = STACK_VERSION
        stack = (build[0] << 12) | (build[1] << 8) | (build[2] << 4) | build[3]
        return f.u8(PROTOCOL_VERSION) + f.u8(STACK_TYPE) + f.u16(stack)

    def _get_configuration_value(self, r: f.Reader) -> bytes:
        config_id = r.u8()
        return f.u8(EzspStatus.SUCCESS) + f.u16(self.config.get(config_id, 0))

    def _set_configuration_value(self, r: f.Reader) -> bytes:
        config_id, value = r.u8(), r.u16()
        self.config[config_id] = value
        return f.u8(EzspStatus.SUCCESS)

    def _get_value(self, r: f.Reader) -> bytes:
        value_id = r.u8()
        if value_id == VALUE_VERSION_INFO:
            value = f.u16(STACK_BUILD) + bytes(STACK_VERSION)
        elif value_id == VALUE_FREE_BUFFERS:
            value = f.u8(0xF0)
        elif value_id in self.values:
            value = self.values[value_id]
        else:
            return f.u8(EzspStatus.ERROR_INVALID_ID) + f.lv_bytes(b"")
        return f.u8(EzspStatus.SUCCESS) + f.lv_bytes(value)

    def _set_value(self, r: f.Reader) -> bytes:
        value_id, value = r.u8(), r.lv_bytes()
        self.values[value_id] = value
        return f.u8(EzspStatus.SUCCESS)

    def _set_policy(self, r: f.Reader) -> bytes:
        policy_id, decision = r.u8(), r.u8()
        self.policies[policy_id] = decision
        if policy_id == TRUST_CENTER_POLICY:
            self.trust_centre.set_install_code_only(
                bool(decision & Decision.JOINS_USE_INSTALL_CODE_KEY), self.now())
        return f.u8(EzspStatus.SUCCESS)

    def _add_endpoint(self, r: f.Reader) -> bytes:
        endpoint, profile, device_id, version = r.u8(), r.u16(), r.u16(), r.u8()
        in_count, out_count = r.u8(), r.u8()
        in_clusters, out_clusters = r.u16_list(in_count), r.u16_list(out_count)
        self.endpoints[endpoint] = (
            f.u16(profile) + f.u16(device_id) + f.u8(version)
            + f.u8(in_count) + b"".join(f.u16(c) for c in in_clusters)
            + f.u8(out_count) + b"".join(f.u16(c) for c in out_clusters))
        return f.u8(EzspStatus.SUCCESS)

    def _network_state(self, r: f.Reader) -> bytes:
        return f.u8(NetworkState.JOINED_NETWORK if self.network_up else NetworkState.NO_NETWORK)

    def _network_init(self, r: f.Reader) -> bytes:
        r.u16()
        if self.nvm is None:
            return f.u8(EmberStatus.NOT_JOINED)
        if self.network_up:
            return f.u8(EmberStatus.INVALID_CALL)
        self.network_up = True
        self._then(lambda: self.callback(Cmd.STACK_STATUS_HANDLER, f.u8(EmberStatus.NETWORK_UP)))
        return f.u8(EmberStatus.SUCCESS)

    def _form_network(self, r: f.Reader) -> bytes:
        parameters = r.network_parameters()
        if self.network_up or self._initial_security is None:
            return f.u8(EmberStatus.INVALID_CALL)
        bitmask, _, network_key, seq, _ = self._initial_security
        self.nvm = NetworkNvm(
            parameters=parameters,
            network_key=network_key,
            network_key_seq=seq,
            tc_link_key=self._initial_security[1],
            security_bitmask=bitmask,
            nwk_frame_counter=_u32_value(self.values.get(VALUE_NWK_FRAME_COUNTER)),
            aps_frame_counter=_u32_value(self.values.get(VALUE_APS_FRAME_COUNTER)),
        )
        self.network_up = True
        self._then(lambda: self.callback(Cmd.STACK_STATUS_HANDLER, f.u8(EmberStatus.NETWORK_UP)))
        return f.u8(EmberStatus.SUCCESS)

    def _set_initial_security_state(self, r: f.Reader) -> bytes:
        self._initial_security = (r.u16(), r.key(), r.key(), r.u8(), r.eui64())
        return f.u8(EmberStatus.SUCCESS)

    def _leave_network(self, r: f.Reader) -> bytes:
        if not self.network_up:
            return f.u8(EmberStatus.INVALID_CALL)
        self.network_up = False
        self.nvm = None
        for device in self.devices.values():
            if device.joined:
                self.trust_centre.leave(device, self.now())
        self._then(lambda: self.callback(Cmd.STACK_STATUS_HANDLER,
                                         f.u8(EmberStatus.NETWORK_DOWN)))
        return f.u8(EmberStatus.SUCCESS)

    def _get_network_parameters(self, r: f.Reader) -> bytes:
        if self.nvm is None or not self.network_up:
            empty = f.NetworkParameters(bytes(8), 0, 0, 0, 0, 0, 0, 0)
            return f.u8(EmberStatus.NOT_JOINED) + f.u8(0) + empty.encode()
        return (f.u8(EmberStatus.SUCCESS) + f.u8(NodeType.COORDINATOR)
                + self.nvm.parameters.encode())

    def _get_node_id(self, r: f.Reader) -> bytes:
        return f.u16(COORDINATOR_NWK if self.network_up else 0xFFFE)

    def _get_eui64(self, r: f.Reader) -> bytes:
        return self.ieee

    def _get_mfg_token(self, r: f.Reader) -> bytes:
        token = r.u8()
        if token == MFG_STRING:
            return f.lv_bytes(b"smets1-dmct fake".ljust(16, b"\xff"))
        if token == MFG_BOARD_NAME:
            return f.lv_bytes(b"EZSP fake NCP".ljust(16, b"\xff"))
        return f.lv_bytes(b"\xff" * 8)

    def _key_struct(self, bitmask: int, key_type: int, key: bytes, out_fc: int, seq: int,
                    partner: bytes) -> bytes:
        return (f.u16(bitmask) + f.u8(key_type) + key + f.u32(out_fc) + f.u32(0) + f.u8(seq)
                + partner)

    def _get_key(self, r: f.Reader) -> bytes:
        key_type = r.u8()
        nvm = self.nvm
        if nvm is None:
            return f.u8(EmberStatus.NOT_FOUND) + self._key_struct(0, key_type, bytes(16), 0, 0,
                                                                   bytes(8))
        if key_type == KEY_CURRENT_NETWORK:
            body = self._key_struct(KEY_HAS_SEQUENCE_NUMBER | KEY_HAS_OUTGOING_FRAME_COUNTER,
                                    key_type, nvm.network_key, nvm.nwk_frame_counter,
                                    nvm.network_key_seq, bytes(8))
        elif key_type == KEY_TRUST_CENTER_LINK:
            body = self._key_struct(KEY_HAS_OUTGOING_FRAME_COUNTER | KEY_HAS_PARTNER_EUI64,
                                    key_type, nvm.tc_link_key, nvm.aps_frame_counter, 0,
                                    WILDCARD_EUI)
        else:
            return f.u8(EmberStatus.NOT_FOUND) + self._key_struct(0, key_type, bytes(16), 0, 0,
                                                                   bytes(8))
        return f.u8(EmberStatus.SUCCESS) + body

    def _get_current_security_state(self, r: f.Reader) -> bytes:
        if self.nvm is None:
            return f.u8(EmberStatus.NOT_JOINED) + f.u16(0) + bytes(8)
        bitmask = HAVE_TRUST_CENTER_LINK_KEY | (
            self.nvm.security_bitmask & (TRUST_CENTER_USES_HASHED_LINK_KEY
                                         | TRUST_CENTER_GLOBAL_LINK_KEY))
        return f.u8(EmberStatus.SUCCESS) + f.u16(bitmask) + self.ieee

    def _ok(self, r: f.Reader) -> bytes:
        r.rest()
        return f.u8(EmberStatus.SUCCESS)

    def _nothing(self, r: f.Reader) -> bytes:
        r.rest()
        return b""

    def _set_source_route_discovery_mode(self, r: f.Reader) -> bytes:
        r.u8()
        return f.u32(0)

    def _get_multicast_table_entry(self, r: f.Reader) -> bytes:
        index = r.u8()
        if index >= self.config[CONFIG_MULTICAST_TABLE_SIZE]:
            return f.u8(EmberStatus.INDEX_OUT_OF_RANGE) + bytes(4)
        return f.u8(EmberStatus.SUCCESS) + bytes(4)

    def _permit_joining(self, r: f.Reader) -> bytes:
        duration = r.u8()
        if not self.network_up:
            return f.u8(EmberStatus.NETWORK_DOWN)
        # 255 keeps joining open until it is closed.
        self.trust_centre.permit(10**9 if duration == 0xFF else duration, self.now())
        if duration and self.auto_join:
            self.later(self.auto_join_delay_s, self._join_waiting_devices)
        return f.u8(EmberStatus.SUCCESS)

    def _join_waiting_devices(self) -> None:
        for device in list(self.devices.values()):
            if self.wants_to_join(device):
                self.join(device)

    def wants_to_join(self, device: ScriptedDevice) -> bool:
        """Whether a device left in joining mode tries to join now."""
        left_at = self._left_at.get(device.ieee)
        recently_left = left_at is not None and self.now() - left_at < self.rejoin_after_leave_s
        return (not device.joined and device.powered and self.network_up
                and not recently_left)

    def _add_transient_link_key(self, r: f.Reader) -> bytes:
        eui, key = r.eui64(), r.key()
        timeout = self.config.get(CONFIG_TRANSIENT_KEY_TIMEOUT_S, 300)
        self.transient_keys[eui] = TransientKey(key, self.now() + timeout)
        if eui != WILDCARD_EUI:
            self.trust_centre.add_install_code_key(eui, key, self.now())
        else:  # any joiner without a key of its own may use it, install-code-only or not
            self.trust_centre.set_wildcard_key(key, self.now())
        return f.u8(EmberStatus.SUCCESS)

    def _clear_key_table(self, r: f.Reader) -> bytes:
        self.key_table = []
        return f.u8(EmberStatus.SUCCESS)

    def _add_or_update_key_table_entry(self, r: f.Reader) -> bytes:
        eui, _link, key = r.eui64(), r.u8(), r.key()
        for index, entry in enumerate(self.key_table):
            if entry is not None and entry.eui == eui:
                self.key_table[index] = KeyTableEntry(eui, key)
                return f.u8(EmberStatus.SUCCESS)
        if len(self.key_table) >= self.config[CONFIG_KEY_TABLE_SIZE]:
            return f.u8(EmberStatus.INDEX_OUT_OF_RANGE)
        self.key_table.append(KeyTableEntry(eui, key))
        return f.u8(EmberStatus.SUCCESS)

    def _find_key_table_entry(self, r: f.Reader) -> bytes:
        eui, _link = r.eui64(), r.u8()
        for index, entry in enumerate(self.key_table):
            if entry is not None and entry.eui == eui:
                return f.u8(index)
        return f.u8(0xFF)

    def _erase_key_table_entry(self, r: f.Reader) -> bytes:
        index = r.u8()
        if index >= len(self.key_table):
            return f.u8(EmberStatus.INDEX_OUT_OF_RANGE)
        self.key_table[index] = None
        return f.u8(EmberStatus.SUCCESS)

    def _get_key_table_entry(self, r: f.Reader) -> bytes:
        index = r.u8()
        if index >= self.config[CONFIG_KEY_TABLE_SIZE]:
            status = EmberStatus.INDEX_OUT_OF_RANGE
        elif index >= len(self.key_table) or self.key_table[index] is None:
            status = EmberStatus.TABLE_ENTRY_ERASED
        else:
            entry = self.key_table[index]
            assert entry is not None
            return f.u8(EmberStatus.SUCCESS) + self._key_struct(
                KEY_HAS_PARTNER_EUI64, 5, entry.key, 0, 0, entry.eui)
        return f.u8(status) + self._key_struct(0, 0, bytes(16), 0, 0, bytes(8))

    def _read_counters(self, r: f.Reader) -> bytes:
        return b"".join(f.u16(0) for _ in range(COUNTER_COUNT))

    def children(self) -> list[ScriptedDevice]:
        """Joined end devices, whose parent is the coordinator (its child table)."""
        return [d for d in self.devices.values() if d.joined and not d.rx_on_when_idle]

    def _get_child_data(self, r: f.Reader) -> bytes:
        index = r.u8()
        children = self.children()
        if index >= len(children):
            return f.u8(EmberStatus.NOT_JOINED) + bytes(8) + f.u8(0) + f.u16(0xFFFF) + bytes(3)
        child = children[index]
        return (f.u8(EmberStatus.SUCCESS) + child.ieee + f.u8(NodeType.SLEEPY_END_DEVICE)
                + f.u16(child.nwk or 0xFFFE) + f.u8(0) + f.u8(0) + f.u8(8))

    def _device_by_nwk(self, nwk: int) -> ScriptedDevice | None:
        for device in self.devices.values():
            if device.joined and device.nwk == nwk:
                return device
        return None

    def _lookup_node_id_by_eui64(self, r: f.Reader) -> bytes:
        device = self.devices.get(r.eui64())
        return f.u16(device.nwk if device is not None and device.joined and device.nwk else 0xFFFF)

    def _lookup_eui64_by_node_id(self, r: f.Reader) -> bytes:
        device = self._device_by_nwk(r.u16())
        if device is None:
            return f.u8(EmberStatus.NOT_FOUND) + bytes(8)
        return f.u8(EmberStatus.SUCCESS) + device.ieee

    def _get_extended_timeout(self, r: f.Reader) -> bytes:
        return f.u8(r.eui64() in self.extended_timeout)

    def _set_extended_timeout(self, r: f.Reader) -> bytes:
        eui, flag = r.eui64(), r.u8()
        if flag:
            self.extended_timeout.add(eui)
        else:
            self.extended_timeout.discard(eui)
        return b""

    def _replace_address_table_entry(self, r: f.Reader) -> bytes:
        r.u8()
        eui, _nwk, flag = r.eui64(), r.u16(), r.u8()
        if flag:
            self.extended_timeout.add(eui)
        return f.u8(EmberStatus.SUCCESS) + bytes(8) + f.u16(0xFFFF) + f.u8(0)

    def _get_address_table_remote_node_id(self, r: f.Reader) -> bytes:
        r.u8()
        return f.u16(0xFFFF)

    def _get_address_table_remote_eui64(self, r: f.Reader) -> bytes:
        r.u8()
        return bytes(8)

    def _remove_device(self, r: f.Reader) -> bytes:
        _nwk, _parent, target = r.u16(), r.eui64(), r.eui64()
        device = self.devices.get(target)
        if device is not None and device.joined:
            # The trust centre tells the device's parent to remove it; the device leaves.
            self._then(lambda: self.device_left(device))
        return f.u8(EmberStatus.SUCCESS)

    def _start_scan(self, r: f.Reader) -> bytes:
        scan_type, mask, _duration = r.u8(), r.u32(), r.u8()

        def report() -> None:
            if scan_type == 0:  # energy scan
                for channel in range(11, 27):
                    if mask & (1 << channel):
                        self.callback(Cmd.ENERGY_SCAN_RESULT_HANDLER, f.u8(channel) + f.i8(-90))
            self.callback(Cmd.SCAN_COMPLETE_HANDLER, f.u8(0) + f.u8(EmberStatus.SUCCESS))

        self._then(report)
        return f.u8(EmberStatus.SUCCESS)

    # -- sending ---------------------------------------------------------------------------

    def next_aps_sequence(self) -> int:
        self._aps_sequence = (self._aps_sequence + 1) % 256
        return self._aps_sequence

    def _send_unicast(self, r: f.Reader) -> bytes:
        message_type, destination = r.u8(), r.u16()
        aps, tag, payload = r.aps_frame(), r.u8(), r.lv_bytes()
        if not self.network_up:
            return f.u8(EmberStatus.NETWORK_DOWN) + f.u8(0)
        self.counters.unicasts += 1
        sequence = self.next_aps_sequence()
        self._then(lambda: self._transmit(message_type, destination, aps, tag, payload))
        return f.u8(EmberStatus.SUCCESS) + f.u8(sequence)

    def _send_broadcast(self, r: f.Reader) -> bytes:
        destination, aps = r.u16(), r.aps_frame()
        _radius, tag, payload = r.u8(), r.u8(), r.lv_bytes()
        if not self.network_up:
            return f.u8(EmberStatus.NETWORK_DOWN) + f.u8(0)
        sequence = self.next_aps_sequence()

        def sent() -> None:
            self.callback(Cmd.MESSAGE_SENT_HANDLER,
                          f.u8(OUTGOING_BROADCAST) + f.u16(destination) + aps.encode()
                          + f.u8(tag) + f.u8(EmberStatus.SUCCESS) + f.lv_bytes(b""))
            for device in list(self.devices.values()):
                if device.joined and device.powered:
                    self._deliver(device, aps, payload, broadcast=True)

        self._then(sent)
        return f.u8(EmberStatus.SUCCESS) + f.u8(sequence)

    def _send_multicast(self, r: f.Reader) -> bytes:
        aps = r.aps_frame()
        _hops, _radius, tag, _payload = r.u8(), r.u8(), r.u8(), r.lv_bytes()
        sequence = self.next_aps_sequence()
        self._then(lambda: self.callback(
            Cmd.MESSAGE_SENT_HANDLER, f.u8(OUTGOING_MULTICAST) + f.u16(aps.group_id)
            + aps.encode() + f.u8(tag) + f.u8(EmberStatus.SUCCESS) + f.lv_bytes(b"")))
        return f.u8(EmberStatus.SUCCESS) + f.u8(sequence)

    def _transmit(self, message_type: int, destination: int, aps: f.ApsFrame, tag: int,
                  payload: bytes) -> None:
        """Unicast ``payload``: MAC delivery (with APS retries if asked), then the answer."""
        if destination == COORDINATOR_NWK:
            self._loopback(message_type, aps, tag, payload)
            return
        device = self._device_by_nwk(destination)
        attempts = APS_RETRIES if aps.options & APS_OPTION_RETRY else 1
        delivered = False
        if device is not None and device.accepts(len(payload)):
            for _ in range(attempts):
                if device.take_mac_ack():
                    delivered = True
                    break
                self.counters.mac_failures += 1
        now = self.now()
        # A sleepy device takes the frame from its parent when it next polls.
        delay = MAC_FAILURE_DELAY_S
        if delivered and device is not None and not device.rx_on_when_idle:
            delay = max(device.answer_delay(now) - device.response_delay_s, 0.0)
            self.counters.deferred_deliveries += 1
        elif delivered:
            delay = 0.0
        status = EmberStatus.SUCCESS if delivered else EmberStatus.DELIVERY_FAILED

        def sent() -> None:
            self.callback(Cmd.MESSAGE_SENT_HANDLER,
                          f.u8(message_type) + f.u16(destination) + aps.encode() + f.u8(tag)
                          + f.u8(status) + f.lv_bytes(b""))
            if delivered and device is not None:
                self._deliver(device, aps, payload, broadcast=False,
                              polled=not device.rx_on_when_idle)

        if delay > 0:
            self.later(delay, sent)
        else:
            sent()

    def _deliver(self, device: ScriptedDevice, aps: f.ApsFrame, payload: bytes, *,
                 broadcast: bool, polled: bool = False) -> None:
        """A device received a frame: ZDO is answered here, ZCL by the device.

        ``polled``: a sleepy device took the frame at its poll, so it answers after its own
        response delay, not at its next poll.
        """
        now = self.now()
        if aps.profile_id == ZDO_PROFILE:
            answer = self._zdo_answer(device, aps, payload)
            if answer is None:
                return
            cluster, body = answer
            reply_aps = f.ApsFrame(ZDO_PROFILE, cluster, 0, 0, 0, 0, self.next_aps_sequence())
            delay = device.answer_delay(now)
        else:
            if broadcast:
                return
            reply = device.answer_zcl(aps.destination_endpoint, aps.cluster_id, payload, now)
            if reply is None:
                return
            reply_aps = f.ApsFrame(aps.profile_id, aps.cluster_id, aps.destination_endpoint,
                                   aps.source_endpoint, 0, 0, self.next_aps_sequence())
            body, delay = reply.data, reply.delay_s
        if polled:
            delay = device.response_delay_s
        self.later(delay, lambda: self.incoming(device, reply_aps, body))

    def _zdo_answer(self, device: ScriptedDevice, aps: f.ApsFrame,
                    payload: bytes) -> tuple[int, bytes] | None:
        if device.silent or not payload:
            return None
        tsn, body = payload[0], payload[1:]
        nwk = f.u16(device.nwk or 0)
        cluster = aps.cluster_id
        if cluster == ZDO_NODE_DESC_REQ:
            return 0x8002, bytes([tsn, 0]) + nwk + device.node_descriptor()
        if cluster == ZDO_ACTIVE_EP_REQ:
            return 0x8005, bytes([tsn, 0]) + nwk + device.active_endpoints()
        if cluster == ZDO_SIMPLE_DESC_REQ and len(body) >= 3:
            descriptor = device.simple_descriptor(body[2])
            if descriptor is None:
                return 0x8004, bytes([tsn, 0x83]) + nwk + b"\x00"  # NOT_ACTIVE
            return 0x8004, bytes([tsn, 0]) + nwk + descriptor
        if cluster == ZDO_MGMT_LEAVE_REQ:
            self.later(0.0, lambda: self.device_left(device))
            return 0x8034, bytes([tsn, 0])
        return None

    def _loopback(self, message_type: int, aps: f.ApsFrame, tag: int, payload: bytes) -> None:
        """A unicast to the NCP itself: its own ZDO answers from the registered endpoints."""
        self.callback(Cmd.MESSAGE_SENT_HANDLER,
                      f.u8(message_type) + f.u16(COORDINATOR_NWK) + aps.encode() + f.u8(tag)
                      + f.u8(EmberStatus.SUCCESS) + f.lv_bytes(b""))
        if aps.profile_id != ZDO_PROFILE or not payload:
            return
        tsn, body, nwk = payload[0], payload[1:], f.u16(COORDINATOR_NWK)
        if aps.cluster_id == ZDO_NODE_DESC_REQ:
            # Coordinator, 2.4 GHz; FFD, mains, rx-on; Silicon Labs; primary trust centre.
            answer = 0x8002, bytes([tsn, 0]) + nwk + bytes([0x00, 0x40, 0x8F]) + f.u16(
                0x1002) + bytes([82]) + f.u16(128) + f.u16(0x2C41) + f.u16(128) + b"\x00"
        elif aps.cluster_id == ZDO_ACTIVE_EP_REQ:
            answer = 0x8005, bytes([tsn, 0]) + nwk + f.u8(len(self.endpoints)) + bytes(
                sorted(self.endpoints))
        elif aps.cluster_id == ZDO_SIMPLE_DESC_REQ and len(body) >= 3 and (
                body[2] in self.endpoints):
            descriptor = bytes([body[2]]) + self.endpoints[body[2]]
            answer = 0x8004, bytes([tsn, 0]) + nwk + f.u8(len(descriptor)) + descriptor
        else:
            return
        cluster, data = answer
        reply_aps = f.ApsFrame(ZDO_PROFILE, cluster, 0, 0, 0, 0, self.next_aps_sequence())
        self._send_incoming(INCOMING_UNICAST, COORDINATOR_NWK, reply_aps, data)

    def _send_incoming(self, kind: int, sender: int, aps: f.ApsFrame, payload: bytes) -> None:
        self.callback(Cmd.INCOMING_MESSAGE_HANDLER,
                      f.u8(kind) + aps.encode() + f.u8(0xFF) + f.i8(-40) + f.u16(sender)
                      + f.u8(0xFF) + f.u8(0xFF) + f.lv_bytes(payload))

    def incoming(self, device: ScriptedDevice, aps: f.ApsFrame, payload: bytes, *,
                 broadcast: bool = False) -> None:
        """A frame from ``device`` reaches the NCP: ``incomingMessageHandler``."""
        if not device.joined or device.nwk is None:
            return
        kind = INCOMING_BROADCAST if broadcast else INCOMING_UNICAST
        self._send_incoming(kind, device.nwk, aps, payload)

    # -- the air ---------------------------------------------------------------------------

    def add_device(self, device: ScriptedDevice) -> None:
        self.devices[device.ieee] = device

    def join(self, device: ScriptedDevice) -> Admission:
        """``device`` tries to join through the coordinator; the host hears what it would."""
        self.add_device(device)
        now = self.now()
        if not self.network_up:
            return Admission(False, "no network")
        self._expire_transient_keys(now)
        policy = self.policies.get(TRUST_CENTER_POLICY, Decision.ALLOW_JOINS)
        if not policy & Decision.ALLOW_JOINS and self.trust_centre.permitting(now):
            reason = "trust centre policy does not allow joins"
            self.trust_centre.timeline.append(TimelineEntry(now, "refused",
                                                            f"{device.eui}: {reason}"))
            self._deny(device)
            return Admission(False, reason)
        admission = self.trust_centre.admit(device, now)
        if admission.accepted:
            assert device.nwk is not None
            self._announce_join(device, DeviceUpdate.UNSECURED_JOIN)
            return admission
        if admission.reason == "link key does not match":
            self._wrong_key_join(device)
        elif admission.reason.startswith("no install-code key"):
            self._deny(device)
        return admission

    def _deny(self, device: ScriptedDevice) -> None:
        self.callback(Cmd.TRUST_CENTER_JOIN_HANDLER,
                      f.u16(0xFFFE) + device.ieee + f.u8(DeviceUpdate.UNSECURED_JOIN)
                      + f.u8(JoinDecision.DENY_JOIN) + f.u16(COORDINATOR_NWK))

    def rejoin(self, device: ScriptedDevice) -> Admission:
        admission = self.trust_centre.rejoin(device, self.now())
        if admission.accepted:
            self._announce_join(device, DeviceUpdate.SECURED_REJOIN)
        return admission

    def _announce_join(self, device: ScriptedDevice, update: DeviceUpdate) -> None:
        assert device.nwk is not None
        decision = (JoinDecision.USE_PRECONFIGURED_KEY if update == DeviceUpdate.UNSECURED_JOIN
                    else JoinDecision.NO_ACTION)
        self.callback(Cmd.TRUST_CENTER_JOIN_HANDLER,
                      f.u16(device.nwk) + device.ieee + f.u8(update) + f.u8(decision)
                      + f.u16(COORDINATOR_NWK))
        if not device.rx_on_when_idle:
            self.callback(Cmd.CHILD_JOIN_HANDLER,
                          f.u8(0) + f.u8(1) + f.u16(device.nwk) + device.ieee
                          + f.u8(NodeType.SLEEPY_END_DEVICE))
        annce = (bytes([self.next_aps_sequence()]) + f.u16(device.nwk) + device.ieee
                 + f.u8(device.capability))
        aps = f.ApsFrame(ZDO_PROFILE, ZDO_DEVICE_ANNCE, 0, 0, 0, 0, self.next_aps_sequence())
        self.incoming(device, aps, annce, broadcast=True)

    def _wrong_key_join(self, device: ScriptedDevice) -> None:
        """The trust centre sends the network key under the key it holds for the device;
        the device cannot decrypt it, so it never authenticates and is dropped."""
        nwk = 0xFFF0 - len(self.devices)
        self.callback(Cmd.TRUST_CENTER_JOIN_HANDLER,
                      f.u16(nwk) + device.ieee + f.u8(DeviceUpdate.UNSECURED_JOIN)
                      + f.u8(JoinDecision.USE_PRECONFIGURED_KEY) + f.u16(COORDINATOR_NWK))
        self.later(AUTHENTICATION_TIMEOUT_S, lambda: self.callback(
            Cmd.TRUST_CENTER_JOIN_HANDLER,
            f.u16(nwk) + device.ieee + f.u8(DeviceUpdate.DEVICE_LEFT)
            + f.u8(JoinDecision.NO_ACTION) + f.u16(COORDINATOR_NWK)))

    def device_left(self, device: ScriptedDevice) -> None:
        """``device`` leaves the network (told to, or by itself): DEVICE_LEFT to the host."""
        nwk = device.nwk or 0xFFFE
        self._left_at[device.ieee] = self.now()
        self.trust_centre.leave(device, self.now())
        self.callback(Cmd.TRUST_CENTER_JOIN_HANDLER,
                      f.u16(nwk) + device.ieee + f.u8(DeviceUpdate.DEVICE_LEFT)
                      + f.u8(JoinDecision.NO_ACTION) + f.u16(COORDINATOR_NWK))

    def _expire_transient_keys(self, now: float) -> None:
        for eui, transient in list(self.transient_keys.items()):
            if transient.expires <= now:
                del self.transient_keys[eui]
                if eui == WILDCARD_EUI:
                    self.trust_centre.set_wildcard_key(None, now)
                else:
                    self.trust_centre.remove_key(eui)

    def describe(self) -> str:
        devices = ", ".join(f"{format_eui(d.ieee)}={'joined' if d.joined else 'out'}"
                            for d in self.devices.values())
        return f"EZSP fake NCP v{self.version}, network {'up' if self.network_up else 'down'}, " \
               f"devices: {devices or 'none'}"


def _u32_value(value: bytes | None) -> int:
    return struct.unpack("<I", value)[0] if value is not None and len(value) == 4 else 0


_Handler = Callable[[EzspNcp, f.Reader], bytes]

_HANDLERS: dict[Cmd, tuple[str, _Handler]] = {
    Cmd.VERSION: ("version", EzspNcp._version),
    Cmd.NOP: ("nop", EzspNcp._nothing),
    Cmd.GET_CONFIGURATION_VALUE: ("getConfigurationValue", EzspNcp._get_configuration_value),
    Cmd.SET_CONFIGURATION_VALUE: ("setConfigurationValue", EzspNcp._set_configuration_value),
    Cmd.GET_VALUE: ("getValue", EzspNcp._get_value),
    Cmd.SET_VALUE: ("setValue", EzspNcp._set_value),
    Cmd.SET_POLICY: ("setPolicy", EzspNcp._set_policy),
    Cmd.ADD_ENDPOINT: ("addEndpoint", EzspNcp._add_endpoint),
    Cmd.NETWORK_STATE: ("networkState", EzspNcp._network_state),
    Cmd.NETWORK_INIT: ("networkInit", EzspNcp._network_init),
    Cmd.FORM_NETWORK: ("formNetwork", EzspNcp._form_network),
    Cmd.SET_INITIAL_SECURITY_STATE: ("setInitialSecurityState",
                                     EzspNcp._set_initial_security_state),
    Cmd.LEAVE_NETWORK: ("leaveNetwork", EzspNcp._leave_network),
    Cmd.GET_NETWORK_PARAMETERS: ("getNetworkParameters", EzspNcp._get_network_parameters),
    Cmd.GET_NODE_ID: ("getNodeId", EzspNcp._get_node_id),
    Cmd.GET_EUI64: ("getEui64", EzspNcp._get_eui64),
    Cmd.GET_MFG_TOKEN: ("getMfgToken", EzspNcp._get_mfg_token),
    Cmd.GET_KEY: ("getKey", EzspNcp._get_key),
    Cmd.GET_CURRENT_SECURITY_STATE: ("getCurrentSecurityState",
                                     EzspNcp._get_current_security_state),
    Cmd.SET_CONCENTRATOR: ("setConcentrator", EzspNcp._ok),
    Cmd.SET_SOURCE_ROUTE_DISCOVERY_MODE: ("setSourceRouteDiscoveryMode",
                                          EzspNcp._set_source_route_discovery_mode),
    Cmd.GET_MULTICAST_TABLE_ENTRY: ("getMulticastTableEntry",
                                    EzspNcp._get_multicast_table_entry),
    Cmd.SET_MULTICAST_TABLE_ENTRY: ("setMulticastTableEntry", EzspNcp._ok),
    Cmd.PERMIT_JOINING: ("permitJoining", EzspNcp._permit_joining),
    Cmd.ADD_TRANSIENT_LINK_KEY: ("addTransientLinkKey", EzspNcp._add_transient_link_key),
    Cmd.CLEAR_KEY_TABLE: ("clearKeyTable", EzspNcp._clear_key_table),
    Cmd.ADD_OR_UPDATE_KEY_TABLE_ENTRY: ("addOrUpdateKeyTableEntry",
                                        EzspNcp._add_or_update_key_table_entry),
    Cmd.FIND_KEY_TABLE_ENTRY: ("findKeyTableEntry", EzspNcp._find_key_table_entry),
    Cmd.ERASE_KEY_TABLE_ENTRY: ("eraseKeyTableEntry", EzspNcp._erase_key_table_entry),
    Cmd.GET_CHILD_DATA: ("getChildData", EzspNcp._get_child_data),
    Cmd.GET_KEY_TABLE_ENTRY: ("getKeyTableEntry", EzspNcp._get_key_table_entry),
    Cmd.GP_SINK_TABLE_CLEAR_ALL: ("gpSinkTableClearAll", EzspNcp._nothing),
    Cmd.SET_RADIO_POWER: ("setRadioPower", EzspNcp._ok),
    Cmd.READ_COUNTERS: ("readCounters", EzspNcp._read_counters),
    Cmd.READ_AND_CLEAR_COUNTERS: ("readAndClearCounters", EzspNcp._read_counters),
    Cmd.SET_MANUFACTURER_CODE: ("setManufacturerCode", EzspNcp._nothing),
    Cmd.LOOKUP_NODE_ID_BY_EUI64: ("lookupNodeIdByEui64", EzspNcp._lookup_node_id_by_eui64),
    Cmd.LOOKUP_EUI64_BY_NODE_ID: ("lookupEui64ByNodeId", EzspNcp._lookup_eui64_by_node_id),
    Cmd.GET_EXTENDED_TIMEOUT: ("getExtendedTimeout", EzspNcp._get_extended_timeout),
    Cmd.SET_EXTENDED_TIMEOUT: ("setExtendedTimeout", EzspNcp._set_extended_timeout),
    Cmd.REPLACE_ADDRESS_TABLE_ENTRY: ("replaceAddressTableEntry",
                                      EzspNcp._replace_address_table_entry),
    Cmd.GET_ADDRESS_TABLE_REMOTE_NODE_ID: ("getAddressTableRemoteNodeId",
                                           EzspNcp._get_address_table_remote_node_id),
    Cmd.GET_ADDRESS_TABLE_REMOTE_EUI64: ("getAddressTableRemoteEui64",
                                         EzspNcp._get_address_table_remote_eui64),
    Cmd.SET_SOURCE_ROUTE: ("setSourceRoute", EzspNcp._ok),
    Cmd.REMOVE_DEVICE: ("removeDevice", EzspNcp._remove_device),
    Cmd.START_SCAN: ("startScan", EzspNcp._start_scan),
    Cmd.SEND_UNICAST: ("sendUnicast", EzspNcp._send_unicast),
    Cmd.SEND_BROADCAST: ("sendBroadcast", EzspNcp._send_broadcast),
    Cmd.SEND_MULTICAST: ("sendMulticast", EzspNcp._send_multicast),
}

#: Names of the EZSP commands the fake answers (the report and the docs list them).
IMPLEMENTED_COMMANDS = sorted(name for name, _ in _HANDLERS.values())

__all__ = ["DEFAULT_TC_LINK_KEY", "IMPLEMENTED_COMMANDS", "EzspNcp"]
