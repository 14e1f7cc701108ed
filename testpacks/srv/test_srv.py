"""Standard DMCT Service Reference Variant pack (see the package docstring for the cases).

Case ids are ``srv/test_srv.py::<test>[<srv>-<ROLE>]`` for every SRV of the SR catalogue and
every device type it targets, whatever the DMC, so a testing issue registry can name them; the
DMC and its profiles decide only which of them apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from harness.config.environment import missing_code_rate
from harness.dcc.catalogue import load_sr_catalogue
from testpacks.srv.context import NOT_SUPPORTED, SrvContext, success_code
from testpacks.srv.exercise import restoring
from testpacks.srv.exercises import EXERCISES, case_marks
from testpacks.srv.plan import (
    CONFIGURATION_SRVS,
    Target,
    applicability,
    daily_limit,
    support,
    targets,
)

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.dcc.requests import ServiceResponse

pytestmark = pytest.mark.pack("srv")

#: The rate of Service Responses without a response code the response-code case detects with
#: :data:`RESPONSE_CODE_CONFIDENCE` unless ``DMCT_MISSING_CODE_RATE`` sets another (read when
#: the case is collected; the plugin refuses a bad one in one line before that).
DEFAULT_MISSING_CODE_RATE = 0.01
RESPONSE_CODE_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Sampling:
    """The response-code case's sample: the fewest requests that meet at least one response
    without a code with :data:`RESPONSE_CODE_CONFIDENCE` when ``rate`` of them lack one,
    ``ceil(ln(1 - confidence) / ln(1 - rate))``, shared among the meters."""

    rate: float

    @property
    def requests(self) -> int:
        return math.ceil(math.log(1 - RESPONSE_CODE_CONFIDENCE) / math.log(1 - self.rate))

    @property
    def id(self) -> str:
        """The case's parameter id, so that the report's case id states the sampling."""
        return (f"detects-{self.rate * 100:g}pct-at-{RESPONSE_CODE_CONFIDENCE * 100:g}pct-"
                f"{self.requests}-requests")

#: Requests of a configuration SRV sent in one bench day by the repeat case: more than any
#: plausible daily limit (the seeds' 91333 is once a day), so the limit a device enforces is
#: observed, not guessed.
DAILY_PROBE_REQUESTS = 12
#: The cheap read SR sent per meter, in order of preference.
CHEAP_READS = {"ESME": ("4.1.1", "7.4"), "GSME": ("7.4",)}
#: A repeat case starts on a fresh bench day if less than this is left of the current one.
DAY_MARGIN_S = 3600
#: Bench seconds into the next day at which a case resumes after moving to it.
NEXT_DAY_AT_S = 60


# -- parametrisation --------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = metafunc.function.__name__
    if name == "test_supported_srv_executes":
        cases = _cases(metafunc.config, supported=True)
    elif name == "test_unsupported_srv_is_refused":
        cases = _cases(metafunc.config, supported=False)
    elif name == "test_srv_repeat_in_one_day":
        cases = _cases(metafunc.config, supported=True, srvs=CONFIGURATION_SRVS)
    elif name == "test_every_response_carries_a_response_code":
        sampling = Sampling(missing_code_rate(DEFAULT_MISSING_CODE_RATE))
        metafunc.parametrize("sampling", [pytest.param(sampling, id=sampling.id)])
        return
    else:
        return
    metafunc.parametrize("target", cases)


def _cases(config: pytest.Config, *, supported: bool,
           srvs: tuple[str, ...] | None = None) -> list[Any]:
    from harness.pytest_plugin import lab_config_of

    lab = lab_config_of(config)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    sr_catalogue = load_sr_catalogue()
    cases = []
    for target in targets(sr_catalogue, srvs):
        marks = case_marks(target)
        found = applicability(target, sr_catalogue, dmc, lab.catalogue,
                              want_supported=supported)
        if found.skip:
            marks.append(pytest.mark.skip(reason=found.skip))
        elif target.srv not in EXERCISES:
            marks.append(pytest.mark.skip(reason=f"blocked: the srv pack has no exercise for "
                                          f"SR {target.srv}"))
        cases.append(pytest.param(target, id=target.id, marks=marks))
    return cases


# -- helpers ----------------------------------------------------------------------------------

def _context(bench: Bench, dcc: Any, target: Target) -> SrvContext:
    ctx = SrvContext(bench, dcc, target.role)
    ctx.ready()
    note = EXERCISES[target.srv].note if target.srv in EXERCISES else None
    if note is not None:  # the report says how little the case judged
        bench.note(note)
    return ctx


def _sent_as(ctx: SrvContext, srv: str) -> str:
    return f"SR {srv} to the {ctx.role} as {ctx.sender(srv)}"


def _no_code(ctx: SrvContext, srv: str, response: ServiceResponse, problem: str | None) -> str:
    after = ("the device state is as the SRV should leave it" if problem is None
             else f"and {problem}")
    return f"{_sent_as(ctx, srv)}: no response code in the Service Response; {after}"


def _next_day(bench: Bench) -> None:
    """Move bench time to just after the next midnight (bench clock's time zone): the device's
    day must turn, so it is lived through, never skipped; on a real bench a wait longer than
    the lab's process.watch_s blocks the case instead of sleeping hours."""
    now = bench.clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)
    bench.timeline.device_wait((midnight - now).total_seconds() + NEXT_DAY_AT_S,
                               "the device's next day (daily SRV limits count per day)")


