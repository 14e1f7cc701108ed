"""bellows' ControllerApplication driven against the byte-level EZSP fake on socket://.

bellows and the fake share one virtual-clock bench loop, the fake serving on
``socket://127.0.0.1:PORT`` (loopback bytes are readable at once, so the loop never jumps time
past a frame in flight): bellows' own timers (2 s start-up reset waits, ASH ACK timeouts) and a
sleepy device's poll interval cost no wall time. One fake and one bellows application are shared
by the module: the network is formed once and each test brings its own devices onto it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import zigpy.exceptions
import zigpy.types as t
from zigpy.application import ControllerApplication

from harness.han.radio import real_radio_class, zigpy_config
from harness.radiofakes.devices import (
    METERING,
    ScriptedDevice,
    smart_energy_device,
)
from harness.radiofakes.ezsp_ncp import IMPLEMENTED_COMMANDS, WILDCARD_EUI
from harness.radiofakes.ezsp_server import EzspFake, EzspFakeCalls
from harness.runtime import BenchRuntime
from tests.radiofakes.conftest import needs_bellows

T = TypeVar("T")




pytestmark = [needs_bellows, pytest.mark.slow]

#: Test install codes (16 bytes + CRC), made up for these tests.
INSTALL_CODES = {
    1: bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5"),
    2: bytes.fromhex("887766554433221100112233445566776262"),
}
CURRENT_SUMMATION_DELIVERED = 0x0000


@dataclass
class Events:
    """zigpy's application events, recorded on the loop thread."""

    joined: list[t.EUI64] = field(default_factory=list)
    left: list[t.EUI64] = field(default_factory=list)
    initialized: list[t.EUI64] = field(default_factory=list)

    def device_joined(self, device: Any) -> None:
        self.joined.append(device.ieee)

    def device_left(self, device: Any) -> None:
        self.left.append(device.ieee)

    def device_initialized(self, device: Any, *args: Any) -> None:
        self.initialized.append(device.ieee)

    def raw_device_initialized(self, device: Any) -> None:
        pass


class FakeOnLoop(EzspFakeCalls):
    """The fake's calls, run on the bench loop that serves it."""

    def __init__(self, fake: EzspFake, runtime: BenchRuntime, url: str) -> None:
        self.fake = fake
        self.url = url
        self.ncp = fake.ncp
        self._runtime = runtime

    def call(self, function: Callable[[], T]) -> T:
        return self._runtime.call(function)


@dataclass
class Coordinator:
    fake: FakeOnLoop
    runtime: BenchRuntime
    app: ControllerApplication
    events: Events

    def run(self, coro: Any, timeout: float | None = 30.0) -> Any:
        """Run ``coro`` on the bench loop; ``timeout`` in bench seconds. None for a start:
        serialx opens the port in an executor thread, and a pending timeout would be the
        virtual clock's next timer, reached at once while that thread works."""
        return self.runtime.run(coro, timeout=timeout)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        """Wait on the loop until ``condition`` holds (it is read on the loop thread)."""

        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0.02)

        self.run(poll(), timeout=timeout)

    def settle_policy(self) -> None:
        """Wait for bellows' pre_permit tasks: 2 s after a plain permit() ends, each restores
        bellows' default trust-centre policy, which turns install-code-only joining off."""
        tasks = self.app._tasks
        self.wait_for(lambda: not any(
            isinstance(task, asyncio.Task) and task.get_name() == "pre_permit" for task in tasks))

    def permit(self, device: ScriptedDevice, seconds: int = 60) -> None:
        key = device.own_key()
        assert key is not None
        self.run(self.app.permit_with_link_key(  # type: ignore[attr-defined]
            node=t.EUI64(device.ieee), link_key=t.KeyData(key), time_s=seconds))

    def join_and_interview(self, device: ScriptedDevice) -> Any:
        self.permit(device)
        admission = self.fake.join(device)
        assert admission.accepted, admission.reason
        ieee = t.EUI64(device.ieee)
        self.wait_for(lambda: ieee in self.app.devices and self.app.devices[ieee].is_initialized)
        return self.app.devices[ieee]


def _config(url: str) -> dict[str, Any]:
    return zigpy_config(path=url, radio_type="ezsp", channel=15, pan_id=0x1A62)


