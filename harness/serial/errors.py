"""Errors of the serial layer.

Every error here derives from :class:`SerialError`, so bench code can catch "something went wrong
on a serial port" in one place. The two expect failures also derive from ``AssertionError``:
a device that does not print what a test waits for is a test *failure*, and pytest reports it as
one (with the message, not a traceback through the reader thread).

Messages are one line where a caller may show them as they are (a port that does not exist), and
quote what was received where that is the evidence (an expect timeout, a bad readout).
"""

from __future__ import annotations

from harness.faults import BenchFault


class SerialError(Exception):
    """Base of every error raised by :mod:`harness.serial`."""


class PortNotFoundError(SerialError, BenchFault):
    """The configured port does not exist (no such device path, no such USB serial number).

    A bench fault: the case that needed it is blocked, the device is not judged."""


class PortLost(SerialError, BenchFault):
    """The port went away while in use (device unplugged, emulated pty closed): a bench fault."""


class PortVanished(PortLost):
    """The device a port was first opened on is gone (its node, or another device under its
    name): the bench does not open whatever holds that name now."""


class ExpectTimeout(SerialError, AssertionError):
    """``Console.expect`` saw no match within its timeout."""


class UnexpectedOutput(SerialError, AssertionError):
    """A ``not_matching`` pattern appeared before the expected one."""


class ReadoutError(SerialError):
    """An IEC 62056-21 readout failed: no answer, or an answer that does not parse."""
