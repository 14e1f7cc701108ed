"""Scripted HAN devices and the trust centre, shared by every byte-level radio fake.

A radio fake (ZNP over MT frames, EZSP over ASH) is two halves: the serial protocol of one
dongle, and the **air** around it. This module is the air, with no serial protocol in it, so
each fake only translates between its own frames and these calls.

API (everything here is plain Python: no asyncio, no clock; the fake passes ``now`` in, in
seconds on its own loop clock, and schedules any delay this module returns)

``ScriptedDevice(eui64, install_code=None, *, join="right", ...)`` one device in range.

- ``eui64``: ``"00-11-22-33-44-55-66-77"`` (``:`` also accepted); ``ieee`` is the same as 8
  bytes in over-the-air order (little-endian), ``eui`` the normalised text.
- ``install_code`` (bytes, CRC included) or ``link_key`` (16 bytes): the device's own
  secret. ``join`` says which key it presents when it joins:

  * ``"right"``: the key derived from its install code (AES-MMO, ``zigpy.util``), or
    ``link_key``;
  * ``"wrong"``: a key derived from another (valid) install code;
  * ``"none"``: no install code: the well-known ``ZigBeeAlliance09`` key.

  ``presented_key()`` returns the 16 bytes it presents.
- Interview: ``endpoint`` (default 1), ``profile_id`` (0x0109 Smart Energy), ``device_id``,
  ``in_clusters``/``out_clusters``, ``manufacturer_code``, ``rx_on_when_idle`` (False: a sleepy
  end device), ``max_incoming_transfer_size``. ``node_descriptor()``, ``active_endpoints()``
  and ``simple_descriptor(ep)`` give the ZDO response bodies (wire bytes, after the status
  and NWK-of-interest fields).
- ZCL: ``attributes`` maps ``(cluster_id, attribute_id)`` to :class:`Attr` (ZCL type id and
  value); ``set_attribute`` changes one. ``answer_zcl(endpoint, cluster_id, data, now)``
  returns a :class:`Reply` (the ZCL bytes to send back, and after how many seconds) or
  ``None`` (no answer: silent, or nothing to say). Read_Attributes is answered from the table
  (UNSUPPORTED_ATTRIBUTE for the rest, and for every attribute of a client cluster, which
  zigpy reads after an interview); any other command without "disable default response"
  gets a Default_Response (SUCCESS for a known cluster, UNSUP_CLUSTER_COMMAND otherwise).
- Latency: ``response_delay_s`` is added to every answer; a sleepy device
  (``poll_interval_s`` > 0) answers only at its next poll, so the delay is the time to the
  next multiple of ``poll_interval_s``; ``silent=True`` never answers (but still ACKs at the
  MAC layer: the frame was heard, nothing comes back).
- MAC: ``drop_mac_acks`` is how many of the next unicasts to the device get no MAC ACK;
  ``take_mac_ack()`` consumes one (False: report MAC_NO_ACK to the host). ``powered=False``
  drops every frame, ACK included.
- Reports: every ``report_interval_s`` a joined device pushes its ``reported`` attributes
  (``(cluster_id, attribute_id)``) to the hub (``report_frames(tsn)``), as a sleepy GSME feeds
  the CHF's Metering mirror when it wakes.
- Lifecycle: ``nwk`` (None until joined), ``joined``; ``rejoins`` counts trust-centre rejoins.
  Frames larger than ``max_incoming_transfer_size`` are not delivered (``accepts(size)``).

``TrustCentre()`` decides joins, as a Z-Stack or EmberZNet coordinator does.

- ``permit(seconds, now)`` opens joining (0 closes it); ``permitting(now)`` tells whether it
  is open; ``install_code_only`` (set with ``set_install_code_only(flag, now)``) refuses every
  device whose key is not in the install-code key table; ``add_install_code_key(eui, key)``
  and ``remove_key(eui)`` keep that table.
- ``admit(device, now)`` -> :class:`Admission` (``accepted``, ``reason``); an accepted device
  gets a NWK address (``device.nwk``) and ``joined=True``; ``rejoin(device, now)`` lets a device
  that kept its network key back while it is still known (not removed). ``leave(device)``
  forgets it.
- ``timeline``: every permit opened or closed, every change of install-code-only, every join
  and refusal, as :class:`TimelineEntry` (time, what, detail): the evidence a test reads to
  prove joining was never open without install-code-only.

Build devices for a lab with :func:`smart_energy_device`, which fills the Basic cluster
(manufacturer, model) and a meter's Metering attributes.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import zigpy.util
from zigpy.zcl import foundation

from harness.config.secrets import crc16_x25
from harness.han.mirror import METERING_CLUSTER

#: The well-known default trust-centre link key a device without an install code presents.
DEFAULT_TC_LINK_KEY = b"ZigBeeAlliance09"
SE_PROFILE_ID = 0x0109
BASIC = 0x0000
METERING = METERING_CLUSTER

JoinBehaviour = Literal["right", "wrong", "none"]


def parse_eui(text: str) -> bytes:
    """``00-11-..-77`` (or with ``:``) to the 8 over-the-air bytes (little-endian)."""
    raw = bytes.fromhex(text.replace("-", "").replace(":", ""))
    if len(raw) != 8:
        raise ValueError(f"an EUI-64 is 8 bytes, got {text!r}")
    return raw[::-1]


def format_eui(ieee: bytes) -> str:
    return "-".join(f"{b:02X}" for b in ieee[::-1])


def install_code_key(code: bytes) -> bytes:
    """The link key a Z-Stack/EmberZNet coordinator derives from an install code (with CRC)."""
    return bytes(zigpy.util.convert_install_code(bytes(code)))


@dataclass(frozen=True)
class Attr:
    """One ZCL attribute: its ZCL data type id and value."""

    type_id: int
    value: Any

    def serialize(self) -> bytes:
        python_type = foundation.DataType.from_type_id(
            foundation.DataTypeId(self.type_id)).python_type
        return bytes([self.type_id]) + python_type(self.value).serialize()


@dataclass(frozen=True)
class Reply:
    """What a device sends back to one frame, and how long after it received it."""

    data: bytes
    delay_s: float = 0.0


@dataclass
class ScriptedDevice:
    """One device on the air around a fake coordinator (see the module docstring)."""

    eui64: str
    install_code: bytes | None = field(default=None, repr=False)
    link_key: bytes | None = field(default=None, repr=False)
    join: JoinBehaviour = "right"
    endpoint: int = 1
    profile_id: int = SE_PROFILE_ID
    device_id: int = 0x0501
    in_clusters: list[int] = field(default_factory=lambda: [BASIC])
    out_clusters: list[int] = field(default_factory=list)
    manufacturer_code: int = 0x0000
    rx_on_when_idle: bool = True
    max_incoming_transfer_size: int = 128
    attributes: dict[tuple[int, int], Attr] = field(default_factory=dict)
    response_delay_s: float = 0.0
    poll_interval_s: float = 0.0
    silent: bool = False
    #: Seconds between pushes of ``reported`` attributes to the hub (0: never), as a sleepy
    #: GSME feeds the CHF's Metering mirror each time it wakes.
    report_interval_s: float = 0.0
    reported: list[tuple[int, int]] = field(default_factory=list)
    drop_mac_acks: int = 0
    powered: bool = True
    nwk: int | None = None
    joined: bool = False
    rejoins: int = 0
    frames_in: int = 0

    def __post_init__(self) -> None:
        self.ieee = parse_eui(self.eui64)
        self.eui = format_eui(self.ieee)
        if self.join == "right" and self.install_code is None and self.link_key is None:
            raise ValueError(f"{self.eui}: join='right' needs an install code or a link key")

    # -- keys -------------------------------------------------------------------------------
    def own_key(self) -> bytes | None:
        if self.link_key is not None:
            return bytes(self.link_key)
        if self.install_code is not None:
            return install_code_key(self.install_code)
        return None

    def presented_key(self) -> bytes:
        """The link key the device uses when it joins (see ``join``)."""
        if self.join == "none":
            return DEFAULT_TC_LINK_KEY
        if self.join == "wrong":
            return install_code_key(_crc_coded(bytes(range(0x30, 0x40))))
        key = self.own_key()
        assert key is not None
        return key

    # -- MAC --------------------------------------------------------------------------------
    def take_mac_ack(self) -> bool:
        """Whether the device ACKs the next unicast at the MAC layer (consumes a drop)."""
        if not self.powered:
            return False
        if self.drop_mac_acks > 0:
            self.drop_mac_acks -= 1
            return False
        return True

    def accepts(self, size: int) -> bool:
        """Whether an APS payload of ``size`` bytes fits the device's incoming transfer size."""
        return size <= self.max_incoming_transfer_size

    # -- ZDO --------------------------------------------------------------------------------
    @property
    def capability(self) -> int:
        """MAC capability flags in Device_annce (router, mains, rx-on, alloc address)."""
        if self.rx_on_when_idle:
            return 0x8E
        return 0x80

    def node_descriptor(self) -> bytes:
        logical = 0x01 if self.rx_on_when_idle else 0x02  # router or end device
        return bytes([logical, 0x40, self.capability]) + u16(self.manufacturer_code) + bytes(
            [82]) + u16(self.max_incoming_transfer_size) + u16(0x0000) + u16(
            self.max_incoming_transfer_size) + bytes([0x00])

    def active_endpoints(self) -> bytes:
        return bytes([1, self.endpoint])

    def simple_descriptor(self, endpoint: int) -> bytes | None:
        """Length-prefixed simple descriptor, or None if ``endpoint`` is not the device's."""
        if endpoint != self.endpoint:
            return None
        body = bytes([self.endpoint]) + u16(self.profile_id) + u16(self.device_id) + bytes(
            [1, len(self.in_clusters)]) + b"".join(u16(c) for c in self.in_clusters) + bytes(
            [len(self.out_clusters)]) + b"".join(u16(c) for c in self.out_clusters)
        return bytes([len(body)]) + body

    # -- ZCL --------------------------------------------------------------------------------
    def set_attribute(self, cluster_id: int, attribute_id: int, type_id: int, value: Any) -> None:
        self.attributes[(cluster_id, attribute_id)] = Attr(type_id, value)

    def report_frames(self, tsn: int) -> list[tuple[int, bytes]]:
        """(cluster id, ZCL Report_Attributes frame) for the ``reported`` attributes."""
        frames = []
        for cluster_id in dict.fromkeys(c for c, _ in self.reported):
            records = b"".join(u16(a) + self.attributes[(c, a)].serialize()
                               for c, a in self.reported
                               if c == cluster_id and (c, a) in self.attributes)
            hdr = foundation.ZCLHeader.general(
                tsn, foundation.GeneralCommand.Report_Attributes,
                direction=foundation.Direction.Server_to_Client)
            frames.append((cluster_id, hdr.serialize() + records))
        return frames

    def answer_delay(self, now: float) -> float:
        delay = self.response_delay_s
        if self.poll_interval_s > 0:
            t_poll = math.ceil((now + delay) / self.poll_interval_s) * self.poll_interval_s
            delay = max(delay, t_poll - now)
        return delay

    def answer_zcl(self, endpoint: int, cluster_id: int, data: bytes, now: float) -> Reply | None:
        self.frames_in += 1
        if self.silent or not self.powered or endpoint != self.endpoint:
            return None
        try:
            hdr, rest = foundation.ZCLHeader.deserialize(data)
        except (ValueError, KeyError):
            return None
        body = self._zcl_body(cluster_id, hdr, rest)
        if body is None:
            return None
        command_id, payload, cluster_specific = body
        make = foundation.ZCLHeader.cluster if cluster_specific else foundation.ZCLHeader.general
        to_server = hdr.direction == foundation.Direction.Client_to_Server
        reply_hdr = make(hdr.tsn, command_id, direction=foundation.Direction.Server_to_Client
                         if to_server else foundation.Direction.Client_to_Server)
        return Reply(reply_hdr.serialize() + payload, self.answer_delay(now))

    def _zcl_body(self, cluster_id: int, hdr: foundation.ZCLHeader,
                  rest: bytes) -> tuple[int, bytes, bool] | None:
        gc = foundation.GeneralCommand
        # A request to a server cluster, or (server-to-client) to a client cluster, such as
        # zigpy reading the OTA client's current file version after the interview.
        to_server = hdr.direction == foundation.Direction.Client_to_Server
        known = cluster_id in (self.in_clusters if to_server else self.out_clusters)
        if not hdr.frame_control.is_cluster and hdr.command_id == gc.Read_Attributes:
            out = b""
            for i in range(0, len(rest) - 1, 2):
                attr_id = int.from_bytes(rest[i:i + 2], "little")
                attr = self.attributes.get((cluster_id, attr_id)) if known and to_server \
                    else None
                if attr is None:
                    out += u16(attr_id) + bytes([foundation.Status.UNSUPPORTED_ATTRIBUTE])
                else:
                    out += u16(attr_id) + b"\x00" + attr.serialize()
            return gc.Read_Attributes_rsp, out, False
        if hdr.frame_control.disable_default_response:
            return None
        status = (foundation.Status.SUCCESS if known
                  else foundation.Status.UNSUPPORTED_CLUSTER)
        if hdr.frame_control.is_cluster and known:
            status = foundation.Status.SUCCESS
        return gc.Default_Response, bytes([hdr.command_id, status]), False


