"""How the security pack's key cases judge a meter's answer (``testpacks/security/test_keys.py``),
with real envelopes to the emulated reference ESME.

A command signed by the network operator (a User whose certificate the meter holds, whose role
may not change the supply) is refused whether the meter answers ``bad_signature`` (as the
emulated firmware does) or ``refused`` (as a real meter checking the role may); a meter that
obeys it fails, whatever it answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from fixtures.dcc import DccForTest
from harness.bench import Bench
from harness.config import default_lab_config_path, load_lab_config
from harness.dcc.envelope import Command, Status
from testpacks.security.helpers import context
from testpacks.security.test_keys import ATTACK, ROLE_REFUSALS, Watch, attack_envelope
from testpacks.srv.context import SrvContext, supply_on


@pytest.fixture(scope="module")
def esme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SrvContext]:
    """The reference bench's ESME as the pack's key cases see it."""
    lab = load_lab_config(default_lab_config_path(), env={})
    bench = Bench.start(lab, evidence_dir=tmp_path_factory.mktemp("evidence"))
    try:
        failed = {r: e for r, e in bench.bring_up().items() if isinstance(e, Exception)}
        assert not failed, failed
        yield context(bench, DccForTest(bench.dcc), "ESME")
    finally:
        bench.stop()


def test_a_bad_signature_answer_to_the_network_operators_key_is_a_refusal(esme: SrvContext):
    supply_on(esme)
    operator = esme.dcc.keystore.user_for_role("ED").key
    watch = Watch(esme)
    exchange = esme.dcc.send_envelope(attack_envelope(esme.dcc, esme.eui, operator))
    assert exchange.response is not None
    assert exchange.response.payload["status"] == Status.BAD_SIGNATURE
    watch.refused(exchange, ROLE_REFUSALS, "a Disable Supply signed with the ED's key")


def test_a_refused_answer_is_a_refusal_too(esme: SrvContext):
    """The meter says ``refused`` (here to a firmware image whose hash does not match, the one
    command the emulated ESME refuses in so many words), leaves its supply and logs it: the
    role case takes it; a case expecting only ``bad_signature`` does not."""
    supply_on(esme)
    image = b"not an image"
    payload = {"version": "9.9.9", "image": image.hex(),
               "hash": hashlib.sha256(image + b"x").hexdigest()}
    watch = Watch(esme)
    exchange = esme.dcc.device_command(esme.eui, Command.FIRMWARE, payload)
    assert exchange.response is not None
    assert exchange.response.payload["status"] == Status.REFUSED
    watch.refused(exchange, ROLE_REFUSALS, "a firmware image with a wrong hash")
    with pytest.raises(AssertionError, match="'bad_signature' expected"):
        watch.refused(exchange, Status.BAD_SIGNATURE, "a firmware image with a wrong hash")


def test_an_obeyed_command_fails_whatever_the_meter_answered(esme: SrvContext):
    supply_on(esme)
    watch = Watch(esme)
    exchange = esme.dcc.device_command(esme.eui, *ATTACK)
    with pytest.raises(pytest.fail.Exception, match=r"acted on a Disable Supply .* from On to Off"):
        watch.refused(exchange, ROLE_REFUSALS, "a Disable Supply")
    assert esme.supply() == "On"  # the case puts the supply back as it fails
