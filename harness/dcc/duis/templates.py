"""The DCC's Reference Test Data requests (``@smartdcc/duis-templates``) aimed at a bench.

Templates address DCC Boxed's devices; re-targeted, each names the bench device of the same
role instead (``BOXED_DEVICES``), and is then re-signed by DCC Boxed's tool with its test User
keys (the originator is left alone: the tool signs as the User it names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.dcc.duis.documents import SR, parse_document
from harness.dcc.duis.tools import BOXED_DEVICES


@dataclass(frozen=True)
class Template:
    path: Path
    srv: str
    command_variant: int
    originator: str
    target: str

    @property
    def name(self) -> str:
        return self.path.name


def read_template(path: Path) -> Template:
    root = parse_document(path.read_bytes())
    header = root.find(SR + "Header")
    assert header is not None, path
    originator, target, _counter = (header.findtext(SR + "RequestID") or "::").split(":")
    return Template(path, header.findtext(SR + "ServiceReferenceVariant") or "",
                    int(header.findtext(SR + "CommandVariant") or 0), originator, target)


def bench_devices(euis: Mapping[str, str]) -> dict[str, str]:
    """DCC Boxed device EUI-64 -> the bench's device of the same role (``euis``: role, the CHF
    included, -> EUI-64)."""
    return {boxed: euis[role] for boxed, role in BOXED_DEVICES.items() if role in euis}


def retarget(data: bytes, devices: dict[str, str]) -> bytes:
    """A template's bytes with DCC Boxed's device EUI-64s replaced by the bench's."""
    text = data.decode("utf-8")
    for boxed, eui in devices.items():
        text = text.replace(boxed, eui)
    return text.encode("utf-8")

