"""A byte-level fake of a TI Z-Stack 3.0.x coordinator (CC2531-class) speaking MT over a socket.

What zigpy-znp sees is a dongle: MT frames (SOF ``0xFE``, length, ``cmd0``/``cmd1``, payload,
XOR check byte), synchronous requests answered with their SRSP, and asynchronous callbacks
(state changes, join indications, data confirms, incoming messages). Behind the frames is the
air of :mod:`harness.radiofakes.devices`: scripted devices that join through the trust
centre, are interviewed over ZDO and answer ZCL.

Written by this project from the public MT interface description (Z-Stack Monitor and Test
API) and from which commands zigpy-znp sends and what it checks in the answers; nothing is
taken from zigpy-znp's test suite. The fake answers as Z-Stack 3.0.x with unaligned structs
(no extended NV system: ``SYS_NV_LENGTH`` is "command not recognised"), so the OSAL NV items
are all it keeps. NV items are opaque bytes except those the fake itself creates on network
formation; the network it reports is read back from the NIB, so what zigpy-znp writes is
what the next start-up finds (pass the same :attr:`ZnpFake.nvram` to a new fake to keep a
dongle's network across runs).

Start one in the running loop with :meth:`ZnpFake.serve` (``socket://127.0.0.1:PORT``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.radiofakes.devices import (
    Reply,
    ScriptedDevice,
    TrustCentre,
    format_eui,
    parse_eui,
    u16,
)

LOGGER = logging.getLogger(__name__)

SOF = 0xFE
MAX_PAYLOAD = 250

# cmd0: type (bits 7-5: 1 SREQ, 2 AREQ, 3 SRSP) | subsystem (bits 4-0)
SREQ, AREQ, SRSP = 0x20, 0x40, 0x60
RPC, SYS, AF, ZDO, UTIL, APP_CNF = 0x00, 0x01, 0x04, 0x05, 0x07, 0x0F

# Status codes (Z-Stack ZStatus_t)
SUCCESS = 0x00
FAILURE = 0x01
NV_ITEM_UNINIT = 0x09
NV_OPER_FAILED = 0x0A
MAC_NO_ACK = 0xE9
NWK_NO_ROUTE = 0xCD

# OSAL NV item ids the fake knows the meaning of
NV_EXTADDR = 0x0001
NV_STARTUP_OPTION = 0x0003
NV_NIB = 0x0021
NV_ADDRMGR = 0x0023
NV_NWK_ACTIVE_KEY_INFO = 0x003A
NV_APS_USE_EXT_PANID = 0x0047
NV_APS_LINK_KEY_TABLE = 0x004C
NV_BDB_NODE_IS_ON_A_NETWORK = 0x0055
NV_PRECFGKEY = 0x0062
NV_NWK_SEC_MATERIAL = 0x0075  # four 12-byte entries: frame counter, extended PAN id
NV_PANID = 0x0083
NV_CHANLIST = 0x0084
NV_LOGICAL_TYPE = 0x0087
STARTUP_CLEAR_CONFIG = 0x01
STARTUP_CLEAR_STATE = 0x02
#: Single-byte stack settings every Z-Stack image has (concentrator, source routing, child
#: aging, broadcast delivery time, ZDO direct callbacks): id -> factory value.
STACK_SETTINGS = {0x0032: 0, 0x0033: 0, 0x0036: 0, 0x0038: 0, 0x003E: 1, 0x0030: 20,
                  0x008F: 0}

# The NIB as CC2531 Z-Stack 3.0 keeps it (packed, 110 bytes): offsets of the fields used.
NIB_SIZE = 110
NIB_SECURITY_LEVEL = 12
NIB_DEV_ADDRESS = 20
NIB_CHANNEL = 22
NIB_PAN_ID = 33
NIB_STATE = 35
NIB_CHANNEL_LIST = 36
NIB_EXT_PAN_ID = 53
NIB_KEY_LOADED = 61

# ZDO clusters
NODE_DESC_REQ, SIMPLE_DESC_REQ, ACTIVE_EP_REQ = 0x0002, 0x0004, 0x0005
DEVICE_ANNCE, MGMT_LEAVE_REQ = 0x0013, 0x0034
RSP = 0x8000

# Device states in ZDO_STATE_CHANGE_IND
STARTING_AS_COORDINATOR, STARTED_AS_COORDINATOR = 0x08, 0x09

#: What a Z-Stack 3.0.x CC2531 image reports: transport 2, product 0, release 2.6.3, build.
VERSION = bytes([2, 0, 2, 6, 3]) + (20190608).to_bytes(4, "little") + b"\x00" + bytes(4)
#: MT capabilities: SYS, AF, ZDO, SAPI, UTIL, APP_CNF.
CAPABILITIES = 0x0001 | 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0400


def frame(cmd0: int, cmd1: int, payload: bytes = b"") -> bytes:
    """One MT frame: SOF, length, command, payload, XOR of everything after SOF."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"MT payload of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    body = bytes([len(payload), cmd0, cmd1]) + payload
    fcs = 0
    for byte in body:
        fcs ^= byte
    return bytes([SOF]) + body + bytes([fcs])