async def _start(app_class: type[ControllerApplication], url: str) -> ControllerApplication:
    return await app_class.new(_config(url), auto_form=True, start_radio=True)


@pytest.fixture(scope="module")
def coordinator() -> Iterator[Coordinator]:
    runtime = BenchRuntime(virtual=True)
    fake = EzspFake()
    url = runtime.run(fake.serve())
    app_class = real_radio_class("ezsp")
    app = runtime.run(_start(app_class, url))
    events = Events()
    runtime.call(lambda: app.add_listener(events))
    made = Coordinator(FakeOnLoop(fake, runtime, url), runtime, app, events)
    made.settle_policy()  # zigpy's start-up permit(0) is one
    try:
        yield made
    finally:
        try:
            runtime.run(made.app.shutdown(), timeout=30)
        finally:
            runtime.run(fake.close(), timeout=10)
            runtime.shutdown()


def _meter(eui: str, code: int, **options: Any) -> ScriptedDevice:
    return smart_energy_device(eui, INSTALL_CODES[code], manufacturer="ACME", model="ESME-1",
                               metering={"current_summ_delivered": 123456}, **options)


def test_bellows_starts_and_forms_a_network_on_the_fake(coordinator: Coordinator) -> None:
    app, ncp = coordinator.app, coordinator.fake.ncp
    info = app.state.network_info
    assert (info.pan_id, info.channel) == (0x1A62, 15)
    nvm = coordinator.fake.call(lambda: ncp.nvm)
    assert nvm is not None and coordinator.fake.call(lambda: ncp.network_up)
    # What bellows reads back is what it wrote through setInitialSecurityState/formNetwork.
    assert bytes(info.network_key.key) == nvm.network_key
    assert bytes(info.extended_pan_id.serialize()) == nvm.parameters.extended_pan_id
    assert app.state.node_info.ieee == t.EUI64(ncp.ieee)
    seen = coordinator.fake.commands_seen()
    assert seen["formNetwork"] == 1 and seen["version"] >= 2
    assert coordinator.fake.invalid_commands() == []
    assert set(seen) <= set(IMPLEMENTED_COMMANDS)


def test_install_code_join_interview_and_metering_read(coordinator: Coordinator) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-01", 1)
    device = coordinator.join_and_interview(meter)
    assert device.nwk == meter.nwk
    assert 1 in device.endpoints and METERING in device.endpoints[1].in_clusters
    # Joining was install-code-only when the device was admitted.
    joins = [e for e in coordinator.fake.timeline() if e.what == "joined" and meter.eui in e.detail]
    assert joins and joins[-1].detail.endswith("install_code_only=on")

    cluster = device.endpoints[1].in_clusters[METERING]
    success, failure = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert success == {CURRENT_SUMMATION_DELIVERED: 123456} and not failure
    # Changed in the device, read again through bellows: the answer comes from the device.
    coordinator.fake.call(lambda: meter.set_attribute(METERING, 0x0000, 0x25, 123999))
    success, _ = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert success == {CURRENT_SUMMATION_DELIVERED: 123999}


def test_a_device_with_a_wrong_key_is_refused_and_leaves(coordinator: Coordinator) -> None:
    rogue = _meter("00-1B-C5-0C-00-00-10-02", 2, join="wrong")
    coordinator.permit(rogue)
    admission = coordinator.fake.join(rogue)
    assert not admission.accepted and admission.reason == "link key does not match"
    ieee = t.EUI64(rogue.ieee)
    # The trust centre cannot tell the key is wrong: bellows hears the join, then the leave
    # when the device fails to authenticate. It is never interviewed.
    coordinator.wait_for(lambda: ieee in coordinator.events.left)
    assert ieee not in coordinator.events.initialized
    assert not rogue.joined


def test_a_device_without_an_install_code_is_denied(coordinator: Coordinator) -> None:
    listed = _meter("00-1B-C5-0C-00-00-10-03", 1)
    coordinator.permit(listed)  # joining is open, install-code-only
    stranger = smart_energy_device("00-1B-C5-0C-00-00-10-04", None, manufacturer="X",
                                   model="Y", join="none")
    admission = coordinator.fake.join(stranger)
    assert not admission.accepted
    assert admission.reason == "no install-code key for this device"
    # DENY_JOIN reaches bellows, which must not add the device. A command's response comes
    # after the callback on the ASH link, so once it is back bellows has handled the callback.
    coordinator.run(coordinator.app._ezsp.networkState())  # type: ignore[attr-defined]
    assert t.EUI64(stranger.ieee) not in coordinator.app.devices


