"""harness.bench, integration on the emulated bench: start/stop, bring-up, devices, serial ports,
the relay board, and what a lab config for a missing radio library gives."""

from __future__ import annotations

import asyncio
import importlib
import queue
import threading
import types
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import zigpy.exceptions

from harness.bench import POWER_OFF_S, Bench, NotApplicable
from harness.config import default_lab_config_path, load_lab_config
from harness.han.device import HanDevice
from harness.han.events import match
from harness.han.radio import RadioUnavailable

ROLES = ["ESME", "GSME", "PPMID", "IHD"]
DEVICE_ANNCE = 0x0013
TEST_CODE = "83FED3407A939723A5C639B26916D505C3B5"  # ZigBee SE install code test vector


@pytest.fixture
def emulated_bench(tmp_path: Path) -> Iterator[Bench]:
    """The default emulated bench (not the DMCT plugin's session ``bench``), always stopped."""
    started = Bench.start(load_lab_config(default_lab_config_path()),
                          evidence_dir=tmp_path / "evidence")
    try:
        yield started
    finally:
        started.stop()


def _node(bench: Bench, role: str):
    assert bench._emulator is not None
    return bench._emulator.devices[bench.device(role).eui].node


def _non_daemon_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.daemon}


# -- lifecycle -----------------------------------------------------------------------------------


def test_start_and_stop_leave_no_threads_and_no_running_loop(tmp_path):
    before = _non_daemon_threads()
    bench = Bench.start(load_lab_config(default_lab_config_path()),
                        evidence_dir=tmp_path / "evidence")
    try:
        runtime = bench.runtime
        assert runtime is not None and runtime.loop.is_running()
        bench.bring_up()
        bench.device("ESME").console.send_line("status")
        bench.device("GSME").read_optical()
    finally:
        bench.stop()
    assert _non_daemon_threads() == before
    assert not runtime._thread.is_alive()
    assert not runtime.loop.is_running() and runtime.loop.is_closed()
    assert all(t.name != "bench-loop" for t in threading.enumerate())
    assert bench.app is None
    bench.stop()  # idempotent


def test_the_bench_as_a_context_manager_stops(tmp_path):
    with Bench.start(load_lab_config(default_lab_config_path()),
                     evidence_dir=tmp_path / "evidence") as bench:
        runtime = bench.runtime
        assert bench.is_emulated
    assert runtime is not None and runtime.loop.is_closed()


def test_the_bench_starts_on_the_lab_clock(emulated_bench):
    bench = emulated_bench
    assert bench.clock.is_virtual
    assert bench.clock.now().isoformat() == "2026-01-05T09:00:00+00:00"
    bench.sleep(3600)
    assert bench.clock.monotonic() == 3600
    assert bench.clock.now().isoformat() == "2026-01-05T10:00:00+00:00"
    bench.clock.sleep(60)
    assert bench.clock.monotonic() == 3660


# -- bring-up and devices -------------------------------------------------------------------------


def test_bring_up_joins_all_four_devices(emulated_bench):
    bench = emulated_bench
    assert bench.chf.joined_devices() == []
    results = bench.bring_up()
    assert list(results) == ROLES
    for role, result in results.items():
        device = bench.device(role)
        assert isinstance(result, HanDevice), (role, result)
        assert result.eui == device.eui
        assert (result.manufacturer, result.model) == (device.profile.manufacturer,
                                                       device.profile.model)
        assert device.is_joined
    assert bench.chf.joined_devices() == sorted(bench.device(r).eui for r in ROLES)
    assert len(bench.events.since(0, match("initialized"))) == 4


def test_commissioning_a_joined_device_returns_at_once(emulated_bench):
    bench = emulated_bench
    bench.bring_up()
    esme = bench.device("ESME")
    before = bench.clock.monotonic()
    assert esme.commission().eui == esme.eui
    assert bench.clock.monotonic() == before


