"""Ports by stable identity (``harness.serial.ports.StablePort``), on real ptys.

The kernel gives a vanished pty's ``/dev/pts/N`` (same number, same inode) to the next pty
anyone opens; a bench that re-opened the port by name read another process's device. A port is
bound to the device first found behind it and never opened onto another.
"""

from __future__ import annotations

import contextlib
import os
import termios
import time

import pytest
import serial.tools.list_ports
from serial.tools.list_ports_common import ListPortInfo

from harness.faults import BenchFault
from harness.serial import (
    PortLost,
    PortNotFoundError,
    PortSpec,
    PortVanished,
    SerialError,
    StablePort,
)
from harness.serial.ports import PortIdentity, identify

#: How many ptys to open at most while waiting for the kernel to hand a freed number out again.
MAX_PTYS = 256


def _pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _reuse(path: str) -> tuple[int, int]:
    """Open ptys until one gets ``path`` (the kernel hands out the lowest free number)."""
    held: list[int] = []
    try:
        for _ in range(MAX_PTYS):
            master, slave, name = _pty()
            if name == path:
                return master, slave
            held += [master, slave]
    finally:
        _close(*held)
    pytest.fail(f"the kernel did not hand {path} out again within {MAX_PTYS} ptys")


def test_a_pty_still_there_opens_again_and_talks():
    master, slave, path = _pty()
    try:
        stable = StablePort(PortSpec(path=path), "esme-console")
        for text in (b"first\n", b"second\n"):
            port = stable.open(baudrate=115200, timeout=1.0)
            try:
                os.write(master, text)
                assert port.read(len(text)) == text
            finally:
                port.close()
        assert stable.identity is not None and stable.identity.node is not None
    finally:
        _close(master, slave)


def test_a_vanished_pty_is_a_bench_fault_not_a_missing_port():
    master, slave, path = _pty()
    stable = StablePort(PortSpec(path=path), "gsme-optical")
    stable.open(baudrate=300).close()
    _close(master, slave)
    with pytest.raises(PortVanished) as info:
        stable.open(baudrate=300)
    assert isinstance(info.value, PortLost) and isinstance(info.value, BenchFault)
    assert "gsme-optical" in str(info.value) and "\n" not in str(info.value)


def test_a_vanished_pty_number_goes_to_no_other_pty_while_the_bench_holds_the_port():
    master, slave, path = _pty()
    stable = StablePort(PortSpec(path=path), "esme-optical")
    stable.bind()
    _close(master, slave)
    others = [_pty() for _ in range(8)]
    try:
        assert path not in {name for _m, _s, name in others}
        with pytest.raises(PortVanished, match="hung up"):
            stable.open(baudrate=300)
    finally:
        _close(*(fd for m, s, _n in others for fd in (m, s)))
        stable.close()


def test_a_reused_pty_number_is_never_opened_onto_the_new_pty():
    """Even where the number was handed out again (the port's witness let go of, here), the
    new pty is refused by its identity, and not even opened."""
    master, slave, path = _pty()
    stable = StablePort(PortSpec(path=path), "esme-optical")
    stable.bind()
    stable.close()
    _close(master, slave)
    time.sleep(0.02)  # the new node's change time is later than the old one's (coarse clock)
    other_master, other_slave = _reuse(path)
    try:
        settings = termios.tcgetattr(other_slave)
        with pytest.raises(PortVanished, match="is now another device"):
            stable.open(baudrate=300)
        # Not opened at all: pyserial would have put the other pty in raw mode at 300 baud.
        assert termios.tcgetattr(other_slave) == settings
    finally:
        _close(other_master, other_slave)


def test_a_port_never_seen_is_a_missing_port(tmp_path):
    stable = StablePort(PortSpec(path=str(tmp_path / "ttyUSB9")), "relays")
    stable.bind()  # not there at bench start: bound at the first open instead
    with pytest.raises(PortNotFoundError) as info:
        stable.open(baudrate=9600)
    assert isinstance(info.value, BenchFault) and not isinstance(info.value, PortVanished)


def test_a_usb_adapter_is_known_by_its_serial_number_wherever_it_is(monkeypatch):
    def plug(serial_number: str) -> None:
        info = ListPortInfo("/dev/null", skip_link_detection=True)
        info.serial_number, info.vid, info.pid = serial_number, 0x0403, 0x6015
        monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: [info])

    spec = PortSpec(path="/dev/null")
    plug("A10K5TRW")
    stable = StablePort(spec, "esme-optical")
    stable.bind()
    assert stable.identity == PortIdentity("/dev/null", usb_serial="A10K5TRW",
                                           usb_id="0403:6015")
    plug("A10K5TRW")  # re-plugged: the same adapter (a new node, the same serial number)
    stable.bind()
    plug("D30A1B2C")  # another adapter under the same name
    with pytest.raises(PortVanished, match="USB adapter 0403:6015 serial A10K5TRW"):
        stable.open(baudrate=300)


def test_a_port_named_by_usb_serial_number_is_found_and_identified_from_one_scan(monkeypatch):
    """Each open of a port named by serial number walks the OS's USB ports once (resolving the
    name and identifying the adapter from the same listing), not twice."""
    info = ListPortInfo("/dev/null", skip_link_detection=True)
    info.serial_number, info.vid, info.pid = "A10K5TRW", 0x0403, 0x6015
    scans: list[int] = []

    def comports(*args: object, **kwargs: object) -> list[ListPortInfo]:
        scans.append(1)
        return [info]

    monkeypatch.setattr(serial.tools.list_ports, "comports", comports)
    stable = StablePort(PortSpec(usb_serial="A10K5TRW"), "esme-optical")
    stable.bind()
    assert stable.identity == PortIdentity("/dev/null", usb_serial="A10K5TRW",
                                           usb_id="0403:6015")
    assert len(scans) == 1
    with pytest.raises(SerialError):  # /dev/null is no serial port: it fails after the check
        stable.open(baudrate=300)
    assert len(scans) == 2


def test_a_url_is_what_it_names():
    spec = PortSpec(path="socket://127.0.0.1:9")
    assert identify(spec, "socket://127.0.0.1:9") == PortIdentity("socket://127.0.0.1:9")
