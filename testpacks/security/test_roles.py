"""Role-based access: an SRV sent by a User Role the SR catalogue does not permit is refused.

``test_srv_from_a_role_not_permitted_is_refused[<srv>-<ROLE>]``, one case per SRV of the SR
catalogue and device type it targets (the srv pack's case ids, :mod:`testpacks.srv.plan`): for
an SRV the DMC supports on that device, a User of every User Role not in the SRV's ``roles``
(the bench's User of that role) sends it with valid parameters, correctly signed when the SRV
is Critical. Each request must be refused with E2, and the device state the srv pack's
exercise of that SRV observes (ZigBee reads, read SRs, HAN events, the optical port) must be
unchanged. An SRV the DMC does not support on the device, or one every role may send, is not
applicable.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from harness.dcc.catalogue import ROLES, load_sr_catalogue
from testpacks.security.helpers import REFUSED_BY_DCC, context
from testpacks.srv.exercises import EXERCISES, case_marks
from testpacks.srv.plan import applicability, targets

if TYPE_CHECKING:
    from harness.bench import Bench
    from testpacks.srv.plan import Target

pytestmark = [pytest.mark.pack("security"), pytest.mark.security, REFUSED_BY_DCC]

#: The code of a request by a User Role not permitted to send the SRV.
ROLE_NOT_PERMITTED = "E2"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ != "test_srv_from_a_role_not_permitted_is_refused":
        return
    from harness.pytest_plugin import lab_config_of

    lab = lab_config_of(metafunc.config)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    sr_catalogue = load_sr_catalogue()
    cases = []
    for target in targets(sr_catalogue):
        definition = sr_catalogue[target.srv]
        marks = case_marks(target)
        forbidden = [role for role in ROLES if role not in definition.roles]
        found = applicability(target, sr_catalogue, dmc, lab.catalogue, want_supported=True)
        if not forbidden:
            marks.append(pytest.mark.skip(reason=f"not applicable: every User Role may send SR "
                                          f"{target.srv} ({', '.join(definition.roles)})"))
        elif found.skip:
            marks.append(pytest.mark.skip(reason=found.skip.replace(
                "only for supported SRVs", "role checks are tried on SRVs the DMC supports")))
        elif target.srv not in EXERCISES:
            marks.append(pytest.mark.skip(reason=f"blocked: the srv pack has no exercise for "
                                          f"SR {target.srv}"))
        cases.append(pytest.param(target, id=target.id, marks=marks))
    metafunc.parametrize("target", cases)


def test_srv_from_a_role_not_permitted_is_refused(bench: Bench, dcc: Any,
                                                  target: Target) -> None:
    """Every User Role the catalogue does not permit is refused the SRV with E2, and the
    device shows no change."""
    ctx = context(bench, dcc, target.role)
    definition = ctx.catalogue[target.srv]
    exercise = EXERCISES[target.srv]
    users = {}
    for role in ROLES:
        if role in definition.roles:
            continue
        try:
            users[role] = dcc.keystore.user_for_role(role).name
        except KeyError:  # the bench's DCC has no User of that role
            continue
    if not users:
        pytest.skip(f"blocked: bench {bench.lab.bench} has no DCC User of a role that may not "
                    f"send SR {target.srv} (dcc.users in the lab config)")
    before = exercise.observe(ctx)
    params = exercise.params(ctx, before)
    # What the observation says before any request: a check that does not hold already (say
    # the DCC cannot tell who supplies the device) is no change made by the requests.
    already = exercise.check_unchanged(ctx, params, before)
    wrong = {}
    for role, user in users.items():
        response = ctx.send(target.srv, user=user, **params)
        if response.code != ROLE_NOT_PERMITTED:
            wrong[role] = ctx.describe(response)
    problem = exercise.check_unchanged(ctx, params, before)
    if problem is not None and problem == already:
        problem = None
    sent = (f"SR {target.srv} to the {target.role} (roles: {', '.join(definition.roles)}) "
            f"sent by {', '.join(f'{u} ({r})' for r, u in users.items())}")
    if wrong or problem:
        with contextlib.suppress(Exception):  # the failure below is the one to report
            exercise.restore(ctx, before)
    assert not wrong, (
        f"{sent}: {ROLE_NOT_PERMITTED} expected from every one; "
        + "; ".join(f"{role} answered {text}" for role, text in wrong.items())
        + (f"; and {problem}" if problem else ""))
    assert problem is None, f"{sent}: all refused with {ROLE_NOT_PERMITTED}, yet {problem}"
