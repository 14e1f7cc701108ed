"""Malformed ZCL frames for the clusters of a device, as hypothesis strategies.

The device's clusters are those it announced in its simple descriptor (zigpy's endpoint:
``in_clusters`` it serves, ``out_clusters`` it uses as a client), with zigpy's definitions of
their commands and attributes, the ones the harness and any ZigBee stack use. Frames are built
byte by byte (``frame control, [manufacturer code], TSN, command id, payload``) so that they can
be wrong in ways zigpy's own builders refuse.

Kinds (one strategy each, for one cluster):

- :func:`random_bytes`: anything, up to 64 bytes;
- :func:`bad_lengths`: frames shorter than a header, a manufacturer-specific header cut inside
  its code, Read_Attributes with an odd payload, Write_Attributes whose value runs past the
  frame, known cluster commands with a payload too short for them;
- :func:`unknown_commands`: general command ids ZCL does not define, cluster command ids the
  cluster does not define;
- :func:`wrong_types`: Write_Attributes (and its Undivided / No_Response forms) naming the
  cluster's attributes with a data type other than theirs;
- :func:`truncated_frames`: well-formed requests (reads, discovery, a write with the right
  type, every command of the cluster with zero-valued fields) cut short;
- ``state_changing`` (:func:`every_state_changing_request`): well-formed requests that would
  act on the device, as an untrusted HAN node could send them: every command the cluster
  receives with drawn field values (small values likely: a supply status, a load number) and a
  write of an attribute with its own type, all in each example, their TSNs counting up from
  one TSN drawn for the cluster, as a sender numbers its frames. Reporting configuration is
  left out (it changes only what the device reports).

In the malformed kinds, a frame that turns out to be a well-formed request that would act on the
device (a cluster command that parses, a write with the right types, a reporting configuration)
is not malformed and is left out; ``state_changing`` sends only those (:func:`acts_on_device`
tells).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from zigpy.zcl import foundation

from harness.han.zclparse import parse_header

if TYPE_CHECKING:
    import zigpy.zcl

    from harness.han.device import HanDevice

GC = foundation.GeneralCommand
#: General commands that change what a device does (writes, reporting configuration).
ACTING_GENERAL = frozenset({GC.Write_Attributes, GC.Write_Attributes_Undivided,
                            GC.Write_Attributes_No_Response, GC.Configure_Reporting,
                            GC.Write_Attributes_Structured})
WRITES = (GC.Write_Attributes, GC.Write_Attributes_Undivided, GC.Write_Attributes_No_Response)
#: Data types with a fixed size (type id -> bytes): any bytes of that size are a value.
FIXED_SIZE_TYPES = {
    foundation.DataTypeId.bool_: 1, foundation.DataTypeId.uint8: 1,
    foundation.DataTypeId.uint16: 2, foundation.DataTypeId.uint24: 3,
    foundation.DataTypeId.uint32: 4, foundation.DataTypeId.uint48: 6,
    foundation.DataTypeId.int8: 1, foundation.DataTypeId.int16: 2,
    foundation.DataTypeId.int32: 4, foundation.DataTypeId.enum8: 1,
    foundation.DataTypeId.enum16: 2, foundation.DataTypeId.map8: 1,
    foundation.DataTypeId.map16: 2, foundation.DataTypeId.single: 4,
    foundation.DataTypeId.UTC: 4, foundation.DataTypeId.EUI64: 8,
    foundation.DataTypeId.key128: 16,
}
#: Data types whose value is a length byte and that many bytes.
STRING_TYPES = (foundation.DataTypeId.octstr, foundation.DataTypeId.string)
MAX_PAYLOAD = 48


@dataclass(frozen=True)
class Cluster:
    """One cluster of the device: its id, whether the device serves it (frames go client to
    server) or uses it as a client (server to client), and zigpy's definition of it."""

    cluster_id: int
    server: bool
    definition: zigpy.zcl.Cluster

    @property
    def name(self) -> str:
        side = "server" if self.server else "client"
        return f"{self.definition.name} 0x{self.cluster_id:04X} ({side})"

    @property
    def direction(self) -> foundation.Direction:
        return (foundation.Direction.Client_to_Server if self.server
                else foundation.Direction.Server_to_Client)

    def incoming(self) -> dict[int, foundation.ZCLCommandDef]:
        """The cluster commands this side of the cluster receives."""
        return dict(self.definition.server_commands if self.server
                    else self.definition.client_commands)

    def attributes(self) -> list[foundation.ZCLAttributeDef]:
        return list(self.definition.attributes.values())


