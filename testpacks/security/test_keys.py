"""Signed commands: a meter obeys only its current management key, once per counter.

Security-relevant commands reach a meter in envelopes signed with its management key
(``docs/envelope.md``). Each case sends the meter a Disable Supply command (the envelope SR 7.2
sends) an attacker or a faulty system could produce, straight onto its tunnel:

- ``test_a_command_signed_with_the_old_management_key_is_refused``: after a management key
  rotation (6.15.1 ManagementKey, repeated at least 5 minutes apart until confirmed within the
  7-day window, as the DCC's fix for 110031 does; a response without a code counts as
  unconfirmed), a command signed
  with the key it replaced;
- ``test_a_replayed_command_is_refused``: a Disable Supply the meter accepted before, sent again
  as it was (same counter, same signature) after the supply was put back on;
- ``test_a_command_with_a_tampered_signature_is_refused``: one bit of a valid signature flipped;
- ``test_an_unsigned_command_is_refused``: no signature at all;
- ``test_a_command_signed_with_another_devices_key_is_refused``: a wrong key (a real management
  key, of another device);
- ``test_a_command_signed_by_a_role_without_supply_rights_is_refused``: the key of the network
  operator, a role whose credentials the meter holds but that may not change the supply.

Every envelope goes straight onto the meter's tunnel: none of the harness's own (DCC-side)
checks stands in the way, so the verdict is the device's.

Each is refused: the meter answers (signed with its identity key) with the status that says why
(``bad_signature``; ``replay`` for the replay, as ``docs/envelope.md`` lists them; for the
network operator's key ``bad_signature`` or ``refused``, as a meter checking the role would
say), its supply (Metering SupplyStatus over ZigBee) is unchanged, and its security log (6.13
LogType Security) has a new entry for the refusal.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from harness.dcc.envelope import Command, Envelope, Kind, Status
from harness.faults import BenchFault
from harness.migration.model import KEY_ROTATION_DEADLINE_S, KEY_ROTATION_RETRY_S
from testpacks.security.helpers import REFUSED_BY_DEVICE, context
from testpacks.srv.context import supply_on

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.dcc.keys import KeyPair
    from harness.dcc.tunnel import Exchange
    from testpacks.srv.context import SrvContext

pytestmark = [pytest.mark.pack("security"), pytest.mark.security,
              REFUSED_BY_DEVICE, pytest.mark.srv("7.2", "6.13")]

METERS = ["ESME", "GSME"]
#: The DCC's fix for 110031 repeats an unconfirmed rotation at least 5 minutes later [seed 000]
#: (bench seconds), for as long as the 7 days the rotation must happen within allow.
ROTATION_RETRY_S = KEY_ROTATION_RETRY_S
ROTATION_WINDOW_S = KEY_ROTATION_DEADLINE_S
#: Answers to a rotation that mean "not confirmed, repeat it": the catalogue's "credential update
#: not confirmed" code, and a response without a code.
UNCONFIRMED = ("E061501", None)
#: What a meter may answer a command signed by a User it holds the certificate of, but whose
#: role may not send that command: the emulated firmware says the signature is not one it acts
#: on (``bad_signature``, ``docs/envelope.md``); a real meter may check the role and say it
#: will not do it (``refused``). Either refuses; acting on it fails.
ROLE_REFUSALS = frozenset({Status.BAD_SIGNATURE, Status.REFUSED})
#: The command every attack carries: what SR 7.2 Disable Supply sends.
ATTACK = (Command.SUPPLY, {"state": "off"})

meters = pytest.mark.parametrize("role", [pytest.param(r, marks=pytest.mark.device(r))
                                          for r in METERS])


def rotate_management_key(bench: Bench, ctx: SrvContext) -> None:
    """6.15.1 ManagementKey by the meter's supplier until confirmed (I0), at least
    :data:`ROTATION_RETRY_S` apart within :data:`ROTATION_WINDOW_S` of bench time; a response
    without a code is not a confirmation."""
    codes: list[str | None] = []
    timeline = bench.timeline  # the window is counted on it (the bench clock when virtual)
    started = timeline.monotonic()
    repeated_s = 0.0
    watched = ""
    while True:
        if codes:
            elapsed = timeline.monotonic() - started
            if elapsed + ROTATION_RETRY_S > ROTATION_WINDOW_S:
                break
            if not timeline.is_virtual and repeated_s + ROTATION_RETRY_S > timeline.watch_s:
                # A real bench repeats for at most the lab's watch window, not 7 days.
                timeline.wait(ROTATION_WINDOW_S - elapsed)
                watched = (f" (real clock: repeated for {repeated_s:g} s of wall time, "
                           f"process.watch_s; the rest of the window passed unobserved)")
                bench.note(f"key rotation: {watched.strip(' ()')}")
                break
            timeline.sleep(ROTATION_RETRY_S)  # the device's timing: bench time
            repeated_s += ROTATION_RETRY_S
        response = ctx.send("6.15.1", CredentialType="ManagementKey")
        codes.append(response.code)
        if response.code == "I0":
            return
        if response.code not in UNCONFIRMED:  # refused, not unconfirmed: repeating is no use
            pytest.fail(f"the {ctx.role}'s management key rotation (6.15.1) was refused: "
                        f"{ctx.describe(response)}", pytrace=False)
    shown = ", ".join(str(c) for c in codes[:5]) + (", ..." if len(codes) > 5 else "")
    if watched:  # only part of the window was watched: no verdict on the device
        raise BenchFault(f"the {ctx.role}'s management key rotation (6.15.1) was not confirmed "
                         f"in the part of the {ROTATION_WINDOW_S // 86400}-day window a real "
                         f"bench watches{watched}: {shown}")
    pytest.fail(f"the {ctx.role}'s management key rotation (6.15.1) was not confirmed within "
                f"{ROTATION_WINDOW_S // 86400} days ({len(codes)} attempts {ROTATION_RETRY_S} s "
                f"apart){watched}: {shown}", pytrace=False)


def attack_envelope(dcc: Any, eui: str, key: KeyPair | None) -> Envelope:
    """The attack command with the meter's next counter, signed with ``key`` (unsigned for
    ``None``)."""
    command, payload = ATTACK
    envelope = Envelope(Kind.COMMAND, eui, dcc.tunnel.next_counter(eui), command, payload)
    return envelope.signed_with(key) if key is not None else envelope


class Watch:
    """The meter's supply and security log before an attack, to judge it afterwards."""

    def __init__(self, ctx: SrvContext) -> None:
        self.ctx = ctx
        self.supply = ctx.supply()
        self.security_log = ctx.log("Security")

    def refused(self, exchange: Exchange, expected: Status | frozenset[Status],
                attack: str) -> None:
        """The meter refused ``attack``: answered (signed) with ``expected`` (or one of
        them), its supply unchanged, its security log grown."""
        ctx = self.ctx
        allowed = {expected} if isinstance(expected, Status) else set(expected)
        answer = exchange.response
        assert answer is not None, (
            f"the {ctx.role} did not answer {attack}: a refused command must be answered with "
            "the status that says why")
        assert exchange.response_verified, (
            f"the {ctx.role}'s answer to {attack} is not signed with its identity key")
        status = str(answer.payload.get("status"))
        supply = ctx.supply()
        if supply != self.supply:
            if self.supply == "On":
                with contextlib.suppress(Exception):  # the failure below is the one to report
                    supply_on(ctx)
            pytest.fail(f"the {ctx.role} acted on {attack} (answered {status!r}): its supply "
                        f"went from {self.supply} to {supply} (Metering SupplyStatus)",
                        pytrace=False)
        assert status in allowed, (
            f"the {ctx.role} answered {attack} with status {status!r}"
            + (f" ({answer.payload['reason']})" if answer.payload.get("reason") else "")
            + f"; {' or '.join(repr(str(s)) for s in sorted(allowed))} expected "
            "(docs/envelope.md, the device's checks)")
        after = ctx.log("Security")
        if self.security_log is not None:
            assert after != self.security_log, (
                f"the {ctx.role} refused {attack}, but its security log (6.13) shows no entry "
                "for it")


