"""Malformed input on every interface of every device: it must still answer, unchanged.

Property-based (hypothesis), against each device of the DMC on the bench (ESME, GSME, PPMID,
IHD):

- ``test_malformed_zcl_frames_leave_the_device_unchanged[<kind>-<ROLE>]``: each example draws one
  malformed frame of the kind (:mod:`testpacks.security.frames`: random bytes, bad lengths,
  unknown general and cluster command ids, wrong data types in Write_Attributes, truncated
  valid frames) for every cluster the device announced, or, for ``state_changing``, every
  well-formed command the cluster receives (ChangeSupply, LocalChangeSupply and the rest, with
  drawn values) and one attribute write, as an untrusted HAN node could send them; and sends
  them as they are (``device.zigbee.send_raw``); then the device must still be joined, answer
  a correct request (Basic ``model``; the Metering register on a meter) and show the same
  state: ``model`` and firmware version (Basic ``sw_build_id``), supply status, a register that
  has not gone backwards.
- ``test_random_bytes_on_the_optical_port_change_nothing[<ROLE>]`` (meters): random bytes
  written to the optical port, then an IEC 62056-21 readout works and shows the same
  identification and settings lines and a register not gone backwards.
- ``test_random_bytes_on_the_console_change_nothing[<ROLE>]``: random bytes typed on the debug
  console (never one of the words its ``help`` lists), then ``status`` still answers, with the
  same text as before.

Bounds: :data:`FUZZ_EXAMPLES` examples per case (``DMCT_FUZZ_EXAMPLES`` in the environment,
default :data:`DEFAULT_FUZZ_EXAMPLES`); ``derandomize=True`` (the same examples every run, no
example database), no deadline; the case stops at its first failing example, unshrunk (the
device is not reset between examples: once one broke it, every smaller example replayed on it
fails too, so shrinking would cost minutes of device time and tell nothing). A larger run::

    DMCT_FUZZ_EXAMPLES=500 dmct run --pack security -- -k malformed

Every case is ``destructive``: on a real bench it runs only with ``safety.allow_destructive``.
The malformed kinds never send a well-formed request acting on the device; the
``state_changing`` kind sends only those (a healthy device refuses what it cannot attribute to
a trusted sender: a supply change on the HAN above all); a device that takes none of them is not
applicable to it, with that reason. A failure names the device, the kind and the frames of the
example that broke it, and the example that broke it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from fixtures.bench import device_or_skip
from harness.config.environment import fuzz_examples
from harness.han.chf import NotJoined
from testpacks.security.frames import (
    ACTING_KINDS,
    KINDS,
    Cluster,
    acts_on_device,
    clusters_of,
    takes_state_changing_requests,
)
from testpacks.security.helpers import REFUSED_BY_DEVICE, ConsoleSession, needs_console

if TYPE_CHECKING:
    from decimal import Decimal

    from harness.bench import Bench, BenchDevice

pytestmark = [pytest.mark.pack("security"), pytest.mark.security,
              REFUSED_BY_DEVICE, pytest.mark.destructive]

ROLES = ["ESME", "GSME", "PPMID", "IHD"]
METERS = ["ESME", "GSME"]
#: Examples per case when ``DMCT_FUZZ_EXAMPLES`` is not set: enough to cover every kind on
#: every cluster in a few seconds of the whole pack.
DEFAULT_FUZZ_EXAMPLES = 5
#: ``DMCT_FUZZ_EXAMPLES``, checked by the plugin before collection (one line if it is bad).
FUZZ_EXAMPLES = fuzz_examples(DEFAULT_FUZZ_EXAMPLES)
#: Optical readout lines that change by themselves: time and date (measurements have units).
OPTICAL_VOLATILE = frozenset({"0.9.1", "0.9.2"})

fuzz = settings(
    max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
    print_blob=False, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
    # The bench is shared by every example on purpose (the device must survive them all).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def by_role(roles: list[str]) -> Any:
    return pytest.mark.parametrize("role", [pytest.param(r, marks=pytest.mark.device(r))
                                            for r in roles])


def _hex(frames: list[tuple[Cluster, bytes]]) -> str:
    return "; ".join(f"{cluster.name}: {frame.hex() or '(empty)'}" for cluster, frame in frames)


# -- ZigBee ---------------------------------------------------------------------------------------
#: Strategies built once per module, not per case: hypothesis validates and analyses a
#: strategy object once, and building and validating them was a tenth of a whole run's CPU.
#: A strategy reads only zigpy's definitions (commands and attributes: class data) of its
#: cluster and, through :func:`acts_on_device`, of the device's two sides of that cluster, so
#: those are the key: devices (and cases) announcing the same share it, and the same example
#: draws the same frames whichever case built it.
_STRATEGIES: dict[tuple[Any, ...], Any] = {}


@dataclass
class ZigbeeTarget:
    """A device under malformed frames: its clusters and what it showed before."""

    bench: Bench
    device: BenchDevice
    clusters: list[Cluster]
    model: Any
    firmware: Any
    supply: int | None
    register: Decimal | None
    first_failure: str | None = None

    @property
    def by_key(self) -> dict[tuple[int, bool], Cluster]:
        return {(c.cluster_id, c.server): c for c in self.clusters}

    def frames(self, kind: str) -> Any:
        """What one example of ``kind`` sends, per cluster of this device (in
        :attr:`clusters` order): one drawn value for them all (hypothesis pays for each
        top-level draw: a snapshot of the global random state and a timer around it)."""
        key = (kind, *((c.cluster_id, c.server, type(c.definition)) for c in self.clusters))
        strategy = _STRATEGIES.get(key)
        if strategy is None:
            strategy = _STRATEGIES[key] = st.tuples(*(self.strategy(kind, c)
                                                      for c in self.clusters))
        return strategy

    def draw(self, kind: str, data: Any) -> list[tuple[Cluster, bytes]]:
        """The frames of one example of ``kind``, each with the cluster it goes to; for an
        acting kind, only those that would act (an example with none is not sent)."""
        drawn = data.draw(self.frames(kind), label=kind)
        if kind not in ACTING_KINDS:  # one frame per cluster
            return list(zip(self.clusters, drawn, strict=True))
        by_key = self.by_key
        sent = [(cluster, frame) for cluster, frames in zip(self.clusters, drawn, strict=True)
                for frame in frames if acts_on_device(frame, cluster.cluster_id, by_key)]
        assume(sent)  # (an example whose requests zigpy could not build sends nothing)
        return sent

    def strategy(self, kind: str, cluster: Cluster) -> Any:
        """The frames of ``kind`` one example sends to ``cluster`` of this device: one
        malformed frame, or (a list of) every state-changing request of the cluster (cached
        in :data:`_STRATEGIES`)."""
        clusters = self.by_key
        sides = tuple(type(side.definition) if side is not None else None
                      for side in (clusters.get((cluster.cluster_id, s)) for s in (True, False)))
        key = (kind, cluster.cluster_id, cluster.server, sides)
        strategy = _STRATEGIES.get(key)
        if strategy is None:
            strategy = KINDS[kind](cluster)
            if kind not in ACTING_KINDS:  # (an acting kind's frame that does not act is not sent)
                strategy = strategy.filter(
                    lambda frame: not acts_on_device(frame, cluster.cluster_id, clusters))
            _STRATEGIES[key] = strategy
        return strategy

    def send(self, frames: list[tuple[Cluster, bytes]]) -> None:
        """Send each frame to its cluster as it is, in order (one call to the bench)."""
        zigbee = self.device.zigbee

        async def send_all() -> None:
            for cluster, frame in frames:
                await zigbee.send_raw_async(cluster.cluster_id, frame)

        runtime = self.bench.runtime
        assert runtime is not None, "the bench is not running"
        runtime.run(send_all())

    def problem(self) -> str | None:
        """Why the device no longer is as it was, or ``None``."""
        device = self.device
        if not device.is_joined:
            return "it left the HAN"
        try:
            zigbee = device.zigbee
            basic = zigbee.read("basic", "model", "sw_build_id")
        except (NotJoined, AssertionError, TimeoutError, OSError) as exc:
            return f"it no longer answers a Basic read ({type(exc).__name__}: {exc})"
        except Exception as exc:  # zigpy's delivery and parsing errors
            return f"it no longer answers a Basic read ({type(exc).__name__}: {exc})"
        if basic.get("model") != self.model:
            return f"its Basic model reads {basic.get('model')!r}, was {self.model!r}"
        if basic.get("sw_build_id") != self.firmware:
            return (f"its firmware version (Basic sw_build_id) reads "
                    f"{basic.get('sw_build_id')!r}, was {self.firmware!r}")
        if self.register is None:
            return None
        try:
            values = zigbee.read("metering", "current_summ_delivered", "multiplier", "divisor",
                                 "supply_status")
        except Exception as exc:
            return f"it no longer answers a Metering read ({type(exc).__name__}: {exc})"
        register = register_kwh(values)
        supply = int(values["supply_status"])
        if register < self.register:
            return f"its register went backwards from {self.register} to {register} kWh"
        if supply != self.supply:
            return f"its supply status went from {self.supply} to {supply}"
        return None


def register_kwh(values: dict[str, Any]) -> Decimal:
    """The main register from a Metering read, scaled as ``BenchDevice.read_register_kwh``."""
    from decimal import Decimal

    divisor = int(values["divisor"]) or 1
    return Decimal(int(values["current_summ_delivered"]) * int(values["multiplier"])) / divisor


@pytest.fixture
def zigbee_target(bench: Bench, role: str) -> ZigbeeTarget:
    device = device_or_skip(bench, role)
    if not device.is_joined:
        device.commission()
    zigbee = device.zigbee
    basic = zigbee.read("basic", "model", "sw_build_id")
    meter = zigbee.has_server_cluster("metering")
    return ZigbeeTarget(
        bench=bench, device=device, clusters=clusters_of(zigbee), model=basic["model"],
        firmware=basic["sw_build_id"],
        supply=int(zigbee.read_one("metering", "supply_status")) if meter else None,
        register=device.read_register_kwh() if meter else None,
    )


@pytest.fixture
def fuzz_target(zigbee_target: ZigbeeTarget, role: str, kind: str) -> ZigbeeTarget:
    """The device under frames of ``kind``, if it has anything such frames could be."""
    if kind in ACTING_KINDS and not takes_state_changing_requests(zigbee_target.clusters):
        # Nothing would be sent: a pass would claim a refusal nobody observed.
        pytest.skip(f"not applicable: the {role} ({zigbee_target.device.profile.describe()}) "
                    "announced no cluster command or attribute write that would act on it "
                    f"(nothing {kind.replace('_', ' ')} to send)")
    return zigbee_target


@by_role(ROLES)
@pytest.mark.parametrize("kind", list(KINDS))
@fuzz
@given(data=st.data())
def test_malformed_zcl_frames_leave_the_device_unchanged(fuzz_target: ZigbeeTarget, role: str,
                                                        kind: str, data: Any) -> None:
    """One malformed frame of ``kind`` on every cluster of the device; it still answers and
    shows the same state."""
    target = fuzz_target
    sent = target.draw(kind, data)
    target.send(sent)
    problem = target.problem()
    if problem is None:
        return
    if target.first_failure is None:
        target.first_failure = f"{problem}, first after: {_hex(sent)}"
    raise AssertionError(
        f"the {role} after malformed ZCL frames ({kind.replace('_', ' ')}): {problem}; frames: "
        f"{_hex(sent)} (it first failed: {target.first_failure})")


# -- optical port -------------------------------------------------------------------------------

@dataclass
class OpticalTarget:
    device: BenchDevice
    identification: str
    settings: dict[str, str]
    register: Decimal


def _optical_state(device: BenchDevice) -> tuple[str, dict[str, str], Decimal]:
    from decimal import Decimal

    readout = device.read_optical()
    settings = {line.address: line.value for line in readout.lines
                if line.unit is None and line.address not in OPTICAL_VOLATILE}
    return (readout.identification, settings,
            Decimal(readout.value(device.profile.optical_register).value))


@pytest.fixture
def optical_target(bench: Bench, role: str) -> OpticalTarget:
    device = device_or_skip(bench, role)
    if not device.has_optical:
        if not device.profile.expectations.optical_port:
            pytest.skip(f"not applicable: the {role} ({device.profile.describe()}) has no "
                        "optical port")
        pytest.skip(f"blocked: the {role} has an optical port but bench {bench.lab.bench} has "
                    "no optical probe on it (serial_adapters in the lab config)")
    identification, settings_lines, register = _optical_state(device)
    return OpticalTarget(device, identification, settings_lines, register)


@by_role(METERS)
@fuzz
@given(data=st.binary(max_size=128))
def test_random_bytes_on_the_optical_port_change_nothing(optical_target: OpticalTarget,
                                                         role: str, data: bytes) -> None:
    """Random bytes on the optical port; a readout afterwards works and shows the same."""
    target = optical_target
    target.device.write_optical(data)
    written = data.hex() or "(empty)"
    try:
        identification, settings_lines, register = _optical_state(target.device)
    except Exception as exc:
        raise AssertionError(f"the {role}'s optical port gives no readout after the bytes "
                             f"{written}: {type(exc).__name__}: {exc}") from None
    assert identification == target.identification, (
        f"the {role} identifies as {identification!r} on its optical port after the bytes "
        f"{written}, was {target.identification!r}")
    changed = {a: (target.settings.get(a), v) for a, v in settings_lines.items()
               if target.settings.get(a) != v}
    changed.update({a: (v, None) for a, v in target.settings.items() if a not in settings_lines})
    assert not changed, (f"the {role}'s optical readout changed after the bytes {written}: "
                         + ", ".join(f"{a}: {old} -> {new}" for a, (old, new) in changed.items()))
    assert register >= target.register, (
        f"the {role}'s register went backwards on its optical port after the bytes {written}: "
        f"{target.register} -> {register}")


# -- debug console ------------------------------------------------------------------------------

@dataclass
class ConsoleTarget:
    session: ConsoleSession
    commands: frozenset[str]
    status: str


def types_a_command(data: bytes, words: frozenset[str]) -> bool:
    """Whether ``data`` could type one of the console's words (as typed, or after the console
    applied its backspaces): random input must not run a real command."""
    typed = data.decode("latin-1").lower()
    edited: list[str] = []
    for char in typed:
        if char in "\x08\x7f":
            if edited:
                edited.pop()
        elif char >= " " or char in "\r\n\t":
            edited.append(char)
    text = "".join(edited)
    return any(word in typed or word in text for word in words)


@pytest.fixture
def console_target(bench: Bench, role: str) -> ConsoleTarget:
    device = device_or_skip(bench, role)
    needs_console(device, "type on it")
    session = ConsoleSession(device.console)
    return ConsoleTarget(session, session.commands(), session.run("status"))


@by_role(ROLES)
@fuzz
@given(data=st.binary(max_size=96))
def test_random_bytes_on_the_console_change_nothing(console_target: ConsoleTarget, role: str,
                                                    data: bytes) -> None:
    """Random bytes typed on the debug console; ``status`` still answers, unchanged."""
    target = console_target
    assume(not types_a_command(data, target.commands))
    target.session.console.write(data)
    written = data.hex() or "(empty)"
    try:
        status = target.session.run("status")
    except Exception as exc:
        raise AssertionError(f"the {role}'s console no longer answers status after the bytes "
                             f"{written}: {type(exc).__name__}: {exc}") from None
    assert status == target.status, (
        f"the {role}'s console status changed after the bytes {written}: {target.status!r} -> "
        f"{status!r}")
