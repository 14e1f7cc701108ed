"""Residual risk 9: a wrong DNO certificate in a meter must not lock the DNO out.

Seed 001, residual risk 9: if an incorrect DNO's certificate is added to a SMETS1 device, it
cannot be changed afterwards: when the DNO attempts to change it, the DSP's Registration Data
check compares the Network Operator making the change with the certificate in the DNO slot,
the check fails and the change is rejected, so the DNO permanently loses access to the device.
The proposed solution: check the registered Network Operator instead.

``test_a_wrong_dno_certificate_can_be_replaced_by_the_right_dno``: the DCC places another
DNO's certificate in the ESME's network operator slot, as a faulty enrolment would (6.15.1
NetworkOperatorCertificate carried out by the DCC itself); the ESME's registered DNO then
replaces it with its own (6.15.1 sent as that DNO). Healthy (the seeds' proposed solution): I0,
and the DNO reaches the ESME afterwards. Refused (the DNO locked out): the case fails saying
so, which the testing issue registry attributes to RISK-9. The right certificate is put back by
the DCC afterwards either way.

Only the ESME: DNOs are electricity distributors (the GSME's slot belongs to a gas transporter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from testpacks.security.helpers import REFUSED_BY_DCC, context, send_with_code

if TYPE_CHECKING:
    from harness.bench import Bench

pytestmark = [pytest.mark.pack("security"), pytest.mark.security,
              REFUSED_BY_DCC, pytest.mark.srv("6.15.1"),
              pytest.mark.device("ESME")]

SLOT = "NetworkOperatorCertificate"
#: The User Role of a DNO (electricity distributor).
DNO_ROLE = "ED"
#: Reads a DNO may send an ESME: the first the ESME supports shows the DNO still reaches it.
PROBES = (("6.13", {"LogType": "Security"}), ("4.1.1", {}), ("7.4", {}))


def test_a_wrong_dno_certificate_can_be_replaced_by_the_right_dno(bench: Bench,
                                                                      dcc: Any) -> None:
    ctx = context(bench, dcc, "ESME")
    if not ctx.supports("6.15.1"):
        pytest.skip(f"not applicable: {ctx.profile.describe()} has no 6.15.1 (Update Security "
                    "Credentials) to replace a certificate")
    record = dcc.inventory.get(ctx.eui)
    registered = record.network_operator if record is not None else None
    if registered is None:
        pytest.skip("blocked: the DCC has no registered network operator for the ESME")
    others = sorted(u.name for u in dcc.keystore.users.values()
                    if u.role == DNO_ROLE and u.name != registered)
    if not others:
        pytest.skip(f"blocked: bench {bench.lab.bench} has a single DNO User ({registered}); "
                    "placing a wrong DNO certificate needs another (dcc.users in the lab config)")
    wrong = others[0]
    placed = dcc.operate("6.15.1", ctx.eui, CredentialType=SLOT, NewCredentialOwner=wrong)
    try:
        if placed.code != "I0":
            pytest.skip(f"blocked: the DCC could not place {wrong}'s certificate in the ESME's "
                        f"network operator slot: {ctx.describe(placed)}")
        response = send_with_code(lambda: dcc.send(
            "6.15.1", ctx.eui, user=registered, CredentialType=SLOT,
            NewCredentialOwner=registered))
        assert response.code == "I0", (
            f"risk 9: the ESME's registered DNO {registered} could not replace the wrong DNO "
            f"certificate ({wrong}'s) in its network operator slot: 6.15.1 answered "
            f"{ctx.describe(response)}; the DNO is locked out of the device (the change must be "
            "checked against the registered network operator, not the certificate in the slot)")
        for srv, params in PROBES:
            if ctx.supports(srv) and DNO_ROLE in ctx.catalogue[srv].roles:
                probe = send_with_code(lambda srv=srv, params=params: dcc.send(
                    srv, ctx.eui, user=registered, **params))
                assert probe.code == "I0", (
                    f"the registered DNO {registered} replaced the wrong certificate, but is "
                    f"refused SR {srv} afterwards: {ctx.describe(probe)}")
                break
    finally:
        # The DCC puts the registered DNO's certificate back, whatever happened.
        dcc.operate("6.15.1", ctx.eui, CredentialType=SLOT, NewCredentialOwner=registered)
