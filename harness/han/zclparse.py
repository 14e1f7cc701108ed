"""Incoming ZCL frames parsed once: the header by zigpy once per distinct header, the command
once per frame.

zigpy parses a received frame's ZCL header three times on the coordinator (its response
matching, its ``Cluster.deserialize``, and the CHF's event decoding does it again), and its
``Struct`` parse takes tens of microseconds. A header is frame control, an optional
manufacturer code, TSN and command id: a few thousand distinct values in a session, so zigpy
parses each distinct one once and the ``ZCLHeader`` is shared (zigpy and the harness only read
it). Most headers of a session are new only by their TSN (one per request), so zigpy parses
each distinct rest of a header once, and a header that differs from one it parsed only in the
TSN is that header with the TSN byte as zigpy types it (``uint8_t``: every byte is a valid
TSN). A command is parsed once per frame: the CHF's decode keeps its result for zigpy's own
parse of the same frame just after (:func:`deserialize` with ``keep``). Results are zigpy's
own, field for field; a frame zigpy refuses is refused as before, and nothing is cached for it.
"""

from __future__ import annotations

from typing import Any

import zigpy.types as t
from zigpy.zcl import Cluster, foundation

#: Distinct headers kept: more than a session's; random frames (the security pack's) stop
#: filling the cache once it is full.
LIMIT = 4096
_HEADERS: dict[bytes, foundation.ZCLHeader] = {}
#: Headers zigpy parsed, by their bytes without the TSN (frame control, manufacturer, command).
_BY_REST: dict[bytes, foundation.ZCLHeader] = {}
#: The command the CHF's decode parsed last, for zigpy's parse of the same frame:
#: (cluster, frame bytes, header, command).
_kept: tuple[Cluster, bytes, foundation.ZCLHeader, Any] | None = None


def parse_header(data: bytes) -> tuple[foundation.ZCLHeader, bytes]:
    """``ZCLHeader.deserialize(data)``: the header (shared: read it only) and the payload."""
    size = 5 if data and data[0] & 0x04 else 3  # a manufacturer code after frame control
    if len(data) >= size:
        key = data[:size]
        header = _HEADERS.get(key)
        if header is not None:
            return header, data[size:]
        parsed = _BY_REST.get(key[:-2] + key[-1:])
        if parsed is not None:
            header = _with_tsn(parsed, data[size - 2])
            if len(_HEADERS) < LIMIT:
                _HEADERS[bytes(key)] = header
            return header, data[size:]
    header, payload = foundation.ZCLHeader.deserialize(data)
    if len(data) - len(payload) == size:
        key = bytes(data[:size])
        if len(_HEADERS) < LIMIT:
            _HEADERS[key] = header
        if len(_BY_REST) < LIMIT:
            _BY_REST[key[:-2] + key[-1:]] = header
    return header, payload


def _with_tsn(parsed: foundation.ZCLHeader, tsn: int) -> foundation.ZCLHeader:
    """zigpy's header ``parsed`` with another TSN: its fields, the TSN typed as zigpy types it
    (built without zigpy's ``Struct`` constructor, whose cost is what the cache is for)."""
    header = object.__new__(foundation.ZCLHeader)
    fields = vars(header)
    fields.update(vars(parsed))
    fields["tsn"] = t.uint8_t(tsn)
    return header


def _deserialize(cluster: Cluster, data: bytes) -> tuple[foundation.ZCLHeader, Any]:
    """What zigpy's ``Cluster.deserialize`` returns (without its debug lines), the header
    from :func:`parse_header`."""
    if type(cluster).deserialize is not Cluster.deserialize:  # a cluster's own parse
        return cluster.deserialize(data)
    hdr, payload = parse_header(data)
    if hdr.frame_control.frame_type == foundation.FrameType.CLUSTER_COMMAND:
        commands = (cluster.client_commands
                    if hdr.direction == foundation.Direction.Server_to_Client
                    else cluster.server_commands)
        command = commands.get(hdr.command_id)
    else:
        command = foundation.GENERAL_COMMANDS.get(hdr.command_id)  # type: ignore[call-overload]
    if command is None:
        return hdr, payload
    response, _ = command.schema.deserialize(payload)
    return hdr, response


def deserialize(cluster: Cluster, data: bytes, *, keep: bool = False
                ) -> tuple[foundation.ZCLHeader, Any]:
    """``cluster.deserialize(data)``. ``keep``: the result is kept for the next call on the
    same cluster and bytes (zigpy's parse of the frame the CHF just decoded), which takes it
    instead of parsing again. The application forgets it once the frame is handled
    (:func:`forget`), so no command object is shared between two frames."""
    global _kept
    if keep:
        hdr, command = _deserialize(cluster, data)
        _kept = (cluster, bytes(data), hdr, command)
        return hdr, command
    kept, _kept = _kept, None
    if kept is not None and kept[0] is cluster and kept[1] == data:
        return kept[2], kept[3]
    return _deserialize(cluster, data)


def forget() -> None:
    """Drop the kept command: the frame it came from is handled."""
    global _kept
    _kept = None
