"""Relative links in a printed PDF: the report's folder can be moved or mailed.

Chromium prints every link of a page as an absolute ``file:`` URI, the folder's full path on the
machine that printed it: in the lab's PDF they point at the lab's machine, and anywhere else at
nothing. This rewrites each
link annotation under the report's own directory to the path relative to it (a PDF reader
resolves a relative URI against the PDF's location), and drops any other ``file:`` link, which
could only name the machine it was printed on. pypdf does the PDF object work.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, NameObject, TextStringObject


def relative_uri(uri: str, base: Path) -> str | None:
    """``uri`` relative to the directory ``base`` when it points inside it (query and fragment
    kept), ``None`` for another ``file:`` URI, unchanged for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return uri
    try:
        inside = Path(unquote(parts.path)).relative_to(base.resolve())
    except ValueError:
        return None
    rel = quote(inside.as_posix(), safe="/")
    return rel + (f"#{parts.fragment}" if parts.fragment else "")


def relative_links(data: bytes, base: Path) -> bytes:
    """The PDF ``data`` with its link annotations made relative to ``base``."""
    reader = PdfReader(io.BytesIO(data))
    writer = PdfWriter(clone_from=reader)
    changed = False
    for page in writer.pages:
        annotations = page.get("/Annots")
        if not annotations:
            continue
        kept = []
        for ref in annotations:
            annotation = ref.get_object()
            action = annotation.get("/A")
            action = action.get_object() if action is not None else None
            uri = action.get("/URI") if action is not None else None
            if action is None or uri is None:
                kept.append(ref)
                continue
            new = relative_uri(str(uri), base)
            changed = changed or new != str(uri)
            if new is None:
                continue
            action[NameObject("/URI")] = TextStringObject(new)
            kept.append(ref)
        if len(kept) != len(annotations):
            page[NameObject("/Annots")] = ArrayObject(kept)
    if not changed:
        return data
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_uris(path: Path) -> list[str]:
    """Every link URI of a PDF (for checks)."""
    uris = []
    for page in PdfReader(str(path)).pages:
        for ref in page.get("/Annots") or []:
            action = ref.get_object().get("/A")
            if action is not None and action.get_object().get("/URI") is not None:
                uris.append(str(action.get_object()["/URI"]))
    return uris