def test_commission_power_cycles_a_device_that_stopped_trying(emulated_bench):
    bench = emulated_bench
    ppmid = bench.device("PPMID")
    node = _node(bench, "PPMID")
    node.join_attempt_for_s = 10.0  # after power-on, it gives up after 10 s of trying
    bench.runtime.call(node.power_off)
    bench.runtime.call(node.power_on)
    bench.sleep(60)
    assert not node.joined
    mark = bench.events.mark()
    t0 = bench.clock.monotonic()
    han = ppmid.commission(300)
    joined = bench.events.since(mark, match("joined", device=ppmid.eui))
    assert len(joined) == 1
    # 30 s of waiting for it, then a relay power cycle of 2 s: it joins on power-on.
    assert joined[0].monotonic == pytest.approx(t0 + 30 + POWER_OFF_S, abs=1e-6)
    assert han.eui == ppmid.eui


def test_a_role_the_dmc_lacks_is_not_applicable(tmp_path):
    profiles = tmp_path / "profiles"
    (profiles / "dmcs").mkdir(parents=True)
    (profiles / "dmcs" / "TEST-NO-IHD.yaml").write_text(
        "id: TEST-NO-IHD\nname: Reference DMC without an IHD\n"
        "devices:\n  CHF: ref-chf-1.0.0\n  ESME: ref-esme-1.0.0\n  GSME: ref-gsme-1.0.0\n"
        "  PPMID: ref-ppmid-1.0.0\nsource: harness test\n"
    )
    text = default_lab_config_path().read_text()
    assert "\ndmc: REF-DMC-001\n" in text
    lab_path = tmp_path / "lab.yaml"
    lab_path.write_text(text.replace("\ndmc: REF-DMC-001\n",
                                     "\nprofile_paths: [profiles]\ndmc: TEST-NO-IHD\n"))
    with Bench.start(load_lab_config(lab_path), evidence_dir=tmp_path / "evidence") as bench:
        assert list(bench.devices) == ["ESME", "GSME", "PPMID"]
        with pytest.raises(NotApplicable, match=r"TEST-NO-IHD.*has no IHD"):
            bench.device("IHD")
        assert list(bench.bring_up()) == ["ESME", "GSME", "PPMID"]


def test_an_unknown_role_is_not_applicable(emulated_bench):
    bench = emulated_bench
    with pytest.raises(NotApplicable, match="has no HCALCS"):
        bench.device("HCALCS")


def test_a_port_the_device_lacks_is_not_applicable(emulated_bench):
    bench = emulated_bench
    ppmid = bench.device("PPMID")
    assert ppmid.has_console and not ppmid.has_optical
    with pytest.raises(NotApplicable, match="no optical port"):
        ppmid.read_optical()


def test_zigbee_of_a_device_not_joined_raises_not_joined(emulated_bench):
    bench = emulated_bench
    from harness.han.chf import NotJoined

    with pytest.raises(NotJoined):
        _ = bench.device("IHD").zigbee


# -- serial ports --------------------------------------------------------------------------------


def test_the_console_answers_status(emulated_bench):
    bench = emulated_bench
    bench.bring_up()
    esme = bench.device("ESME")
    console = esme.console
    console.send_line("status")
    console.expect(rb"role ESME eui " + esme.eui.encode())
    console.expect(rb"joined yes nwk 0x[0-9A-F]{4}")
    console.expect(rb"esme> ")
    assert esme.console is console  # kept open for the run


def test_the_console_injects_faults_the_han_sees(emulated_bench):
    bench = emulated_bench
    bench.bring_up()
    gsme = bench.device("GSME")
    gsme.console.send_line("radio silent")
    gsme.console.expect(rb"radio silent\r\ngsme> ")
    before = bench.clock.monotonic()
    with pytest.raises(zigpy.exceptions.DeliveryError):
        gsme.zigbee.read("basic", "model")
    assert bench.clock.monotonic() == before
    gsme.console.send_line("radio normal")
    gsme.console.expect(rb"radio normal\r\ngsme> ")
    assert gsme.zigbee.read_one("basic", "model") == gsme.profile.model


def test_optical_readout_matches_zigbee_and_is_kept_as_evidence(emulated_bench, tmp_path):
    bench = emulated_bench
    bench.bring_up()
    esme = bench.device("ESME")
    bench.begin_test(tmp_path / "one-test")
    kwh = esme.read_register_kwh()
    readout = esme.read_optical()
    evidence = bench.end_test()
    assert readout.identification == "/REF5REFESME100"
    assert Decimal(readout.value(esme.profile.optical_register).value) == kwh
    assert len(evidence.frames) == 2  # the read request and its reply
    assert evidence.transcripts == [tmp_path / "one-test" / "esme-optical.log"]
    assert evidence.transcripts[0].read_bytes()