def clusters_of(device: HanDevice) -> list[Cluster]:
    """Every cluster the device announced, servers first, in id order."""
    endpoint = device.zigpy_device.endpoints[device.endpoint_id]
    found = [Cluster(cid, True, cluster) for cid, cluster in sorted(endpoint.in_clusters.items())]
    found += [Cluster(cid, False, cluster)
              for cid, cluster in sorted(endpoint.out_clusters.items())]
    return found


def header(command_id: int, *, cluster_specific: bool, direction: foundation.Direction,
           tsn: int = 0, manufacturer: int | None = None) -> bytes:
    """A ZCL header: frame control, manufacturer code if given, TSN, command id."""
    control = (1 if cluster_specific else 0) | (0x04 if manufacturer is not None else 0)
    control |= 0x08 if direction == foundation.Direction.Server_to_Client else 0
    code = manufacturer.to_bytes(2, "little") if manufacturer is not None else b""
    return bytes([control]) + code + bytes([tsn & 0xFF, command_id & 0xFF])


def acts_on_device(frame: bytes, cluster_id: int, clusters: dict[tuple[int, bool], Cluster]
                   ) -> bool:
    """Whether ``frame``, sent to ``cluster_id``, is a well-formed request that would act on the
    device: not malformed, so not for this pack to send."""
    # Most drawn frames are plainly not acting: shorter than a header, manufacturer-specific,
    # a general command that changes nothing, a cluster command the cluster does not receive.
    # Told from the raw header bytes (frame control, TSN, command id) before zigpy parses the
    # frame: the same answers, a fraction of the CPU.
    if len(frame) < 3 or frame[0] & 0x04:
        return False
    if frame[0] & 0x03 != 0x01:  # not cluster-specific: general (zigpy reads types 2, 3 so)
        if frame[2] not in ACTING_GENERAL:
            return False
    else:
        side = clusters.get((cluster_id, not frame[0] & 0x08))  # direction bit clear: to server
        if side is None or frame[2] not in side.incoming():
            return False
    try:
        hdr, payload = parse_header(frame)  # zigpy's parse, once per distinct header
    except (ValueError, KeyError):
        return False
    if hdr.frame_control.is_manufacturer_specific:
        return False  # nothing a device must know (and a real one answers as unsupported)
    server = hdr.direction == foundation.Direction.Client_to_Server
    cluster = clusters.get((cluster_id, server))
    if cluster is None:
        return False  # a side of the cluster the device does not have
    if hdr.frame_control.is_cluster:
        definition = cluster.incoming().get(hdr.command_id)
        if definition is None:
            return False
        try:
            definition.schema.deserialize(payload)
        except Exception:
            return False
        return True
    if hdr.command_id not in ACTING_GENERAL:
        return False  # reads, discovery, reports, responses: nothing changes
    try:
        request, _ = foundation.GENERAL_COMMANDS[hdr.command_id].schema.deserialize(payload)
    except Exception:
        return False
    if hdr.command_id in WRITES:
        attributes = cluster.definition.attributes
        return any(record.attrid in attributes
                   and record.value.type == attributes[record.attrid].zcl_type
                   for record in request.attributes)
    return True


# -- the kinds ----------------------------------------------------------------------------------

def random_bytes(cluster: Cluster) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=64)


def _tsn() -> st.SearchStrategy[int]:
    return _TSN


#: One strategy object per value kind, shared by every frame strategy that draws one:
#: hypothesis validates and analyses each strategy object once per process, and the
#: state-changing kind of a large cluster (Metering) has hundreds of them otherwise.
_TSN = st.integers(0, 255)
_WRITE_COMMANDS = st.sampled_from(WRITES)