@dataclass(frozen=True)
class Admission:
    accepted: bool
    reason: str


@dataclass(frozen=True)
class TimelineEntry:
    time: float
    what: str
    detail: str = ""


def open_spans(timeline: list[TimelineEntry], until: float) -> list[tuple[float, float, bool]]:
    """(start, end, install_code_only) of every stretch of time joining was open, from a trust
    centre's timeline up to ``until``: what a test of join security asserts over."""
    spans = []
    permit_until = 0.0
    ic_only = False
    for entry, following in itertools.pairwise([*timeline, TimelineEntry(until, "end")]):
        if entry.what == "permit":
            seconds = int(entry.detail)
            permit_until = entry.time + seconds if seconds else 0.0
        elif entry.what == "install_code_only":
            ic_only = entry.detail == "on"
        end = min(following.time, permit_until)
        if end > entry.time:
            spans.append((entry.time, end, ic_only))
    return spans


class TrustCentre:
    """Permit window, install-code key table and join decisions of a fake coordinator."""

    def __init__(self, *, first_nwk: int = 0x1001) -> None:
        self.install_code_only = False
        self.keys: dict[bytes, bytes] = {}
        #: A key for any device with no entry of its own (EmberZNet's wildcard transient key,
        #: EUI-64 FF..FF): bellows' ``pre_permit`` puts the well-known key there.
        self.wildcard_key: bytes | None = None
        self.permit_until = 0.0
        self.timeline: list[TimelineEntry] = []
        self.known: set[bytes] = set()
        self._next_nwk = first_nwk

    def _log(self, now: float, what: str, detail: str = "") -> None:
        self.timeline.append(TimelineEntry(now, what, detail))

    # -- the host's commands ----------------------------------------------------------------
    def permit(self, seconds: int, now: float) -> None:
        self.permit_until = now + seconds if seconds > 0 else 0.0
        self._log(now, "permit", f"{seconds}")

    def permitting(self, now: float) -> bool:
        return now < self.permit_until

    def set_install_code_only(self, flag: bool, now: float) -> None:
        if flag != self.install_code_only:
            self._log(now, "install_code_only", "on" if flag else "off")
        self.install_code_only = flag

    def add_install_code_key(self, ieee: bytes, key: bytes, now: float) -> None:
        self.keys[bytes(ieee)] = bytes(key)
        self._log(now, "key_added", format_eui(ieee))

    def remove_key(self, ieee: bytes) -> None:
        self.keys.pop(bytes(ieee), None)

    def set_wildcard_key(self, key: bytes | None, now: float) -> None:
        if key != self.wildcard_key:
            self._log(now, "wildcard_key", "added" if key is not None else "removed")
        self.wildcard_key = key

    # -- the air ----------------------------------------------------------------------------
    def admit(self, device: ScriptedDevice, now: float) -> Admission:
        """A device asks to join: the permit window and the key decide."""
        if not device.powered:
            return Admission(False, "device is off")
        if not self.permitting(now):
            return self._refused(device, now, "joining is not permitted now")
        key = device.presented_key()
        table_key = self.keys.get(device.ieee, self.wildcard_key)
        if table_key is not None:
            ok = key == table_key
        elif self.install_code_only:
            return self._refused(device, now, "no install-code key for this device")
        else:
            ok = key == DEFAULT_TC_LINK_KEY
        if not ok:
            return self._refused(device, now, "link key does not match")
        if device.nwk is None:
            device.nwk = self._next_nwk
            self._next_nwk += 1
        device.joined = True
        self.known.add(device.ieee)
        self._log(now, "joined", f"{device.eui} install_code_only="
                  f"{'on' if self.install_code_only else 'off'}")
        return Admission(True, "joined")

    def rejoin(self, device: ScriptedDevice, now: float) -> Admission:
        """A device that kept its network key rejoins (trust-centre rejoin)."""
        if device.ieee not in self.known or device.nwk is None:
            return self._refused(device, now, "unknown device (rejoin refused)")
        device.joined = True
        device.rejoins += 1
        self._log(now, "rejoined", device.eui)
        return Admission(True, "rejoined")

    def leave(self, device: ScriptedDevice, now: float) -> None:
        device.joined = False
        device.nwk = None
        self.known.discard(device.ieee)
        self._log(now, "left", device.eui)

    def _refused(self, device: ScriptedDevice, now: float, reason: str) -> Admission:
        self._log(now, "refused", f"{device.eui}: {reason}")
        return Admission(False, reason)


