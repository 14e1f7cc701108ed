"""Device profiles (one model + firmware per file) and DMCs (Device Model Combinations).

A profile keeps two things apart on purpose:

- ``expectations``: what the model is *documented or accepted* to do. Packs judge devices
  against this (and the SR catalogue).
- ``emulation``: how the *emulator* behaves for this model, defects included. Only
  ``harness.emulator`` reads it; a pack that read it would only prove the emulator right.

Every field is documented in ``device_profiles/README.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from harness.config.types import (
    SE_DEVICE_IDS,
    CatalogueId,
    ClusterName,
    DeviceType,
    InstallationStatus,
    NonEmptyStr,
    Srv,
)
from harness.config.validation import ConfigModel

if TYPE_CHECKING:
    from harness.config.catalogue import Catalogue

__all__ = [
    "AlertsEmulation",
    "ChfEmulation",
    "DeviceProfile",
    "Dmc",
    "DmcDevices",
    "Emulation",
    "EntryPopulation",
    "Epcl",
    "Expectations",
    "Firmware",
    "InstallsAndDevices",
    "JoinEmulation",
    "JoinTimePeriodLimit",
    "KeyRotationEmulation",
    "MeterEmulation",
    "Optical",
    "Population",
    "Zigbee",
]

Rate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
#: Emulation bounds: every value finite and within what its wire type carries, so a setting
#: that validates never hangs the virtual clock nor breaks a frame (issue 12).
#: Basic ManufacturerName / ModelIdentifier are ZCL character strings of at most 32 octets;
#: SWBuildID at most 16.
ZclName = Annotated[str, StringConstraints(min_length=1, max_length=32,
                                           pattern=r"\S")]
ZclBuildId = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"\S")]
#: Metering CurrentSummationDelivered is a uint48; InstantaneousDemand an int24.
UINT48_MAX = (1 << 48) - 1
INT24_MAX = (1 << 23) - 1
#: A port's register offset: at most what the optical readout's 9 digits can show (Wh, dm3).
REGISTER_OFFSET_MAX = 999_999_999
#: Prepayment CreditRemaining is an int32.
INT32_MAX = (1 << 31) - 1
#: The most a seconds setting may say: one week of bench time (the longest scenario).
WEEK_S = 7 * 24 * 3600.0
#: Alerts per hour: at most one a second.
MAX_ALERTS_PER_HOUR = 3600.0
DailyLimit = Annotated[int, Field(ge=1)]
Uint16 = Annotated[int, Field(ge=0, le=0xFFFF)]
METER_TYPES = ("ESME", "GSME")
#: OBIS code of the main register in a meter's optical readout, when ``optical.register_obis`` is
#: not given: active energy import total for an ESME, gas volume for a GSME.
DEFAULT_OPTICAL_REGISTER = {"ESME": "1.8.0", "GSME": "7-0:3.0.0"}


class Firmware(ConfigModel):
    """Firmware of the model. Invented versions MUST say ``placeholder: true``."""

    #: What Basic SWBuildID carries (a ZCL string of at most 16 characters).
    version: ZclBuildId
    placeholder: bool = False
    notes: str | None = None


class Zigbee(ConfigModel):
    """How the device appears on the HAN: its Smart Energy endpoint and clusters."""

    endpoint: int = Field(1, ge=1, le=240)
    profile_id: Uint16 = 0x0109
    #: Default per device type from :data:`harness.config.types.SE_DEVICE_IDS`.
    device_id: Uint16
    manufacturer_code: Uint16 | None = None
    server_clusters: list[ClusterName] = []
    client_clusters: list[ClusterName] = []


class Optical(ConfigModel):
    """IEC 62056-21 optical port identification (``/XXXZIdent``) of a meter."""

    flag_id: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    identification: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[\x21-\x7E ]+$")]
    baud_char: Literal["0", "1", "2", "3", "4", "5", "6"] = "5"
    #: OBIS code of the main register line; default per device type (DEFAULT_OPTICAL_REGISTER).
    register_obis: Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.:*-]*$")] | None = None
    #: True when flag id / identification are invented (not read from a real meter).
    placeholder: bool = False


class Expectations(ConfigModel):
    """What the model is documented or accepted to do (packs compare devices against this)."""

    prepayment_capable: bool = False
    #: Default: true for ESME/GSME, false otherwise (filled in by the profile).
    optical_port: bool
    join_time_period_max_s: int = Field(3600, ge=1, le=3600)
    restricted_srvs: list[Srv] = []
    boost_from_han_config: bool = False
    srv_daily_limits: dict[Srv, DailyLimit] = {}
    notes: str | None = None


class MeterEmulation(ConfigModel):
    """Initial state of an emulated meter."""

    #: Wh for an ESME, dm3 for a GSME.
    initial_register: int = Field(0, ge=0, le=UINT48_MAX)
    #: W for an ESME, dm3/h for a GSME.
    demand: int = Field(0, ge=0, le=INT24_MAX)
    supply: Literal["on", "off", "armed"] = "on"
    payment_mode: Literal["credit", "prepayment"] = "credit"
    credit_pence: int = Field(0, ge=-INT32_MAX, le=INT32_MAX)
    #: Defect: the register one port shows, as ``scale * register + offset`` (whole Wh or
    #: dm3): a meter whose optical register disagrees with its ZigBee register. Healthy: 1, 0.
    zigbee_register_scale: float = Field(1.0, gt=0.0, le=1000.0, allow_inf_nan=False)
    zigbee_register_offset: int = Field(0, ge=-REGISTER_OFFSET_MAX, le=REGISTER_OFFSET_MAX)
    optical_register_scale: float = Field(1.0, gt=0.0, le=1000.0, allow_inf_nan=False)
    optical_register_offset: int = Field(0, ge=-REGISTER_OFFSET_MAX, le=REGISTER_OFFSET_MAX)


class JoinEmulation(ConfigModel):
    """How an emulated device tries to join the HAN."""

    retry_interval_s: float = Field(5.0, gt=0, le=3600.0, allow_inf_nan=False)
    attempt_for_s: float = Field(3600.0, ge=0, le=WEEK_S, allow_inf_nan=False)


class JoinTimePeriodLimit(ConfigModel):
    """A CHF that cannot serve a JoinTimePeriod above ``max_s`` (91342: 255, reject)."""

    max_s: int = Field(ge=1, le=3600)
    over_limit: Literal["reject", "clamp", "cut"] = "reject"


class ChfEmulation(ConfigModel):
    join_time_period_limit: JoinTimePeriodLimit | None = None


class KeyRotationEmulation(ConfigModel):
    """Management key rotation (110031: applied but not confirmed the first time)."""

    confirm_first_attempt: bool = True
    min_repeat_interval_s: int = Field(300, ge=0, le=int(WEEK_S))
    #: Defect: the device still accepts commands signed with the key a rotation replaced.
    old_key_accepted: bool = False


#: Migration steps whose command a device sees, by the step's name (harness.migration).
HanLeaveStep = Literal["replace_credentials", "firmware_upgrade", "key_rotation"]


class HanLeaveEmulation(ConfigModel):
    """Defect: the device leaves the HAN once it has carried out the command of a named
    migration step (``replace_credentials``: its supplier certificate replaced;
    ``firmware_upgrade``: a firmware image activated; ``key_rotation``: its management key
    rotated), and rejoins at once or never (until powered off and on)."""

    after_step: HanLeaveStep
    rejoins: bool = True


class SleepyEmulation(ConfigModel):
    """A battery meter that sleeps as in the field (a GSME): it answers only while awake, at each
    poll, and then pushes its Metering attributes to the hub's mirror."""

    #: Seconds between wakes.
    poll_s: float = Field(gt=0, le=86400.0, allow_inf_nan=False)
    #: Seconds it stays awake (answering) after each wake.
    awake_s: float = Field(1.0, gt=0, le=600.0, allow_inf_nan=False)
    #: Seconds it stays awake after joining (fast poll while the hub interviews it).
    commissioning_awake_s: float = Field(60.0, gt=0, le=3600.0, allow_inf_nan=False)


