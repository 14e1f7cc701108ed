"""Device security on the emulated bench: the device refuses what the S1SP did not sign with its
current management key, and what it has seen before, and changes nothing.

Envelopes are sent by hand through the DCC's tunnel (``dcc.send_envelope``); the device's
answer carries the status, and its security log (SR 6.13 LogType=Security) the refusal. The
S1SP-side equivalents (a User's request signature and RequestID counter) are in test_s1sp.
"""

from __future__ import annotations

import dataclasses

import pytest

from harness.bench import Bench
from harness.dcc.envelope import Command, Envelope, Kind, Status
from harness.dcc.tunnel import Exchange
from harness.han import clusters as se

from .conftest import log_events, ok, raise_device_alert, supply


def envelope(bench: Bench, role: str = "ESME", *, state: str = "off",
             counter: int | None = None, device: str | None = None) -> Envelope:
    """An unsigned supply command for ``role`` with the tunnel's next counter."""
    eui = bench.device(role).eui
    if counter is None:
        counter = bench.dcc.tunnel.next_counter(eui)
    return Envelope(Kind.COMMAND, device or eui, counter, Command.SUPPLY, {"state": state})


def management_key(bench: Bench, role: str = "ESME"):
    return bench.dcc.keystore.management_key(bench.device(role).eui)


def status(exchange: Exchange) -> str:
    assert exchange.response is not None, "the device did not answer"
    assert exchange.response_verified, "the answer is not signed by the device's identity key"
    return str(exchange.response.payload["status"])


def refused_and_logged(bench: Bench, exchange: Exchange, expected: Status, event: str,
                       before: list[str], events: tuple[str, ...] = ()) -> None:
    """The answer's status, the supply still on, the event log as it was (``events``) and one
    more entry in the security log."""
    assert status(exchange) == expected
    assert exchange.response.counter == exchange.command.counter
    assert supply(bench) == "On"
    assert log_events(bench, "ESME", "Event") == list(events)
    assert log_events(bench, "ESME") == [*before, event]


@pytest.fixture
def bench(dcc_bench: Bench) -> Bench:
    return dcc_bench


def test_a_correctly_signed_envelope_is_obeyed(bench):
    exchange = bench.dcc.send_envelope(envelope(bench).signed_with(management_key(bench)))
    assert status(exchange) == Status.OK
    assert supply(bench) == "Off"
    assert log_events(bench, "ESME", "Event") == ["supply"]
    assert log_events(bench, "ESME") == []


def test_tampered_signature(bench):
    before = log_events(bench, "ESME")
    signed = envelope(bench).signed_with(management_key(bench))
    signature = bytearray(signed.signature)
    signature[20] ^= 0x04
    exchange = bench.dcc.send_envelope(dataclasses.replace(signed, signature=bytes(signature)))
    refused_and_logged(bench, exchange, Status.BAD_SIGNATURE, "bad_signature", before)


def test_payload_changed_after_signing(bench):
    before = log_events(bench, "ESME")
    signed = envelope(bench, state="on").signed_with(management_key(bench))
    exchange = bench.dcc.send_envelope(dataclasses.replace(signed, payload={"state": "off"}))
    refused_and_logged(bench, exchange, Status.BAD_SIGNATURE, "bad_signature", before)


def test_unsigned_envelope(bench):
    before = log_events(bench, "ESME")
    exchange = bench.dcc.send_envelope(envelope(bench))
    refused_and_logged(bench, exchange, Status.BAD_SIGNATURE, "unsigned", before)
    assert exchange.response.payload["reason"] == "unsigned"


def test_envelope_signed_by_someone_else(bench):
    before = log_events(bench, "ESME")
    user_key = bench.dcc.keystore.user("import-supplier").key
    exchange = bench.dcc.send_envelope(envelope(bench).signed_with(user_key))
    refused_and_logged(bench, exchange, Status.BAD_SIGNATURE, "bad_signature", before)


