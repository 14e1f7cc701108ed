"""The SR catalogue and the response code table, loaded from data and checked once.

``sr_catalogue.yaml`` says, per SRV, its name, whether it is Critical, which User Roles may send
it to which device types with which Command Variants, its parameter schema and its SR-specific
response codes. ``response_codes.yaml`` is the one table of code meanings. Both are loaded with
the config layer's line-aware loader, so a broken entry is reported as ``file:line: field``.

Parameter validation here is the DUIS schema check: a request that fails it never reaches a
device (see :mod:`harness.dcc.s1sp`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from harness.config.errors import ConfigError
from harness.config.secrets import InstallCode, crc16_x25
from harness.config.source import YamlDocument, load_yaml

Role = Literal["IS", "GS", "ES", "ED", "GT", "RSA", "OU"]
ROLES: tuple[str, ...] = ("IS", "GS", "ES", "ED", "GT", "RSA", "OU")
ROLE_NAMES = {
    "IS": "import supplier", "GS": "gas supplier", "ES": "export supplier",
    "ED": "electricity distributor", "GT": "gas transporter",
    "RSA": "registered supplier agent", "OU": "other user",
}
DEVICE_TYPES = ("ESME", "GSME", "CHF", "PPMID", "IHD")
PARAMETER_TYPES = ("integer", "string", "enum", "hex", "eui64", "install_code", "datetime")
_EUI64 = re.compile(r"^[0-9A-Fa-f]{2}(?:[-:]?[0-9A-Fa-f]{2}){7}$")
_SRV = re.compile(r"^[0-9]+(\.[0-9]+){1,2}$")  # ASCII digits: \d takes any script's


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str
    required: bool = False
    required_when: dict[str, Any] = field(default_factory=dict)
    min: int | None = None
    max: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    values: tuple[str, ...] = ()
    min_bytes: int | None = None
    max_bytes: int | None = None
    #: SR-specific code the S1SP answers when this parameter is present but invalid (DUIS's
    #: own validation of it), instead of rejecting the request at the interface.
    invalid_code: str | None = None
    #: The DUIS element path (``a/b``, ``a/@attr``) under the body element; ``None`` for a
    #: parameter of the harness's own (carried as a ``dmct-parameter`` instruction).
    xml: str | None = None
    #: Taken when a DUIS document does not carry this (harness) parameter.
    default: Any = None

    def is_required(self, params: dict[str, Any]) -> bool:
        if self.required:
            return True
        return bool(self.required_when) and all(
            params.get(k) == v for k, v in self.required_when.items()
        )

    def check(self, value: Any) -> str | None:
        """Why ``value`` fails this parameter's schema, or ``None``."""
        kind = self.type
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.name} must be an integer, got {_shown(value)}"
            if self.min is not None and value < self.min:
                return f"{self.name} {value} is below the minimum {self.min}"
            if self.max is not None and value > self.max:
                return f"{self.name} {value} is above the maximum {self.max}"
            return None
        if kind in ("string", "enum"):
            if not isinstance(value, str):
                return f"{self.name} must be a string, got {_shown(value)}"
            if kind == "enum":
                if value not in self.values:
                    return f"{self.name} must be one of {', '.join(self.values)}, got {value!r}"
                return None
            if self.min_length is not None and len(value) < self.min_length:
                return f"{self.name} is shorter than {self.min_length} characters"
            if self.max_length is not None and len(value) > self.max_length:
                return f"{self.name} is longer than {self.max_length} characters ({len(value)})"
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                return f"{self.name} does not match {self.pattern}"
            return None
        if kind == "hex":
            data = _hex(value)
            if data is None:
                return f"{self.name} must be hex octets"
            if self.min_bytes is not None and len(data) < self.min_bytes:
                return f"{self.name} is {len(data)} bytes, fewer than {self.min_bytes}"
            if self.max_bytes is not None and len(data) > self.max_bytes:
                return f"{self.name} is {len(data)} bytes, more than {self.max_bytes}"
            return None
        if kind == "install_code":
            data = _hex(value)
            if data is None:
                return f"{self.name} must be hex octets"
            if len(data) - 2 not in (6, 8, 12, 16):
                # Never echo the value: it is a secret.
                return (f"{self.name} must be a 6, 8, 12 or 16 byte install code plus its "
                        f"2-byte CRC, got {len(data)} bytes")
            return None
        if kind == "eui64":
            if not isinstance(value, str) or not _EUI64.match(value):
                return f"{self.name} must be an EUI-64 like 00-1B-C5-0C-00-00-00-01"
            return None
        if kind == "datetime":
            if isinstance(value, datetime):
                return None
            if isinstance(value, str):
                try:
                    datetime.fromisoformat(value)
                except ValueError:
                    return f"{self.name} must be an ISO date-time"
                return None
            return f"{self.name} must be an ISO date-time, got {_shown(value)}"
        return f"{self.name} has an unknown type {kind!r} in the catalogue"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _hex(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value.replace(" ", "").replace(":", "").replace("-", ""))
    except ValueError:
        return None