class AlertsEmulation(ConfigModel):
    """Alert behaviour (risk 11: Power and Voltage alert flood, threshold not settable)."""

    power_voltage_alerts_per_hour: float = Field(0.0, ge=0.0, le=MAX_ALERTS_PER_HOUR,
                                                 allow_inf_nan=False)
    voltage_threshold_settable: bool = True


class Emulation(ConfigModel):
    """How the emulator behaves for this model; every default is healthy."""

    #: Only for ESME/GSME (filled in with defaults there).
    meter: MeterEmulation | None = None
    join: JoinEmulation = JoinEmulation()
    #: Only for a CHF.
    chf: ChfEmulation = ChfEmulation()
    key_rotation: KeyRotationEmulation = KeyRotationEmulation()
    srv_daily_limits: dict[Srv, DailyLimit] = {}
    missing_response_code_rate: Rate = 0.0
    cos_alert_loss_rate: Rate = 0.0
    restricted_srvs: list[Srv] = []
    boost_from_han_config: bool = False
    dormant_supplier_identifiable_in_mixed: bool = True
    dno_certificate_replaceable: bool = True
    alerts: AlertsEmulation = AlertsEmulation()
    response_delay_s: float = Field(0.0, ge=0.0, le=600.0, allow_inf_nan=False)
    #: A sleepy meter (GSMEs in the field): answers only at its poll, read through the CHF's
    #: Metering mirror (``None``: always listening, as the emulator has always been).
    sleepy: SleepyEmulation | None = None
    #: Defect: the device leaves the HAN after a named migration step (``None``: it stays).
    han_leave: HanLeaveEmulation | None = None
    #: Defect: SRVs the emulated device (and its S1SP adapter) executes although the profile's
    #: ``srvs`` (what the model is documented to support, what the packs expect) leaves them
    #: out. What the emulated device does is ``srvs`` plus these, minus ``restricted_srvs``.
    undocumented_srvs: list[Srv] = []
    #: Defect: a meter that acts on a ZCL ChangeSupply / LocalChangeSupply from any HAN node
    #: (a healthy one takes supply changes only in signed envelopes; locally, only the
    #: consumer's restore of an armed supply).
    accepts_han_supply_change: bool = False


