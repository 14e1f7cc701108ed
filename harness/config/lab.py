"""The lab config: which radio, serial adapters and devices a bench has, and what it tests.

``load_lab_config`` reads one YAML file (format: ``lab_config/README.md``), validates its shape,
loads the catalogue (packaged profiles plus ``profile_paths``) and cross-checks the two. It never
reads a secret: install codes are references resolved later by
:class:`harness.config.secrets.SecretStore`.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from harness.config.catalogue import Catalogue, load_catalogue
from harness.config.errors import ConfigError, first_error
from harness.config.profiles import DeviceProfile
from harness.config.secrets import (
    SECRET_NAME,
    SECRETS_FILE_ENV,
    InstallCodeRef,
    parse_install_code_ref,
)
from harness.config.source import Loc, YamlDocument, format_loc, load_yaml
from harness.config.types import (
    EMULATED,
    FAKE_RADIO_PORT,
    FAKE_RADIO_TYPES,
    PYSERIAL_SCHEMES,
    RADIO_SCHEMES,
    CatalogueId,
    Eui64,
    HanRole,
    InstallationStatus,
    LabName,
    MeterType,
    NonEmptyStr,
    OneOrMany,
    PortSpec,
    parse_port_spec,
    relative_path,
)
from harness.config.validation import ConfigModel, looks_secret, safe_name, validate_document

__all__ = [
    "DCC_ROLES",
    "DEFAULT_CLOCK_START",
    "ClockConfig",
    "DccConfig",
    "DccUserConfig",
    "DeviceConfig",
    "InstallationConfig",
    "LabConfig",
    "RadioConfig",
    "RelayBinding",
    "SafetyConfig",
    "SerialAdapterConfig",
    "default_lab_config_path",
    "load_lab_config",
]

#: Virtual clock start when a lab config does not give one (a Monday, working day).
DEFAULT_CLOCK_START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
#: Bounds of ``clock.start``: ZigBee UTCTime is 32-bit seconds from 2000-01-01 (to 2136), and
#: a run may add years of bench time to its start.
CLOCK_START_MIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CLOCK_START_MAX = dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
#: Fastest serial line a lab config may ask for (pyserial takes any int; no adapter does more).
MAX_BAUDRATE = 4_000_000
#: DCC User Roles (DUIS): import supplier, gas supplier, export supplier, electricity
#: distributor, gas transporter, registered supplier agent, other user.
DccRole = Literal["IS", "GS", "ES", "ED", "GT", "RSA", "OU"]
DCC_ROLES: tuple[str, ...] = ("IS", "GS", "ES", "ED", "GT", "RSA", "OU")
#: User names the harness keeps for itself (``dcc``: the DCC's own credentials at migration).
RESERVED_USER_NAMES = frozenset({"dcc"})
#: IEC 62056-21 sign-on is at 300 baud; the readout switches to the rate the meter offers.
OPTICAL_BAUDRATE = 300
DEFAULT_BAUDRATE = 115200


def _radio_port(value: Any) -> PortSpec:
    return parse_port_spec(value, schemes=RADIO_SCHEMES)


def _adapter_port(value: Any) -> PortSpec | str:
    if value == EMULATED:
        return EMULATED
    return parse_port_spec(value, schemes=PYSERIAL_SCHEMES)


def _aware_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "expected an ISO date-time with timezone, like 2026-01-05T09:00:00+00:00"
            ) from None
    if not isinstance(value, dt.datetime):
        raise ValueError("expected an ISO date-time with timezone, like 2026-01-05T09:00:00+00:00")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the date-time needs a timezone, e.g. 2026-01-05T09:00:00+00:00")
    if not CLOCK_START_MIN <= value <= CLOCK_START_MAX:
        raise ValueError(f"must be from {CLOCK_START_MIN:%Y-%m-%d} to {CLOCK_START_MAX:%Y-%m-%d} "
                         "(ZigBee UTCTime counts seconds from 2000 in 32 bits; a run adds years "
                         "of bench time)")
    return value


def _path(value: Any, info: ValidationInfo) -> Path:
    return relative_path(value, info)


def _cwd_path(value: Any) -> Path:
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise ValueError("expected a path (a non-empty string)")
    return Path(value).expanduser()


def _dump_port(port: PortSpec | str) -> Any:
    """A port as a lab config writes it (for ``model_dump`` and run records)."""
    if isinstance(port, str):
        return port
    return {"usb_serial": port.usb_serial} if port.usb_serial is not None else port.path


def _key_name(value: Any) -> str:
    """A ``dcc.users[].key``: the name of an entry under ``keys:`` in the secrets file.

    The message never echoes the value: a pasted PEM or a path is refused without showing it.
    """
    if isinstance(value, str) and ("BEGIN" in value or "\n" in value or looks_secret(value)):
        raise ValueError(
            "signing keys must not be written in the lab config, which is shared; put the PEM "
            "file's path under keys: in the secrets file and write its entry name here"
        )
    if isinstance(value, str) and SECRET_NAME.fullmatch(value):
        return value
    if isinstance(value, str) and ("/" in value or "\\" in value):
        raise ValueError(
            "key takes the name of an entry under keys: in the secrets file (e.g. "
            "import-supplier), not a path; the secrets file gives the PEM file's path"
        )
    raise ValueError(
        "key takes the name of an entry under keys: in the secrets file: letters, digits, "
        "'_', '-' and '.', e.g. import-supplier"
    )


def _fault_spec(value: Any) -> str:
    """A ``faults:`` entry, ``KIND[:TARGET]@WHEN`` (:mod:`harness.fault_injection`)."""
    from harness.config.faults import FaultError, parse_fault

    try:
        return parse_fault(value).spec
    except FaultError as exc:
        raise ValueError(str(exc)) from None


def _dump_install_code(ref: InstallCodeRef) -> Any:
    return EMULATED if ref.kind == "emulated" else {ref.kind: ref.name}


RelPath = Annotated[Path, PlainValidator(_path)]
_PortOut = PlainSerializer(_dump_port, return_type=Any)


class RadioConfig(ConfigModel):
    """The coordinator radio that plays the CHF (``virtual`` under emulation)."""

    type: Literal["virtual", "ezsp", "znp", "deconz"]
    port: Annotated[PortSpec, PlainValidator(_radio_port), _PortOut] | None = None
    baudrate: int = Field(DEFAULT_BAUDRATE, gt=0, le=MAX_BAUDRATE)
    flow_control: Literal["none", "hardware", "software"] = "none"
    channel: int = Field(15, ge=11, le=26)
    pan_id: int = Field(0x1A62, ge=0x0001, le=0xFFFE)
    extended_pan_id: Eui64 | None = None
    #: zigpy network database (real radios), resolved relative to the config file.
    database: RelPath | None = None
    #: A dongle holding another network: ``keep`` refuses to start, ``replace`` re-forms it.
    form: Literal["keep", "replace"] = "keep"

    @property
    def is_virtual(self) -> bool:
        return self.type == "virtual"

    @property
    def is_fake(self) -> bool:
        """``port: fake://``: the radio library drives the project's byte-level fake of its
        dongle, served in the bench's loop with the installation as scripted devices."""
        return self.port is not None and self.port.path == FAKE_RADIO_PORT