def install_code_of(value: Any, claimed_crc: Any = None) -> InstallCode:
    """The install code of an 8.11 InstallCode (6, 8, 12 or 16 octets, no CRC, as DUIS carries
    it) with its CRC added; ``claimed_crc`` (the harness's own InstallCodeCRC) must match it.
    ``ValueError`` otherwise, never quoting the code."""
    data = _hex(value)
    if data is None:
        raise ValueError("InstallCode must be hex octets")
    if len(data) not in (6, 8, 12, 16):
        raise ValueError(f"InstallCode is {len(data)} octets; ZigBee install codes are 6, 8, 12 "
                         "or 16")
    code = InstallCode.with_crc(data)
    if claimed_crc is not None and _hex(claimed_crc) != code.code[-2:]:
        raise ValueError("the install code's CRC does not match")
    return code


def split_install_code(value: Any) -> tuple[str, str | None]:
    """A code as a lab holds it (its CRC included) or as DUIS carries it (no CRC), as DUIS's
    InstallCode and the harness's InstallCodeCRC (``None`` when ``value`` has no CRC)."""
    data = _hex(value)
    if data is None:
        return str(value), None
    if len(data) - 2 in (6, 8, 12, 16) and (
            len(data) not in (6, 8, 12, 16)
            or crc16_x25(data[:-2]).to_bytes(2, "little") == data[-2:]):
        return data[:-2].hex().upper(), data[-2:].hex().upper()
    return data.hex().upper(), None