class DeviceProfile(ConfigModel):
    """One device model at one firmware version."""

    id: CatalogueId
    device_type: DeviceType
    #: Basic ManufacturerName and ModelIdentifier: ZCL strings of at most 32 characters.
    manufacturer: ZclName
    model: ZclName
    model_placeholder: bool = False
    firmware: Firmware
    source: NonEmptyStr
    notes: str | None = None
    zigbee: Zigbee
    #: The SRVs the model is documented to support: what the packs expect (the emulated
    #: device does these, plus ``emulation.undocumented_srvs``, minus restrictions).
    srvs: list[Srv] = []
    #: The S1SP device adapter for this model (see harness/dcc/adapters.py).
    adapter: NonEmptyStr = "smart-energy"
    optical: Optical | None = None
    expectations: Expectations
    emulation: Emulation

    @model_validator(mode="before")
    @classmethod
    def _type_defaults(cls, data: Any) -> Any:
        """Fill defaults that depend on ``device_type`` before field validation."""
        if not isinstance(data, dict):
            return data
        device_type = data.get("device_type")
        data = dict(data)
        zigbee = data.get("zigbee", {})
        if isinstance(zigbee, dict) and "device_id" not in zigbee:
            data["zigbee"] = {**zigbee, "device_id": SE_DEVICE_IDS.get(str(device_type), 0x0500)}
        expectations = data.get("expectations", {})
        if isinstance(expectations, dict) and "optical_port" not in expectations:
            data["expectations"] = {**expectations, "optical_port": device_type in METER_TYPES}
        emulation = data.get("emulation", {})
        if isinstance(emulation, dict):
            if device_type in METER_TYPES and "meter" not in emulation:
                emulation = {**emulation, "meter": {}}
            data["emulation"] = emulation
        return data

    @property
    def is_meter(self) -> bool:
        return self.device_type in METER_TYPES

    @property
    def optical_register(self) -> str | None:
        """OBIS code of the main register in the optical readout (``None`` for non-meters)."""
        if self.optical is not None and self.optical.register_obis is not None:
            return self.optical.register_obis
        return DEFAULT_OPTICAL_REGISTER.get(self.device_type)

    @property
    def is_placeholder(self) -> bool:
        """True when model name or firmware version is invented."""
        return self.model_placeholder or self.firmware.placeholder

    def describe(self) -> str:
        """``Manufacturer Model firmware X`` for messages and reports."""
        flag = " (placeholder)" if self.is_placeholder else ""
        return f"{self.manufacturer} {self.model} firmware {self.firmware.version}{flag}"

    def supports(self, srv: str) -> bool:
        return srv in self.srvs


