"""Writing the files of a run so that nobody ever reads half of one.

Every file the report layer writes (reports, records, run state, summaries, Allure results) is
replaced whole: :func:`write_atomic` writes a temporary file beside it and renames it over the
old one, so a reader, a second process or a kill in between sees the old file or the new one,
never a mixture.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename.

    The temporary file's name is this process's own (``<name>.<pid>.tmp``), so two runs writing
    one out root never share it; it is removed if the write fails. ``durable``: the data is on
    disk before the rename (fsync), for a file a power cut must not take back (records, run
    state). Returns ``path``.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with tmp.open("wb") as handle:
            handle.write(raw)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