@meters
def test_a_command_signed_with_the_old_management_key_is_refused(bench: Bench, dcc: Any,
                                                                 role: str) -> None:
    """After a confirmed key rotation, a command signed with the replaced key is refused."""
    ctx = context(bench, dcc, role)
    if not ctx.supports("6.15.1"):
        pytest.skip(f"not applicable: the {role} ({ctx.profile.describe()}) has no 6.15.1 to "
                    "rotate its management key")
    old = dcc.keystore.management_key(ctx.eui)
    rotate_management_key(bench, ctx)
    assert dcc.keystore.management_key(ctx.eui) is not old, (
        f"6.15.1 answered I0 but the DCC still holds the {role}'s old management key")
    watch = Watch(ctx)
    exchange = dcc.send_envelope(attack_envelope(dcc, ctx.eui, old))
    watch.refused(exchange, Status.BAD_SIGNATURE,
                  "a Disable Supply signed with its old management key")


@meters
def test_a_replayed_command_is_refused(bench: Bench, dcc: Any, role: str) -> None:
    """A command the meter accepted, sent again as it was, is refused as a replay."""
    ctx = context(bench, dcc, role)
    supply_on(ctx)
    recorded = dcc.device_command(ctx.eui, *ATTACK)
    status = recorded.response.payload.get("status") if recorded.response else None
    assert status == Status.OK and ctx.supply() == "Off", (
        f"the {role} did not obey a correctly signed Disable Supply (answered {status!r}, "
        f"supply {ctx.supply()}): nothing to replay")
    supply_on(ctx)
    watch = Watch(ctx)
    exchange = dcc.send_envelope(recorded.command)
    watch.refused(exchange, Status.REPLAY,
                  f"a Disable Supply it accepted before, replayed (counter "
                  f"{recorded.command.counter})")


