"""pydantic glue: the strict base model, one-line errors from ValidationError, locations.

Models only describe the *shape* of a file (types, ranges, unknown keys). Checks that involve
several fields or files run afterwards with explicit field paths, so every error still points at
the right line. :func:`validate_document` turns each pydantic error into a
:class:`~harness.config.errors.ConfigError` located through the document's recorded positions.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from harness.config.errors import ConfigError, sort_errors
from harness.config.source import Loc, YamlDocument, format_loc

__all__ = [
    "ConfigModel",
    "Located",
    "attach_locations",
    "describe_value",
    "looks_secret",
    "safe_name",
    "validate_document",
]

M = TypeVar("M", bound=BaseModel)


class ConfigModel(BaseModel):
    """Base of every config model: strict types, unknown keys rejected, immutable.

    Strict means a YAML string is never silently turned into a number (``channel: "15"`` is an
    error), while YAML's own numbers (``pan_id: 0x1A62``) are numbers already. Each instance
    remembers the file, line and field path it was read from (``source_file``, ``line``,
    ``field_path``) so later checks, and other layers, can point back at it.
    """

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, protected_namespaces=(), validate_default=False
    )

    _source_file: Path | None = PrivateAttr(default=None)
    _line: int = PrivateAttr(default=0)
    _field_path: str = PrivateAttr(default="")

    @property
    def source_file(self) -> Path | None:
        """The YAML file this object was read from (``None`` if built in code)."""
        return self._source_file

    @property
    def line(self) -> int:
        """1-based line of this object's key or list item in :attr:`source_file` (0 if unknown)."""
        return self._line

    @property
    def field_path(self) -> str:
        """Where in the file this object is, e.g. ``installations[0].devices[1]``."""
        return self._field_path

    def where(self, suffix: str = "") -> str:
        """``file:line`` of this object, for messages of other layers."""
        return f"{self._source_file}:{self._line}" + (f" ({suffix})" if suffix else "")

    def _set_location(self, file: Path, line: int, field_path: str) -> None:
        private = self.__pydantic_private__
        assert private is not None
        private["_source_file"] = file
        private["_line"] = line
        private["_field_path"] = field_path


