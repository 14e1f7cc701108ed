"""Install codes and signing keys: kept out of the shared lab config, logs, reprs and errors.

The lab config only *refers* to a secret: ``install_code: {env: VAR}`` (an environment variable)
or ``install_code: {secret: NAME}`` (an entry of the secrets file), or ``emulated`` on a virtual
radio. The secrets file (YAML) holds the values::

    install_codes:
      bench1-esme: "83FED3407A939723A5C639B26916D505C3B5"   # hex, CRC included
    keys:
      supplier-signing: keys/supplier.pem                 # relative to this file

Errors name where a value came from (``secrets.yaml:3`` or ``environment variable X``) and never
the value itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.config.errors import DOCUMENT, ConfigError, first_error
from harness.config.source import YamlDocument, format_loc, load_yaml
from harness.config.types import EMULATED
from harness.config.validation import Located, looks_secret, safe_name

if TYPE_CHECKING:
    import zigpy.types as t

    from harness.config.lab import LabConfig

__all__ = [
    "SECRETS_FILE_ENV",
    "SECRET_NAME",
    "InstallCode",
    "InstallCodeRef",
    "SecretStore",
    "SecretsFile",
    "crc16_x25",
    "load_secrets_file",
    "parse_install_code_ref",
]

#: Environment variable that overrides the lab config's ``secrets_file``.
SECRETS_FILE_ENV = "DMCT_SECRETS_FILE"

#: Largest secrets file read, in bytes (a bench's has a few lines).
MAX_SECRETS_BYTES = 256 * 1024

#: Install code lengths without the CRC (ZigBee SE: 6, 8, 12 or 16 bytes).
CODE_LENGTHS = (6, 8, 12, 16)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: Names of secrets-file entries (install codes, keys), for references in other files.
SECRET_NAME = _SECRET_NAME
_HEX_SEPARATORS = re.compile(r"[\s:-]")
#: Stands in a field path for a name that looks like a secret.
_MASKED = "(not shown)"


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected poly 0x1021, init and xorout 0xFFFF), as install codes carry it."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


class InstallCode:
    """A ZigBee install code, CRC included; its value shows only through :meth:`reveal`.

    ``repr``/``str`` are masked so a code can travel through logs, reports and exceptions
    without leaking. Compare codes with ``==``; use :attr:`link_key` to join a device.
    """

    __slots__ = ("_code", "_link_key")
    _code: bytes
    _link_key: t.KeyData

    def __init__(self, code: bytes) -> None:
        """``code`` includes the 2 CRC bytes; raises ValueError (no value in the message)."""
        code = bytes(code)
        if len(code) - 2 not in CODE_LENGTHS:
            raise ValueError(
                f"install code is {len(code)} bytes with its CRC; expected 6, 8, 12 or 16 bytes "
                "plus a 2-byte CRC (8, 10, 14 or 18 bytes, 16/20/28/36 hex digits)"
            )
        if crc16_x25(code[:-2]).to_bytes(2, "little") != code[-2:]:
            raise ValueError(
                "install code CRC-16/X-25 does not match (check the code for a typo; the last "
                "2 bytes are the CRC)"
            )
        import zigpy.util  # lazily: zigpy is heavy and most config checks never need a key

        try:  # zigpy checks length and CRC again and derives the key the radio will use
            link_key = zigpy.util.convert_install_code(code)
        except ValueError:  # zigpy's message quotes the code; never pass it on
            raise ValueError("install code rejected by zigpy (length or CRC)") from None
        object.__setattr__(self, "_code", code)
        object.__setattr__(self, "_link_key", link_key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("InstallCode is immutable")

    @classmethod
    def parse(cls, text: str) -> InstallCode:
        """From hex text with its CRC; spaces, ``:`` and ``-`` between digits are ignored."""
        if not isinstance(text, str):
            raise ValueError("install code must be a hex string")
        digits = _HEX_SEPARATORS.sub("", text)
        if not digits:
            raise ValueError("install code is empty")
        if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
            raise ValueError("install code must be hex digits (an even number of them)")
        return cls(bytes.fromhex(digits))

    @classmethod
    def with_crc(cls, code_without_crc: bytes) -> InstallCode:
        """Build from a raw 6/8/12/16-byte code by appending its CRC-16/X-25."""
        raw = bytes(code_without_crc)
        if len(raw) not in CODE_LENGTHS:
            raise ValueError(
                f"install code without CRC is {len(raw)} bytes; expected 6, 8, 12 or 16"
            )
        return cls(raw + crc16_x25(raw).to_bytes(2, "little"))

    @property
    def code(self) -> bytes:
        """The code bytes including the CRC (what zigpy and radios take)."""
        return self._code

    @property
    def code_without_crc(self) -> bytes:
        return self._code[:-2]

    @property
    def link_key(self) -> t.KeyData:
        """The AES-MMO hash of code and CRC: the device's preconfigured link key.

        As secret as the code itself (zigpy's ``KeyData`` repr shows it): do not log it.
        """
        return self._link_key

    def reveal(self) -> str:
        """The code as upper-case hex, CRC included. Only for the radio or a secrets file."""
        return self._code.hex().upper()

    def __len__(self) -> int:
        return len(self._code) - 2

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstallCode) and other._code == self._code

    def __hash__(self) -> int:
        return hash((InstallCode, self._code))

    def __repr__(self) -> str:
        return f"InstallCode(<{len(self._code) - 2} bytes + CRC, masked>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (InstallCode, (self._code,))


@dataclass(frozen=True, eq=True)
class InstallCodeRef(Located):
    """Where a device's install code comes from: ``emulated``, ``env`` or ``secret``.

    ``name`` is the environment variable or secrets-file entry (``None`` for ``emulated``).
    The reference remembers its place in the lab config (``source_file``, ``line``,
    ``field_path``) so a missing or bad value is reported where it was asked for.
    """

    kind: Literal["emulated", "env", "secret"]
    name: str | None = None

    def describe(self) -> str:
        if self.kind == "env":
            return f"environment variable {safe_name(self.name, quote=False)}"
        if self.kind == "secret":
            return f"secret {safe_name(self.name)}"
        return "emulated"

    def __str__(self) -> str:
        if self.kind == "emulated":
            return EMULATED
        return f"{{{self.kind}: {safe_name(self.name, quote=False)}}}"


_LITERAL_MESSAGE = (
    "install codes must not be written in the lab config, which is shared; put the code in an "
    "environment variable and write {env: VAR_NAME}, or in the secrets file and write "
    "{secret: NAME}"
)


def parse_install_code_ref(value: Any) -> InstallCodeRef:
    """Validate a lab config ``install_code`` value; messages never echo the value."""
    if value == EMULATED:
        return InstallCodeRef("emulated")
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"env"} or keys == {"secret"}:
            kind = "env" if "env" in keys else "secret"
            name = value[kind]
            pattern = _ENV_NAME if kind == "env" else _SECRET_NAME
            if not isinstance(name, str) or not pattern.fullmatch(name):
                what = (
                    "an environment variable name like DMCT_ESME_INSTALL_CODE"
                    if kind == "env"
                    else "a secrets-file entry name like bench1-esme"
                )
                raise ValueError(f"{{{kind}: ...}} takes {what}")
            return InstallCodeRef(kind, name)
        unknown = sorted(str(k) for k in keys - {"env", "secret"})
        if unknown:
            raise ValueError(
                f"unknown key {safe_name(unknown[0])} in install_code; {_LITERAL_MESSAGE}"
            )
        raise ValueError("install_code takes exactly one of {env: VAR_NAME} or {secret: NAME}")
    if value is None:
        raise ValueError("install_code is empty; write 'emulated', {env: VAR} or {secret: NAME}")
    if isinstance(value, str) and not re.fullmatch(r"[0-9A-Fa-f\s:-]+", value):
        # Not hex, so most likely a misspelt keyword rather than a pasted code.
        raise ValueError(
            f"must be 'emulated', {{env: VAR_NAME}} or {{secret: NAME}}; {_LITERAL_MESSAGE}"
        )
    raise ValueError(_LITERAL_MESSAGE)


# -- the secrets file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CodeEntry:
    code: InstallCode
    line: int


@dataclass(frozen=True)
class SecretsFile:
    """A loaded secrets file: install codes (masked) and key paths, with their lines."""

    path: Path
    install_codes: Mapping[str, _CodeEntry]
    keys: Mapping[str, Path]
    lines: Mapping[str, int]

    def __repr__(self) -> str:
        return (
            f"SecretsFile({str(self.path)!r}, install_codes={sorted(self.install_codes)}, "
            f"keys={sorted(self.keys)})"
        )


def load_secrets_file(path: str | Path) -> SecretsFile:
    """Load and check a secrets file: every install code parses, every key file exists.

    Raises the first :class:`ConfigError` in file order (the others in ``others``).
    """
    doc = load_yaml(path, limit=MAX_SECRETS_BYTES, what="secrets file")
    errors: list[ConfigError] = []
    codes: dict[str, _CodeEntry] = {}
    keys: dict[str, Path] = {}
    lines: dict[str, int] = {}
    for key in doc.data:
        if key not in {"install_codes", "keys"}:
            if looks_secret(str(key)):
                errors.append(ConfigError(doc.path, doc.line_of((key,)), _MASKED,
                                          "unknown key (a long hex string, not shown); allowed "
                                          "keys: install_codes, keys"))
                continue
            errors.append(
                doc.error((key,), f"unknown key {key!r}; allowed keys: install_codes, keys")
            )
    for name, value in _section(doc, "install_codes", errors):
        loc = ("install_codes", name)
        lines[f"install_codes.{name}"] = doc.line_of(loc)
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float) else ""
            errors.append(doc.error(loc, f"install code must be a hex string{hint}"))
            continue
        try:
            codes[name] = _CodeEntry(InstallCode.parse(value), doc.line_of(loc))
        except ValueError as exc:
            errors.append(doc.error(loc, str(exc)))
    for name, value in _section(doc, "keys", errors):
        loc = ("keys", name)
        lines[f"keys.{name}"] = doc.line_of(loc)
        if not isinstance(value, str) or not value.strip():
            errors.append(doc.error(loc, "expected the path of a PEM key file (a string)"))
            continue
        key_path = Path(value).expanduser()
        if not key_path.is_absolute():
            key_path = doc.path.parent / key_path
        if not key_path.exists():
            errors.append(doc.error(loc, f"key file not found: {key_path}"))
            continue
        if not key_path.is_file():
            errors.append(doc.error(loc, f"key file is not a regular file: {key_path}"))
            continue
        keys[name] = key_path
    error = first_error(errors)
    if error is not None:
        raise error
    return SecretsFile(path=doc.path, install_codes=codes, keys=keys, lines=lines)


def _section(doc: YamlDocument, name: str, errors: list[ConfigError]) -> list[tuple[str, Any]]:
    section = doc.data.get(name)
    if section is None:
        return []
    if not isinstance(section, dict):
        errors.append(doc.error((name,), "expected a mapping of NAME: value"))
        return []
    items = []
    for key, value in section.items():
        if looks_secret(str(key)):
            # ``CODE: name``: never echo the name, which is the code (nor the value).
            errors.append(ConfigError(
                doc.path, doc.line_of((name, key)), f"{name}[{_MASKED}]",
                "this name looks like an install code or key (not shown): are the name and the "
                "value swapped? write NAME: VALUE, e.g. bench1-esme: \"HEX DIGITS\""))
            continue
        if not isinstance(key, str) or not _SECRET_NAME.fullmatch(key):
            errors.append(
                doc.error(
                    (name, key),
                    "secret names are letters, digits, '_', '-' and '.', e.g. bench1-esme",
                )
            )
            continue
        items.append((key, value))
    return items


# -- the store -------------------------------------------------------------------------------------


class SecretStore:
    """Resolves a lab config's install code references and key names to values.

    Built by :meth:`load` from the lab config and the environment; the secrets file (if any)
    is read and checked at load, environment variables when a reference is resolved.
    """

    def __init__(
        self,
        secrets: SecretsFile | None,
        env: Mapping[str, str],
    ) -> None:
        self._secrets = secrets
        self._env = env

    @classmethod
    def load(cls, lab: LabConfig, env: Mapping[str, str] | None = None) -> SecretStore:
        """Read the secrets file named by ``DMCT_SECRETS_FILE`` or the lab's ``secrets_file``."""
        env = os.environ if env is None else env
        override = env.get(SECRETS_FILE_ENV)
        if override:
            path = Path(override).expanduser()
            if not path.exists():
                raise ConfigError(
                    path,
                    None,
                    DOCUMENT,
                    f"secrets file not found (named by environment variable {SECRETS_FILE_ENV})",
                )
            return cls(load_secrets_file(path), env)
        path = lab.secrets_path
        if path is None:
            return cls(None, env)
        if not path.exists():
            if lab.secrets_file is not None and path == lab.secrets_file:
                raise ConfigError(
                    lab.path,
                    lab.line_of_key("secrets_file"),
                    "secrets_file",
                    f"secrets file not found: {path} (set {SECRETS_FILE_ENV} to use another one)",
                )
            raise ConfigError(
                path,
                None,
                DOCUMENT,
                f"secrets file not found (named by environment variable {SECRETS_FILE_ENV})",
            )
        return cls(load_secrets_file(path), env)

    @property
    def secrets_file(self) -> Path | None:
        return self._secrets.path if self._secrets is not None else None

    def install_code(self, ref: InstallCodeRef) -> InstallCode:
        """The install code ``ref`` names; raises :class:`ConfigError` pointing at the ref."""
        if ref.kind == "env":
            assert ref.name is not None
            value = self._env.get(ref.name)
            if value is None or not value.strip():
                raise self._ref_error(ref, f"{ref.describe()} is not set")
            try:
                return InstallCode.parse(value.strip())
            except ValueError as exc:
                raise self._ref_error(ref, f"{ref.describe()}: {exc}") from None
        if ref.kind == "secret":
            assert ref.name is not None
            if self._secrets is None:
                raise self._ref_error(
                    ref,
                    f"{{secret: {safe_name(ref.name, quote=False)}}} needs a secrets file: set "
                    f"secrets_file in the lab config or the {SECRETS_FILE_ENV} environment "
                    "variable",
                )
            entry = self._secrets.install_codes.get(ref.name)
            if entry is None:
                known = ", ".join(safe_name(n, quote=False)
                                  for n in sorted(self._secrets.install_codes)) or "none"
                raise self._ref_error(
                    ref,
                    f"no install code {safe_name(ref.name)} in secrets file {self._secrets.path} "
                    f"(install_codes there: {known})",
                )
            return entry.code
        raise self._ref_error(
            ref, "install code is 'emulated': the emulator issues the device's factory code"
        )

    def key_path(self, name: str) -> Path:
        """Path of the PEM key ``name`` from the secrets file's ``keys``."""
        if self._secrets is None:
            raise ConfigError(
                "(no secrets file)",
                None,
                f"keys.{name}",
                f"key {name!r} needs a secrets file: set secrets_file in the lab config or the "
                f"{SECRETS_FILE_ENV} environment variable",
            )
        path = self._secrets.keys.get(name)
        if path is None:
            known = ", ".join(sorted(self._secrets.keys)) or "none"
            raise ConfigError(
                self._secrets.path,
                self._secrets_line("keys"),
                format_loc(("keys", name)),
                f"no key named {name!r} in this secrets file (keys there: {known})",
            )
        return path

    def key_names(self) -> list[str]:
        """Names under ``keys:`` in the secrets file (none without a secrets file)."""
        return sorted(self._secrets.keys) if self._secrets is not None else []

    def key_error(self, name: str, message: str) -> ConfigError:
        """A :class:`ConfigError` at the secrets file's ``keys.NAME`` line (a key that exists
        but cannot be used). The message must not quote key material."""
        assert self._secrets is not None, "key_error needs a secrets file"
        line = self._secrets.lines.get(f"keys.{name}") or self._secrets_line("keys")
        return ConfigError(self._secrets.path, line, format_loc(("keys", name)), message)

    def check(self, lab: LabConfig) -> list[ConfigError]:
        """Resolve every device's install code; the errors, in file order (``dmct lab check``)."""
        errors = []
        for _installation, device in lab.iter_devices():
            if device.install_code.kind == "emulated":
                continue
            try:
                self.install_code(device.install_code)
            except ConfigError as exc:
                errors.append(exc)
        return errors

    def __repr__(self) -> str:
        file = self._secrets.path if self._secrets is not None else None
        return f"SecretStore(secrets_file={str(file) if file else None!r})"

    def _secrets_line(self, section: str) -> int:
        assert self._secrets is not None
        return min(
            (line for key, line in self._secrets.lines.items() if key.startswith(section)),
            default=1,
        )

    @staticmethod
    def _ref_error(ref: InstallCodeRef, message: str) -> ConfigError:
        return ConfigError(
            ref.source_file or "(lab config)",
            ref.line or None,
            ref.field_path or "install_code",
            message,
        )