def smart_energy_device(
    eui64: str,
    install_code: bytes | None,
    *,
    manufacturer: str,
    model: str,
    device_id: int = 0x0501,
    metering: dict[str, int] | None = None,
    extra_clusters: Iterable[int] = (),
    sw_build_id: str | None = None,
    **options: Any,
) -> ScriptedDevice:
    """A Smart Energy device with a Basic cluster (``sw_build_id``: the firmware it reports,
    if given) and, given ``metering``, a Metering server (``current_summ_delivered``,
    ``multiplier``, ``divisor``, ``instantaneous_demand``, ``supply_status`` if given)."""
    clusters = [BASIC, *extra_clusters]
    if metering is not None:
        clusters.append(METERING)
    device = ScriptedDevice(eui64, install_code, device_id=device_id, in_clusters=clusters,
                            **options)
    device.set_attribute(BASIC, 0x0000, 0x20, 3)  # ZCL version
    device.set_attribute(BASIC, 0x0004, 0x42, manufacturer)
    device.set_attribute(BASIC, 0x0005, 0x42, model)
    device.set_attribute(BASIC, 0x0007, 0x30, 1)  # power source: mains
    if sw_build_id is not None:
        device.set_attribute(BASIC, 0x4000, 0x42, sw_build_id)
    if metering is not None:
        device.set_attribute(METERING, 0x0000, 0x25, metering.get("current_summ_delivered", 0))
        device.set_attribute(METERING, 0x0301, 0x22, metering.get("multiplier", 1))
        device.set_attribute(METERING, 0x0302, 0x22, metering.get("divisor", 1000))
        device.set_attribute(METERING, 0x0400, 0x2A, metering.get("instantaneous_demand", 0))
        device.set_attribute(METERING, 0x0300, 0x30, 0)  # unit of measure: kWh
        if "supply_status" in metering:
            device.set_attribute(METERING, 0x0014, 0x30, metering["supply_status"])
    return device


def u16(value: int) -> bytes:
    """A 16-bit field as ZigBee and both dongles' frames carry it: little-endian."""
    return struct.pack("<H", value & 0xFFFF)


def _crc_coded(code: bytes) -> bytes:
    """``code`` with its CRC-16/X-25 appended (a well-formed install code)."""
    return code + crc16_x25(code).to_bytes(2, "little")


__all__ = [
    "DEFAULT_TC_LINK_KEY",
    "Admission",
    "Attr",
    "Reply",
    "ScriptedDevice",
    "TimelineEntry",
    "TrustCentre",
    "format_eui",
    "install_code_key",
    "parse_eui",
    "smart_energy_device",
]