def _either(options: tuple[st.SearchStrategy[bytes], ...]) -> st.SearchStrategy[bytes]:
    """One of ``options``, each as likely (the first the simplest), as ``st.one_of`` draws
    it, but cheaper: hypothesis' one_of builds and validates a new sampled_from strategy on
    every draw."""
    assert len(options) <= 128  # (integers up to 127 apart: each as likely)
    index = st.integers(0, len(options) - 1)

    @st.composite
    def either(draw: Any) -> bytes:
        return draw(options[draw(index)])

    return either()


def _odd_length(body: bytes) -> bytes:
    """``body``, or all of it but its last byte: an odd number of bytes (a map, not a filter:
    hypothesis reads a filter's lambda from its source file to look for bounds)."""
    return body if len(body) % 2 else body[:-1]


@cache
def _bad_length_shapes(direction: foundation.Direction) -> tuple[st.SearchStrategy[bytes], ...]:
    """The shapes of :func:`bad_lengths` that do not depend on the cluster (built once per
    direction: hypothesis validates each strategy object once)."""
    general = st.builds(lambda tsn, cmd: header(cmd, cluster_specific=False, direction=direction,
                                                tsn=tsn), _tsn(), st.sampled_from(list(GC)))
    read = st.builds(lambda tsn, body: header(GC.Read_Attributes, cluster_specific=False,
                                              direction=direction, tsn=tsn) + body,
                     _tsn(), st.binary(min_size=1, max_size=15).map(_odd_length))
    overrun = st.builds(
        lambda tsn, cmd, attrid, kind, length, body: header(
            cmd, cluster_specific=False, direction=direction, tsn=tsn)
        + attrid.to_bytes(2, "little") + bytes([kind, length]) + body[:max(0, length - 1)],
        _tsn(), st.sampled_from(WRITES), st.integers(0, 0xFFFF), st.sampled_from(STRING_TYPES),
        st.integers(1, 255), st.binary(max_size=16))
    cut_value = st.builds(
        lambda tsn, attrid, kind, body: header(GC.Write_Attributes, cluster_specific=False,
                                               direction=direction, tsn=tsn)
        + attrid.to_bytes(2, "little") + bytes([kind]) + body[:FIXED_SIZE_TYPES[kind] - 1],
        _tsn(), st.integers(0, 0xFFFF),
        st.sampled_from([k for k, size in FIXED_SIZE_TYPES.items() if size > 1]),
        st.binary(max_size=16))
    return (
        st.binary(max_size=2),  # shorter than any header
        st.builds(lambda control, rest: bytes([control | 0x04]) + rest,  # cut in the code
                  st.integers(0, 255), st.binary(max_size=2)),
        general.map(lambda frame: frame[:-1]),  # no command id
        read, overrun, cut_value,
    )


def bad_lengths(cluster: Cluster) -> st.SearchStrategy[bytes]:
    return _bad_lengths(cluster.direction, tuple(sorted(cluster.incoming())))


@cache
def _bad_lengths(direction: foundation.Direction, commands: tuple[int, ...]
                 ) -> st.SearchStrategy[bytes]:
    shapes = _bad_length_shapes(direction)
    if commands:
        shapes += (st.builds(
            lambda tsn, cmd, body: header(cmd, cluster_specific=True, direction=direction,
                                          tsn=tsn) + body,
            _tsn(), st.sampled_from(commands), st.binary(max_size=3)),)
    return _either(shapes)


def unknown_commands(cluster: Cluster) -> st.SearchStrategy[bytes]:
    return _unknown_commands(cluster.direction, frozenset(cluster.incoming()))


@cache
def _unknown_general(direction: foundation.Direction) -> st.SearchStrategy[bytes]:
    defined = {int(c) for c in GC}
    return st.builds(
        lambda tsn, cmd, body: header(cmd, cluster_specific=False, direction=direction,
                                      tsn=tsn) + body,
        _tsn(), st.sampled_from([c for c in range(256) if c not in defined]),
        st.binary(max_size=MAX_PAYLOAD))