@dataclass(frozen=True)
class SrvDefinition:
    srv: str
    name: str
    critical: bool
    roles: tuple[str, ...]
    device_types: tuple[str, ...]
    command_variants: tuple[int, ...]
    parameters: dict[str, ParameterSpec]
    response_codes: tuple[str, ...]
    unverified: tuple[str, ...]
    line: int
    #: A non-device SR: the DCC answers from its own records, no device is contacted.
    non_device: bool = False
    #: Available for every device model whatever its profile's ``srvs`` (the DCC carries it
    #: out on its own records and the CHF, not as a device command).
    all_models: bool = False
    #: The DUIS Service Reference (``6.14`` for ``6.14.1``).
    service_reference: str = ""
    #: The DUIS body element, its element paths in XSD order and fixed values of paths no
    #: parameter fills (``@now``: bench time; ``@target``: the target device).
    body: str = ""
    layout: tuple[str, ...] = ()
    fixed: dict[str, str] = field(default_factory=dict)
    #: The harness does not model this SRV's DUIS body (see ``docs/duis.md``).
    harness_body: bool = False
    #: The DCC answers from its records; no device is contacted (8.2).
    records_only: bool = False

    def xml_layout(self) -> tuple[str, ...]:
        """The body's element paths in XSD order."""
        if self.layout:
            return self.layout
        return tuple(p.xml for p in self.parameters.values() if p.xml)

    def check_parameters(self, params: dict[str, Any]) -> list[str]:
        """Schema errors of ``params`` (unknown, missing, wrong type, out of range)."""
        return [problem for _name, problem in self.parameter_problems(params)]

    def parameter_problems(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """``(parameter, why)`` for each schema error of ``params``."""
        errors = [(name, f"unknown parameter {name!r} for SR {self.srv}")
                  for name in params if name not in self.parameters]
        for spec in self.parameters.values():
            if spec.name not in params or params[spec.name] is None:
                if spec.is_required(params):
                    errors.append((spec.name, f"{spec.name} is required for SR {self.srv}"
                                   + (f" when {_when(spec.required_when)}"
                                      if spec.required_when else "")))
                continue
            problem = spec.check(params[spec.name])
            if problem:
                errors.append((spec.name, problem))
        return errors

    def coded_failure(self, params: dict[str, Any]) -> tuple[str, str] | None:
        """``(code, why)`` when every schema error is of a parameter with an ``invalid_code``
        (the SRV's own validation answers it), else ``None``."""
        problems = self.parameter_problems(params)
        codes = [getattr(self.parameters.get(name), "invalid_code", None)
                 for name, _ in problems
                 if params.get(name) is not None]
        if problems and len(codes) == len(problems) and all(codes):
            return str(codes[0]), "; ".join(why for _, why in problems)
        return None


def _when(condition: dict[str, Any]) -> str:
    return " and ".join(f"{k} is {v}" for k, v in condition.items())


@dataclass(frozen=True)
class ResponseCode:
    code: str
    meaning: str
    category: str
    source: str
    #: In the DUIS ResponseCode enumeration; else the harness's own (``why``), and its
    #: response documents carry ``xml_code``.
    duis: bool = True
    why: str = ""
    xml_code: str = ""


@dataclass(frozen=True)
class SrCatalogue:
    srvs: dict[str, SrvDefinition]
    codes: dict[str, ResponseCode]
    path: Path

    def __getitem__(self, srv: str) -> SrvDefinition:
        try:
            return self.srvs[srv]
        except KeyError:
            raise KeyError(f"SRV {srv!r} is not in the SR catalogue ({self.path.name})") from None

    def __contains__(self, srv: object) -> bool:
        return srv in self.srvs

    def meaning(self, code: str | None) -> str:
        if code is None:
            return "no response code"
        entry = self.codes.get(code)
        return entry.meaning if entry else "unknown code"

    def roles_not_permitted(self, srv: str) -> list[str]:
        return [role for role in ROLES if role not in self[srv].roles]


def catalogue_dir() -> Path:
    return Path(str(resources.files("harness.dcc")))


@cache
def load_sr_catalogue(path: Path | None = None, codes_path: Path | None = None) -> SrCatalogue:
    """Load and check the SR catalogue and the response code table (cached per path)."""
    codes = _load_codes(load_yaml(codes_path or catalogue_dir() / "response_codes.yaml",
                                  packaged=codes_path is None))
    doc = load_yaml(path or catalogue_dir() / "sr_catalogue.yaml", packaged=path is None)
    if not isinstance(doc.data, dict):
        raise doc.error((), "the SR catalogue must be a mapping of SRV to definition")
    srvs = {}
    for srv, entry in doc.data.items():
        if not isinstance(srv, str):
            # YAML reads an unquoted 7.10 as the number 7.1: it would silently replace SR 7.1.
            raise doc.error((srv,), f"an SRV written without quotes was read as the number "
                            f"{srv!r} (YAML reads 7.10 as 7.1); quote every SRV, e.g. \"7.10\"")
        srvs[srv] = _load_srv(doc, srv, entry, codes)
    return SrCatalogue(srvs=srvs, codes=codes, path=doc.path)


CODE_CATEGORIES = ("success", "authorisation", "validation", "communication", "sr_specific")
_CODE = re.compile(r"^[IE][0-9]+$")
_CODE_KEYS = {"meaning", "category", "source"}
_CODE_OPTIONAL = {"duis", "why", "xml_code"}


def _load_codes(doc: YamlDocument) -> dict[str, ResponseCode]:
    if not isinstance(doc.data, dict):
        raise doc.error((), "the response code table must be a mapping")
    codes = {}
    for code, entry in doc.data.items():
        if not isinstance(code, str) or not _CODE.match(code):
            raise doc.error((code,), f"{code!r} is not a response code like I0, E4 or E081101")
        if not isinstance(entry, dict) or not set(entry) >= _CODE_KEYS:
            raise doc.error((code,), "each code needs meaning, category and source")
        unknown = sorted(set(entry) - _CODE_KEYS - _CODE_OPTIONAL, key=str)
        if unknown:
            raise doc.error((code, unknown[0]), "unknown key; allowed: category, duis, "
                            "meaning, source, why, xml_code")
        for key in sorted(_CODE_KEYS):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise doc.error((code, key), f"{key} must be text")
        if entry["category"] not in CODE_CATEGORIES:
            raise doc.error((code, "category"), f"category must be one of "
                            f"{', '.join(CODE_CATEGORIES)}")
        duis = entry.get("duis", True)
        if not isinstance(duis, bool):
            raise doc.error((code, "duis"), "duis is true or false")
        if not duis and not (entry.get("why") and _CODE.match(str(entry.get("xml_code", "")))):
            raise doc.error((code,), "a code of the harness's own (duis: false) needs why and "
                            "xml_code (the DUIS code its response documents carry)")
        codes[code] = ResponseCode(code, entry["meaning"], entry["category"], entry["source"],
                                   duis, str(entry.get("why", "")),
                                   str(entry.get("xml_code", "")))
    return codes


_SRV_KEYS = {"name", "critical", "roles", "device_types", "command_variants", "parameters",
             "response_codes", "unverified", "non_device", "all_models", "service_reference",
             "body", "layout", "fixed", "harness_body", "records_only"}
_PARAM_KEYS = {"type", "required", "required_when", "min", "max", "min_length", "max_length",
               "pattern", "values", "min_bytes", "max_bytes", "invalid_code", "xml", "default"}
_INT_KEYS = ("min", "max", "min_length", "max_length", "min_bytes", "max_bytes")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_srv(doc: YamlDocument, srv: str, entry: Any, codes: dict[str, ResponseCode]
              ) -> SrvDefinition:
    def fail(loc: tuple[Any, ...], message: str) -> ConfigError:
        return doc.error((srv, *loc), message)

    if not _SRV.match(srv):
        raise fail((), f"{srv!r} is not an SRV like 8.11 or 6.15.1 (quote it in YAML)")
    if not isinstance(entry, dict):
        raise fail((), "an SRV definition must be a mapping")
    unknown = sorted(set(entry) - _SRV_KEYS, key=str)
    if unknown:
        raise fail((unknown[0],), f"unknown key; allowed: {', '.join(sorted(_SRV_KEYS))}")
    for key in ("name", "critical", "roles", "device_types", "command_variants"):
        if key not in entry:
            raise fail((), f"{key} is required")
    if not isinstance(entry["name"], str) or not entry["name"].strip():
        raise fail(("name",), "name must be text")
    if not isinstance(entry["critical"], bool):
        raise fail(("critical",), "critical must be true or false")

    def items(key: str, allowed: tuple[str, ...] | None, what: str) -> tuple[Any, ...]:
        value = entry.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise fail((key,), f"{key} must be a list")
        for index, item in enumerate(value):
            if allowed is not None and item not in allowed:
                raise fail((key, index), f"unknown {what} {item!r}; {what}s: "
                           f"{', '.join(allowed)}")
        return tuple(value)

    roles = items("roles", ROLES, "role")
    device_types = items("device_types", DEVICE_TYPES, "device type")
    variants = items("command_variants", None, "command variant")
    for index, variant in enumerate(variants):
        if not _is_int(variant) or not 1 <= variant <= 8:
            raise fail(("command_variants", index), "a Command Variant is an integer 1..8")
    for key, value in (("roles", roles), ("device_types", device_types),
                       ("command_variants", variants)):
        if not value:
            raise fail((key,), f"{key} must list at least one")
    parameters = _load_parameters(doc, srv, entry.get("parameters"), codes)
    response_codes = items("response_codes", None, "code")
    for index, code in enumerate(response_codes):
        if code not in codes:
            raise fail(("response_codes", index),
                       f"{code} is not in response_codes.yaml (the one table of meanings)")
    unverified = items("unverified", None, "entry")
    for index, what in enumerate(unverified):
        if not isinstance(what, str):
            raise fail(("unverified", index), "unverified lists field names (text)")
    for key in ("service_reference", "body"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise fail((key,), f"{key} must be text")
    layout = items("layout", None, "path")
    fixed = entry.get("fixed") or {}
    if not isinstance(fixed, dict) or not all(isinstance(v, str) for v in fixed.values()):
        raise fail(("fixed",), "fixed maps an element path to its value (text)")
    known_paths = set(layout) | {p.xml for p in parameters.values() if p.xml}
    for path in fixed:
        if path not in known_paths:
            raise fail(("fixed", path), "a fixed path must be in layout")
    return SrvDefinition(
        srv=srv, name=entry["name"], critical=entry["critical"], roles=roles,
        device_types=device_types, command_variants=variants, parameters=parameters,
        response_codes=response_codes, unverified=unverified, line=doc.line_of((srv,)),
        non_device=_flag(entry, "non_device", fail), all_models=_flag(entry, "all_models", fail),
        service_reference=entry.get("service_reference", srv), body=entry.get("body", ""),
        layout=tuple(str(p) for p in layout), fixed=dict(fixed),
        harness_body=_flag(entry, "harness_body", fail),
        records_only=_flag(entry, "records_only", fail),
    )


def _flag(entry: dict[str, Any], key: str, fail: Any) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise fail((key,), f"{key} is true or false")
    return value


def _load_parameters(doc: YamlDocument, srv: str, raw: Any, codes: dict[str, ResponseCode]
                     ) -> dict[str, ParameterSpec]:
    def fail(loc: tuple[Any, ...], message: str) -> ConfigError:
        return doc.error((srv, "parameters", *loc), message)

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail((), "parameters must be a mapping of name to {type, ...}")
    parameters: dict[str, ParameterSpec] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not name:
            raise fail((name,), "a parameter name must be text")
        if not isinstance(spec, dict) or spec.get("type") not in PARAMETER_TYPES:
            raise fail((name,), f"a parameter needs a type among {', '.join(PARAMETER_TYPES)}")
        bad = sorted(set(spec) - _PARAM_KEYS, key=str)
        if bad:
            raise fail((name, bad[0]), f"unknown key; allowed: {', '.join(sorted(_PARAM_KEYS))}")
        for key in _INT_KEYS:
            if key not in spec:
                continue
            if not _is_int(spec[key]):
                raise fail((name, key), f"{key} must be an integer")
            if key not in ("min", "max") and spec[key] < 0:
                raise fail((name, key), f"{key} must not be negative")
        for low, high in (("min", "max"), ("min_length", "max_length"),
                          ("min_bytes", "max_bytes")):
            if low in spec and high in spec and spec[low] > spec[high]:
                raise fail((name, high), f"{high} is below {low}")
        if "required" in spec and not isinstance(spec["required"], bool):
            raise fail((name, "required"), "required must be true or false")
        if "pattern" in spec:
            if not isinstance(spec["pattern"], str):
                raise fail((name, "pattern"), "pattern must be a regular expression (text)")
            try:
                re.compile(spec["pattern"])
            except re.error as exc:
                raise fail((name, "pattern"), f"not a regular expression: {exc}") from None
        values = spec.get("values")
        if spec["type"] == "enum":
            if not isinstance(values, list) or not values or not all(
                    isinstance(v, str) for v in values):
                raise fail((name,), "an enum parameter needs values: a list of text")
        elif values is not None:
            raise fail((name, "values"), "values are for enum parameters only")
        code = spec.get("invalid_code")
        if code is not None and (not isinstance(code, str) or code not in codes):
            raise fail((name, "invalid_code"),
                       f"{code} is not in response_codes.yaml (the one table of meanings)")
        spec = dict(spec)
        if values is not None:
            spec["values"] = tuple(values)
        parameters[name] = ParameterSpec(name=name, **spec)
    for name, parameter in parameters.items():
        condition = parameter.required_when
        if not isinstance(condition, dict):
            raise fail((name, "required_when"), "required_when is a mapping {Parameter: value}")
        for other, value in condition.items():
            if other not in parameters or other == name:
                raise fail((name, "required_when"), f"required_when names {other!r}, which is "
                           f"not another parameter of SR {srv}")
            if parameters[other].check(value) is not None:
                raise fail((name, "required_when"), f"{value!r} is not a valid {other}")
    return parameters