# -- the relay board ------------------------------------------------------------------------------


def test_a_relay_power_cycle_makes_the_device_rejoin(emulated_bench):
    bench = emulated_bench
    bench.bring_up()
    ppmid = bench.device("PPMID")
    node = _node(bench, "PPMID")
    switched: list[tuple[str, float]] = []
    off, on = node.power_off, node.power_on
    node.power_off = lambda: (switched.append(("off", bench.runtime.loop.time())), off())[1]
    node.power_on = lambda: (switched.append(("on", bench.runtime.loop.time())), on())[1]

    # Many times over: the relay frame crosses a pty, and bench time must wait for it.
    for _ in range(50):
        switched.clear()
        frames = bench.frames.mark()
        t0 = bench.clock.monotonic()

        ppmid.power.cycle()

        assert bench.clock.monotonic() == t0 + POWER_OFF_S
        assert switched == [("off", t0), ("on", t0 + POWER_OFF_S)]
        annces = [f for f in bench.frames.since(frames)
                  if f.direction == "rx" and f.cluster_id == DEVICE_ANNCE]
        assert [f.monotonic for f in annces] == [t0 + POWER_OFF_S]
        assert ppmid.is_joined
    assert ppmid.zigbee.read_one("basic", "model") == ppmid.profile.model


def test_relay_off_and_on_switch_the_device_before_bench_time_moves(emulated_bench):
    bench = emulated_bench
    bench.bring_up()
    ihd = bench.device("IHD")
    node = _node(bench, "IHD")
    for _ in range(50):
        ihd.power.off()
        assert not node.powered
        bench.sleep(1)
        ihd.power.on()
        assert node.powered
    assert ihd.zigbee.read_one("basic", "model") == ihd.profile.model