@cache
def _unknown_commands(direction: foundation.Direction, known: frozenset[int]
                      ) -> st.SearchStrategy[bytes]:
    specific = st.builds(
        lambda tsn, cmd, body: header(cmd, cluster_specific=True, direction=direction,
                                      tsn=tsn) + body,
        _tsn(), st.sampled_from([c for c in range(256) if c not in known]),
        st.binary(max_size=MAX_PAYLOAD))
    return _either((_unknown_general(direction), specific))


def _value_of(kind: int, data: bytes) -> bytes:
    """A well-encoded value of data type ``kind`` made of ``data``."""
    if kind in STRING_TYPES:
        body = data[:MAX_PAYLOAD]
        return bytes([len(body)]) + body
    size = FIXED_SIZE_TYPES[kind]
    return data[:size].ljust(size, b"\x00")


def wrong_types(cluster: Cluster) -> st.SearchStrategy[bytes]:
    return _wrong_types(cluster.direction,
                        tuple((a.id, int(a.zcl_type)) for a in cluster.attributes()))


#: Data types a wrong-type record may name.
_TYPES = tuple(int(k) for k in (*FIXED_SIZE_TYPES, *STRING_TYPES))


@cache
def _other_types(own: int) -> st.SearchStrategy[int]:
    """Any data type of :data:`_TYPES` but ``own``."""
    return st.sampled_from([k for k in _TYPES if k != own])


@cache
def _wrong_types(direction: foundation.Direction, attributes: tuple[tuple[int, int], ...]
                 ) -> st.SearchStrategy[bytes]:
    attribute = (st.sampled_from(attributes) if attributes
                 else st.tuples(st.integers(0, 0xFFFF), st.just(-1)))

    @st.composite
    def record(draw: Any) -> bytes:
        attrid, own = draw(attribute)
        kind = draw(_other_types(own))
        return (attrid.to_bytes(2, "little") + bytes([kind])
                + _value_of(kind, draw(st.binary(max_size=24))))

    return st.builds(
        lambda tsn, cmd, records: header(cmd, cluster_specific=False, direction=direction,
                                         tsn=tsn) + b"".join(records),
        _tsn(), st.sampled_from(WRITES), st.lists(record(), min_size=1, max_size=3))


def _zero(kind: type) -> Any:
    for value in (0, b"", ""):
        try:
            return kind(value)
        except Exception:  # zigpy types refuse what they cannot hold
            continue
    raise ValueError(f"no zero value for {kind}")


def valid_frames(cluster: Cluster) -> list[bytes]:
    """Well-formed requests to the cluster: reads, discovery, a write of an attribute with its
    own type, each command of the cluster with zero-valued fields."""
    direction = cluster.direction

    def general(command: int, **fields: Any) -> bytes:
        body = foundation.GENERAL_COMMANDS[command].schema(**fields).serialize()
        return header(command, cluster_specific=False, direction=direction, tsn=7) + body

    attributes = cluster.attributes()
    frames = [general(GC.Read_Attributes, attribute_ids=[a.id for a in attributes[:8]] or [0]),
              general(GC.Discover_Attributes, start_attribute_id=0, max_attribute_ids=16)]
    for attribute in attributes[:1]:
        try:
            value = foundation.TypeValue(type=attribute.zcl_type,
                                         value=_zero(attribute.type))
            frames.append(general(GC.Write_Attributes, attributes=[
                foundation.Attribute(attrid=attribute.id, value=value)]))
        except Exception:  # an attribute type without a zero value: no write frame
            pass
    for command_id, definition in sorted(cluster.incoming().items()):
        try:
            fields = {f.name: _zero(f.type) for f in definition.schema.fields}
            body = definition.schema(**fields).serialize()
        except Exception:  # a command zigpy cannot build with zero values: skipped
            continue
        frames.append(header(command_id, cluster_specific=True, direction=direction, tsn=7)
                      + body)
    return frames


