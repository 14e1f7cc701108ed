"""Field types shared by the lab config and the catalogue: EUI-64, SRV, identifiers, ports.

Each type validates one YAML value and returns a normalised Python value, with a message that
says what form is expected (the message never echoes values that could be secrets).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, PlainValidator, ValidationInfo

from harness.config.validation import describe_value, safe_name
from harness.serial.ports import PortSpec  # the serial layer opens what the config names

__all__ = [
    "CLUSTER_NAMES",
    "DEVICE_TYPES",
    "EMULATED",
    "HAN_ROLES",
    "INSTALLATION_STATUSES",
    "SE_DEVICE_IDS",
    "CatalogueId",
    "ClusterName",
    "DeviceType",
    "Eui64",
    "HanRole",
    "InstallationStatus",
    "LabName",
    "MeterType",
    "NonEmptyStr",
    "OneOrMany",
    "PortSpec",
    "Srv",
    "normalise_eui64",
    "parse_port_spec",
    "relative_path",
]

DeviceType = Literal["CHF", "ESME", "GSME", "PPMID", "IHD"]
HanRole = Literal["ESME", "GSME", "PPMID", "IHD"]
InstallationStatus = Literal["dormant", "active", "mixed"]
#: The meters of an installation; in a mixed one, either can be the dormant meter.
MeterType = Literal["ESME", "GSME"]

DEVICE_TYPES: tuple[str, ...] = ("CHF", "ESME", "GSME", "PPMID", "IHD")
#: Roles a lab config installation can hold (the CHF is the bench's coordinator radio).
HAN_ROLES: tuple[str, ...] = ("ESME", "GSME", "PPMID", "IHD")
INSTALLATION_STATUSES: tuple[str, ...] = ("dormant", "active", "mixed")

#: The literal a lab config writes for ports and install codes the emulator provides.
EMULATED = "emulated"

#: ZigBee Smart Energy device ids (SE 1.x profile 0x0109), the default ``zigbee.device_id`` per
#: device type: ESP/ESI 0x0500 (the CHF), Metering Device 0x0501, In-Premise Display 0x0502,
#: Prepayment Terminal 0x0506. PCT 0x0503, Load Control 0x0504 and Smart Appliance 0x0505 exist
#: too but no SMETS1 role uses them.
SE_DEVICE_IDS: dict[str, int] = {
    "CHF": 0x0500,
    "ESME": 0x0501,
    "GSME": 0x0501,
    "IHD": 0x0502,
    "PPMID": 0x0506,
}

#: The cluster names a device profile may use, as ``harness.han.clusters.CLUSTERS_BY_NAME`` maps
#: them to zigpy's classes (it checks on import that they are these, in this order): a profile
#: is checked without importing zigpy, a third of a second ``dmct`` no longer spends.
CLUSTER_NAMES: tuple[str, ...] = (
    "basic", "power_configuration", "identify", "alarms", "time", "ota", "poll_control",
    "keep_alive", "on_off",
    "price", "drlc", "metering", "messaging", "tunneling", "prepayment", "key_establishment",
)


# -- strings and identifiers ----------------------------------------------------------------------


#: Longest name or id (lab names, catalogue ids) and longest free-text field, in characters.
MAX_NAME = 64
MAX_TEXT = 500


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters, got {len(value)}")
    return value


def _pattern(regex: str, what: str) -> AfterValidator:
    compiled = re.compile(regex, re.ASCII)

    def check(value: str) -> str:
        if len(value) > MAX_NAME:
            raise ValueError(f"must be at most {MAX_NAME} characters, got {len(value)}")
        if not compiled.fullmatch(value):
            raise ValueError(f"{what}; got {describe_value(value)}")
        return value

    return AfterValidator(check)


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]

#: Names inside one lab config (installations, serial adapters): ``[a-z0-9][a-z0-9_-]*``.
LabName = Annotated[
    str,
    _pattern(
        r"[a-z0-9][a-z0-9_-]*",
        "must be a name of lower-case letters, digits, '_' and '-', starting with a letter or "
        "digit (e.g. esme-optical)",
    ),
]

#: Ids of profiles and DMCs: letters, digits, '_', '-' and '.', e.g. ``REF-DMC-001``.
CatalogueId = Annotated[
    str,
    _pattern(
        r"[A-Za-z0-9][A-Za-z0-9_.-]*",
        "must be an id of letters, digits, '_', '-' and '.', e.g. REF-DMC-001 or ref-esme",
    ),
]


# -- EUI-64 ---------------------------------------------------------------------------------------

_EUI_SEPARATED = re.compile(r"[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){6}")
_EUI_PLAIN = re.compile(r"[0-9A-Fa-f]{16}")
_EUI_FORM = (
    "expected an EUI-64 of 8 hex octets like 00-1B-C5-0C-00-00-00-01 "
    "(also 00:1B:C5:0C:00:00:00:01 or 001BC50C00000001)"
)


def normalise_eui64(value: Any) -> str:
    """EUI-64 in DUIS style (``00-1B-C5-0C-00-00-00-01``) from the three accepted spellings."""
    if isinstance(value, bool) or not isinstance(value, str):
        hint = " (quote it)" if isinstance(value, int) else ""
        raise ValueError(f"{_EUI_FORM}; got {_kind(value)}{hint}")
    text = value.strip()
    if _EUI_SEPARATED.fullmatch(text):
        digits = text.replace("-", "").replace(":", "")
    elif _EUI_PLAIN.fullmatch(text):
        digits = text
    else:
        raise ValueError(f"malformed EUI-64: {_EUI_FORM}")
    digits = digits.upper()
    if digits in {"0" * 16, "F" * 16}:
        raise ValueError("EUI-64 00-00-00-00-00-00-00-00 and FF-FF-FF-FF-FF-FF-FF-FF are reserved")
    return "-".join(digits[i : i + 2] for i in range(0, 16, 2))


def eui64_to_zigpy(eui: str) -> Any:
    """The zigpy ``t.EUI64`` for a (normalised or not) EUI-64 string."""
    import zigpy.types as t

    return t.EUI64.convert(normalise_eui64(eui).replace("-", ":"))


Eui64 = Annotated[str, PlainValidator(normalise_eui64)]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


# -- SRV ------------------------------------------------------------------------------------------

#: ASCII digits only: ``\d`` would take full-width or Arabic-Indic digits too.
_SRV = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){1,2}")


def parse_srv(value: Any) -> str:
    """A Service Reference Variant such as ``8.11`` or ``6.15.1``; must be written as text."""
    if isinstance(value, float):
        raise ValueError(
            f'an SRV must be quoted, like "8.11" (got the number {value!r}; YAML reads an '
            "unquoted 7.10 as 7.1)"
        )
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'an SRV is a quoted string like "8.11" or "6.15.1"; got {_kind(value)}')
    if not _SRV.fullmatch(value):
        raise ValueError(f'an SRV looks like "8.11" or "6.15.1"; got {describe_value(value)}')
    return value


Srv = Annotated[str, PlainValidator(parse_srv)]


# -- clusters -------------------------------------------------------------------------------------


def _cluster_name(value: str) -> str:
    if value not in CLUSTER_NAMES:
        raise ValueError(f"unknown cluster {safe_name(value)}; known clusters: "
                         f"{', '.join(CLUSTER_NAMES)}")
    return value


ClusterName = Annotated[str, AfterValidator(_cluster_name)]


# -- one-or-many ----------------------------------------------------------------------------------


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: ``dmc: X`` or ``dmc: [X, Y]``: either way a list.
OneOrMany = BeforeValidator(_as_list)


# -- paths ----------------------------------------------------------------------------------------


def relative_path(value: Any, info: ValidationInfo) -> Path:
    """A path written in a file, relative to that file's directory (``base_dir`` in context)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a path (a string), got {_kind(value)}")
    if not value.strip():
        raise ValueError("must not be empty")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