def _sent_today(bench: Bench, dcc: Any, srv: str, eui: str) -> bool:
    """Whether ``srv`` went to ``eui`` earlier in the current bench day (the DCC's evidence)."""
    today = bench.clock.now().date()
    return any(item.kind in ("request", "operation") and item.data.get("srv") == srv
               and item.data.get("target") == eui and item.time.date() == today
               for item in dcc.evidence.since(0))


def _left_today_s(bench: Bench) -> float:
    now = bench.clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)
    return (midnight - now).total_seconds()


# -- cases ------------------------------------------------------------------------------------

def test_supported_srv_executes(bench: Bench, dcc: Any, target: Target) -> None:
    """A supported SRV, sent by a permitted User with valid parameters, is answered I0 and
    changes the device as it should (a read SR: its body agrees with the device)."""
    ctx = _context(bench, dcc, target)
    exercise = EXERCISES[target.srv]
    original = exercise.observe(ctx)
    with restoring(exercise, ctx, original):
        before = exercise.observe(ctx) if exercise.prepare(ctx, original) else original
        params = exercise.params(ctx, before)
        expected = exercise.expected_codes(ctx, before)
        response = ctx.send(target.srv, **params)
        if response.code is not None and response.code not in expected:
            pytest.fail(f"{_sent_as(ctx, target.srv)}: expected {' or '.join(expected)}, "
                        f"answered {ctx.describe(response)}", pytrace=False)
        if exercise.read_only:
            problem = exercise.check_read(ctx, before, response)
        else:
            problem = exercise.check_change(ctx, params, before, response)
        if response.code is None:
            pytest.fail(_no_code(ctx, target.srv, response, problem), pytrace=False)
        assert problem is None, (f"{_sent_as(ctx, target.srv)} answered {response.code} but "
                                 f"{problem}")


def test_unsupported_srv_is_refused(bench: Bench, dcc: Any, target: Target) -> None:
    """An SRV the model does not support (or restricts) is refused with E11 and changes
    nothing the same observations can see."""
    ctx = _context(bench, dcc, target)
    exercise = EXERCISES[target.srv]
    why = support(ctx.profile, target.srv).why
    original = exercise.observe(ctx)
    with restoring(exercise, ctx, original):
        before = exercise.observe(ctx) if exercise.prepare(ctx, original) else original
        params = exercise.params(ctx, before)
        response = ctx.send(target.srv, **params)
        if response.code is None:
            pytest.fail(f"{_sent_as(ctx, target.srv)} ({why}): no response code in the "
                        f"Service Response", pytrace=False)
        assert response.code == NOT_SUPPORTED, (
            f"{_sent_as(ctx, target.srv)}: {why}, so {NOT_SUPPORTED} was expected; answered "
            f"{ctx.describe(response)}")
        problem = exercise.check_unchanged(ctx, params, before)
        assert problem is None, f"{_sent_as(ctx, target.srv)} was refused, yet {problem}"