def truncated_frames(cluster: Cluster) -> st.SearchStrategy[bytes]:
    frames = st.sampled_from([f for f in valid_frames(cluster) if len(f) > 1])

    @st.composite
    def truncated(draw: Any) -> bytes:
        frame = draw(frames)
        return frame[:draw(_cut(len(frame)))]

    return truncated()


@cache
def _cut(size: int) -> st.SearchStrategy[int]:
    """Where a frame of ``size`` bytes is cut: after 1 to ``size - 1`` bytes."""
    return st.integers(1, size - 1)


@dataclass(frozen=True)
class FieldValue:
    """How a value of a zigpy field type is drawn, from a drawn code byte: for an integer
    type, a small value 0..``small`` (an enumeration, a supply status, a load number: the
    code's two low bits) half the time (code bit 7 clear), any value of the type (``full``,
    drawn) otherwise; bytes and strings short; a type zigpy cannot draw stays ``zero``
    (``full`` is then ``None``). The small values take no draw of their own: hypothesis pays
    tens of microseconds per draw, and a large cluster has a hundred fields."""

    kind: type
    zero: Any
    full: st.SearchStrategy[Any] | None
    small: int | None = None

    def draw(self, draw: Any, code: int) -> Any:
        if self.full is None:
            return self.zero
        if self.small is None or code & 0x80:
            return self.kind(draw(self.full))
        return self.kind((code & 0x03) % (self.small + 1))


@cache
def _field_value(kind: type) -> FieldValue:
    """The :class:`FieldValue` of a zigpy type (``ValueError`` if it has no zero value)."""
    zero = _zero(kind)
    bits = getattr(kind, "_bits", None)
    if isinstance(bits, int) and issubclass(kind, int):
        signed = bool(getattr(kind, "_signed", False))
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        return FieldValue(kind, zero, st.integers(low, high), min(3, high))
    if issubclass(kind, bytes):
        return FieldValue(kind, zero, st.binary(max_size=16))
    if issubclass(kind, str):
        return FieldValue(kind, zero, st.text(alphabet=st.characters(
            min_codepoint=0x20, max_codepoint=0x7E), max_size=16))
    return FieldValue(kind, zero, None)


@cache
def _codes(count: int) -> st.SearchStrategy[bytes]:
    """``count`` code bytes (:class:`FieldValue`), in one draw (simplest: all zero)."""
    return st.binary(min_size=count, max_size=count)


@dataclass(frozen=True)
class CommandRequest:
    """A cluster command the cluster receives, with the fields of zigpy's schema."""

    command_id: int
    definition: Any
    fields: tuple[tuple[str, FieldValue], ...]
    direction: foundation.Direction

    def frame(self, tsn: int, values: dict[str, Any]) -> bytes:
        """The request with these field values, or ``b""`` if zigpy cannot serialize them."""
        try:
            body = self.definition.schema(**values).serialize()
        except Exception:  # values zigpy cannot serialize: no frame
            return b""
        return header(self.command_id, cluster_specific=True, direction=self.direction,
                      tsn=tsn) + body

    def zero_valued(self) -> bytes:
        return self.frame(0, {name: value.zero for name, value in self.fields})

    def draw(self, draw: Any, tsn: int, codes: bytes, first: int) -> bytes:
        """Drawn field values, field ``i`` from code ``codes[first + i]`` (the simplest draw:
        every field zero)."""
        return self.frame(tsn, {name: value.draw(draw, codes[first + i])
                                for i, (name, value) in enumerate(self.fields)})


@dataclass(frozen=True)
class WriteRequest:
    """A write (Write_Attributes, its Undivided or No_Response form) of one attribute of the
    cluster with its own type."""

    attribute: foundation.ZCLAttributeDef
    value: FieldValue
    direction: foundation.Direction

    def frame(self, tsn: int, command: int, value: Any) -> bytes:
        try:
            record = foundation.Attribute(attrid=self.attribute.id, value=foundation.TypeValue(
                type=self.attribute.zcl_type, value=value))
            body = foundation.GENERAL_COMMANDS[command].schema(attributes=[record]).serialize()
        except Exception:
            return b""
        return header(command, cluster_specific=False, direction=self.direction, tsn=tsn) + body

    def zero_valued(self) -> bytes:
        return self.frame(0, GC.Write_Attributes, self.value.zero)

    def draw(self, draw: Any, tsn: int) -> bytes:
        command = draw(_WRITE_COMMANDS)
        return self.frame(tsn, command, self.value.draw(draw, draw(_codes(1))[0]))