class Located:
    """Mixin for non-pydantic values (secret references) that also remember where they were."""

    source_file: Path | None = None
    line: int = 0
    field_path: str = ""

    def _set_location(self, file: Path, line: int, field_path: str) -> None:
        object.__setattr__(self, "source_file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "field_path", field_path)


def attach_locations(obj: Any, doc: YamlDocument, loc: Loc = ()) -> None:
    """Record file/line/field path on every model (and :class:`Located`) under ``obj``."""
    setter = getattr(obj, "_set_location", None)
    if setter is not None and isinstance(obj, ConfigModel | Located):
        setter(doc.path, doc.line_of(loc), format_loc(loc))
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            attach_locations(getattr(obj, name), doc, (*loc, name))
    elif isinstance(obj, list | tuple):
        for index, item in enumerate(obj):
            attach_locations(item, doc, (*loc, index))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            attach_locations(value, doc, (*loc, key))


def validate_document(
    model: type[M],
    doc: YamlDocument,
    *,
    data: Any = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[M | None, list[ConfigError]]:
    """Validate ``doc.data`` (or ``data``) as ``model``; errors come back located, in file order.

    On success the model comes back with locations attached and an empty error list.
    """
    payload = doc.data if data is None else data
    try:
        result = model.model_validate(payload, context=dict(context or {}))
    except ValidationError as exc:
        errors = [_translate(model, doc, err) for err in exc.errors(include_url=False)]
        return None, sort_errors(errors)
    attach_locations(result, doc)
    return result, []


# -- pydantic error -> one line -----------------------------------------------------------------

_MARKERS = {"[key]"}
_HEXISH = re.compile(r"[\s:-]")
_HEXISH_ONLY = re.compile(r"[0-9A-Fa-f\s:-]+")


def looks_secret(value: str) -> bool:
    """True for text that could be an install code or key pasted in the wrong place."""
    return len(_HEXISH.sub("", value)) >= 16 and bool(_HEXISH_ONLY.fullmatch(value))


def safe_name(value: Any, *, quote: bool = True) -> str:
    """A user-written name for a message, unless it looks like a pasted secret."""
    if isinstance(value, str) and looks_secret(value):
        return "(a long hex string, not shown)"
    return repr(value) if quote else str(value)


def describe_value(value: Any) -> str:
    """Short, safe description of a bad value for a message (long strings are not echoed)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        if looks_secret(value):
            return "a long hex string (not shown)"
        if len(value) <= 40:
            return f"the string {value!r}"
        return f"a string of {len(value)} characters"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, dt.datetime):
        return "a date-time"
    if isinstance(value, dt.date):
        return "a date"
    return f"a {type(value).__name__}"


def _quote_hint(value: Any) -> str:
    if isinstance(value, float):
        return " (quote it: YAML reads an unquoted 7.10 as the number 7.1)"
    if isinstance(value, int) and not isinstance(value, bool):
        return " (quote it to make it text)"
    return ""


def _translate(model: type[BaseModel], doc: YamlDocument, err: Any) -> ConfigError:
    raw_loc = tuple(err.get("loc", ()))
    is_key = bool(raw_loc) and raw_loc[-1] == "[key]"
    loc = tuple(part for part in raw_loc if part not in _MARKERS and not _is_tag(part))
    if loc and isinstance(loc[-1], int) and not isinstance(_value_at(doc.data, loc[:-1]), list):
        # ``dmc: X`` was written as one value and wrapped into a list: no index to show.
        loc = loc[:-1]
    kind = err.get("type", "")
    value = err.get("input")
    ctx = err.get("ctx") or {}
    got = describe_value(value)
    if kind == "missing":
        message = f"required key '{loc[-1]}' is missing" if loc else "required value is missing"
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        listing = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        message = f"unknown key '{loc[-1]}'{listing}"
    elif is_key:
        message = f"invalid key: {_plain_message(kind, value, ctx, err, got)}"
    else:
        message = _plain_message(kind, value, ctx, err, got)
    return ConfigError(doc.path, doc.line_of(loc), format_loc(loc), message)


def _value_at(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _plain_message(kind: str, value: Any, ctx: Mapping[str, Any], err: Any, got: str) -> str:
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"expected an integer, got {got}"
    if kind in {"float_type", "float_parsing"}:
        return f"expected a number, got {got}"
    if kind in {"string_type", "str_type"}:
        return f"expected a string, got {got}{_quote_hint(value)}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"expected true or false, got {got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}; got {got}{_quote_hint(value)}"
    if kind in {"list_type", "tuple_type", "set_type"}:
        return f"expected a list, got {got}"
    if kind in {"dict_type", "model_type", "model_attributes_type", "dataclass_type"}:
        return f"expected a mapping of keys, got {got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {got}"
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}, got {got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {got}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}, got {got}"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"must have at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')}; got {got}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters, got {got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "finite_number":
        return f"must be a finite number, got {got}"
    if kind in {"value_error", "assertion_error"}:
        error = ctx.get("error")
        return str(error) if error is not None else str(err.get("msg", "invalid value"))
    return str(err.get("msg", "invalid value"))


def _is_tag(part: Any) -> bool:
    # pydantic inserts union member / function tags into locs; our models avoid unions, but a
    # tag must never end up in a field path if one slips in.
    return isinstance(part, str) and (
        part.startswith("function-") or part in {"union", "tagged-union", "lax-or-strict"}
    )


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` under ``model`` (for unknown-key messages)."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    target = _model_in(current)
    if target is None:
        return []
    return [field.alias or name for name, field in target.model_fields.items()]


def _step(annotation: Any, part: Any) -> Any:
    model = _model_in(annotation)
    if model is not None and isinstance(part, str):
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
        return args[0]
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        for member in members:
            if _model_in(member) is not None:
                return member
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation) if annotation is not None else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