class MtParser:
    """Splits a byte stream into MT frames; bytes that do not frame (noise, bootloader-skip
    bytes, a bad check byte) are dropped, as Z-Stack's UART driver drops them."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self._buffer += data
        frames: list[tuple[int, int, bytes]] = []
        while True:
            start = self._buffer.find(bytes([SOF]))
            if start < 0:
                self.dropped += len(self._buffer)
                self._buffer.clear()
                return frames
            if start:
                self.dropped += start
                del self._buffer[:start]
            if len(self._buffer) < 5:
                return frames
            length = self._buffer[1]
            if length > MAX_PAYLOAD:
                self.dropped += 1
                del self._buffer[:1]
                continue
            end = 5 + length
            if len(self._buffer) < end:
                return frames
            body = bytes(self._buffer[1:end - 1])
            fcs = 0
            for byte in body:
                fcs ^= byte
            if fcs != self._buffer[end - 1]:
                self.dropped += 1
                del self._buffer[:1]
                continue
            del self._buffer[:end]
            frames.append((body[1], body[2], body[3:]))


@dataclass
class Endpoint:
    """An endpoint the host registered with AF_REGISTER."""

    endpoint: int
    profile_id: int
    device_id: int
    in_clusters: list[int]
    out_clusters: list[int]


def _u32(value: int) -> bytes:
    return int(value).to_bytes(4, "little")


def _rd16(data: bytes | bytearray, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 2], "little")


class _Connection(asyncio.Protocol):
    def __init__(self, fake: ZnpFake) -> None:
        self.fake = fake
        self.parser = MtParser()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake._connected(self)

    def data_received(self, data: bytes) -> None:
        for cmd0, cmd1, payload in self.parser.feed(data):
            self.fake.handle(cmd0, cmd1, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake._disconnected(self)


class ZnpFake:
    """The fake dongle: NV memory, trust centre, registered endpoints and the devices in range.

    ``devices`` are in range from the start; ``join_retry_s`` is how often an unjoined, powered
    device asks to join. ``mute`` (a test's fault) stops the fake answering at all.
    """

    def __init__(
        self,
        devices: Iterable[ScriptedDevice] = (),
        *,
        ieee: str = "00-12-4B-00-1C-AA-00-01",
        nvram: dict[int, bytearray] | None = None,
        join_retry_s: float = 2.0,
        seed: int = 1,
    ) -> None:
        self.ieee = parse_eui(ieee)
        self.nvram: dict[int, bytearray] = nvram if nvram is not None else {}
        if not self.nvram:
            self._factory_reset(keep_config=False)
        self.tc = TrustCentre()
        self.devices: dict[bytes, ScriptedDevice] = {}
        self.endpoints: dict[int, Endpoint] = {}
        self.join_retry_s = join_retry_s
        self.mute = False
        self.started = False
        #: Every frame in both directions, (direction, cmd0, cmd1, payload), for evidence.
        self.log: list[tuple[str, int, int, bytes]] = []
        self._random = random.Random(seed)
        self._conn: _Connection | None = None
        self._server: asyncio.base_events.Server | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._reporting: set[bytes] = set()
        self._joining: set[bytes] = set()
        self._tsn = 0
        self._handlers = self._handler_table()
        for device in devices:
            self.add_device(device)

    # -- serving ----------------------------------------------------------------------------
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` in the running loop; the ``socket://`` URL to open."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        bound = self._server.sockets[0].getsockname()
        return f"socket://{bound[0]}:{bound[1]}"

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _connected(self, conn: _Connection) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = conn

    def _disconnected(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    def send(self, cmd0: int, cmd1: int, payload: bytes = b"") -> None:
        self.log.append(("tx", cmd0, cmd1, bytes(payload)))
        conn = self._conn
        if conn is not None and conn.transport is not None and not self.mute:
            conn.transport.write(frame(cmd0, cmd1, payload))

    # -- NV memory --------------------------------------------------------------------------
    def _factory_reset(self, *, keep_config: bool) -> None:
        """What a freshly flashed (or ClearState-started) Z-Stack has in NV."""
        kept = {k: v for k, v in self.nvram.items()
                if keep_config and k in (NV_PANID, NV_CHANLIST, NV_PRECFGKEY, 0x0063,
                                         NV_APS_USE_EXT_PANID)}
        self.nvram.clear()
        self.nvram.update(kept)
        self.nvram[NV_EXTADDR] = bytearray(self.ieee)
        self.nvram[NV_STARTUP_OPTION] = bytearray(1)
        self.nvram[NV_LOGICAL_TYPE] = bytearray(1)
        self.nvram[NV_ADDRMGR] = bytearray(b"\x00\xff\xff" + b"\xff" * 8) * 16
        self.nvram[NV_APS_LINK_KEY_TABLE] = bytearray(64)
        for index in range(4):
            self.nvram[NV_NWK_SEC_MATERIAL + index] = bytearray(12)
        for nv_id, value in STACK_SETTINGS.items():
            self.nvram[nv_id] = bytearray([value])

    def _nv_get(self, nv_id: int, size: int, default: bytes) -> bytes:
        value = self.nvram.get(nv_id)
        return bytes(value) if value is not None and len(value) == size else default

    @property
    def network(self) -> tuple[int, int, bytes] | None:
        """(channel, PAN id, extended PAN id as 8 air-order bytes) of the network in the NIB."""
        nib = self.nvram.get(NV_NIB)
        if nib is None or len(nib) != NIB_SIZE or nib[NIB_CHANNEL] == 0:
            return None
        ext_pan = bytes(nib[NIB_EXT_PAN_ID:NIB_EXT_PAN_ID + 8])
        return nib[NIB_CHANNEL], _rd16(nib, NIB_PAN_ID), ext_pan

    @property
    def nwk(self) -> int:
        nib = self.nvram.get(NV_NIB)
        return _rd16(nib, NIB_DEV_ADDRESS) if nib is not None and len(nib) == NIB_SIZE else 0

    def form(self) -> None:
        """Form a network from the configured NV items (channel list, PAN ids, key)."""
        mask = int.from_bytes(self._nv_get(NV_CHANLIST, 4, _u32(1 << 11)), "little")
        channel = next((ch for ch in range(11, 27) if mask & (1 << ch)), 11)
        pan_id = _rd16(self._nv_get(NV_PANID, 2, b"\xff\xff"), 0)
        if pan_id in (0xFFFF, 0xFFFE, 0x0000):
            pan_id = self._random.randint(0x0001, 0xFFF0)
        ext_pan = self._nv_get(NV_APS_USE_EXT_PANID, 8, bytes(8))
        if ext_pan == bytes(8):
            ext_pan = self.ieee
        key = self._nv_get(NV_PRECFGKEY, 16, os.urandom(16))
        nib = bytearray(NIB_SIZE)
        nib[NIB_SECURITY_LEVEL] = 5
        nib[NIB_DEV_ADDRESS:NIB_DEV_ADDRESS + 2] = u16(0x0000)
        nib[NIB_CHANNEL] = channel
        nib[NIB_PAN_ID:NIB_PAN_ID + 2] = u16(pan_id)
        nib[NIB_STATE] = 0x09
        nib[NIB_CHANNEL_LIST:NIB_CHANNEL_LIST + 4] = _u32(1 << channel)
        nib[NIB_EXT_PAN_ID:NIB_EXT_PAN_ID + 8] = ext_pan
        nib[NIB_KEY_LOADED] = 1
        self.nvram[NV_NIB] = nib
        self.nvram[NV_NWK_ACTIVE_KEY_INFO] = bytearray(b"\x00" + key)
        self.nvram[NV_NWK_SEC_MATERIAL] = bytearray(_u32(0) + ext_pan)
        self.nvram[NV_BDB_NODE_IS_ON_A_NETWORK] = bytearray([1])

    # -- devices ----------------------------------------------------------------------------
    def add_device(self, device: ScriptedDevice) -> ScriptedDevice:
        """Put a device in range; a powered, unjoined device starts asking to join."""
        self.devices[device.ieee] = device
        self._schedule_join(device, 0.0)
        return device

    def device(self, eui: str) -> ScriptedDevice:
        return self.devices[parse_eui(eui)]

    def power_off(self, eui: str) -> None:
        self.device(eui).powered = False

    def power_on(self, eui: str) -> None:
        """Switch a device on: a joined device rejoins, any other asks to join."""
        device = self.device(eui)
        if device.powered:
            return
        device.powered = True
        if device.joined and self._loop_running():
            admission = self.tc.rejoin(device, self._now())
            if admission.accepted:
                self._announce(device)
                return
            device.joined = False
            device.nwk = None
        self._schedule_join(device, 0.0)

    def _loop_running(self) -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def _schedule_join(self, device: ScriptedDevice, delay: float) -> None:
        """One pending join attempt per device (a device has one join state machine)."""
        if not self._loop_running() or device.ieee in self._joining:
            return  # without a loop, the first attempt is made once the network starts
        self._joining.add(device.ieee)
        self._later(delay, lambda: self._try_join(device))

    def _try_join(self, device: ScriptedDevice) -> None:
        self._joining.discard(device.ieee)
        if device.joined or not device.powered or self.devices.get(device.ieee) is not device:
            return
        if self.started:
            admission = self.tc.admit(device, self._now())
            if admission.accepted:
                self._announce(device, tc_indication=True)
                return
        self._schedule_join(device, self.join_retry_s)

    def _announce(self, device: ScriptedDevice, *, tc_indication: bool = False) -> None:
        assert device.nwk is not None
        if device.report_interval_s > 0 and device.ieee not in self._reporting:
            self._reporting.add(device.ieee)
            self._later(device.report_interval_s, lambda: self._report(device))
        if tc_indication:
            self.send(AREQ | ZDO, 0xCA, u16(device.nwk) + device.ieee + u16(self.nwk))
        body = u16(device.nwk) + device.ieee + bytes([device.capability])
        self._zdo_incoming(device.nwk, DEVICE_ANNCE, 0, body, broadcast=True)

    def _report(self, device: ScriptedDevice) -> None:
        """A reporting device wakes: it pushes its reported attributes to the hub's Smart
        Energy endpoint (the Metering mirror), then sleeps until the next report."""
        if device.joined and device.powered and not device.silent:
            hub = next((ep.endpoint for ep in self.endpoints.values()
                        if ep.profile_id == device.profile_id), 1)
            self._tsn = (self._tsn + 1) & 0xFF
            for cluster_id, data in device.report_frames(self._tsn):
                self._af_incoming(device, cluster_id, hub, data)
        if self.devices.get(device.ieee) is device:
            self._later(device.report_interval_s, lambda: self._report(device))
        else:
            self._reporting.discard(device.ieee)

    def leave(self, device: ScriptedDevice, *, rejoin_after: float | None = None) -> None:
        """The device leaves (told to, or by itself); it tells the coordinator."""
        if device.nwk is not None:
            self.send(AREQ | ZDO, 0xC9, u16(device.nwk) + device.ieee + b"\x00\x00\x00")
        self.tc.leave(device, self._now())
        self._schedule_join(device, self.join_retry_s if rejoin_after is None else rejoin_after)

    def send_from_device(self, eui: str, cluster_id: int, data: bytes) -> None:
        """A device sends a ZCL frame of its own (a report, an alert) to the coordinator."""
        device = self.device(eui)
        if device.joined and device.powered:
            self._af_incoming(device, cluster_id, 1, data)

    # -- frame dispatch ---------------------------------------------------------------------
    def handle(self, cmd0: int, cmd1: int, payload: bytes) -> None:
        self.log.append(("rx", cmd0, cmd1, bytes(payload)))
        if self.mute:
            return
        handler = self._handlers.get((cmd0, cmd1))
        if handler is None:
            if cmd0 & 0xE0 == SREQ:
                self.send(SRSP | RPC, 0x00, bytes([0x02, cmd0, cmd1]))
            return
        try:
            handler(payload)
        except (IndexError, ValueError):
            LOGGER.debug("ZNP fake: bad payload for %02X %02X", cmd0, cmd1, exc_info=True)
            if cmd0 & 0xE0 == SREQ:
                self.send(SRSP | RPC, 0x00, bytes([0x03, cmd0, cmd1]))

    def _handler_table(self) -> dict[tuple[int, int], Callable[[bytes], None]]:
        return {
            (SREQ | SYS, 0x01): lambda p: self.send(SRSP | SYS, 0x01, u16(CAPABILITIES)),
            (SREQ | SYS, 0x02): lambda p: self.send(SRSP | SYS, 0x02, VERSION),
            (AREQ | SYS, 0x00): self._reset,
            (SREQ | SYS, 0x13): self._nv_length,
            (SREQ | SYS, 0x1C): self._nv_read_ext,
            (SREQ | SYS, 0x08): self._nv_read,
            (SREQ | SYS, 0x1D): self._nv_write_ext,
            (SREQ | SYS, 0x09): self._nv_write,
            (SREQ | SYS, 0x07): self._nv_item_init,
            (SREQ | SYS, 0x12): self._nv_delete,
            (SREQ | SYS, 0x14): lambda p: self.send(SRSP | SYS, 0x14, p[:1]),
            (SREQ | UTIL, 0x49): lambda p: self.send(SRSP | UTIL, 0x49, bytes(28)),
            (SREQ | APP_CNF, 0x05): self._bdb_start_commissioning,
            (SREQ | APP_CNF, 0x08): lambda p: self._status(SRSP | APP_CNF, 0x08),
            (SREQ | APP_CNF, 0x04): self._bdb_add_install_code,
            (SREQ | APP_CNF, 0x06): self._bdb_join_uses_install_code_key,
            (SREQ | AF, 0x00): self._af_register,
            (SREQ | AF, 0x01): self._af_data_request,
            (SREQ | AF, 0x02): self._af_data_request_ext,
            (SREQ | ZDO, 0x36): self._mgmt_permit_join,
            (SREQ | ZDO, 0x3E): lambda p: self._status(SRSP | ZDO, 0x3E),
            (SREQ | ZDO, 0x45): lambda p: self._status(SRSP | ZDO, 0x45),
            (SREQ | ZDO, 0x46): lambda p: self._status(SRSP | ZDO, 0x46),
        }

    def _status(self, cmd0: int, cmd1: int, status: int = SUCCESS) -> None:
        self.send(cmd0, cmd1, bytes([status]))

    # -- SYS --------------------------------------------------------------------------------
    def _reset(self, payload: bytes) -> None:
        option = self.nvram.get(NV_STARTUP_OPTION, bytearray(1))[0]
        if option & (STARTUP_CLEAR_STATE | STARTUP_CLEAR_CONFIG):
            self._factory_reset(keep_config=not option & STARTUP_CLEAR_CONFIG)
        if NV_EXTADDR not in self.nvram:
            self.nvram[NV_EXTADDR] = bytearray(self.ieee)  # the hardware address comes back
        self.started = False
        self.endpoints.clear()  # AF registrations live in RAM
        # BDB settings do not survive a reset; the permit window closes.
        self.tc.set_install_code_only(False, self._now())
        if self.tc.permitting(self._now()):
            self.tc.permit(0, self._now())
        self.send(AREQ | SYS, 0x80, bytes([0x02]) + VERSION[:5])

    def _nv_length(self, payload: bytes) -> None:
        item = self.nvram.get(_rd16(payload, 0))
        self.send(SRSP | SYS, 0x13, u16(len(item) if item is not None else 0))

    def _nv_read_ext(self, payload: bytes) -> None:
        self._nv_read_at(0x1C, _rd16(payload, 0), _rd16(payload, 2))

    def _nv_read(self, payload: bytes) -> None:
        self._nv_read_at(0x08, _rd16(payload, 0), payload[2])

    def _nv_read_at(self, cmd1: int, nv_id: int, offset: int) -> None:
        item = self.nvram.get(nv_id)
        if item is None or offset > len(item):
            self.send(SRSP | SYS, cmd1, bytes([NV_OPER_FAILED, 0]))
            return
        chunk = bytes(item[offset:offset + 244])
        self.send(SRSP | SYS, cmd1, bytes([SUCCESS, len(chunk)]) + chunk)

    def _nv_write_ext(self, payload: bytes) -> None:
        nv_id, offset, size = _rd16(payload, 0), _rd16(payload, 2), _rd16(payload, 4)
        self._nv_write_at(0x1D, nv_id, offset, payload[6:6 + size])

    def _nv_write(self, payload: bytes) -> None:
        nv_id, offset, size = _rd16(payload, 0), payload[2], payload[3]
        self._nv_write_at(0x09, nv_id, offset, payload[4:4 + size])

    def _nv_write_at(self, cmd1: int, nv_id: int, offset: int, value: bytes) -> None:
        item = self.nvram.get(nv_id)
        if item is None or offset + len(value) > len(item):
            self._status(SRSP | SYS, cmd1, NV_OPER_FAILED)
            return
        item[offset:offset + len(value)] = value
        self._status(SRSP | SYS, cmd1)

    def _nv_item_init(self, payload: bytes) -> None:
        nv_id, length, size = _rd16(payload, 0), _rd16(payload, 2), payload[4]
        if nv_id in self.nvram:
            self._status(SRSP | SYS, 0x07, SUCCESS)
            return
        value = bytearray(length)
        initial = payload[5:5 + size]
        value[:len(initial)] = initial[:length]
        self.nvram[nv_id] = value
        self._status(SRSP | SYS, 0x07, NV_ITEM_UNINIT)

    def _nv_delete(self, payload: bytes) -> None:
        nv_id, length = _rd16(payload, 0), _rd16(payload, 2)
        item = self.nvram.get(nv_id)
        if item is None:
            self._status(SRSP | SYS, 0x12, NV_ITEM_UNINIT)
        elif len(item) != length:
            self._status(SRSP | SYS, 0x12, NV_OPER_FAILED)
        else:
            del self.nvram[nv_id]
            self._status(SRSP | SYS, 0x12)

    # -- APP_CNF (BDB) ----------------------------------------------------------------------
    def _bdb_start_commissioning(self, payload: bytes) -> None:
        mode = payload[0]
        self._status(SRSP | APP_CNF, 0x05)
        if not mode & 0x04:  # only network formation is served
            self.send(AREQ | APP_CNF, 0x80, bytes([0x02, mode, 0x00]))
            return
        self.send(AREQ | ZDO, 0xC0, bytes([STARTING_AS_COORDINATOR]))
        formed = self.network is not None and self.nvram.get(
            NV_BDB_NODE_IS_ON_A_NETWORK, b"\x00")[0] == 1
        if not formed:
            self.form()
        # Z-Stack answers "formation failure" when it resumes a network it already had.
        self.send(AREQ | APP_CNF, 0x80, bytes([0x08 if formed else 0x00, mode, 0x00]))
        self.send(AREQ | ZDO, 0xC0, bytes([STARTED_AS_COORDINATOR]))
        self.started = True
        for device in self.devices.values():
            if not device.joined:
                self._schedule_join(device, 0.0)

    def _bdb_add_install_code(self, payload: bytes) -> None:
        fmt, ieee, code = payload[0], payload[1:9], payload[9:]
        if fmt != 0x02 or len(code) != 16:
            self._status(SRSP | APP_CNF, 0x04, FAILURE)
            return
        self.tc.add_install_code_key(ieee, code, self._now())
        self._status(SRSP | APP_CNF, 0x04)

    def _bdb_join_uses_install_code_key(self, payload: bytes) -> None:
        self.tc.set_install_code_only(bool(payload[0]), self._now())
        self._status(SRSP | APP_CNF, 0x06)

    # -- ZDO --------------------------------------------------------------------------------
    def _mgmt_permit_join(self, payload: bytes) -> None:
        duration = payload[3]
        self._status(SRSP | ZDO, 0x36)
        self.tc.permit(duration, self._now())
        self.send(AREQ | ZDO, 0xB6, u16(self.nwk) + bytes([SUCCESS]))
        self.send(AREQ | ZDO, 0xCB, bytes([duration]))

    def _zdo_incoming(self, src: int, cluster: int, tsn: int, body: bytes,
                      *, broadcast: bool = False) -> None:
        self.send(AREQ | ZDO, 0xFF, u16(src) + bytes([int(broadcast)]) + u16(cluster)
                  + bytes([0, tsn]) + u16(self.nwk) + body)

    def _coordinator_zdo(self, cluster: int, tsn: int, args: bytes) -> None:
        nwk = self.nwk
        if cluster == NODE_DESC_REQ:
            desc = bytes([0x00, 0x40, 0x8F]) + u16(0x0000) + bytes([80]) + u16(160) \
                + u16(0x0041) + u16(160) + b"\x00"
            self._zdo_incoming(nwk, cluster | RSP, tsn, b"\x00" + u16(nwk) + desc)
        elif cluster == ACTIVE_EP_REQ:
            eps = sorted(self.endpoints)
            self._zdo_incoming(nwk, cluster | RSP, tsn,
                               b"\x00" + u16(nwk) + bytes([len(eps), *eps]))
        elif cluster == SIMPLE_DESC_REQ:
            ep = self.endpoints.get(args[2]) if len(args) > 2 else None
            if ep is None:
                self._zdo_incoming(nwk, cluster | RSP, tsn, b"\x83" + u16(nwk) + b"\x00")
                return
            body = bytes([ep.endpoint]) + u16(ep.profile_id) + u16(ep.device_id) + bytes(
                [0, len(ep.in_clusters)]) + b"".join(map(u16, ep.in_clusters)) + bytes(
                [len(ep.out_clusters)]) + b"".join(map(u16, ep.out_clusters))
            self._zdo_incoming(nwk, cluster | RSP, tsn,
                               b"\x00" + u16(nwk) + bytes([len(body)]) + body)

    def _device_zdo(self, device: ScriptedDevice, cluster: int, tsn: int, args: bytes) -> None:
        if not device.powered or device.silent or device.nwk is None:
            return
        nwk = device.nwk
        body: bytes | None = None
        if cluster == NODE_DESC_REQ:
            body = b"\x00" + u16(nwk) + device.node_descriptor()
        elif cluster == ACTIVE_EP_REQ:
            body = b"\x00" + u16(nwk) + device.active_endpoints()
        elif cluster == SIMPLE_DESC_REQ:
            desc = device.simple_descriptor(args[2]) if len(args) > 2 else None
            body = (b"\x00" + u16(nwk) + desc) if desc else (b"\x83" + u16(nwk) + b"\x00")
        elif cluster == MGMT_LEAVE_REQ:
            self._zdo_incoming(nwk, cluster | RSP, tsn, b"\x00")
            self._later(0.01, lambda: self.leave(device))
            return
        if body is not None:
            reply = body
            self._later(device.answer_delay(self._now()),
                        lambda: self._zdo_if_joined(device, nwk, cluster | RSP, tsn, reply))

    def _zdo_if_joined(self, device: ScriptedDevice, nwk: int, cluster: int, tsn: int,
                       body: bytes) -> None:
        if device.joined and device.powered and device.nwk == nwk:
            self._zdo_incoming(nwk, cluster, tsn, body)

    # -- AF ---------------------------------------------------------------------------------
    def _af_register(self, payload: bytes) -> None:
        ep, profile, device_id = payload[0], _rd16(payload, 1), _rd16(payload, 3)
        n_in = payload[7]
        ins = [_rd16(payload, 8 + 2 * i) for i in range(n_in)]
        at = 8 + 2 * n_in
        outs = [_rd16(payload, at + 1 + 2 * i) for i in range(payload[at])]
        if ep in self.endpoints:
            self._status(SRSP | AF, 0x00, 0xB8)  # ZApsDuplicateEntry
            return
        self.endpoints[ep] = Endpoint(ep, profile, device_id, ins, outs)
        self._status(SRSP | AF, 0x00)

    def _af_data_request(self, payload: bytes) -> None:
        dst, dst_ep, src_ep, cluster = _rd16(payload, 0), payload[2], payload[3], \
            _rd16(payload, 4)
        tsn, size = payload[6], payload[9]
        self._data_request(0x01, 0x02, dst.to_bytes(2, "little"), dst_ep, src_ep, cluster, tsn,
                           payload[10:10 + size])

    def _af_data_request_ext(self, payload: bytes) -> None:
        mode, address = payload[0], payload[1:9]
        dst_ep, src_ep, cluster = payload[9], payload[12], _rd16(payload, 13)
        tsn, size = payload[15], _rd16(payload, 18)
        self._data_request(0x02, mode, address, dst_ep, src_ep, cluster, tsn,
                           payload[20:20 + size])

    def _data_request(self, cmd1: int, mode: int, address: bytes, dst_ep: int, src_ep: int,
                      cluster: int, tsn: int, data: bytes) -> None:
        self._status(SRSP | AF, cmd1)
        now = self._now()
        if mode == 0x03:
            device = self.devices.get(bytes(address[:8]))
            nwk = device.nwk if device is not None else None
        else:
            nwk = _rd16(address, 0)
            device = next((d for d in self.devices.values()
                           if d.joined and d.nwk == nwk), None)
        if mode in (0x0F, 0x01):  # broadcast or group: no confirm
            if dst_ep == 0 and nwk in (0xFFFC, 0xFFFD, 0xFFFF) and data:
                self._coordinator_zdo(cluster, data[0], data[1:])
            return
        if dst_ep == 0:  # ZDO: Z-Stack sends no AF confirm for it
            if nwk == self.nwk:
                self._coordinator_zdo(cluster, data[0], data[1:])
            elif device is not None and device.take_mac_ack():
                self._device_zdo(device, cluster, data[0], data[1:])
            return
        if device is None or not device.joined:
            self.send(AREQ | AF, 0x80, bytes([NWK_NO_ROUTE, src_ep, tsn]))
            return
        if not device.take_mac_ack():
            self._later(0.05, lambda: self.send(AREQ | AF, 0x80,
                                                bytes([MAC_NO_ACK, src_ep, tsn])))
            return
        self.send(AREQ | AF, 0x80, bytes([SUCCESS, src_ep, tsn]))
        if not device.accepts(len(data)):
            return  # the device's APS drops a frame beyond its maximum incoming transfer
        reply = device.answer_zcl(dst_ep, cluster, data, now)
        if reply is not None:
            self._later(reply.delay_s, lambda: self._deliver(device, cluster, src_ep, reply))

    def _deliver(self, device: ScriptedDevice, cluster: int, dst_ep: int, reply: Reply) -> None:
        if device.joined and device.powered:
            self._af_incoming(device, cluster, dst_ep, reply.data)

    def _af_incoming(self, device: ScriptedDevice, cluster: int, dst_ep: int,
                     data: bytes) -> None:
        assert device.nwk is not None
        stamp = int(self._now() * 1000) & 0xFFFFFFFF
        self.send(AREQ | AF, 0x81, u16(0) + u16(cluster) + u16(device.nwk)
                  + bytes([device.endpoint, dst_ep, 0, 0xFF, 0]) + _u32(stamp)
                  + bytes([0, len(data)]) + data + u16(device.nwk) + bytes([0x1E]))


__all__ = ["MtParser", "ZnpFake", "format_eui", "frame"]