@dataclass(frozen=True)
class Requests:
    """The state-changing requests a cluster takes (those ``state_changing`` draws from):
    each command the cluster receives, each attribute written with its own type; and each
    of them with zero-valued fields (what a device that takes any of them is sent first)."""

    commands: list[CommandRequest]
    writes: list[WriteRequest]

    @cached_property
    def zero_valued(self) -> list[bytes]:
        """Built when asked (only :func:`takes_state_changing_requests` needs them)."""
        return [f for f in (r.zero_valued() for r in (*self.commands, *self.writes)) if f]


def state_changing_requests(cluster: Cluster) -> Requests:
    direction = cluster.direction
    commands: list[CommandRequest] = []
    for command_id, definition in sorted(cluster.incoming().items()):
        try:
            fields = tuple((f.name, _field_value(f.type)) for f in definition.schema.fields)
        except ValueError:  # a field without a zero value: the command is left out
            continue
        commands.append(CommandRequest(command_id, definition, fields, direction))
    writes: list[WriteRequest] = []
    for attribute in cluster.attributes():
        try:
            value = _field_value(attribute.type)
        except ValueError:
            continue
        writes.append(WriteRequest(attribute, value, direction))
    return Requests(commands, writes)


def every_state_changing_request(cluster: Cluster) -> st.SearchStrategy[list[bytes]]:
    """Every command the cluster receives, with drawn field values, and a write of one of its
    attributes: all in each example, so that a device obeying any one of them is found at the
    simplest example (zero-valued fields: a supply switched off), not only when a draw among
    the cluster's hundred-odd requests happens to pick it.

    Drawn in as few draws as the values need (hypothesis pays some tens of microseconds per draw,
    and a large cluster has a hundred fields): one TSN for the cluster (the requests follow
    it, numbered as a sender numbers its frames), one code byte per field (small or any
    value, and the small value), then each value that is not small."""
    requests = state_changing_requests(cluster)
    commands, writes = requests.commands, requests.writes
    firsts = [sum(len(c.fields) for c in commands[:i]) for i in range(len(commands))]
    codes = _codes(sum(len(c.fields) for c in commands))
    write = st.sampled_from(writes) if writes else None

    @st.composite
    def every(draw: Any) -> list[bytes]:
        tsn = draw(_TSN)
        drawn = draw(codes)
        sent = [command.draw(draw, (tsn + i) & 0xFF, drawn, first)
                for i, (command, first) in enumerate(zip(commands, firsts, strict=True))]
        if write is not None:
            sent.append(draw(write).draw(draw, (tsn + len(sent)) & 0xFF))
        return sent

    return every()


def takes_state_changing_requests(clusters: list[Cluster]) -> bool:
    """Whether any of the clusters takes a state-changing request (``state_changing`` can
    send the device something): a device that takes none has nothing for that kind."""
    by_key = {(c.cluster_id, c.server): c for c in clusters}
    return any(acts_on_device(frame, cluster.cluster_id, by_key)
               for cluster in clusters
               for frame in state_changing_requests(cluster).zero_valued)


#: Each kind's strategy for one cluster: one frame (the malformed kinds), or the list of every
#: state-changing request of the cluster.
KINDS: dict[str, Any] = {
    "random_bytes": random_bytes,
    "bad_lengths": bad_lengths,
    "unknown_commands": unknown_commands,
    "wrong_types": wrong_types,
    "truncated_frames": truncated_frames,
    "state_changing": every_state_changing_request,
}
#: Kinds whose frames are well-formed requests acting on the device (the others never are).
ACTING_KINDS = frozenset({"state_changing"})
