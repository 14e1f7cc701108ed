"""The serial layer: ports, expect consoles, IEC 62056-21 readout, relay boards.

Client side on pyserial; the protocol codecs are sans-IO classes that the emulator's pty ports
(:mod:`harness.emulator.pty`) serve, so emulated devices speak the bytes the clients parse.
"""

from harness.serial.console import Console, compile_pattern, printable
from harness.serial.console_server import LineConsoleServer
from harness.serial.errors import (
    ExpectTimeout,
    PortLost,
    PortNotFoundError,
    PortVanished,
    ReadoutError,
    SerialError,
    UnexpectedOutput,
)
from harness.serial.iec62056 import (
    BAUD_RATES,
    DataLine,
    MeterReadoutServer,
    Readout,
    bcc,
    format_data_block,
    parse_data_block,
    parse_identification,
    read_meter,
)
from harness.serial.ports import PortIdentity, PortSpec, StablePort, open_port, resolve_port
from harness.serial.relay import (
    RelayBoard,
    RelayCommand,
    RelayServer,
    decode_command,
    encode_command,
)

__all__ = [
    "BAUD_RATES",
    "Console",
    "DataLine",
    "ExpectTimeout",
    "LineConsoleServer",
    "MeterReadoutServer",
    "PortIdentity",
    "PortLost",
    "PortNotFoundError",
    "PortSpec",
    "PortVanished",
    "Readout",
    "ReadoutError",
    "RelayBoard",
    "RelayCommand",
    "RelayServer",
    "SerialError",
    "StablePort",
    "UnexpectedOutput",
    "bcc",
    "compile_pattern",
    "decode_command",
    "encode_command",
    "format_data_block",
    "open_port",
    "parse_data_block",
    "parse_identification",
    "printable",
    "read_meter",
    "resolve_port",
]
