"""The one error type of the config layer: one line, pointing at a file, a line and a field.

Lab engineers fix configuration in an editor, so every problem is reported as
``<file>:<line>: <field.path>: <message>``, the form editors and CI log viewers link to.
The CLI prints ``str(error)`` and exits 2; nothing else (pydantic, PyYAML, KeyError) escapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.text import MASKED, clip, mask_secrets

__all__ = ["DOCUMENT", "MASKED", "ConfigError", "clip", "first_error", "mask_secrets",
           "sort_errors"]

#: Field path used when an error concerns a whole document rather than one field.
DOCUMENT = "(document)"
#: Longest message, field path and file name an error shows: whatever a message quotes (a
#: 1 MB unknown id) is cut, so an error stays one readable line.
MAX_MESSAGE = 400
MAX_FIELD = 160
MAX_FILE = 300


class ConfigError(Exception):
    """A configuration problem, located at ``file:line`` and a field path.

    ``line`` is 1-based; it is ``None`` only when there is no line to point at (a file that does
    not exist). ``others`` holds the further errors found in the same pass, in file order, for
    tools (``dmct lab check``, ``dmct profiles validate``) that want to list them all.
    """

    def __init__(
        self,
        file: str | Path,
        line: int | None,
        field: str,
        message: str,
        others: Sequence[ConfigError] = (),
    ) -> None:
        self.file = clip(str(file), MAX_FILE)
        self.line = line
        self.field = clip(mask_secrets(field), MAX_FIELD) if field else DOCUMENT
        # A message is one line by contract; fold anything a library handed us. Whatever it
        # quotes that could be a secret is masked, whichever check wrote it.
        self.message = clip(mask_secrets(message), MAX_MESSAGE)
        self.others: list[ConfigError] = list(others)
        super().__init__(self.file, self.line, self.field, self.message)

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"ConfigError({str(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep ``others`` when the error crosses a process boundary (pytest-xdist).
        return (type(self), (self.file, self.line, self.field, self.message, self.others))

    @property
    def all(self) -> list[ConfigError]:
        """This error followed by the others: every problem found, in file order."""
        return [self, *self.others]


def sort_errors(errors: Iterable[ConfigError]) -> list[ConfigError]:
    """Errors in file order: by file as first seen, then by line (stable for equal lines)."""
    items = list(errors)
    file_rank: dict[str, int] = {}
    for err in items:
        file_rank.setdefault(err.file, len(file_rank))
    return sorted(items, key=lambda e: (file_rank[e.file], e.line or 0))


def first_error(errors: Iterable[ConfigError]) -> ConfigError | None:
    """The first error in file order, carrying the rest in ``others`` (``None`` if no error)."""
    ordered = sort_errors(errors)
    if not ordered:
        return None
    head = ordered[0]
    return ConfigError(head.file, head.line, head.field, head.message, others=ordered[1:])
