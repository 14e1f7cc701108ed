"""The timeline of a failure: the ZigBee frames, HAN events and DCC exchanges around it, as a
reviewer reads them beside the reason.

Read from the case's evidence files (``frames.json``, ``events.json``, ``dcc.json``): the last
entries of each before the case ended, ordered by bench time (each file numbers its own
entries). Each entry names its file and index, and a DCC request its number among the case's
requests of that SR ("SR 6.23 request 7"), so a reason that counts attempts ("events [7, 11]")
can be matched to the exchanges.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from harness.text import clip

#: Entries kept from the end of a failed case (besides the events its reason cites).
TIMELINE_ENTRIES = 12
_TEXT_LIMIT = 160


def _load(directory: Path, relative: Any) -> list[dict[str, Any]]:
    if not isinstance(relative, str):
        return []
    path = directory / relative
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return clip(text, _TEXT_LIMIT)


def _frame_text(frame: dict[str, Any]) -> str:
    size = len(str(frame.get("data") or "")) // 2
    return (f"{frame.get('direction', '?')} {frame.get('src', '?')} → {frame.get('dst', '?')} "
            f"cluster {frame.get('cluster_id', '?')}, {size} bytes")


def _event_text(event: dict[str, Any]) -> str:
    parts = [str(event.get(k)) for k in ("kind", "name", "device") if event.get(k)]
    if event.get("cluster"):
        parts.append(f"cluster {event['cluster']}")
    value = event.get("value")
    if isinstance(value, dict):  # payload bytes say little in a timeline
        value = {k: v for k, v in value.items() if k != "data"}
    if value not in (None, {}, ""):
        parts.append(_short(value))
    return " ".join(parts)


def _dcc_text(entry: dict[str, Any], ordinal: int | None = None) -> str:
    kind = entry.get("kind", "?")
    parts = [str(kind)]
    if entry.get("srv"):
        parts.append(f"SR {entry['srv']}" + (f" request {ordinal}" if ordinal else ""))
    for key in ("role", "target", "code", "alert", "device"):
        if entry.get(key) not in (None, ""):
            parts.append(f"{key} {entry[key]}")
    return _short(" ".join(parts))


def failure_timeline(directory: Path, evidence: dict[str, Any] | None, reason: str | None,
                     limit: int = TIMELINE_ENTRIES) -> list[dict[str, Any]]:
    """The entries before a failure, oldest first: ``at`` (bench time), ``source`` (``frames``,
    ``events`` or ``dcc``), ``index`` (in its file), ``text``. (``reason``: kept for callers.)"""
    if not evidence:
        return []
    per_source = max(limit // 3, 1)
    kept: list[tuple[str, int, int, dict[str, Any]]] = []
    for rank, source in enumerate(("events", "dcc", "frames")):
        items = _load(directory, evidence.get(source))
        requests: Counter[str] = Counter()
        for index, item in enumerate(items):
            ordinal = None
            if source == "dcc" and item.get("kind") == "request" and item.get("srv"):
                requests[str(item["srv"])] += 1
                ordinal = requests[str(item["srv"])]
            if index < len(items) - per_source:
                continue
            text = (_event_text(item) if source == "events" else _frame_text(item)
                    if source == "frames" else _dcc_text(item, ordinal))
            kept.append((str(item.get("time") or ""), rank, index, {
                "at": item.get("time"), "source": source, "index": index, "text": text,
            }))
    # Each stream numbers its own entries: across streams only bench time orders them.
    kept.sort(key=lambda entry: entry[:3])
    return [entry for *_, entry in kept]
