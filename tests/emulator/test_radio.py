"""harness.emulator.radio: the virtual coordinator as zigpy sees it, on the emulated bench.

Joining is allowed only inside a permit window and with the install-code link key; a frame to
a node that is absent, off or silent fails at once with DeliveryError (no reply timeout).
"""

from __future__ import annotations

import asyncio

import pytest
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
from zigpy.zcl import foundation

from harness.config import InstallCode
from harness.emulator.radio import COORDINATOR_IEEE, VirtualRadio
from harness.han.clusters import SE_PROFILE_ID
from harness.han.events import match
from harness.han.radio import zigpy_config

#: zigpy's reply timeout (APS_REPLY_TIMEOUT); an end device gets 28 s.
ZIGPY_REPLY_TIMEOUT_S = 5.0


def _wrong_code(code: InstallCode) -> InstallCode:
    return InstallCode.with_crc(bytes(b ^ 0x5A for b in code.code_without_crc))


def _refusals(bench, mark: int, eui: str) -> list[str]:
    return [e.details["reason"]
            for e in bench.events.since(mark, match("join_refused", device=eui))]


# -- the network ----------------------------------------------------------------------------------


def test_the_coordinator_forms_a_typed_network(emulated_bench):
    app = emulated_bench.app
    assert app.state.node_info.ieee == COORDINATOR_IEEE
    assert isinstance(app.state.node_info.nwk, t.NWK)
    assert app.state.node_info.nwk == 0x0000
    assert app.state.network_info.channel == 15
    assert app.state.network_info.pan_id == 0x1A62
    coordinator = app.devices[COORDINATOR_IEEE]
    assert coordinator.endpoints[1].profile_id == SE_PROFILE_ID


def test_load_network_info_before_forming_raises():
    app = VirtualRadio(zigpy_config(path="virtual://"))

    async def load() -> None:
        await app.load_network_info()

    with pytest.raises(zigpy.exceptions.NetworkNotFormed):
        asyncio.run(load())


# -- joining --------------------------------------------------------------------------------------


def test_devices_join_only_once_in_the_device_log(emulated_bench, emulated):
    bench = emulated_bench
    ihd = bench.device("IHD")
    bench.sleep(20)  # powered and trying, but not in the device log
    assert not emulated("IHD").node.joined
    assert all("not in the device log" in r for r in _refusals(bench, 0, ihd.eui))

    window = bench.chf.add_device(ihd.eui, ihd.install_code, 60)
    bench.chf.wait_for_join(ihd.eui, 60)
    joined = bench.events.since(0, match("joined", device=ihd.eui))
    assert len(joined) == 1
    # At its next attempt (every 5 s) after the window opened.
    assert 0 < joined[0].monotonic - window.opened_at <= 5


def test_a_wrong_link_key_is_refused_inside_the_window(emulated_bench, emulated):
    bench = emulated_bench
    gsme = bench.device("GSME")
    mark = bench.events.mark()
    bench.chf.add_device(gsme.eui, _wrong_code(gsme.install_code), 120)
    bench.sleep(60)
    assert not emulated("GSME").node.joined
    reasons = _refusals(bench, mark, gsme.eui)
    assert reasons and all("link key does not match" in r for r in reasons)


def test_the_permit_window_bounds_joining(emulated_bench, emulated):
    bench = emulated_bench
    ppmid = bench.device("PPMID")
    node = emulated("PPMID").node
    bench.runtime.call(node.power_off)
    window = bench.chf.add_device(ppmid.eui, ppmid.install_code, 30)
    entry = bench.app._keys[node.ieee]
    assert entry.permit_until == window.closes_at
    assert entry.link_key == ppmid.install_code.link_key

    bench.sleep(30)  # exactly at the end: closed
    mark = bench.events.mark()
    bench.runtime.call(node.power_on)
    assert _refusals(bench, mark, ppmid.eui) == ["joining is not permitted now"]


def test_permit_ncp_opens_joining_for_devices_in_the_device_log(emulated_bench, emulated):
    bench = emulated_bench
    ppmid = bench.device("PPMID")
    node = emulated("PPMID").node
    bench.runtime.call(node.power_off)
    bench.chf.add_device(ppmid.eui, ppmid.install_code, 10)
    bench.sleep(60)
    bench.runtime.run(bench.app.permit_ncp(30))
    mark = bench.events.mark()
    bench.runtime.call(node.power_on)
    bench.sleep(5)
    # The radio let it in; the CHF, whose window for it had ended, made it leave again.
    refused = bench.events.since(mark, match("join_refused", device=ppmid.eui))
    assert refused and "outside its JoinTimePeriod" in refused[0].details["reason"]


