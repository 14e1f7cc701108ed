"""The DMCT Testing Report as typed, frozen classes: what every renderer reads.

``dmct-report.json`` stays the contract (``docs/dmct-report.md``); these classes are its typed
reading. :meth:`DmctReport.from_json` validates a report dict (one written by any version of the
harness: fields added since have defaults, fields it does not know are kept) and
:meth:`DmctReport.to_json` gives the dict back. Renderers get the model, so a misspelt field is
an error here rather than an empty cell in a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["passed", "failed", "blocked", "not_applicable"]


class _Frozen(BaseModel):
    """Frozen; unknown fields kept (a newer report read by an older renderer loses nothing)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    def get(self, key: str, default: Any = None) -> Any:
        """Read a field as a dict would (the phrasings of ``render_common`` take either)."""
        value = getattr(self, key, default)
        return default if value is None and default is not None else value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Device(_Frozen):
    role: str
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    placeholder: bool = False
    target_firmware: str | None = None


class DmcPart(_Frozen):
    id: str
    name: str | None = None
    epcl_entry: str | None = None
    substantively_equivalent_to: str | None = None
    devices: list[Device] = Field(default_factory=list)


class Pack(_Frozen):
    name: str
    cases: int = 0
    passed: int = 0
    failed: int = 0
    blocked: int = 0
    not_applicable: int = 0


class TimelineEntry(_Frozen):
    at: str | None = None
    source: str
    index: int
    text: str


class Case(_Frozen):
    id: str
    pack: str | None = None
    srv: list[str] = Field(default_factory=list)
    outcome: Outcome
    testing_issue: str | None = None
    reason: str | None = None
    #: How the case observed, when that qualifies its outcome (its evidence notes, e.g. an SRV
    #: judged by its response code only); else ``None``.
    note: str | None = None
    #: A security case: who refuses its attempt (``device`` or ``dcc``); else ``None``.
    refused_by: Literal["device", "dcc"] | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    bench_time_start: str | None = None
    bench_time_end: str | None = None
    traceback: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)


class Issue(_Frozen):
    id: str
    title: str
    severity: int
    known: bool = True
    counted: bool = True
    #: ``open``, ``awaiting_triage`` (new) or ``bench_fault`` (a ``BENCH-FAULT-Fn`` finding of
    #: an injected bench fault, never counted), or a registry entry's own status.
    status: str = "open"
    cases: list[str] = Field(default_factory=list)
    source: str = ""
    url: str | None = None
    description: str | None = None
    root_cause: str | None = None
    workaround: str | None = None
    fix: str | None = None
    regression: str | None = None
    not_counted_rationale: str | None = None


class ThresholdPart(_Frozen):
    limits: dict[str, int] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    met: bool = False
    source: str | None = None


class Anomaly(_Frozen):
    case: str
    outcome: str
    reason: str | None = None
    testing_issue: str | None = None


class DeviceSecurity(_Frozen):
    cases_tried: int = 0
    refused_as_expected: int = 0
    not_applicable: int = 0
    anomalies: list[Anomaly] = Field(default_factory=list)


class Selection(_Frozen):
    """What the run was asked to run (``run.json``); ``partial``: it may leave cases out."""

    packs: list[str] = Field(default_factory=list)
    #: A lab's own pack directories (``dmct run --pack-path``), run beside ``packs``.
    pack_paths: list[str] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=list)
    dmcs: list[str] = Field(default_factory=list)
    pytest_args: list[str] = Field(default_factory=list)
    partial: bool = False
    partial_reasons: list[str] = Field(default_factory=list)


class Lsc5(_Frozen):
    met: bool
    regression_needed: list[str] = Field(default_factory=list)
    lsc4_regression: list[str] = Field(default_factory=list)
    statement: str


class CoverageRow(_Frozen):
    pack: str
    srv: str
    cells: dict[str, dict[str, int]] = Field(default_factory=dict)


class NotApplicableGroup(_Frozen):
    reason: str
    count: int
    packs: list[str] = Field(default_factory=list)
    srvs: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)


class Coverage(_Frozen):
    devices: list[str] = Field(default_factory=list)
    rows: list[CoverageRow] = Field(default_factory=list)
    not_applicable_reasons: list[NotApplicableGroup] = Field(default_factory=list)


class Exclusion(_Frozen):
    id: str
    title: str
    severity: int
    rationale: str


class Provision(_Frozen):
    supplier: str
    on: str
    deadline: str


class Referral(_Frozen):
    supplier: str
    on: str
    note: str | None = None
    within_deadline: bool = False


class ReferralRegister(_Frozen):
    basis: Literal["production", "provision"] = "production"
    provided: list[Provision] = Field(default_factory=list)
    referrals: list[Referral] = Field(default_factory=list)


class DmctReport(_Frozen):
    """One DMC and installation status: the whole ``dmct-report.json``."""

    schema_: str = Field(alias="schema")
    dmc: DmcPart
    installation_status: str
    bench: str | None = None
    state: Literal["draft", "final"] = "draft"
    finalised_at: str | None = None
    finalised_early: bool | None = None
    final_reason: str | None = None
    complete: bool = True
    #: ``None``: not run by ``dmct run`` (no ``run.json``), or an older report.
    selection: Selection | None = None
    produced_at: str | None = None
    referral_deadline: str | None = None
    packs: list[Pack] = Field(default_factory=list)
    cases: list[Case] = Field(default_factory=list)
    testing_issues: list[Issue] = Field(default_factory=list)
    device_security: DeviceSecurity = Field(default_factory=DeviceSecurity)
    #: The security cases the DCC side refuses before any device is contacted (same counts).
    dcc_access_control: DeviceSecurity = Field(default_factory=DeviceSecurity)
    threshold: ThresholdPart = Field(default_factory=ThresholdPart)
    verdict: Literal["meets_exit_criteria", "fails_exit_criteria"] = "fails_exit_criteria"
    verdict_reasons: list[str] = Field(default_factory=list)
    lsc5: Lsc5 | None = None
    coverage: Coverage | None = None
    exclusions_20_29: list[Exclusion] = Field(default_factory=list)
    referral_working_days: int = 10
    referral_register: ReferralRegister = Field(default_factory=ReferralRegister)
    limitations: list[str] = Field(default_factory=list)
    #: Free-form by design (what a bench can say of itself varies): ``docs/dmct-report.md``.
    provenance: dict[str, Any] | None = None

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DmctReport:
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def as_report(report: DmctReport | Mapping[str, Any]) -> DmctReport:
    """The typed report a renderer reads: a ``dmct-report.json`` dict is read into it once."""
    return report if isinstance(report, DmctReport) else DmctReport.from_json(dict(report))