def test_replayed_counter(bench):
    dcc = bench.dcc
    disable = envelope(bench).signed_with(management_key(bench))
    assert status(dcc.send_envelope(disable)) == Status.OK
    ok(dcc.send("7.1", "ESME", role="IS"))  # the S1SP's next command: supply on again
    before = log_events(bench, "ESME")
    exchange = dcc.send_envelope(disable)
    refused_and_logged(bench, exchange, Status.REPLAY, "replay", before,
                       events=("supply", "supply"))


def test_lower_counter_freshly_signed(bench):
    dcc = bench.dcc
    ok(dcc.send("7.4", "ESME", role="IS"))
    ok(dcc.send("6.11", "ESME", role="IS"))  # an envelope: the device's counter moves on
    before = log_events(bench, "ESME")
    stale = envelope(bench, counter=1).signed_with(management_key(bench))
    exchange = dcc.send_envelope(stale)
    assert status(exchange) == Status.REPLAY
    assert supply(bench) == "On"
    assert log_events(bench, "ESME") == [*before, "replay"]


def test_envelope_for_another_device(bench):
    dcc = bench.dcc
    before = log_events(bench, "ESME")
    # Validly signed for the GSME, delivered to the ESME.
    for_gsme = envelope(bench, "GSME").signed_with(management_key(bench, "GSME"))
    exchange = dcc.send_envelope(for_gsme, to="ESME")
    assert status(exchange) == Status.WRONG_DEVICE
    assert exchange.response.device == bench.device("ESME").eui
    assert supply(bench) == "On" and supply(bench, "GSME") == "On"
    assert log_events(bench, "ESME") == [*before, "wrong_device"]
    assert log_events(bench, "GSME") == []


def test_pre_rotation_key_after_management_key_rotation(bench):
    dcc = bench.dcc
    eui = bench.device("ESME").eui
    old_key = management_key(bench)
    ok(dcc.send("6.15.1", "ESME", role="IS", CredentialType="ManagementKey"))
    new_key = management_key(bench)
    assert new_key is not old_key and dcc.keystore.management_keys(eui) == [old_key, new_key]
    before = log_events(bench, "ESME")
    assert before == ["management_key_rotated"]
    exchange = dcc.send_envelope(envelope(bench).signed_with(old_key))
    refused_and_logged(bench, exchange, Status.BAD_SIGNATURE, "bad_signature", before)
    # The S1SP signs with the new key, and the device obeys it.
    ok(dcc.send("7.2", "ESME", role="IS"))
    assert supply(bench) == "Off"


def test_device_command_helper_signs_with_the_current_key(bench):
    exchange = bench.dcc.device_command("ESME", Command.READ_BOOST, {})
    assert status(exchange) == Status.OK and exchange.response.payload["boost"] == {}
    exchange = bench.dcc.device_command("ESME", Command.SUPPLY, {"state": "off"},
                                        key=bench.dcc.keystore.user("dno").key)
    assert status(exchange) == Status.BAD_SIGNATURE
    assert supply(bench) == "On"


def test_not_a_command_gets_no_answer_and_changes_nothing(bench):
    eui = bench.device("ESME").eui
    response_kind = dataclasses.replace(envelope(bench), kind=Kind.RESPONSE)
    exchange = bench.dcc.send_envelope(response_kind.signed_with(management_key(bench)))
    assert exchange.response is None
    assert supply(bench) == "On"
    assert log_events(bench, "ESME") == ["not_a_command"]
    assert any(item.kind == "envelope_in" and "no answer" in item.data["summary"]
               for item in bench.dcc.evidence.since(0) if item.data.get("device") == eui)


def test_bad_payload_is_refused_as_malformed(bench):
    bad = Envelope(Kind.COMMAND, bench.device("ESME").eui,
                   bench.dcc.tunnel.next_counter(bench.device("ESME").eui), Command.SUPPLY,
                   {"state": "sideways"}).signed_with(management_key(bench))
    exchange = bench.dcc.send_envelope(bad)
    assert status(exchange) == Status.MALFORMED
    assert supply(bench) == "On"
    assert log_events(bench, "ESME") == ["malformed"]