class SerialAdapterConfig(ConfigModel):
    """A serial port of the bench: an optical probe, a device console or a relay board."""

    name: LabName
    port: Annotated[PortSpec | str, PlainValidator(_adapter_port), _PortOut]
    #: Default 300 for optical probes (IEC 62056-21 sign-on), 115200 otherwise.
    baudrate: int = Field(gt=0, le=MAX_BAUDRATE)
    role: Literal["optical", "console", "relay"]
    #: Relay boards only (default 4).
    channels: int | None = Field(None, ge=1, le=64)
    #: Relay boards only (default lcus).
    protocol: Literal["lcus"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _role_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        role = data.get("role")
        data.setdefault("baudrate", OPTICAL_BAUDRATE if role == "optical" else DEFAULT_BAUDRATE)
        if role == "relay":
            data.setdefault("channels", 4)
            data.setdefault("protocol", "lcus")
        return data

    @property
    def is_emulated(self) -> bool:
        return self.port == EMULATED

    @property
    def port_spec(self) -> PortSpec | None:
        """The port to open, or ``None`` when the emulator provides it."""
        return None if isinstance(self.port, str) else self.port


class RelayBinding(ConfigModel):
    """The relay board channel that switches a device's supply."""

    adapter: LabName
    channel: int = Field(ge=1, le=64)


class DeviceConfig(ConfigModel):
    """One device on the bench's HAN."""

    role: HanRole
    #: Pinned profile id; ``None``: the DMC under test's profile for this role.
    profile: CatalogueId | None = None
    eui64: Eui64
    install_code: Annotated[
        InstallCodeRef,
        PlainValidator(parse_install_code_ref),
        PlainSerializer(_dump_install_code, return_type=Any),
    ]
    serial: list[LabName] = []
    relay: RelayBinding | None = None


class InstallationConfig(ConfigModel):
    """One premises: at most one device per role."""

    id: LabName
    devices: Annotated[list[DeviceConfig], Field(min_length=1)]
    #: Which meter is dormant when the installation is tested as mixed (its meters differ in
    #: status; which one is dormant is the installation's, not the DMC's: a DMC's mixed EPCL
    #: entry covers both arrangements, and the mixed pack migrates both).
    dormant_meter: MeterType = "GSME"

    def device(self, role: str) -> DeviceConfig | None:
        return next((d for d in self.devices if d.role == role), None)


class ClockConfig(ConfigModel):
    """Bench clock: ``virtual`` (emulated benches) or ``real`` (wall time)."""

    mode: Literal["virtual", "real"]
    start: (
        Annotated[
            dt.datetime,
            PlainValidator(_aware_datetime),
            PlainSerializer(dt.datetime.isoformat, return_type=str, when_used="json"),
        ]
        | None
    ) = None


class DccUserConfig(ConfigModel):
    """A DCC User of a real bench: who sends Service Requests, and which key signs them."""

    #: The name tests use (``dcc.send(..., user=NAME)``) and evidence shows.
    name: LabName
    role: DccRole
    #: The User's EUI-64: the originator of its RequestIDs.
    eui: Eui64
    organisation: NonEmptyStr
    #: Entry name under ``keys:`` in the secrets file (a PKCS#8 PEM EC P-256 private key).
    key: Annotated[str, PlainValidator(_key_name)] | None = None
    #: The User's XML signing certificate (PEM, relative to the lab config): a User given by
    #: certificate alone keeps its private key and sends its own signed DUIS documents.
    certificate: RelPath | None = None

    @model_validator(mode="after")
    def _key_or_certificate(self) -> DccUserConfig:
        if self.key is None and self.certificate is None:
            raise ValueError("a DCC User needs key (the bench signs as it) or certificate "
                             "(trusted by certificate alone), or both")
        return self


class DccConfig(ConfigModel):
    """The DCC Users a bench signs Service Requests as (the test PKI when absent)."""

    users: Annotated[list[DccUserConfig], Field(min_length=1)]

    def user(self, name: str) -> DccUserConfig:
        for user in self.users:
            if user.name == name:
                return user
        known = ", ".join(u.name for u in self.users)
        raise KeyError(f"no DCC User {safe_name(name)} in the lab config (users: {known})")


class ThresholdConfig(ConfigModel):
    """The Testing Issue Threshold (SVTAD 20.28): open counted issues allowed per severity.

    The programme's numbers are not public; without this section the report uses documented
    defaults and says they are UNVERIFIED.
    """

    severity_1: int = Field(ge=0, le=100_000)
    severity_2: int = Field(ge=0, le=100_000)
    severity_3: int = Field(ge=0, le=100_000)
    severity_4: int = Field(ge=0, le=100_000)

    def limits(self) -> dict[int, int]:
        return {1: self.severity_1, 2: self.severity_2, 3: self.severity_3, 4: self.severity_4}


class MigrationConfig(ConfigModel):
    """Programme parameters of a migration."""

    #: Working days of each dormant notification (firmware upgrade, migration): the TMAD's 15,
    #: or the 5 the DCC proposed [seed 003].
    notification_working_days: int = Field(15, ge=0, le=60)


class ProcessConfig(ConfigModel):
    """How the programme's process periods are lived through on a real bench."""

    #: Wall seconds a process-length watch (a day of steady supply watched for alerts) observes
    #: on a real clock; the rest of its period passes on the process timeline, and the case
    #: says which window it observed. The virtual clock always watches the whole period.
    watch_s: float = Field(600.0, ge=0, le=30 * 86400)


class ReportConfig(ConfigModel):
    """How the DMCT Testing Report is produced."""

    #: Working days suppliers have to refer a draft report (SVTAD 20.37).
    referral_working_days: int = Field(10, ge=0, le=60)
    #: A testing issue registry of the lab's own (relative to this file), instead of the
    #: packaged one.
    testing_issues: RelPath | None = None


class SafetyConfig(ConfigModel):
    #: Allow tests that can leave a real device unusable (supply off, firmware, keys).
    allow_destructive: bool = False


class LabConfig(ConfigModel):
    """A validated lab config, with the catalogue it was checked against."""

    bench: NonEmptyStr
    description: str | None = Field(None, max_length=2000)
    radio: RadioConfig
    serial_adapters: list[SerialAdapterConfig] = []
    installations: Annotated[list[InstallationConfig], Field(min_length=1)]
    dmc: Annotated[list[CatalogueId], OneOrMany, Field(min_length=1)]
    installation_status: Annotated[list[InstallationStatus], OneOrMany, Field(min_length=1)]
    profile_paths: list[RelPath] = []
    clock: ClockConfig
    #: Relative to the working directory at run time (not to the config file).
    output_dir: Annotated[Path, PlainValidator(_cwd_path)] = Path("dmct-results")
    secrets_file: RelPath | None = None
    #: DCC Users and their signing keys (real benches); ``None``: the test PKI.
    dcc: DccConfig | None = None
    thresholds: ThresholdConfig | None = None
    migration: MigrationConfig = MigrationConfig()
    process: ProcessConfig = ProcessConfig()
    report: ReportConfig = ReportConfig()
    safety: SafetyConfig = SafetyConfig()
    #: Bench faults injected during every run of this bench (:mod:`harness.fault_injection`).
    faults: list[Annotated[str, PlainValidator(_fault_spec)]] = []
    #: Seeds the emulator's randomness (64 bits, as numpy's and Python's generators take).
    seed: int = Field(0, ge=0, le=2**64 - 1)

    _path: Path = PrivateAttr(default=Path())
    _catalogue: Catalogue | None = PrivateAttr(default=None)
    _document: YamlDocument | None = PrivateAttr(default=None)
    _secrets_override: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _clock_defaults(cls, data: Any) -> Any:
        """Clock mode follows the radio: virtual radio or a fake:// port -> virtual clock,
        else real."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        radio = data.get("radio")
        virtual = isinstance(radio, dict) and (radio.get("type") == "virtual"
                                               or radio.get("port") == FAKE_RADIO_PORT)
        clock = data.get("clock", {})
        if isinstance(clock, dict):
            clock = dict(clock)
            clock.setdefault("mode", "virtual" if virtual else "real")
            if clock["mode"] == "virtual":
                clock.setdefault("start", DEFAULT_CLOCK_START)
            data["clock"] = clock
        return data

    # -- what the rest of the harness asks -------------------------------------------------------
    @property
    def path(self) -> Path:
        """The lab config file."""
        return self._path

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue (packaged + ``profile_paths``) this config was validated against."""
        assert self._catalogue is not None, "LabConfig not loaded through load_lab_config"
        return self._catalogue

    @property
    def dmc_ids(self) -> list[str]:
        return list(self.dmc)

    @property
    def installation_statuses(self) -> list[str]:
        return list(self.installation_status)

    @property
    def is_emulated(self) -> bool:
        return self.radio.type == "virtual"

    @property
    def secrets_path(self) -> Path | None:
        """Secrets file to use: ``DMCT_SECRETS_FILE`` (at load) or ``secrets_file``."""
        return self._secrets_override or self.secrets_file

    def iter_devices(self) -> Iterator[tuple[InstallationConfig, DeviceConfig]]:
        for installation in self.installations:
            for device in installation.devices:
                yield installation, device

    def installation(self, installation_id: str) -> InstallationConfig:
        for installation in self.installations:
            if installation.id == installation_id:
                return installation
        known = ", ".join(i.id for i in self.installations)
        raise KeyError(f"no installation {installation_id!r} (installations: {known})")

    def adapter(self, name: str) -> SerialAdapterConfig:
        for adapter in self.serial_adapters:
            if adapter.name == name:
                return adapter
        known = ", ".join(a.name for a in self.serial_adapters) or "none"
        raise KeyError(f"no serial adapter {safe_name(name)} (serial_adapters: {known})")

    def adapters_for(self, device: DeviceConfig) -> dict[str, SerialAdapterConfig]:
        """The device's serial adapters by role: ``{"optical": ..., "console": ...}``."""
        return {self.adapter(name).role: self.adapter(name) for name in device.serial}

    def profile_for(self, device: DeviceConfig, dmc_id: str) -> DeviceProfile | None:
        """The device's profile when testing ``dmc_id``: pinned, else the DMC's for its role.

        ``None`` when the device is pinned to nothing and the DMC has no device in that role
        (the bench device takes no part in that DMC's run).
        """
        if device.profile is not None:
            return self.catalogue.profile(device.profile)
        return self.catalogue.dmc(dmc_id).profile_for(device.role, self.catalogue)

    def line_of_key(self, *loc: Any) -> int:
        """Line of a key of this file (1 if unknown), for errors raised by later layers."""
        return self._document.line_of(loc) if self._document is not None else 1

    def error(self, loc: Loc, message: str) -> ConfigError:
        """A :class:`ConfigError` at ``loc`` of this file (for CLI overrides and later checks)."""
        return ConfigError(self._path, self.line_of_key(*loc), format_loc(loc), message)

    def select(
        self, dmc_ids: Sequence[str] | None = None, statuses: Sequence[str] | None = None
    ) -> LabConfig:
        """A copy testing other DMCs / statuses (``dmct run --dmc/--status``), re-checked.

        Raises :class:`ConfigError` located at the ``dmc`` / ``installation_status`` key.
        """
        errors: list[ConfigError] = []
        for status in statuses or ():
            if status not in ("dormant", "active", "mixed"):
                errors.append(
                    self.error(
                        ("installation_status",),
                        f"installation status {status!r} (given on the command line) must be "
                        "one of dormant, active, mixed",
                    )
                )
        new_dmcs = list(dmc_ids) if dmc_ids else list(self.dmc)
        for dmc_id in new_dmcs:
            if dmc_id not in self.catalogue.dmcs:
                errors.append(
                    self.error(
                        ("dmc",),
                        f"{self.catalogue.close_ids('DMC', dmc_id)} (given on the command line)",
                    )
                )
        if not errors:
            errors += _pinned_profile_checks(self, new_dmcs, command_line=True)
        error = first_error(errors)
        if error is not None:
            raise error
        copy = self.model_copy(
            update={
                "dmc": new_dmcs,
                "installation_status": list(statuses)
                if statuses
                else list(self.installation_status),
            }
        )
        copy._path = self._path
        copy._catalogue = self._catalogue
        copy._document = self._document
        copy._secrets_override = self._secrets_override
        return copy

    def warnings(self) -> list[str]:
        """Non-fatal observations for ``dmct lab check`` (one line each)."""
        notes: list[str] = []
        for dmc_id in self.dmc:
            dmc = self.catalogue.dmc(dmc_id)
            bench_roles = {d.role for _i, d in self.iter_devices()}
            for role in dmc.roles:
                if role != "CHF" and role not in bench_roles:
                    notes.append(
                        f"{self._path}: DMC {dmc_id} has a {role} but no installation has one; "
                        f"tests that need the {role} will be blocked"
                    )
            for status in self.installation_status:
                if status == "mixed" and not {"ESME", "GSME"} <= bench_roles:
                    notes.append(
                        f"{self._path}: mixed installations need an ESME and a GSME (one "
                        "active, one dormant); no installation has both"
                    )
                if dmc.epcl_id(status) is None:
                    notes.append(
                        f"{self._path}: DMC {dmc_id} has no EPCL entry for {status} installations"
                    )
        return notes


# -- loading --------------------------------------------------------------------------------------


def default_lab_config_path() -> Path:
    """The packaged ``lab_config/emulated.yaml`` (the bench ``dmct run`` uses by default)."""
    root = importlib.resources.files("lab_config")
    path = root / "emulated.yaml"
    if not isinstance(path, Path):  # pragma: no cover - zip imports are not supported
        raise ConfigError(str(path), None, "(document)", "lab_config must be installed as files")
    return path


def load_lab_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> LabConfig:
    """Load, validate and cross-check a lab config; raises the first :class:`ConfigError`.

    ``env`` (default ``os.environ``) is consulted for ``DMCT_SECRETS_FILE`` only; secret values
    are never read here.
    """
    env = os.environ if env is None else env
    path = Path(path)
    doc = load_yaml(path)
    lab, errors = validate_document(LabConfig, doc, context={"base_dir": path.parent.absolute()})
    if lab is None:
        raise _first(errors)
    lab._path = path
    lab._document = doc
    override = env.get(SECRETS_FILE_ENV)
    lab._secrets_override = Path(override).expanduser() if override else None

    errors += _radio_checks(lab, doc)
    errors += _adapter_checks(lab, doc)
    errors += _installation_checks(lab, doc)
    errors += _clock_checks(lab, doc)
    errors += _dcc_checks(lab, doc)
    errors += _fault_checks(lab, doc)
    errors += _list_duplicates(doc, ("dmc",), lab.dmc, "DMC")
    errors += _list_duplicates(doc, ("installation_status",), lab.installation_status, "status")
    path_errors = [
        doc.error(("profile_paths", index), f"profile directory not found: {directory}")
        for index, directory in enumerate(lab.profile_paths)
        if not directory.is_dir()
    ]
    registry = lab.report.testing_issues
    if registry is not None and not registry.is_file():
        path_errors.append(doc.error(("report", "testing_issues"),
                                     f"testing issue registry not found: {registry}"))
    if path_errors:
        raise _first(errors + path_errors)
    try:
        lab._catalogue = load_catalogue(lab.profile_paths)
    except ConfigError as exc:  # keep this file's own errors too, in front
        raise _first(errors + exc.all) from None
    errors += _catalogue_checks(lab, doc)
    if errors:
        raise _first(errors)
    if registry is not None:
        # Parsed now, not when the report is built: a broken registry must stop the run
        # before it starts (its own file, line and field), not after every case has run.
        from harness.report.issues import load_registry

        load_registry(registry)
    return lab


def _fault_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    """Each ``faults:`` entry can happen on this bench (its device has a relay, its adapter
    exists, emulated-only kinds on an emulated bench)."""
    from harness.config.faults import FaultError, check_faults, parse_fault

    errors = []
    for index, spec in enumerate(lab.faults):
        try:
            check_faults([parse_fault(spec)], lab)
        except FaultError as exc:
            errors.append(doc.error(("faults", index), str(exc)))
    return errors


def _first(errors: list[ConfigError]) -> ConfigError:
    error = first_error(errors)
    assert error is not None
    return error


def _radio_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    radio = lab.radio
    errors = []
    if radio.is_virtual:
        for key in ("port", "database", "baudrate", "flow_control"):
            if doc.has(("radio", key)):
                errors.append(
                    doc.error(
                        ("radio", key),
                        f"not used with a virtual radio (the emulator has no {key}); remove it",
                    )
                )
    elif radio.port is None:
        errors.append(
            doc.error(
                ("radio", "port"),
                f"required key 'port' is missing (a {radio.type} radio "
                "needs the serial port of its dongle)",
            )
        )
    elif radio.is_fake:
        if radio.type not in FAKE_RADIO_TYPES:
            errors.append(doc.error(
                ("radio", "port"),
                f"{FAKE_RADIO_PORT} serves a fake {' or '.join(FAKE_RADIO_TYPES)} dongle; there "
                f"is none for radio.type {radio.type}"))
        if radio.database is not None and lab.clock.mode == "virtual":
            errors.append(doc.error(
                ("radio", "database"), "not on the virtual clock: zigpy's database thread is "
                "real I/O, which the virtual clock would time out at once; remove it"))
        if lab.serial_adapters:
            errors.append(doc.error(
                ("serial_adapters",), f"a {FAKE_RADIO_PORT} radio's devices are scripted in the "
                "fake: they have no serial ports or relay board (the fake switches their supply)"))
    return errors


def _adapter_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    errors = []
    first: dict[str, int] = {}
    for index, adapter in enumerate(lab.serial_adapters):
        loc = ("serial_adapters", index)
        if adapter.name in first:
            errors.append(
                doc.error(
                    (*loc, "name"),
                    f"duplicate serial adapter name {safe_name(adapter.name)} (first at line "
                    f"{doc.line_of(('serial_adapters', first[adapter.name], 'name'))})",
                )
            )
        else:
            first[adapter.name] = index
        if adapter.is_emulated and not lab.is_emulated:
            errors.append(
                doc.error(
                    (*loc, "port"),
                    f"'emulated' ports need a virtual radio (radio.type is {lab.radio.type}); "
                    "give the device path, URL or {usb_serial: ...} of the adapter",
                )
            )
        elif lab.is_emulated and not adapter.is_emulated:
            errors.append(
                doc.error(
                    (*loc, "port"),
                    "on a virtual radio every serial adapter must be 'emulated' (the emulator "
                    "serves the ports)",
                )
            )
        if adapter.role != "relay":
            for key in ("channels", "protocol"):
                if doc.has((*loc, key)):
                    errors.append(
                        doc.error((*loc, key), f"only for role relay, not {adapter.role}")
                    )
    return errors


def _installation_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    errors = []
    adapters = {a.name: a for a in lab.serial_adapters}
    first_installation: dict[str, int] = {}
    eui_seen: dict[str, Loc] = {}
    adapter_owner: dict[str, Loc] = {}
    relay_owner: dict[tuple[str, int], Loc] = {}
    for i, installation in enumerate(lab.installations):
        iloc = ("installations", i)
        if installation.id in first_installation:
            errors.append(
                doc.error(
                    (*iloc, "id"),
                    f"duplicate installation id {safe_name(installation.id)} (first at line "
                    f"{doc.line_of(('installations', first_installation[installation.id], 'id'))})",
                )
            )
        else:
            first_installation[installation.id] = i
        roles: dict[str, int] = {}
        for d, device in enumerate(installation.devices):
            dloc = (*iloc, "devices", d)
            if device.role in roles:
                errors.append(
                    doc.error(
                        (*dloc, "role"),
                        f"installation {safe_name(installation.id)} already has a "
                        f"{device.role} (line "
                        f"{doc.line_of((*iloc, 'devices', roles[device.role], 'role'))}); one "
                        "device per role",
                    )
                )
            else:
                roles[device.role] = d
            if device.eui64 in eui_seen:
                errors.append(
                    doc.error(
                        (*dloc, "eui64"),
                        f"EUI-64 {device.eui64} is already used at line "
                        f"{doc.line_of(eui_seen[device.eui64])}",
                    )
                )
            else:
                eui_seen[device.eui64] = (*dloc, "eui64")
            if device.install_code.kind == "emulated" and not lab.is_emulated:
                errors.append(
                    doc.error(
                        (*dloc, "install_code"),
                        f"'emulated' install codes need a virtual radio (radio.type is "
                        f"{lab.radio.type}); use {{env: VAR}} or {{secret: NAME}}",
                    )
                )
            errors += _serial_binding_checks(doc, dloc, device, adapters, adapter_owner)
            if device.relay is not None:
                errors += _relay_checks(doc, dloc, device, adapters, relay_owner)
    return errors


def _serial_binding_checks(
    doc: YamlDocument,
    dloc: Loc,
    device: DeviceConfig,
    adapters: Mapping[str, SerialAdapterConfig],
    adapter_owner: dict[str, Loc],
) -> list[ConfigError]:
    errors = []
    by_role: dict[str, str] = {}
    for s, name in enumerate(device.serial):
        sloc = (*dloc, "serial", s)
        adapter = adapters.get(name)
        if adapter is None:
            known = ", ".join(adapters) or "none"
            errors.append(
                doc.error(sloc, f"no serial adapter named {safe_name(name)} (defined: {known})")
            )
            continue
        if adapter.role == "relay":
            errors.append(
                doc.error(
                    sloc,
                    f"{safe_name(name)} is a relay board; bind it with relay: {{adapter: NAME, "
                    "channel: N}, not under serial",
                )
            )
            continue
        if adapter.role == "optical" and device.role not in ("ESME", "GSME"):
            errors.append(
                doc.error(
                    sloc,
                    f"optical probe {safe_name(name)} on a {device.role}: only meters have one",
                )
            )
        if adapter.role in by_role:
            errors.append(
                doc.error(
                    sloc,
                    f"this device already has a {adapter.role} adapter "
                    f"({safe_name(by_role[adapter.role])}); at most one {adapter.role} adapter "
                    "per device",
                )
            )
        else:
            by_role[adapter.role] = name
        if name in adapter_owner:
            errors.append(
                doc.error(
                    sloc,
                    f"serial adapter {safe_name(name)} is already bound to the device at line "
                    f"{doc.line_of(adapter_owner[name])}",
                )
            )
        else:
            adapter_owner[name] = dloc
    return errors


def _relay_checks(
    doc: YamlDocument,
    dloc: Loc,
    device: DeviceConfig,
    adapters: Mapping[str, SerialAdapterConfig],
    relay_owner: dict[tuple[str, int], Loc],
) -> list[ConfigError]:
    relay = device.relay
    assert relay is not None
    rloc = (*dloc, "relay")
    adapter = adapters.get(relay.adapter)
    if adapter is None:
        known = ", ".join(a.name for a in adapters.values() if a.role == "relay") or "none"
        return [
            doc.error(
                (*rloc, "adapter"),
                f"no relay board named {safe_name(relay.adapter)} (relay boards: {known})",
            )
        ]
    if adapter.role != "relay":
        return [
            doc.error(
                (*rloc, "adapter"),
                f"serial adapter {safe_name(relay.adapter)} has role {adapter.role}, not relay",
            )
        ]
    channels = adapter.channels or 0
    if relay.channel > channels:
        return [
            doc.error(
                (*rloc, "channel"),
                f"relay board {safe_name(relay.adapter)} has channels 1..{channels}; "
                f"got {relay.channel}",
            )
        ]
    key = (relay.adapter, relay.channel)
    if key in relay_owner:
        return [
            doc.error(
                (*rloc, "channel"),
                f"relay {relay.adapter} channel {relay.channel} already switches the device at "
                f"line {doc.line_of(relay_owner[key])}",
            )
        ]
    relay_owner[key] = dloc
    return []


def _clock_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    errors = []
    if lab.clock.mode == "virtual" and not (lab.is_emulated or lab.radio.is_fake):
        errors.append(
            doc.error(
                ("clock", "mode"),
                f"a virtual clock needs the virtual radio or a {FAKE_RADIO_PORT} radio port "
                f"(radio.type is {lab.radio.type}): real devices run on wall time",
            )
        )
    if lab.clock.mode == "real" and lab.is_emulated:
        errors.append(
            doc.error(
                ("clock", "mode"),
                "the virtual radio runs on the virtual clock (its emulated devices have no wall "
                "time); use mode: virtual, or a real radio for the real clock",
            )
        )
    if lab.clock.mode == "real" and doc.has(("clock", "start")):
        errors.append(doc.error(("clock", "start"), "only a virtual clock has a start time"))
    return errors


def _dcc_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    """DCC Users: unique names and EUI-64s (also apart from the devices'), one IS User at least."""
    if lab.dcc is None:
        return []
    errors = []
    names: dict[str, Loc] = {}
    euis: dict[str, Loc] = {}
    device_euis = {
        device.eui64: (*dloc, "eui64") for dloc, device in _device_locs(lab)
    }
    for index, user in enumerate(lab.dcc.users):
        uloc = ("dcc", "users", index)
        if user.name in RESERVED_USER_NAMES:
            errors.append(
                doc.error(
                    (*uloc, "name"),
                    f"the User name {user.name!r} is reserved for the DCC itself; choose "
                    "another",
                )
            )
        elif user.name in names:
            errors.append(
                doc.error(
                    (*uloc, "name"),
                    f"duplicate DCC User name {safe_name(user.name)} (first at line "
                    f"{doc.line_of(names[user.name])})",
                )
            )
        else:
            names[user.name] = (*uloc, "name")
        same_eui = [u for u in lab.dcc.users[:index] if u.eui == user.eui]
        if user.eui in euis and any(u.role == user.role for u in same_eui):
            # One organisation may hold several roles under one User ID (DCC Boxed's
            # supplier is IS and GS); one role twice under one EUI-64 is ambiguous.
            errors.append(
                doc.error(
                    (*uloc, "eui"),
                    f"EUI-64 {user.eui} is already the EUI-64 of the DCC User at line "
                    f"{doc.line_of(euis[user.eui])}; each User has its own",
                )
            )
        elif user.eui in euis:
            pass
        elif user.eui in device_euis:
            errors.append(
                doc.error(
                    (*uloc, "eui"),
                    f"EUI-64 {user.eui} is the EUI-64 of the device at line "
                    f"{doc.line_of(device_euis[user.eui])}; a User's EUI-64 is its own",
                )
            )
        else:
            euis[user.eui] = (*uloc, "eui")
    if not any(user.role == "IS" for user in lab.dcc.users):
        errors.append(
            doc.error(
                ("dcc", "users"),
                "at least one User must have role IS (the import supplier is the responsible "
                "supplier of the ESME, the CHF and the PPMID and IHD)",
            )
        )
    return errors


def _list_duplicates(
    doc: YamlDocument, loc: Loc, values: Sequence[str], what: str
) -> list[ConfigError]:
    seen: set[str] = set()
    errors = []
    for index, value in enumerate(values):
        if value in seen:
            errors.append(doc.error((*loc, index), f"{what} {value} listed twice"))
        seen.add(value)
    return errors


def _dmc_loc(doc: YamlDocument, index: int) -> Loc:
    # ``dmc: X`` (one id) has no item position; point at the key then.
    return ("dmc", index) if doc.has(("dmc", index)) else ("dmc",)


def _catalogue_checks(lab: LabConfig, doc: YamlDocument) -> list[ConfigError]:
    catalogue = lab.catalogue
    errors = []
    known_dmcs = []
    for index, dmc_id in enumerate(lab.dmc):
        if dmc_id not in catalogue.dmcs:
            errors.append(doc.error(_dmc_loc(doc, index), catalogue.close_ids("DMC", dmc_id)))
        else:
            known_dmcs.append(dmc_id)
    for dloc, device in _device_locs(lab):
        if device.profile is None:
            continue
        ploc = (*dloc, "profile")
        profile = catalogue.profiles.get(device.profile)
        if profile is None:
            errors.append(doc.error(ploc, catalogue.close_ids("profile", device.profile)))
        elif profile.device_type != device.role:
            errors.append(
                doc.error(
                    ploc,
                    f"profile {device.profile!r} is a {profile.device_type} "
                    f"({profile.describe()}), but this device's role is {device.role}",
                )
            )
    if not errors:
        errors += _pinned_profile_checks(lab, known_dmcs, command_line=False)
    return errors


def _device_locs(lab: LabConfig) -> Iterator[tuple[Loc, DeviceConfig]]:
    for i, installation in enumerate(lab.installations):
        for d, device in enumerate(installation.devices):
            yield ("installations", i, "devices", d), device


def _pinned_profile_checks(
    lab: LabConfig, dmc_ids: Sequence[str], *, command_line: bool
) -> list[ConfigError]:
    """A device pinned to a profile must be the model every DMC under test uses in that role."""
    catalogue = lab.catalogue
    errors = []
    for dloc, device in _device_locs(lab):
        if device.profile is None or device.profile not in catalogue.profiles:
            continue
        bench = catalogue.profile(device.profile)
        for dmc_id in dmc_ids:
            dmc = catalogue.dmc(dmc_id)
            needed_id = dmc.profile_id_for(device.role)
            if needed_id is None or needed_id == device.profile:
                continue
            needed = catalogue.profiles.get(needed_id)
            needed_text = needed.describe() if needed is not None else needed_id
            origin = " (given on the command line)" if command_line else ""
            errors.append(
                lab.error(
                    (*dloc, "profile"),
                    f"the bench has {bench.describe()} (profile {device.profile}) "
                    f"as {device.role}, "
                    f"but DMC {dmc_id}{origin} needs {needed_text} (profile {needed_id}); "
                    "test another DMC or change the device",
                )
            )
    return errors
