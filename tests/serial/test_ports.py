"""PortSpec parsing, USB serial number resolution and open_port failures."""

from __future__ import annotations

import pytest
import serial
import serial.tools.list_ports
from serial.tools.list_ports_common import ListPortInfo

from harness.serial import PortNotFoundError, PortSpec, SerialError, open_port, resolve_port
from harness.serial.console_server import LineConsoleServer


def _usb_port(device: str, serial_number: str | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.serial_number = serial_number
    return info


@pytest.fixture
def fake_comports(monkeypatch):
    """Replace the OS port listing with the given ports."""

    def _install(*ports: ListPortInfo) -> None:
        monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: list(ports))

    return _install


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dev/ttyUSB0", PortSpec(path="/dev/ttyUSB0")),
        ("  socket://bench7:4001 ", PortSpec(path="socket://bench7:4001")),
        ("loop://", PortSpec(path="loop://")),
        ({"usb_serial": "A10K5TRW"}, PortSpec(usb_serial="A10K5TRW")),
        ({"path": "/dev/ttyACM1"}, PortSpec(path="/dev/ttyACM1")),
    ],
)
def test_parse_accepts_config_forms(value, expected):
    assert PortSpec.parse(value) == expected
    assert PortSpec.parse(expected) is expected


@pytest.mark.parametrize(
    "value",
    ["", "   ", {}, {"usb_serial": ""}, {"usb_seriall": "X"}, {"path": "a", "usb_serial": "b"}, 42],
)
def test_parse_rejects_bad_config(value):
    with pytest.raises(ValueError):
        PortSpec.parse(value)


def test_describe_names_the_kind_of_port():
    assert PortSpec.parse("/dev/ttyUSB0").describe() == "device /dev/ttyUSB0"
    assert PortSpec.parse("rfc2217://host:4000").describe() == "URL rfc2217://host:4000"
    assert PortSpec.parse({"usb_serial": "A10K5TRW"}).describe() == "USB serial A10K5TRW"


def test_resolve_path_is_returned_as_is(fake_comports):
    fake_comports()
    assert resolve_port(PortSpec(path="socket://h:1")) == "socket://h:1"


def test_resolve_usb_serial_finds_the_device(fake_comports):
    fake_comports(
        _usb_port("/dev/ttyUSB0", "FT1234"),
        _usb_port("/dev/ttyUSB1", "A10K5TRW"),
        _usb_port("/dev/ttyS0", None),
    )
    assert resolve_port(PortSpec(usb_serial="A10K5TRW")) == "/dev/ttyUSB1"
    # Some drivers report a different case than the adapter's label.
    assert resolve_port(PortSpec(usb_serial="a10k5trw")) == "/dev/ttyUSB1"


def test_resolve_usb_serial_missing_lists_what_was_found(fake_comports):
    fake_comports(_usb_port("/dev/ttyUSB0", "FT1234"), _usb_port("/dev/ttyACM0", "B2"))
    with pytest.raises(PortNotFoundError) as info:
        resolve_port(PortSpec(usb_serial="A10K5TRW"))
    message = str(info.value)
    assert "\n" not in message
    assert "'A10K5TRW'" in message
    assert "'FT1234' (/dev/ttyUSB0)" in message and "'B2' (/dev/ttyACM0)" in message


def test_resolve_usb_serial_with_no_usb_ports(fake_comports):
    fake_comports(_usb_port("/dev/ttyS0", None))
    with pytest.raises(PortNotFoundError, match="serial numbers found: none"):
        resolve_port(PortSpec(usb_serial="A10K5TRW"))


def test_resolve_usb_serial_shared_by_two_ports_is_an_error(fake_comports):
    fake_comports(_usb_port("/dev/ttyUSB0", "FT4232X"), _usb_port("/dev/ttyUSB1", "FT4232X"))
    with pytest.raises(PortNotFoundError, match="matches 2 ports"):
        resolve_port(PortSpec(usb_serial="FT4232X"))


def test_open_missing_device_is_one_clear_line(tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(PortNotFoundError) as info:
        open_port(PortSpec.parse(missing), baudrate=9600)
    assert str(info.value) == f"serial port {missing} does not exist (device {missing})"


def test_open_unknown_url_scheme_is_a_serial_error():
    with pytest.raises(SerialError, match="cannot open serial port nosuch://x"):
        open_port(PortSpec.parse("nosuch://x"), baudrate=9600)


def test_open_loop_url():
    port = open_port(PortSpec.parse("loop://"), baudrate=9600, timeout=0.5)
    try:
        port.write(b"ping")
        assert port.read(4) == b"ping"
    finally:
        port.close()


def test_open_pty_by_usb_serial_and_exclusively(serve, fake_comports):
    pty = serve(LineConsoleServer("> ", {}))
    fake_comports(_usb_port(pty.path, "EMU0001"))
    spec = PortSpec.parse({"usb_serial": "EMU0001"})
    port = open_port(spec, baudrate=115200)
    try:
        assert port.is_open and port.port == pty.path
        assert port.baudrate == 115200 and port.timeout == 0.1
        with pytest.raises(SerialError, match="in use by another program"):
            open_port(spec, baudrate=115200)
    finally:
        port.close()