class _SlowLine:
    """A serial line that hands each write to the port 10 ms later, in order (a slow USB
    adapter, or the kernel taking its time to pass pty data on)."""

    def __init__(self, port) -> None:
        self._port = port
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, daemon=True)
        self._worker.start()

    def _run(self) -> None:
        pause = threading.Event()
        while (data := self._queue.get()) is not None:
            pause.wait(0.01)
            self._port.write(data)

    def write(self, data: bytes) -> int:
        self._queue.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Returns before the data is through, as the wait above shows."""

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(5)
        self._port.close()


def test_a_slow_relay_line_still_switches_before_bench_time_moves(emulated_bench):
    bench = emulated_bench
    bench.bring_up()
    board = bench.relays["relays"]
    board._port = _SlowLine(board._port)
    gsme = bench.device("GSME")
    node = _node(bench, "GSME")
    switched: list[tuple[str, float]] = []
    off, on = node.power_off, node.power_on
    node.power_off = lambda: (switched.append(("off", bench.runtime.loop.time())), off())[1]
    node.power_on = lambda: (switched.append(("on", bench.runtime.loop.time())), on())[1]
    for _ in range(3):
        switched.clear()
        t0 = bench.clock.monotonic()
        gsme.power.cycle(30)
        assert switched == [("off", t0), ("on", t0 + 30)]


# -- real radios ----------------------------------------------------------------------------------


def test_a_real_radio_whose_library_is_missing_gives_radio_unavailable(tmp_path, monkeypatch):
    lab_path = tmp_path / "real.yaml"
    lab_path.write_text(
        "bench: real-bench\n"
        "radio:\n  type: ezsp\n  port: /dev/ttyUSB0\n"
        "serial_adapters: []\n"
        "installations:\n  - id: home-1\n    devices:\n"
        "      - role: ESME\n        eui64: 00-1B-C5-0C-00-00-00-01\n"
        "        install_code: {env: DMCT_ESME_CODE}\n"
        "dmc: REF-DMC-001\ninstallation_status: dormant\nclock:\n  mode: real\n"
    )
    env = {"DMCT_ESME_CODE": TEST_CODE}
    lab = load_lab_config(lab_path, env=env)
    real_import = importlib.import_module

    def no_bellows(name: str, package: str | None = None) -> types.ModuleType:
        if name.startswith("bellows"):
            raise ModuleNotFoundError("No module named 'bellows'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_bellows)
    before = _non_daemon_threads()
    with pytest.raises(RadioUnavailable) as info:
        Bench.start(lab, env=env, evidence_dir=tmp_path / "evidence")
    message = str(info.value)
    assert "pip install 'smets1-dmct[ezsp]'" in message and "bellows" in message
    assert "\n" not in message
    assert _non_daemon_threads() == before
    assert all(t.name != "bench-loop" for t in threading.enumerate())


def test_bench_calls_after_stop_are_refused(emulated_bench):
    bench = emulated_bench
    bench.stop()
    assert bench.runtime is not None
    with pytest.raises(RuntimeError, match="shut down"):
        bench.runtime.run(asyncio.sleep(0))


# -- the backend --------------------------------------------------------------------------------


def test_the_backend_is_chosen_once_from_the_radio(tmp_path, emulated_bench):
    from harness.backend.emulated import EmulatedBackend
    from harness.backend.real import RealBackend

    assert isinstance(emulated_bench.backend, EmulatedBackend) and emulated_bench.is_emulated
    lab_path = tmp_path / "real.yaml"
    lab_path.write_text(
        "bench: real-bench\nradio:\n  type: znp\n  port: socket://127.0.0.1:9\n"
        "installations:\n  - id: home-1\n    devices:\n"
        "      - role: ESME\n        eui64: 00-1B-C5-0C-00-00-00-01\n"
        "        install_code: {env: DMCT_ESME_CODE}\n"
        "dmc: REF-DMC-001\ninstallation_status: dormant\n"
    )
    lab = load_lab_config(lab_path, env={})
    backend = Bench(lab, lab.catalogue.dmc("REF-DMC-001"), "dormant").backend
    assert isinstance(backend, RealBackend) and not backend.is_emulated
    assert lab.clock.mode == "real"


def test_the_bench_and_the_real_backend_never_import_the_emulator():
    import subprocess
    import sys

    code = ("import sys, harness.bench, harness.backend.real, fixtures.bench\n"
            "loaded = [m for m in sys.modules if m.startswith('harness.emulator')]\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_a_virtual_radio_on_the_real_clock_is_one_configuration_error(tmp_path):
    from harness.config import ConfigError

    lab_path = tmp_path / "contradiction.yaml"
    lab_path.write_text(
        "bench: x\nradio:\n  type: virtual\n"
        "installations:\n  - id: home-1\n    devices:\n"
        "      - role: ESME\n        eui64: 00-1B-C5-0C-00-00-00-01\n"
        "        install_code: emulated\n"
        "dmc: REF-DMC-001\ninstallation_status: dormant\nclock:\n  mode: real\n"
    )
    with pytest.raises(ConfigError) as info:
        load_lab_config(lab_path, env={})
    message = str(info.value)
    assert message.startswith(f"{lab_path}:13: clock.mode: the virtual radio runs on the "
                              "virtual clock"), message
    assert "\n" not in message


# -- serial ports by stable identity ---------------------------------------------------------


def test_a_port_that_vanished_is_a_bench_fault_and_is_not_opened_again(emulated_bench):
    from harness.pytest_plugin import _exception_reason, outcome_of
    from harness.serial import PortVanished

    bench = emulated_bench
    gsme = bench.device("GSME")
    gsme.read_optical()
    served = bench._emulator.ports["gsme-optical"]
    bench.runtime.call(served.close)  # the probe is unplugged
    with pytest.raises(PortVanished) as info:
        gsme.read_optical()
    with pytest.raises(PortVanished):
        gsme.write_optical(b"/?!\r\n")  # nothing is written to whatever holds the name now
    # Recorded as a blocked case with a bench-fault reason, not as a device failure.
    reason = _exception_reason(pytest.ExceptionInfo.from_exception(info.value))
    assert reason.startswith("blocked: bench fault: PortVanished: gsme-optical"), reason
    call = pytest.TestReport("t", ("t", 0, "t"), {}, "failed", None, "call")
    assert outcome_of({"call": call}, {"call": reason}) == ("blocked", reason)


def test_a_console_whose_port_vanished_is_not_reopened_onto_another_device(emulated_bench):
    from harness.serial import PortLost

    bench = emulated_bench
    esme = bench.device("ESME")
    esme.console.send_line("status")
    bench.runtime.call(bench._emulator.ports["esme-console"].close)
    with pytest.raises(PortLost):
        esme.console.expect("never printed", timeout=5)
    with pytest.raises(PortLost):
        esme.console.send_line("status")  # a new open is refused: the device vanished


# -- a person at a real bench -------------------------------------------------------------------


@pytest.fixture
def terminal() -> Iterator[tuple[int, str]]:
    """A real pty standing in for the operator's terminal: (master fd, slave path)."""
    import os

    master, slave = os.openpty()
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_the_operator_is_asked_on_the_terminal_and_answers(terminal):
    import os
    import select

    from harness.backend.operator import Operator, OperatorUnavailable

    master, path = terminal
    operator = Operator(env={}, tty=path, timeout_s=60)  # typed ahead: never waits
    os.write(master, b"\n")  # the person presses Enter (typed ahead: the line is waiting)
    operator.ask("power-cycle the ESME")
    prompt = b""  # the echo of the typed-ahead line and the prompt may come in separate reads
    while b"(or type skip)" not in prompt and select.select([master], [], [], 10)[0]:
        prompt += os.read(master, 4096)
    assert b"Please power-cycle the ESME, then press Enter (or type skip)" in prompt
    os.write(master, b"skip\n")
    with pytest.raises(OperatorUnavailable, match="the operator skipped it"):
        operator.ask("switch the GSME OFF")