def test_joined_nodes_get_distinct_nwk_addresses(up_bench, emulated):
    nwks = [emulated(role).node.nwk for role in ("ESME", "GSME", "PPMID", "IHD")]
    assert len(set(nwks)) == 4
    assert all(isinstance(n, t.NWK) and n != 0 for n in nwks)
    for role, nwk in zip(("ESME", "GSME", "PPMID", "IHD"), nwks, strict=True):
        assert up_bench.device(role).zigbee.nwk == nwk


# -- delivery -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ESME", "IHD"])  # a router, and an end device (28 s timeout)
def test_a_powered_off_node_fails_delivery_at_once(up_bench, emulated, role):
    bench = up_bench
    device = bench.device(role).zigbee
    bench.runtime.call(emulated(role).node.power_off)
    before = bench.clock.monotonic()
    with pytest.raises(zigpy.exceptions.DeliveryError, match="no MAC ACK"):
        device.read("basic", "model")
    assert bench.clock.monotonic() == before  # no reply timeout was waited for


def test_a_silent_node_fails_delivery_at_once(up_bench, emulated):
    bench = up_bench
    device = bench.device("GSME").zigbee
    emulated("GSME").node.radio_silent = True
    before = bench.clock.monotonic()
    with pytest.raises(zigpy.exceptions.DeliveryError):
        device.read("metering", "current_summ_delivered")
    assert bench.clock.monotonic() - before < ZIGPY_REPLY_TIMEOUT_S
    assert bench.clock.monotonic() == before


def test_an_absent_node_fails_delivery_at_once(up_bench):
    bench = up_bench
    esme = bench.device("ESME").zigbee
    endpoint = esme.zigpy_device.endpoints[1]
    original = esme.zigpy_device.nwk
    esme.zigpy_device.nwk = t.NWK(0x7777)  # nobody has this address
    try:
        before = bench.clock.monotonic()
        with pytest.raises(zigpy.exceptions.DeliveryError):
            bench.runtime.run(endpoint.basic.read_attributes(["model"], allow_cache=False,
                                                             retries=0))
        assert bench.clock.monotonic() == before
    finally:
        esme.zigpy_device.nwk = original


def test_a_node_powered_on_again_answers(up_bench, emulated):
    bench = up_bench
    gsme = bench.device("GSME")
    node = emulated("GSME").node
    bench.runtime.call(node.power_off)
    bench.sleep(120)
    mark = bench.frames.mark()
    bench.runtime.call(node.power_on)
    bench.sleep(0)
    assert gsme.zigbee.read_one("basic", "model") == gsme.profile.model
    annce = [f for f in bench.frames.since(mark) if f.direction == "rx" and f.cluster_id == 0x0013]
    assert len(annce) == 1  # it announced itself on rejoining


def test_a_broadcast_reaches_every_joined_node(up_bench, emulated):
    bench = up_bench
    before = {role: emulated(role).node.frames_in for role in ("ESME", "GSME", "PPMID", "IHD")}
    emulated("IHD").node.radio_silent = True
    packet = t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(0x0000)), src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=t.NWK(0xFFFD)), dst_ep=1,
        profile_id=SE_PROFILE_ID, cluster_id=0x0000,
        data=t.SerializableBytes(foundation.ZCLHeader.general(
            1, foundation.GeneralCommand.Default_Response).serialize() + b"\x00\x00"),
    )
    bench.runtime.run(bench.app.send_packet(packet))
    after = {role: emulated(role).node.frames_in for role in before}
    assert {role: after[role] - before[role] for role in before} == {
        "ESME": 1, "GSME": 1, "PPMID": 1, "IHD": 0,
    }


def test_force_remove_makes_the_node_leave_silently(up_bench, emulated):
    bench = up_bench
    node = emulated("IHD").node
    zdev = bench.device("IHD").zigbee.zigpy_device
    mark = bench.events.mark()
    bench.runtime.run(bench.app.forget_link_key(zdev.ieee))  # so it cannot come straight back
    bench.runtime.run(bench.app.force_remove(zdev))
    assert not node.joined and node.nwk is None
    assert not bench.events.since(mark, match("left"))
    assert bench.events.since(mark, match("join_refused", device=bench.device("IHD").eui))
