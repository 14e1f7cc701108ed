"""Service Requests and Service Responses as the S1SP model sees them.

A RequestID is ``originatorEUI:targetEUI:counter`` (EUI-64s as 8 hex octets joined by ``-``);
the counter must rise per originator, and a repeat is refused as a replay. Users send DUIS XML
documents (``harness.dcc.duis``); what reaches the S1SP is the request the DCC read from one,
carrying the DCC's countersignature (ECDSA P-256) over its canonical body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class RequestId:
    originator: str
    target: str
    counter: int

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"

    @classmethod
    def parse(cls, text: str) -> RequestId:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"a RequestID is originatorEUI:targetEUI:counter, got {text!r}")
        return cls(parts[0], parts[1], int(parts[2]))


@dataclass(frozen=True)
class ServiceRequest:
    srv: str
    request_id: RequestId
    role: str
    command_variant: int
    target: str
    params: dict[str, Any] = field(default_factory=dict)
    #: The DCC's countersignature (what the S1SP checks before it acts).
    signature: bytes = b""

    def body(self) -> bytes:
        """The canonical bytes the DCC's countersignature covers."""
        return json.dumps(
            {"srv": self.srv, "request_id": str(self.request_id), "role": self.role,
             "command_variant": self.command_variant, "target": self.target,
             "params": self.params},
            sort_keys=True, separators=(",", ":"), default=str,
        ).encode()

    def evidence(self, secret_params: frozenset[str] = frozenset()) -> dict[str, Any]:
        """What the run record keeps: secrets (install codes) masked."""
        return {
            "srv": self.srv, "request_id": str(self.request_id), "role": self.role,
            "command_variant": self.command_variant, "target": self.target,
            "params": {k: ("<masked>" if k in secret_params else v)
                       for k, v in self.params.items()},
            "signed": bool(self.signature),
        }


@dataclass(frozen=True)
class ServiceResponse:
    """The S1SP's answer. ``code`` is ``None`` when a response carries no code (a defect) or
    when the request failed schema validation (``http_status`` 400, never reached a device)."""

    request_id: str
    srv: str
    code: str | None
    time: datetime
    body: dict[str, Any] = field(default_factory=dict)
    http_status: int = 200
    detail: str = ""
    #: Builds, signs and writes :attr:`document` (``None``: the response has none).
    sign_document: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def document(self) -> bytes:
        """The signed DUIS response document (empty for HTTP 400 and a response with no code,
        which DUIS cannot express). Built and signed when first read: a pack run judges
        devices and reads none of its ~1,000 per entry, a User's endpoint, ``dmct duis`` and
        the DUIS checks read every one."""
        return self.sign_document() if self.sign_document is not None else b""

    @property
    def ok(self) -> bool:
        return self.code in ("I0", "I99")

    def evidence(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "srv": self.srv, "code": self.code,
                "http_status": self.http_status, "time": self.time.isoformat(),
                "detail": self.detail, "body": self.body}

    def __str__(self) -> str:
        code = self.code or ("HTTP 400 schema failure" if self.http_status == 400 else "no code")
        return f"SR {self.srv} {self.request_id}: {code}" + (f" ({self.detail})"
                                                              if self.detail else "")