def test_without_a_person_a_prompt_is_a_bench_fault(terminal):
    from harness.backend.operator import Operator, OperatorUnavailable
    from harness.faults import BenchFault

    _master, path = terminal
    with pytest.raises(OperatorUnavailable, match="DMCT_OPERATOR=none") as info:
        Operator(env={"DMCT_OPERATOR": "none"}, tty=path).ask("switch the ESME ON")
    assert isinstance(info.value, BenchFault)
    with pytest.raises(OperatorUnavailable, match="no terminal"):
        Operator(env={}, tty="/nonexistent/tty").ask("switch the ESME ON")
    with pytest.raises(OperatorUnavailable, match="nobody answered"):
        Operator(env={}, tty=path, timeout_s=0).ask("switch the ESME ON")


def test_a_real_device_without_a_relay_is_switched_by_a_person(tmp_path, terminal):
    import os

    from harness.backend.operator import ManualPower, Operator
    from harness.backend.real import RealBackend
    from harness.runtime import BenchRuntime

    lab_path = tmp_path / "real.yaml"
    lab_path.write_text(
        "bench: real-bench\nradio:\n  type: znp\n  port: socket://127.0.0.1:9\n"
        "installations:\n  - id: home-1\n    devices:\n"
        "      - role: PPMID\n        eui64: 00-1B-C5-0C-00-00-00-03\n"
        "        install_code: {env: DMCT_PPMID_CODE}\n"
        "dmc: REF-DMC-001\ninstallation_status: dormant\n"
    )
    lab = load_lab_config(lab_path, env={})
    master, path = terminal
    backend = RealBackend(lab, operator=Operator(env={}, tty=path, timeout_s=5))
    runtime = BenchRuntime(virtual=False)
    try:
        power = backend.power(lab.installations[0].devices[0], runtime, {})
        assert isinstance(power, ManualPower)
        os.write(master, b"\n")
        power.cycle()
        assert b"power-cycle the PPMID 00-1B-C5-0C-00-00-00-03" in os.read(master, 4096)
    finally:
        runtime.shutdown()


def test_a_device_nobody_can_power_cycle_is_a_bench_fault_at_bring_up(emulated_bench):
    from harness.backend.operator import ManualPower, Operator, OperatorUnavailable

    bench = emulated_bench
    ppmid = bench.device("PPMID")
    bench.runtime.call(_node(bench, "PPMID").power_off)  # it will not try to join by itself
    ppmid.power = ManualPower(Operator(env={"DMCT_OPERATOR": "none"}), "PPMID", bench.runtime)
    results = bench.bring_up()
    assert isinstance(results["PPMID"], OperatorUnavailable), results["PPMID"]
    assert "power-cycle the PPMID" in str(results["PPMID"])
    assert all(isinstance(results[r], HanDevice) for r in ("ESME", "GSME", "IHD"))