# -- serial ports ---------------------------------------------------------------------------------

#: URL schemes pyserial opens (serial adapters).
PYSERIAL_SCHEMES = frozenset({"socket", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110"})
#: URL schemes zigpy 2.4 radio libraries open (through serialx, not pyserial), and ``fake``.
RADIO_SCHEMES = frozenset({"socket", "tcp", "rfc2217", "fake"})
#: The radio port that means "the project's byte-level fake of this radio type, served in the
#: bench's own loop" (``harness.backend.fake``).
FAKE_RADIO_PORT = "fake://"
#: Radio types the project has a byte-level fake of (``harness.radiofakes``).
FAKE_RADIO_TYPES = ("znp", "ezsp")
_URL = re.compile(r"([a-z][a-z0-9+]*)://(.*)")
_WINDOWS_PORT = re.compile(r"COM[0-9]+|\\\\\.\\COM[0-9]+")
_PORT_FORM = (
    "a port is a device path (/dev/ttyUSB0), a URL (socket://host:4001, rfc2217://host:4000) "
    'or {usb_serial: "A10K5TRW"}'
)


def parse_port_spec(value: Any, *, schemes: frozenset[str] = PYSERIAL_SCHEMES) -> PortSpec:
    """Read a port as a lab config writes it; ``schemes`` are the URL schemes allowed."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"must not be empty; {_PORT_FORM}")
        match = _URL.fullmatch(text)
        if match:
            scheme, rest = match.groups()
            if scheme not in schemes:
                raise ValueError(
                    f"unsupported port URL scheme {scheme}://; use one of "
                    + ", ".join(f"{s}://" for s in sorted(schemes))
                )
            if scheme == "fake" and rest:
                raise ValueError(f"{FAKE_RADIO_PORT} takes no address (the bench serves the "
                                 f"fake itself); write {FAKE_RADIO_PORT}")
            if not rest and scheme not in {"loop", "fake"}:
                raise ValueError(f"port URL {text!r} has no address after {scheme}://")
            return PortSpec(path=text)
        if text.startswith("/") or _WINDOWS_PORT.fullmatch(text):
            return PortSpec(path=text)
        raise ValueError(
            f"port {safe_name(text)} is neither an absolute device path nor a URL; {_PORT_FORM}"
        )
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k not in {"usb_serial", "path"})
        if unknown:
            raise ValueError(
                f"unknown port key {unknown[0]!r}; a port mapping is {{usb_serial: SERIAL}} "
                "or {path: PATH}"
            )
        if len(value) != 1:
            raise ValueError("a port mapping has exactly one of usb_serial or path")
        ((key, inner),) = value.items()
        if isinstance(inner, bool) or not isinstance(inner, str):
            hint = " (quote it)" if isinstance(inner, int | float) else ""
            raise ValueError(f"port {key} must be a string, got {_kind(inner)}{hint}")
        if not inner.strip():
            raise ValueError(f"port {key} must not be empty")
        if key == "path":
            return parse_port_spec(inner, schemes=schemes)
        return PortSpec(usb_serial=inner.strip())
    raise ValueError(f"{_PORT_FORM}; got {_kind(value)}")