def test_a_sleepy_device_answers_at_its_poll(coordinator: Coordinator) -> None:
    """A sleepy gas meter polling every 7.5 s (bench time: no wall time is spent)."""
    poll = 7.5
    gas = _meter("00-1B-C5-0C-00-00-10-05", 2, rx_on_when_idle=False, poll_interval_s=poll)
    device = coordinator.join_and_interview(gas)
    assert [c.nwk for c in coordinator.fake.call(coordinator.fake.ncp.children)] == [gas.nwk]
    coordinator.run(asyncio.sleep(1.0))  # between two polls
    before = coordinator.fake.call(lambda: coordinator.fake.ncp.counters.deferred_deliveries)
    clock = coordinator.runtime.clock
    started = clock.monotonic()
    cluster = device.endpoints[1].in_clusters[METERING]
    success, _ = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    answered = clock.monotonic()
    assert success == {CURRENT_SUMMATION_DELIVERED: 123456}
    after = coordinator.fake.call(lambda: coordinator.fake.ncp.counters.deferred_deliveries)
    assert after >= before + 1  # held by the parent until the device polled
    # The answer came at the device's next poll, not at once.
    next_poll = (started // poll + 1) * poll
    assert answered == pytest.approx(next_poll, abs=0.1)


def test_lost_ash_acks_are_retransmitted_by_bellows(coordinator: Coordinator) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-06", 1)
    device = coordinator.join_and_interview(meter)
    before = coordinator.fake.host_retransmissions()
    coordinator.fake.lose_acks(2)
    cluster = device.endpoints[1].in_clusters[METERING]
    success, _ = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert success == {CURRENT_SUMMATION_DELIVERED: 123456}
    assert coordinator.fake.host_retransmissions() == before + 2


def test_dropped_mac_acks_fail_the_delivery(coordinator: Coordinator) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-07", 2)
    device = coordinator.join_and_interview(meter)
    meter.drop_mac_acks = 1000  # more than every retry bellows and zigpy may make
    cluster = device.endpoints[1].in_clusters[METERING]
    with pytest.raises(zigpy.exceptions.DeliveryError):
        coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert coordinator.fake.call(lambda: coordinator.fake.ncp.counters.mac_failures) >= 1
    meter.drop_mac_acks = 0
    success, _ = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert success == {CURRENT_SUMMATION_DELIVERED: 123456}


def test_a_device_rejoins_and_is_announced_again(coordinator: Coordinator) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-08", 1)
    device = coordinator.join_and_interview(meter)
    coordinator.run(asyncio.sleep(0.01))  # zigpy's last_seen has a wall-clock resolution
    seen_before = device.last_seen
    admission = coordinator.fake.rejoin(meter)
    assert admission.accepted and meter.rejoins == 1
    # The secured rejoin is announced (trustCenterJoinHandler, Device_annce): zigpy sees the
    # device again at the same address, and it still answers.
    coordinator.wait_for(lambda: device.last_seen > seen_before)
    assert coordinator.app.devices[t.EUI64(meter.ieee)].nwk == meter.nwk
    cluster = device.endpoints[1].in_clusters[METERING]
    success, _ = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert success == {CURRENT_SUMMATION_DELIVERED: 123456}


def test_a_report_from_a_device_reaches_zigpy(coordinator: Coordinator) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-0B", 2)
    device = coordinator.join_and_interview(meter)
    cluster = device.endpoints[1].in_clusters[METERING]
    # Report_Attributes, server to client, no default response: CurrentSummationDelivered.
    report = bytes([0x18, 0x42, 0x0A]) + (0).to_bytes(2, "little") + b"\x25" + (
        777777).to_bytes(6, "little")
    coordinator.fake.call(lambda: coordinator.fake.fake.send_from_device(meter.eui, METERING,
                                                                         report))
    # zigpy keeps a reported value in the cluster's attribute cache.
    coordinator.wait_for(lambda: cluster.get(CURRENT_SUMMATION_DELIVERED) == 777777)


def test_a_device_switched_off_cannot_be_reached_and_rejoins_when_on(
    coordinator: Coordinator,
) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-0C", 1)
    device = coordinator.join_and_interview(meter)
    cluster = device.endpoints[1].in_clusters[METERING]
    coordinator.fake.call(lambda: coordinator.fake.fake.power_off(meter.eui))
    with pytest.raises(zigpy.exceptions.DeliveryError):
        coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    coordinator.fake.call(lambda: coordinator.fake.fake.power_on(meter.eui))
    assert meter.rejoins == 1
    success, _ = coordinator.run(cluster.read_attributes([CURRENT_SUMMATION_DELIVERED]))
    assert success == {CURRENT_SUMMATION_DELIVERED: 123456}


def test_the_harness_permit_keeps_install_code_only_joining(coordinator: Coordinator) -> None:
    """The harness's bellows application's permit() is zigpy's own, without bellows'
    pre_permit: no wildcard well-known key, the policy stays install-code-only, and a device
    with the well-known key is refused while joining is open."""
    stranger = smart_energy_device("00-1B-C5-0C-00-00-10-09", None, manufacturer="X",
                                   model="Y", join="none")
    since = len(coordinator.fake.timeline())
    coordinator.run(coordinator.app.permit(5))
    assert coordinator.fake.call(lambda: coordinator.fake.ncp.trust_centre.install_code_only)
    admission = coordinator.fake.join(stranger)
    assert not admission.accepted
    assert admission.reason == "no install-code key for this device"
    assert not [e for e in coordinator.fake.timeline()[since:] if e.what == "wildcard_key"]
    coordinator.run(coordinator.app.permit(0))


def test_bellows_own_permit_lets_the_well_known_key_in(coordinator: Coordinator) -> None:
    """Why the harness never runs bellows' permit(): its pre_permit adds the well-known key as
    a wildcard transient key, which admits a device with no install code even while the policy
    is install-code-only."""
    import bellows.zigbee.application as bellows_app

    stranger = smart_energy_device("00-1B-C5-0C-00-00-10-0D", None, manufacturer="X",
                                   model="Y", join="none")
    coordinator.run(bellows_app.ControllerApplication.permit(coordinator.app, 5))
    coordinator.wait_for(lambda: bool([e for e in coordinator.fake.timeline()
                                       if e.what == "wildcard_key"]))
    admission = coordinator.fake.join(stranger)
    assert admission.accepted
    coordinator.wait_for(lambda: t.EUI64(stranger.ieee) in coordinator.events.joined)
    coordinator.run(bellows_app.ControllerApplication.permit_ncp(coordinator.app, 0))
    coordinator.settle_policy()

    def forget_wildcard() -> None:  # the module's other tests share the NCP
        ncp = coordinator.fake.ncp
        ncp.transient_keys.pop(WILDCARD_EUI, None)
        ncp.trust_centre.set_wildcard_key(None, ncp.now())

    coordinator.fake.call(forget_wildcard)


def test_no_join_while_joining_is_closed(coordinator: Coordinator) -> None:
    meter = _meter("00-1B-C5-0C-00-00-10-0A", 1)
    # permitJoining(0) straight to the NCP: bellows' permit() would also start a pre_permit.
    coordinator.run(coordinator.app.permit_ncp(0))  # type: ignore[attr-defined]
    admission = coordinator.fake.join(meter)
    assert not admission.accepted and admission.reason == "joining is not permitted now"
    coordinator.run(coordinator.app._ezsp.networkState())  # type: ignore[attr-defined]
    assert t.EUI64(meter.ieee) not in coordinator.app.devices


def test_a_restarted_application_loads_the_formed_network(coordinator: Coordinator) -> None:
    """A second bellows session on the same dongle finds the network in NVM, forms nothing."""
    fake = coordinator.fake
    formed = fake.commands_seen()["formNetwork"]
    key = coordinator.app.state.network_info.network_key.key
    coordinator.run(coordinator.app.shutdown())
    app = coordinator.run(_start(real_radio_class("ezsp"), fake.url), timeout=None)
    coordinator.app = app
    coordinator.runtime.call(lambda: app.add_listener(coordinator.events))
    assert fake.commands_seen()["formNetwork"] == formed
    assert app.state.network_info.network_key.key == key
