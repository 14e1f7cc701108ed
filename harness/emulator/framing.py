"""The emulated nodes' common ZCL framing, done by zigpy once per distinct frame part.

zigpy's ``Struct`` types (the ZCL header, the general command schemas) take tens of
microseconds to parse or build, and an emulated node answers every frame with several of them:
its header, the request, the reply header and body. Most of those are the same few bytes again
and again, so zigpy parses or builds each distinct one once and the result is reused. A header
the node sends is frame control, TSN and command id: zigpy builds it once per command and
direction, and each reply puts its TSN in as the one byte it is. Every frame is still byte for
byte what zigpy makes, and a frame zigpy refuses is refused as before: nothing is cached for
it. Cached zigpy objects are shared, so the node only reads them. Received headers are parsed
by the HAN's ``harness.han.zclparse.parse_header``: one header cache for both sides.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from zigpy.zcl import foundation

GC = foundation.GeneralCommand
#: Entries per cache (headers are parsed by the HAN's ``zclparse.parse_header``, one cache for
#: both sides): more than the distinct headers of a session's frames; random frames
#: (the security pack's) stop filling a cache when it is full.
LIMIT = 4096
_READ_REQUESTS: dict[bytes, Any] = {}
_READ_SCHEMA = foundation.GENERAL_COMMANDS[GC.Read_Attributes].schema
_READ_RSP_SCHEMA = foundation.GENERAL_COMMANDS[GC.Read_Attributes_rsp].schema
_DEFAULT_RSP_SCHEMA = foundation.GENERAL_COMMANDS[GC.Default_Response].schema


def parse_read_attributes(payload: bytes) -> Any:
    """A Read_Attributes request's fields (``attribute_ids``; shared: read them only)."""
    request = _READ_REQUESTS.get(payload)
    if request is None:
        request, _ = _READ_SCHEMA.deserialize(payload)
        if len(_READ_REQUESTS) < LIMIT:
            _READ_REQUESTS[bytes(payload)] = request
    return request


def general_header(tsn: int, command_id: int, direction: foundation.Direction) -> bytes:
    """The serialised header of a general command (``ZCLHeader.general``)."""
    return _with_tsn(_general_header(command_id, direction), tsn)


def cluster_header(tsn: int, command_id: int, direction: foundation.Direction) -> bytes:
    """The serialised header of a cluster command (``ZCLHeader.cluster``)."""
    return _with_tsn(_cluster_header(command_id, direction), tsn)


@lru_cache(maxsize=LIMIT)
def _general_header(command_id: int, direction: foundation.Direction) -> bytes:
    return bytes(foundation.ZCLHeader.general(0, command_id, direction=direction).serialize())


@lru_cache(maxsize=LIMIT)
def _cluster_header(command_id: int, direction: foundation.Direction) -> bytes:
    return bytes(foundation.ZCLHeader.cluster(0, command_id, direction=direction).serialize())


def _with_tsn(header: bytes, tsn: int) -> bytes:
    """A header zigpy built with TSN 0, with ``tsn`` instead: its byte before the command id
    (a TSN that is not a byte is refused, as zigpy refuses it)."""
    return header[:-2] + bytes((tsn,)) + header[-1:]


@lru_cache(maxsize=LIMIT)
def default_response(command_id: int, status: foundation.Status) -> bytes:
    """The serialised body of a Default Response."""
    return bytes(_DEFAULT_RSP_SCHEMA(command_id=command_id, status=status).serialize())


def read_attributes_rsp(records: list[foundation.ReadAttributeRecord]) -> bytes:
    """The serialised body of a Read_Attributes_rsp: its records one after another, as the
    schema's one field (a list without a length) serialises them, without building the
    schema's Struct."""
    return b"".join(record.serialize() for record in records)


def general_body(command_id: int, fields: dict[str, Any]) -> bytes:
    """The serialised body of a general command the node sends."""
    if command_id == GC.Read_Attributes_rsp and fields.keys() == {"status_records"}:
        return read_attributes_rsp(fields["status_records"])
    return bytes(foundation.GENERAL_COMMANDS[GC(command_id)].schema(**fields).serialize())