def test_refusals_reach_the_s1sp_as_e20(bench):
    """When the device refuses the S1SP's own command (the keys disagree), the SR says so."""
    dcc = bench.dcc
    eui = bench.device("ESME").eui
    # The device rotated to a key the S1SP never committed: the S1SP still signs with the old.
    rogue = dcc.keystore.new_management_key(eui)
    assert status(dcc.device_command("ESME", Command.KEY_ROTATE,
                                     {"public_key": rogue.public.to_bytes().hex()})) == "ok"
    response = dcc.send("7.2", "ESME", role="IS")
    assert response.code == "E20" and "bad_signature" in response.detail
    assert supply(bench) == "On"


# -- alerts from the device ---------------------------------------------------------------------
def _raise_alert(bench: Bench, code: str) -> bytes:
    return raise_device_alert(bench, "ESME", code)


def _inject(bench: Bench, data: bytes) -> None:
    """Fault injection: a rogue transmitter sends ``data`` on the ESME's tunnel."""
    emulated = bench._emulator.devices[bench.device("ESME").eui]
    tunneling = emulated.node.server_clusters[int(se.Tunneling.cluster_id)]
    bench.runtime.call(lambda: tunneling.send_unsolicited(data))
    bench.sleep(1)


def _rejections(bench: Bench) -> list[str]:
    return [item.data["summary"] for item in bench.dcc.evidence.since(0)
            if item.kind == "alert_rejected"]


def test_device_alerts_are_raised_once(bench):
    dcc = bench.dcc
    captured = _raise_alert(bench, "POWER_ALERT")
    assert [(a.code, a.recipient) for a in dcc.alerts.since(0)] == [("POWER_ALERT", "dno")]
    _inject(bench, captured)  # the same alert again
    assert len(dcc.alerts.since(0)) == 1
    assert any("replay" in summary for summary in _rejections(bench))
    _raise_alert(bench, "VOLTAGE_ALERT")  # the device's next alert is raised
    assert [a.code for a in dcc.alerts.since(0)] == ["POWER_ALERT", "VOLTAGE_ALERT"]


def test_forged_alert_is_refused(bench):
    forged = Envelope(Kind.ALERT, bench.device("ESME").eui, 99, Command.ALERT,
                      {"alert": "POWER_ALERT"}).signed_with(management_key(bench))
    _inject(bench, forged.to_bytes())
    _inject(bench, dataclasses.replace(forged, signature=b"").to_bytes())
    assert bench.dcc.alerts.since(0) == []
    assert _rejections(bench) == ["alert signature does not verify"] * 2


def test_garbage_on_the_tunnel_is_refused_and_survived(bench):
    """Bytes that are no envelope, or an envelope with bytes changed, reach the device over
    ZigBee: it refuses each (logging it), changes nothing and keeps working."""
    import random

    dcc = bench.dcc
    eui = bench.device("ESME").eui
    rng = random.Random(3)
    good = envelope(bench).signed_with(management_key(bench)).to_bytes()
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
               for _ in range(15)]
    for _ in range(15):
        mutated = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] ^= rng.randrange(1, 256)  # always a change
        samples.append(bytes(mutated))
    tunneling = bench.chf.device(eui).server_cluster("tunneling")

    async def send_raw(data: bytes) -> None:
        tunnel_id = await dcc.tunnel.open(eui)
        await tunneling.transfer_data(tunnel_id=tunnel_id, data=data)

    for data in samples:
        bench.runtime.run(send_raw(data))
    bench.sleep(1)
    assert supply(bench) == "On"
    refusals = log_events(bench, "ESME")
    assert len(refusals) == len(samples)
    assert set(refusals) <= {"malformed", "bad_signature", "wrong_device", "unsigned",
                             "not_a_command"}
    ok(dcc.send("7.2", "ESME", role="IS"))
    assert supply(bench) == "Off"
