"""HAN benchmark: bench start, ZCL read rate (harness vs raw zigpy), memory per emulated device.

Run: ``python benchmarks/bench_han.py`` (pinned to one core). Every figure is printed beside a
baseline measured in the same process, as a ratio, so the numbers compare across machines:

- bench start: ``Bench.start`` + ``bring_up`` (form the network, join and interview 4 devices)
  against raw zigpy forming a network on the same virtual radio and interviewing 4 nodes;
- reads: ``esme.zigbee.read(...)`` from the test thread against zigpy's ``read_attributes`` on
  the same device inside the loop (targets: ratio >= 0.6 and >= 500 reads/s);
- bench call: CPU per no-op bench call from the test thread (the hop to the bench loop and
  back) against running the same coroutine to completion on a loop in one thread;
- memory: bytes allocated per emulated device (node, clusters, state) and per device zigpy keeps
  once it has joined, against a bare zigpy device object with the same endpoint and clusters;
- reads through a real radio library: ``read(...)`` through zigpy-znp and the byte-level ZNP
  fake (MT frames over a loopback socket, fake in the bench loop) against the same reads on the
  virtual radio, as a ratio (what a lab's dongle adds is not measured: the fake answers at once).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
from typing import Any

import zigpy.device
import zigpy.endpoint
import zigpy.types as t

from harness.bench import Bench
from harness.config import default_lab_config_path, load_lab_config
from harness.emulator.emulator import Emulator
from harness.emulator.radio import VirtualRadio
from harness.han.clusters import SE_PROFILE_ID, cluster_by_name
from harness.han.frames import FrameLog
from harness.han.radio import zigpy_config
from harness.runtime import BenchRuntime

READ_TARGET_RATIO = 0.6
READ_TARGET_PER_S = 500


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def bench_start(lab: Any, rounds: int) -> tuple[float, float]:
    """Median seconds for harness bring-up and for the raw zigpy baseline."""
    harness_times, raw_times = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        with Bench.start(lab) as bench:
            results = bench.bring_up()
            harness_times.append(time.perf_counter() - start)
            assert all(not isinstance(r, Exception) for r in results.values()), results
        raw_times.append(raw_start(lab))
    return sorted(harness_times)[rounds // 2], sorted(raw_times)[rounds // 2]


def raw_start(lab: Any) -> float:
    """Form a network on the virtual radio and interview 4 emulated nodes with zigpy alone."""
    runtime = BenchRuntime(virtual=True)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    try:
        start = time.perf_counter()

        async def scenario() -> None:
            app = VirtualRadio(zigpy_config(path="virtual://"))
            app.attach_bench(runtime.clock, FrameLog())
            await app.startup(auto_form=True)
            emulator = Emulator(app, runtime.clock)
            loop = asyncio.get_running_loop()
            pending: dict[Any, asyncio.Future[None]] = {}
            for _, device in lab.iter_devices():
                profile = dmc.profile_for(device.role, lab.catalogue)
                eui = str(device.eui64)
                code = emulator.factory_install_code(eui)
                emulated = emulator.add_device(device.role, profile, eui, code)
                await app.permit_with_link_key(emulated.node.ieee, code.link_key, 60)
                pending[emulated.node.ieee] = loop.create_future()

            class Listener:
                def device_initialized(self, device: Any) -> None:
                    future = pending.get(device.ieee)
                    if future is not None and not future.done():
                        future.set_result(None)

            app.add_listener(Listener())
            emulator.power_on_all()
            await asyncio.gather(*pending.values())
            await app.shutdown()

        runtime.run(scenario())
        return time.perf_counter() - start
    finally:
        runtime.shutdown()


def read_rates(lab: Any, reads: int) -> tuple[float, float, float]:
    """Reads per second: harness API, raw zigpy in the loop, raw zigpy one call per bench hop."""
    with Bench.start(lab) as bench:
        bench.bring_up()
        esme = bench.device("ESME").zigbee
        runtime = bench.runtime
        assert runtime is not None
        cluster = esme.server_cluster("metering")

        for _ in range(50):  # warm-up
            esme.read("metering", "current_summ_delivered")

        start = time.perf_counter()
        for _ in range(reads):
            esme.read("metering", "current_summ_delivered")
        harness_rate = reads / (time.perf_counter() - start)

        async def raw_loop() -> float:
            begin = time.perf_counter()
            for _ in range(reads):
                _, failure = await cluster.read_attributes(
                    ["current_summ_delivered"], allow_cache=False
                )
                assert not failure
            return reads / (time.perf_counter() - begin)

        raw_rate = runtime.run(raw_loop())

        start = time.perf_counter()
        for _ in range(reads):
            runtime.run(cluster.read_attributes(["current_summ_delivered"], allow_cache=False))
        hop_rate = reads / (time.perf_counter() - start)
    return harness_rate, raw_rate, hop_rate


def bench_call_cost(calls: int) -> tuple[float, float]:
    """CPU microseconds (both threads) per no-op ``BenchRuntime.run`` from this thread, and per
    ``run_until_complete`` of the same coroutine on a loop in this thread (no hop)."""
    async def noop() -> None:
        return None

    def cpu_per_call(call: Any) -> float:
        for _ in range(100):  # warm-up
            call(noop())
        start = time.process_time()
        for _ in range(calls):
            call(noop())
        return (time.process_time() - start) / calls

    runtime = BenchRuntime(virtual=True)
    try:
        hop = cpu_per_call(runtime.run)
    finally:
        runtime.shutdown()
    loop = asyncio.new_event_loop()
    try:
        local = cpu_per_call(loop.run_until_complete)
    finally:
        loop.close()
    return hop * 1e6, local * 1e6


def memory_per_device(lab: Any, count: int) -> tuple[float, float, float]:
    """Bytes per emulated device, per joined device (zigpy side), per bare zigpy device."""
    runtime = BenchRuntime(virtual=True)
    dmc = lab.catalogue.dmc(lab.dmc_ids[0])
    profile = dmc.profile_for("ESME", lab.catalogue)
    try:
        async def scenario() -> tuple[float, float, float]:
            app = VirtualRadio(zigpy_config(path="virtual://"))
            app.attach_bench(runtime.clock, FrameLog())
            await app.startup(auto_form=True)
            emulator = Emulator(app, runtime.clock)
            euis = [f"00-1B-C5-0D-00-00-{i >> 8:02X}-{i & 0xFF:02X}" for i in range(count)]
            codes = {eui: emulator.factory_install_code(eui) for eui in euis}

            gc.collect()
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            devices = [emulator.add_device("ESME", profile, eui, codes[eui]) for eui in euis]
            gc.collect()
            emulated = _grown(before) / count

            done = asyncio.get_running_loop().create_future()
            initialized: set[Any] = set()

            class Listener:
                def device_initialized(self, device: Any) -> None:
                    initialized.add(device.ieee)
                    if len(initialized) == count and not done.done():
                        done.set_result(None)

            app.add_listener(Listener())
            for device in devices:
                await app.permit_with_link_key(device.node.ieee, codes[device.eui].link_key, 250)
            before = tracemalloc.take_snapshot()
            emulator.power_on_all()
            await done
            gc.collect()
            joined = _grown(before) / count

            before = tracemalloc.take_snapshot()
            bare = []
            for i in range(count):
                zdevice = zigpy.device.ZigbeeDevice(app, t.EUI64(os.urandom(8)), t.NWK(0x2000 + i))
                endpoint = zdevice.add_endpoint(1)
                endpoint.profile_id = SE_PROFILE_ID
                endpoint.status = zigpy.endpoint.Status.ZDO_INIT
                for name in profile.zigbee.server_clusters:
                    endpoint.add_input_cluster(cluster_by_name(name).cluster_id)
                bare.append(zdevice)
            gc.collect()
            baseline = _grown(before) / count
            tracemalloc.stop()
            await app.shutdown()
            return emulated, joined, baseline

        return runtime.run(scenario())
    finally:
        runtime.shutdown()


def znp_read_rate(reads: int) -> float | None:
    """Harness reads per second through zigpy-znp and the ZNP fake; ``None`` without the
    ``znp`` extra."""
    try:
        import zigpy_znp  # noqa: F401
    except ImportError:
        return None
    from harness.config import InstallCode
    from harness.han.chf import Chf
    from harness.han.events import HanEventStream
    from harness.han.radio import NetworkWanted, real_radio_class, start_radio
    from harness.radiofakes.devices import smart_energy_device
    from harness.radiofakes.znp import ZnpFake

    eui = "00-1B-C5-0C-00-00-00-01"
    code = InstallCode.with_crc(bytes(range(16)))
    meter = smart_energy_device(eui, bytes.fromhex(code.reveal()), manufacturer="Bench",
                                model="ZNP", metering={"current_summ_delivered": 1234})
    runtime = BenchRuntime(virtual=True)
    try:
        fake = ZnpFake([meter])
        url = runtime.run(fake.serve())

        def make() -> Any:
            app = real_radio_class("znp")(zigpy_config(path=url, radio_type="znp"))
            app.attach_bench(runtime.clock, FrameLog())  # type: ignore[attr-defined]
            return app

        app = runtime.call(make)
        runtime.run(start_radio(app, radio_type="znp", where=url,
                                wanted=NetworkWanted(15, 0x1A62)))
        chf = Chf(runtime, app, HanEventStream(runtime.clock, runtime))
        chf.add_device(eui, code, 240)
        device = chf.wait_for_join(eui, 240)
        for _ in range(20):  # warm-up
            device.read("metering", "current_summ_delivered")
        start = time.perf_counter()
        for _ in range(reads):
            device.read("metering", "current_summ_delivered")
        rate = reads / (time.perf_counter() - start)
        runtime.run(app.shutdown())
        runtime.run(fake.close())
        return rate
    finally:
        runtime.shutdown()


def _grown(before: tracemalloc.Snapshot) -> float:
    after = tracemalloc.take_snapshot()
    return float(sum(stat.size_diff for stat in after.compare_to(before, "filename")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--devices", type=int, default=100)
    args = parser.parse_args()
    pin_to_one_core()
    lab = load_lab_config(default_lab_config_path())

    harness_s, raw_s = bench_start(lab, args.rounds)
    print(f"bench start (form + join and interview 4 devices): {harness_s * 1000:.1f} ms; "
          f"raw zigpy baseline {raw_s * 1000:.1f} ms; ratio {harness_s / raw_s:.2f}")

    harness_rate, raw_rate, hop_rate = read_rates(lab, args.reads)
    ratio = harness_rate / raw_rate
    print(f"ZCL reads: harness {harness_rate:.0f}/s; raw zigpy in-loop {raw_rate:.0f}/s; "
          f"ratio {ratio:.2f} (target >= {READ_TARGET_RATIO}); raw zigpy one bench call per "
          f"read {hop_rate:.0f}/s")
    verdict_rate = "met" if harness_rate >= READ_TARGET_PER_S else "NOT met"
    verdict_ratio = "met" if ratio >= READ_TARGET_RATIO else "NOT met"
    print(f"  target >= {READ_TARGET_PER_S} reads/s on one core: {verdict_rate}; "
          f"ratio target: {verdict_ratio}")

    znp_rate = znp_read_rate(max(args.reads // 4, 10))
    if znp_rate is None:
        print("ZCL reads through zigpy-znp: skipped (pip install 'smets1-dmct[znp]')")
    else:
        print(f"ZCL reads through zigpy-znp (ZNP fake, MT frames over loopback): "
              f"{znp_rate:.0f}/s; virtual radio {harness_rate:.0f}/s; ratio "
              f"{znp_rate / harness_rate:.2f}")

    hop_us, local_us = bench_call_cost(args.reads)
    print(f"bench call (no-op coroutine from the test thread): {hop_us:.1f} us CPU; "
          f"run_until_complete in one thread {local_us:.1f} us; ratio {hop_us / local_us:.1f}")

    emulated, joined, bare = memory_per_device(lab, args.devices)
    print(f"memory per emulated ESME: {emulated / 1024:.1f} KiB (node, clusters, state); "
          f"zigpy's side once joined {joined / 1024:.1f} KiB; bare zigpy device baseline "
          f"{bare / 1024:.1f} KiB; ratio emulated/bare {emulated / bare:.2f}")


if __name__ == "__main__":
    main()