@pytest.mark.srv("4.1.1", "7.4")
def test_every_response_carries_a_response_code(bench: Bench, dcc: Any,
                                                sampling: Sampling) -> None:
    """Every Service Response to a cheap read carries a response code (91339/91340).
    ``sampling.requests`` reads in all, shared among the meters, detect a rate of
    ``sampling.rate`` with 95% confidence (the case id says so)."""
    reads_by_meter: dict[str, tuple[SrvContext, str]] = {}
    for role, reads in CHEAP_READS.items():
        if role not in bench.dmc.roles:
            continue
        ctx = _context(bench, dcc, Target(reads[0], role))
        srv = next((s for s in reads if ctx.supports(s)), None)
        if srv is not None:
            reads_by_meter[f"{role} {srv}"] = (ctx, srv)
    if not reads_by_meter:
        pytest.skip(f"not applicable: no meter of DMC {bench.dmc.id} supports "
                    f"{' or '.join(sorted({s for r in CHEAP_READS.values() for s in r}))}")
    share = math.ceil(sampling.requests / len(reads_by_meter))
    missing = {key: sum(1 for _ in range(share) if ctx.send(srv).code is None)
               for key, (ctx, srv) in reads_by_meter.items()}
    total = share * len(missing)
    count = sum(missing.values())
    assert count == 0, (
        f"{count} of {total} Service Responses ({100 * count / total:.1f}%) carried no "
        f"response code: " + ", ".join(f"{k}: {v}/{share}" for k, v in missing.items())
        + f" ({total} requests detect a rate of {sampling.rate:.1%} with "
        f"{RESPONSE_CODE_CONFIDENCE:.0%} confidence)")


def test_srv_repeat_in_one_day(bench: Bench, dcc: Any, target: Target) -> None:
    """A configuration SRV sent :data:`DAILY_PROBE_REQUESTS` times in one bench day is
    accepted every time, unless the profile documents a daily limit
    (``expectations.srv_daily_limits``): then the request over the limit is refused with the
    SRV's own code, and the next day's is accepted. A refusal reports the limit observed."""
    ctx = _context(bench, dcc, target)
    srv = target.srv
    exercise = EXERCISES[srv]
    definition = ctx.catalogue[srv]
    limit = daily_limit(ctx.profile, srv)
    if _sent_today(bench, dcc, srv, ctx.eui) or _left_today_s(bench) < DAY_MARGIN_S:
        _next_day(bench)  # the first request of this case is the first of its bench day
    day = bench.clock.now().date()
    documented = (f"the profile documents a limit of {limit} a day" if limit else
                  "the profile documents no daily limit (expectations.srv_daily_limits)")
    original = exercise.observe(ctx)
    with restoring(exercise, ctx, original):
        before = exercise.observe(ctx) if exercise.prepare(ctx, original) else original
        params = exercise.params(ctx, before)
        response = None
        probes = max(DAILY_PROBE_REQUESTS, (limit or 0) + 1)
        for attempt in range(1, probes + 1):
            response = ctx.send(srv, **params)
            nth = f"request {attempt} of SR {srv} to the {ctx.role} on bench day {day}"
            if response.code is None:
                pytest.fail(f"{nth}: no response code in the Service Response", pytrace=False)
            if limit is not None and attempt > limit:
                assert response.code in definition.response_codes, (
                    f"{nth}: {documented}, so it must be refused with one of the SRV's codes "
                    f"({', '.join(definition.response_codes) or 'none in the catalogue'}); "
                    f"answered {ctx.describe(response)}")
                break
            assert ctx.is_success(srv, response), (
                f"{nth} refused: {ctx.describe(response)}; observed limit: {attempt - 1} a "
                f"day (of {probes} sent); {documented}")
        assert bench.clock.now().date() == day, (
            f"the requests of SR {srv} did not fit in bench day {day}")
        if limit is not None:
            _next_day(bench)
            response = ctx.send(srv, **params)
            assert ctx.is_success(srv, response), (
                f"SR {srv} to the {ctx.role} on the next bench day {bench.clock.now().date()} "
                f"(after its daily limit of {limit}): {ctx.describe(response)}; expected "
                f"{success_code(definition)}")
        assert response is not None
        problem = exercise.check_change(ctx, params, before, response)
        assert problem is None, f"SR {srv} to the {ctx.role} accepted, but {problem}"