@meters
def test_a_command_with_a_tampered_signature_is_refused(bench: Bench, dcc: Any,
                                                        role: str) -> None:
    """A command whose signature has one bit flipped is refused."""
    ctx = context(bench, dcc, role)
    signed = attack_envelope(dcc, ctx.eui, dcc.keystore.management_key(ctx.eui))
    signature = bytearray(signed.signature)
    signature[len(signature) // 2] ^= 0x01
    watch = Watch(ctx)
    exchange = dcc.send_envelope(dataclasses.replace(signed, signature=bytes(signature)))
    watch.refused(exchange, Status.BAD_SIGNATURE, "a Disable Supply with a tampered signature")


@meters
def test_an_unsigned_command_is_refused(bench: Bench, dcc: Any, role: str) -> None:
    """A command without a signature is refused."""
    ctx = context(bench, dcc, role)
    watch = Watch(ctx)
    exchange = dcc.send_envelope(attack_envelope(dcc, ctx.eui, None))
    watch.refused(exchange, Status.BAD_SIGNATURE, "an unsigned Disable Supply")


@meters
def test_a_command_signed_with_another_devices_key_is_refused(bench: Bench, dcc: Any,
                                                              role: str) -> None:
    """A Disable Supply signed with a real management key, but another device's (the key of
    the other meter, else the CHF's): a wrong key is refused as any bad signature."""
    ctx = context(bench, dcc, role)
    other = next((d.eui for r, d in sorted(bench.devices.items()) if r != role
                  and r in METERS), bench.chf.eui)
    watch = Watch(ctx)
    exchange = dcc.send_envelope(attack_envelope(dcc, ctx.eui, dcc.keystore.management_key(other)))
    watch.refused(exchange, Status.BAD_SIGNATURE,
                  "a Disable Supply signed with another device's management key")


@meters
def test_a_command_signed_by_a_role_without_supply_rights_is_refused(bench: Bench, dcc: Any,
                                                                     role: str) -> None:
    """A Disable Supply signed with the key of the network operator, whose certificate the
    meter holds but whose role may not change the supply (SR 7.2 is the supplier's)."""
    ctx = context(bench, dcc, role)
    operator = "ED" if role == "ESME" else "GT"
    key = dcc.keystore.user_for_role(operator).key
    watch = Watch(ctx)
    exchange = dcc.send_envelope(attack_envelope(dcc, ctx.eui, key))
    watch.refused(exchange, ROLE_REFUSALS,
                  f"a Disable Supply signed with the network operator's ({operator}) key")
