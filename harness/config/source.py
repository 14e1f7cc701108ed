"""Line-aware YAML loading shared by every config file (lab config, profiles, DMCs, secrets).

PyYAML's ``safe_load`` forgets where values came from and silently keeps the last of two
duplicate keys. Here a document is *composed* into nodes with a SafeLoader and turned into plain
Python data by hand, recording the 1-based line of every mapping key and sequence item by field
path, so later validation can say ``lab.yaml:14: installations[0].devices[1].eui64: ...``.

Scalars follow YAML 1.2 rather than PyYAML's YAML 1.1, because 1.1 corrupts values that lab
files contain:

- booleans are only ``true``/``false`` (``on``/``off``/``yes``/``no`` stay strings, so
  ``supply: on`` means the string "on");
- integers are decimal without leading zeros, ``0x..``, ``0o..`` or ``0b..`` (no sexagesimal
  ``10:20:30`` and no octal ``017``, which would turn EUI-64s and serial numbers into numbers);
- ISO dates and date-times are still read as ``date``/``datetime``.

Hostile input is one line too, never a hang or a traceback: documents nested deeper than
:data:`MAX_DEPTH`, aliases that expand past :data:`_Builder.MAX_NODES` values or contain
themselves (merge keys included), integers longer than :data:`MAX_INT_DIGITS` digits, strings
longer than :data:`MAX_STRING` characters or holding control characters or lone surrogates
(which no terminal, report or JSON encoder should receive).
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config.errors import DOCUMENT, ConfigError

__all__ = ["Loc", "YamlDocument", "format_loc", "load_yaml", "load_yaml_text",
           "read_regular_file"]

#: A field path as pydantic spells it: mapping keys and sequence indexes.
Loc = tuple[Any, ...]

_TAG = "tag:yaml.org,2002:"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

#: Largest config file read, in bytes (the shipped ones are a few kB).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Deepest nesting of mappings and lists a config may have (the lab config needs 5).
MAX_DEPTH = 32
#: Longest integer, in digits: more than any field's wire type holds (64 bits: 20 digits).
MAX_INT_DIGITS = 40
#: Longest string value or key, in characters.
MAX_STRING = 10_000
#: Characters a config string may not hold: C0/C1 controls but tab and newline, DEL, and
#: lone surrogates (YAML's "\ud800" escape makes one; no encoder will write it).
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-style implicit bool/int/float resolution (see module doc), and
    a bound on nesting: PyYAML's composer recurses once per level, so a document nested
    hundreds deep would end in a RecursionError."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:  # the node itself is one level below its parent
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_REPLACED = {_TAG + name for name in ("bool", "int", "float", "value", "yaml")}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _TAG + "int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?0o[0-7_]+|[-+]?0b[01_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _TAG + "float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class _PackagedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's composer, for the harness's own data files (the SR catalogue, the response
    codes, the Testing Issue registry): about a tenth of the pure-Python composer's time, and
    every ``dmct`` process reads them. Those files ship with the harness, so the nesting bound
    (which needs the pure-Python composer) is not needed; scalars resolve as in lab files."""


_PackagedLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def format_loc(loc: Loc) -> str:
    """``('installations', 0, 'devices', 1, 'eui64')`` -> ``installations[0].devices[1].eui64``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out or DOCUMENT


@dataclass(frozen=True)
class YamlDocument:
    """A loaded YAML file: plain data plus the line of every key and item by field path."""

    path: Path
    data: Any
    positions: Mapping[Loc, int] = field(repr=False)

    def line_of(self, loc: Loc) -> int:
        """Line of ``loc``, or of its nearest recorded ancestor (a missing key: its mapping)."""
        loc = tuple(loc)
        while loc:
            line = self.positions.get(loc)
            if line is not None:
                return line
            loc = loc[:-1]
        return self.positions.get((), 1)

    def has(self, loc: Loc) -> bool:
        """True when ``loc`` was written in the file (not filled in by a default)."""
        return tuple(loc) in self.positions

    def error(self, loc: Loc, message: str) -> ConfigError:
        """A :class:`ConfigError` pointing at ``loc`` in this file."""
        return ConfigError(self.path, self.line_of(loc), format_loc(loc), message)


def load_yaml(path: str | Path, *, limit: int = 0, what: str = "file",
              packaged: bool = False) -> YamlDocument:
    """Read and compose ``path``; the document must be a single mapping. ``limit``: its
    largest size in bytes (default :data:`MAX_FILE_BYTES`); ``what`` names it in errors;
    ``packaged``: a data file of the harness itself, never one a lab wrote (composed by
    libyaml, see :class:`_PackagedLoader`).

    Raises :class:`ConfigError` for an unreadable file, a YAML syntax error, a duplicate key,
    an unsupported tag or a document that is not a mapping.
    """
    path = Path(path)
    raw = read_regular_file(path, limit or MAX_FILE_BYTES, what)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, line, DOCUMENT, "file is not UTF-8 text") from None
    return load_yaml_text(text, path, packaged=packaged)


def read_regular_file(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes.

    A FIFO would block the reader forever and ``/dev/zero`` would never end: neither is opened
    for reading (``O_NONBLOCK``, then checked before a byte is read). Raises
    :class:`ConfigError` (one line, no content quoted).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(path, None, DOCUMENT, f"{what} not found") from None
    except IsADirectoryError:
        raise ConfigError(path, None, DOCUMENT, "is a directory, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(path, None, DOCUMENT, f"cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(path, None, DOCUMENT, "is a directory, expected a YAML file")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(path, None, DOCUMENT,
                              f"not a regular file (a device, FIFO or socket): a {what} must "
                              "be a plain file")
        if info.st_size > limit:
            raise ConfigError(path, None, DOCUMENT,
                              f"{info.st_size} bytes: larger than a {what} can be ({limit})")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(limit + 1)
        if len(raw) > limit:
            raise ConfigError(path, None, DOCUMENT, f"larger than a {what} can be ({limit})")
        return raw
    except OSError as exc:
        raise ConfigError(path, None, DOCUMENT, f"cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)


def load_yaml_text(text: str, path: str | Path, *, packaged: bool = False) -> YamlDocument:
    """Like :func:`load_yaml` for text already in memory; ``path`` is used in errors."""
    path = Path(path)
    try:
        root = yaml.compose(text, Loader=_PackagedLoader if packaged else _Loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, exc) from None
    except yaml.YAMLError as exc:  # unmarked errors are rare (reader errors carry a position)
        raise ConfigError(path, 1, DOCUMENT, f"YAML error: {exc}") from None
    except _TooDeep as exc:
        raise ConfigError(path, exc.line, DOCUMENT,
                          f"nested more than {MAX_DEPTH} levels deep; is this a config?") from None
    if root is None:
        raise ConfigError(path, 1, DOCUMENT, "the file is empty; expected a mapping of keys")
    builder = _Builder(path)
    data = builder.build(root, ())
    if not isinstance(data, dict):
        kind = _kind(data)
        raise ConfigError(
            path, _line(root), DOCUMENT, f"expected a mapping of keys at the top, got {kind}"
        )
    return YamlDocument(path=path, data=data, positions=builder.positions)


def _syntax_error(path: Path, exc: yaml.MarkedYAMLError) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or "invalid YAML"
    context = ""
    if exc.context and exc.context_mark is not None:
        context = f" ({exc.context} at line {exc.context_mark.line + 1})"
    elif exc.context:
        context = f" ({exc.context})"
    return ConfigError(path, line, DOCUMENT, f"YAML syntax error: {problem}{context}")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


class _Builder:
    """Turns composed nodes into dicts/lists/scalars, recording positions and rejecting dups."""

    #: Upper bound on values built, so an alias bomb (``&a [*b, *b, ...]``) fails fast.
    MAX_NODES = 200_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self.positions: dict[Loc, int] = {}
        self._constructor = yaml.constructor.SafeConstructor()  # only for timestamps
        self._open: set[int] = set()  # collections being built: an alias back to one is a loop
        self._count = 0

    def build(self, node: Node, loc: Loc) -> Any:
        self.positions.setdefault(loc, _line(node))
        self._count += 1
        if self._count > self.MAX_NODES:
            raise ConfigError(
                self.path,
                _line(node),
                format_loc(loc),
                f"more than {self.MAX_NODES} values after expanding aliases; is this a config?",
            )
        if isinstance(node, MappingNode | SequenceNode):
            if id(node) in self._open:
                raise ConfigError(
                    self.path,
                    _line(node),
                    format_loc(loc),
                    "recursive alias: a mapping or list contains itself",
                )
            self._open.add(id(node))
            try:
                return self._collection(node, loc)
            finally:
                self._open.discard(id(node))
        assert isinstance(node, ScalarNode)
        return self._scalar(node, loc)

    def _collection(self, node: Node, loc: Loc) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                raise self._tag_error(node, loc)
            items = []
            for index, item in enumerate(node.value):
                self.positions[(*loc, index)] = _line(item)
                items.append(self.build(item, (*loc, index)))
            return items
        raise AssertionError(f"not a collection: {node!r}")  # pragma: no cover

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        if node.tag != _TAG + "map":
            raise self._tag_error(node, loc)
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        merged: dict[Any, tuple[Node, int]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                for key, (value, line) in self._merge_sources(value_node, loc):
                    merged.setdefault(key, (value, line))
                continue
            if not isinstance(key_node, ScalarNode):
                raise ConfigError(
                    self.path,
                    _line(key_node),
                    format_loc(loc),
                    "mapping keys must be plain scalars, not lists or mappings",
                )
            key = self._scalar(key_node, loc)
            try:
                hash(key)
            except TypeError:  # pragma: no cover - scalars are hashable
                raise ConfigError(self.path, _line(key_node), format_loc(loc), "bad key") from None
            line = _line(key_node)
            if key in first_line:
                raise ConfigError(
                    self.path,
                    line,
                    format_loc((*loc, key)),
                    f"duplicate key {key!r} "
                    f"(first at line {first_line[key]}, again at line {line})",
                )
            first_line[key] = line
            self.positions[(*loc, key)] = line
            if not isinstance(key, str):
                self.positions.setdefault((*loc, str(key)), line)
            result[key] = self.build(value_node, (*loc, key))
        # Merge keys (``<<: *defaults``) fill in what the mapping did not say itself.
        for key, (value_node, line) in merged.items():
            if key not in result:
                self.positions[(*loc, key)] = line
                result[key] = self.build(value_node, (*loc, key))
        return result

    def _merge_sources(self, value: Node, loc: Loc, seen: frozenset[int] = frozenset()
                       ) -> Iterator[tuple[Any, tuple[Node, int]]]:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise ConfigError(
                    self.path,
                    _line(source),
                    format_loc(loc),
                    "a merge key (<<) takes a mapping or a list of mappings",
                )
            if id(source) in self._open or id(source) in seen:
                raise ConfigError(
                    self.path,
                    _line(value),
                    format_loc(loc),
                    "recursive merge key: a mapping merges itself (<<: *anchor of its own)",
                )
            for key_node, value_node in source.value:
                if key_node.tag == _TAG + "merge":
                    yield from self._merge_sources(value_node, loc, seen | {id(source)})
                    continue
                yield self._scalar(key_node, loc), (value_node, _line(key_node))

    def _scalar(self, node: Node, loc: Loc) -> Any:
        if not isinstance(node, ScalarNode):
            raise ConfigError(self.path, _line(node), format_loc(loc), "expected a scalar here")
        tag, text = node.tag, node.value
        if len(text) > MAX_STRING:
            raise ConfigError(self.path, _line(node), format_loc(loc),
                              f"a value of {len(text)} characters: longer than any field takes "
                              f"({MAX_STRING})")
        if tag == _TAG + "str":
            bad = _FORBIDDEN.search(text)
            if bad is not None:
                what = ("a lone surrogate" if "\ud800" <= bad.group() <= "\udfff"
                        else "a control character")
                raise ConfigError(self.path, _line(node), format_loc(loc),
                                  f"the text holds {what} (U+{ord(bad.group()):04X}); write "
                                  "printable characters only")
            return text
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return text.lower() == "true"
        if tag == _TAG + "int":
            digits = sum(c.isdigit() for c in text)
            if digits > MAX_INT_DIGITS:
                raise ConfigError(self.path, _line(node), format_loc(loc),
                                  f"an integer of {digits} digits: larger than any field takes "
                                  "(quote it if it is text)")
            try:
                return int(text.replace("_", ""), 0)
            except ValueError:
                raise ConfigError(
                    self.path, _line(node), format_loc(loc), f"not an integer: {text!r}"
                ) from None
        if tag == _TAG + "float":
            lowered = text.lower().replace("_", "")
            if lowered.endswith((".inf", ".nan")):
                sign = -1.0 if lowered.startswith("-") else 1.0
                return sign * math.inf if lowered.endswith(".inf") else math.nan
            try:
                return float(lowered)
            except ValueError:
                raise ConfigError(
                    self.path, _line(node), format_loc(loc), f"not a number: {text!r}"
                ) from None
        if tag == _TAG + "timestamp":
            try:
                return self._constructor.construct_yaml_timestamp(node)
            except (ValueError, yaml.YAMLError):
                raise ConfigError(
                    self.path, _line(node), format_loc(loc), f"not a valid date/time: {text!r}"
                ) from None
        raise self._tag_error(node, loc)

    def _tag_error(self, node: Node, loc: Loc) -> ConfigError:
        return ConfigError(
            self.path,
            _line(node),
            format_loc(loc),
            f"unsupported YAML tag {node.tag!r}; write plain values, lists and mappings",
        )