class DmcDevices(ConfigModel):
    """Profile id per device role of a DMC; the CHF is required, the others optional."""

    CHF: CatalogueId
    ESME: CatalogueId | None = None
    GSME: CatalogueId | None = None
    PPMID: CatalogueId | None = None
    IHD: CatalogueId | None = None

    def items(self) -> list[tuple[str, str]]:
        """``(role, profile id)`` for the roles this DMC has, CHF first."""
        return [
            (role, value)
            for role in ("CHF", "ESME", "GSME", "PPMID", "IHD")
            if (value := getattr(self, role)) is not None
        ]


class Epcl(ConfigModel):
    """EPCL entry id per installation status (absent: no entry for that status)."""

    active: NonEmptyStr | None = None
    dormant: NonEmptyStr | None = None
    mixed: NonEmptyStr | None = None


class InstallsAndDevices(ConfigModel):
    """A number of SMETS1 installations and of the devices in them: one pair of EPCL table cells."""

    installs: Annotated[int, Field(ge=0)]
    devices: Annotated[int, Field(ge=0)]


class EntryPopulation(ConfigModel):
    """The installations an EPCL entry (DMC x status) would let the DCC migrate.

    The EPCL report's two rows: those already at the DMC's target firmware, and those that could
    be upgraded to it. Figures a source gives are cited in ``source``; invented ones say
    ``placeholder: true``.
    """

    at_target_firmware: InstallsAndDevices
    upgradable_to_target_firmware: InstallsAndDevices
    source: NonEmptyStr
    placeholder: bool = False
    notes: str | None = None


class Population(ConfigModel):
    """Population per installation status; each status needs an EPCL entry in ``epcl``."""

    active: EntryPopulation | None = None
    dormant: EntryPopulation | None = None
    mixed: EntryPopulation | None = None


class Dmc(ConfigModel):
    """A Device Model Combination: one profile per role, EPCL entries, equivalence."""

    id: CatalogueId
    name: NonEmptyStr
    devices: DmcDevices
    epcl: Epcl = Epcl()
    population: Population = Population()
    substantively_equivalent_to: CatalogueId | None = None
    target_firmware: dict[Literal["CHF", "ESME", "GSME", "PPMID", "IHD"], NonEmptyStr] = {}
    source: NonEmptyStr
    notes: str | None = None

    def profile_id_for(self, role: str) -> str | None:
        return (
            getattr(self.devices, role, None) if role in type(self.devices).model_fields else None
        )

    def profile_for(self, role: str, catalogue: Catalogue) -> DeviceProfile | None:
        """This DMC's profile for ``role`` (``None`` when the DMC has no device in that role)."""
        profile_id = self.profile_id_for(role)
        return catalogue.profile(profile_id) if profile_id is not None else None

    def epcl_id(self, status: InstallationStatus | str) -> str | None:
        return getattr(self.epcl, status, None) if status in type(self.epcl).model_fields else None

    def population_for(self, status: InstallationStatus | str) -> EntryPopulation | None:
        """The population of this DMC's EPCL entry for ``status`` (``None``: not given)."""
        fields = type(self.population).model_fields
        return getattr(self.population, status, None) if status in fields else None

    @property
    def roles(self) -> list[str]:
        return [role for role, _ in self.devices.items()]

    @property
    def is_substantively_equivalent(self) -> bool:
        """True for an untested child DMC (EPCL Group 2)."""
        return self.substantively_equivalent_to is not None
