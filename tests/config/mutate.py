"""A mutation generator for config files: the shipped lab configs, secrets files and device
profiles, changed the way a hostile (or careless) lab would, reproducibly from a seed.

Structural mutations walk the parsed document to a random place and replace, drop, add or
nest something there (values from :data:`HOSTILE`); text mutations cut, splice or re-indent
the YAML itself. Each mutant is YAML text: what a lab would hand the loader.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import yaml

from .helpers import TEST_CODE

#: Values a field should never take, or takes only at its edges.
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 26, 27, 0xFFFF, 2**31, 2**32, 2**63, 2**64, -(2**63),
    10**39, 10**60, 10**4000, 1e308, -1e308, float("inf"), float("-inf"),
    float("nan"), -0.0, 7.10, "", " ", "\t", "x" * 5000, "X" * 200, "\u0668.\u0661\u0661",
    "\uff18.\uff11\uff11", "8.11", "6.15.1", "\x1b[2J\x1b]0;pwned\x07", "a\x00b", "\ud800",
    "\u202eevil", "caf\u00e9", TEST_CODE, TEST_CODE.lower(), {"env": "DMCT_X"},
    {"secret": TEST_CODE}, {"secret": "../../etc/passwd"}, {"env": ""}, [], {}, [[[[[]]]]],
    {"a": {"b": {"c": {}}}}, "2026-13-45", dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.date(2026, 1, 5), "emulated", "virtual",
    "/dev/zero", "/dev/null", "rfc2217://localhost:99999", "socket://", "0x1A62", ".nan",
    "REF-DMC-001", "00-1B-C5-0C-00-00-00-01", "FF-FF-FF-FF-FF-FF-FF-FF", "dormant",
    ["dormant", "dormant"], ["x"] * 300, "\n".join(["line"] * 50),
]


def _places(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``data`` (mapping keys, list indexes), the root included."""
    found = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _places(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _places(value, (*path, index))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _pick(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(HOSTILE))


def _replace(data: Any, rng: random.Random) -> Any:
    path = rng.choice(_places(data)[1:] or [()])
    if not path:
        return _pick(rng)
    _parent(data, path)[path[-1]] = _pick(rng)
    return data


def _drop(data: Any, rng: random.Random) -> Any:
    path = rng.choice(_places(data)[1:] or [()])
    if path:
        parent = _parent(data, path)
        del parent[path[-1]]
    return data


def _add(data: Any, rng: random.Random) -> Any:
    containers = [p for p in _places(data) if isinstance(_parent(data, (*p, None)), dict | list)]
    path = rng.choice(containers)
    target = _parent(data, (*path, None))
    if isinstance(target, dict):
        key = rng.choice(["extra", "x" * 300, TEST_CODE, "channel", "<<", 12, "\u0668"])
        target[key] = _pick(rng)
    else:
        target.append(copy.deepcopy(rng.choice(target)) if target and rng.random() < 0.5
                      else _pick(rng))
    return data


def _nest(data: Any, rng: random.Random) -> Any:
    path = rng.choice(_places(data)[1:] or [()])
    if path:
        parent = _parent(data, path)
        value = parent[path[-1]]
        for _ in range(rng.choice([1, 2, 40])):
            value = [value] if rng.random() < 0.5 else {"k": value}
        parent[path[-1]] = value
    return data


def _swap_type(data: Any, rng: random.Random) -> Any:
    path = rng.choice(_places(data)[1:] or [()])
    if path:
        parent = _parent(data, path)
        value = parent[path[-1]]
        parent[path[-1]] = (str(value) if not isinstance(value, str)
                            else (int(value) if value.isdigit() else [value]))
    return data


STRUCTURAL: list[Callable[[Any, random.Random], Any]] = [
    _replace, _replace, _replace, _drop, _add, _nest, _swap_type]


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=10_000)


def _cut(text: str, rng: random.Random) -> str:
    return text[:rng.randrange(len(text) + 1)]


def _splice(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    junk = rng.choice(["&a\n", "*a", "<<: *a\n", "{", "]", ":", "- ", "\t",
                       "!!python/object:os.system", "? ", "%YAML 1.1\n", "---\n",
                       "\"\\ud800\"", "\x00", "\ufeff", "\u2028",
                       "!!binary AAAA", "x: !!set {a}\n", "'", "#", "0o777", "1_000", "~"])
    return text[:at] + junk + text[at:]


def _duplicate_line(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    return "".join([*lines[:index + 1], lines[index], *lines[index + 1:]])


def _reindent(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    lines[index] = rng.choice(["", " ", "   ", "\t"]) + lines[index]
    return "".join(lines)


def _self_merge(text: str, rng: random.Random) -> str:
    return text + rng.choice(["loop: &m\n  <<: *m\n", "deep: " + "[" * 200 + "]" * 200 + "\n",
                              "bomb: &b [" + ", ".join(["x"] * 20) + "]\n"
                              "b2: &c [" + ", ".join(["*b"] * 20) + "]\n"
                              "b3: [" + ", ".join(["*c"] * 20) + "]\n"])


TEXTUAL: list[Callable[[str, random.Random], str]] = [
    _cut, _splice, _splice, _duplicate_line, _reindent, _self_merge]


def mutants(base: str, count: int, seed: int) -> list[str]:
    """``count`` mutants of the YAML text ``base``, the same ones for the same seed."""
    rng = random.Random(seed)
    data = yaml.safe_load(base)
    out = []
    for _ in range(count):
        if rng.random() < 0.65:
            mutant = copy.deepcopy(data)
            for _ in range(rng.choice([1, 1, 2, 3])):
                mutant = rng.choice(STRUCTURAL)(mutant, rng)
            try:
                out.append(_dump(mutant))
            except yaml.YAMLError:  # a value PyYAML will not write: mutate the text instead
                out.append(rng.choice(TEXTUAL)(base, rng))
        else:
            out.append(rng.choice(TEXTUAL)(base, rng))
    return out
