"""Naming and opening serial ports the way a lab config does.

A bench names a port by device path (``/dev/ttyUSB0``), by pyserial URL (``socket://host:4001``,
``rfc2217://host:4000``, ``loop://``) or by the USB serial number of its adapter
(``{"usb_serial": "A10K5TRW"}``). Paths like ``/dev/ttyUSB0`` change with plug order; the USB
serial number does not, which is why labs ask for it. A bench opens its ports through
:class:`StablePort`, which remembers the device it first found and never opens another one under
the same name (the kernel gives a vanished pty's ``/dev/pts/N`` to the next pty).

Opening failures become one-line :class:`~harness.serial.errors.SerialError` messages, so the CLI
and the pytest plugin can show them as they are.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import serial
import serial.tools.list_ports
from serial.tools.list_ports_common import ListPortInfo

from harness.serial.errors import PortNotFoundError, PortVanished, SerialError
from harness.text import clip

__all__ = ["PortIdentity", "PortSpec", "StablePort", "identify", "open_port", "resolve_port"]


@dataclass(frozen=True)
class PortSpec:
    """Where a port is: exactly one of a device path / pyserial URL, or a USB serial number."""

    path: str | None = None
    usb_serial: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.usb_serial is None):
            raise ValueError("a port is named by exactly one of 'path' or 'usb_serial'")
        for field_name in ("path", "usb_serial"):
            value = getattr(self, field_name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"port {field_name} must be a non-empty string, got {value!r}")

    @classmethod
    def parse(cls, value: str | dict[str, Any] | PortSpec) -> PortSpec:
        """Read a port as a lab config writes it: a path/URL string or ``{"usb_serial": ...}``.

        A ``{"path": ...}`` mapping is accepted too; unknown keys are an error rather than
        being ignored, so a typo in the config does not silently open the wrong port.
        """
        if isinstance(value, PortSpec):
            return value
        if isinstance(value, str):
            return cls(path=value.strip())
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"path", "usb_serial"})
            if unknown:
                raise ValueError(
                    f"unknown port key(s) {', '.join(map(repr, unknown))}; "
                    "use 'path' or 'usb_serial'"
                )
            usb_serial = value.get("usb_serial")
            path = value.get("path")
            return cls(
                path=str(path).strip() if path is not None else None,
                usb_serial=str(usb_serial).strip() if usb_serial is not None else None,
            )
        raise ValueError(f"a port is a path, a URL or {{'usb_serial': ...}}, not {value!r}")

    @property
    def is_url(self) -> bool:
        """True for pyserial URLs (``socket://``, ``rfc2217://``, ``loop://`` ...)."""
        return self.path is not None and "://" in self.path

    def describe(self) -> str:
        """Short human-readable name for messages and reports."""
        if self.usb_serial is not None:
            return f"USB serial {self.usb_serial}"
        if self.is_url:
            return f"URL {self.path}"
        return f"device {self.path}"


def resolve_port(spec: PortSpec, listed: Sequence[ListPortInfo] | None = None) -> str:
    """Return the path or URL to open for ``spec``.

    For a USB serial number, look it up among the ports the OS lists now (so a re-plugged
    adapter is found under its new ``/dev`` name), or among ``listed``, a scan the caller
    already made. Exact match first, then case-insensitive: some drivers report serial numbers
    in a different case than the label on the adapter.
    """
    if spec.path is not None:
        return spec.path
    wanted = spec.usb_serial
    assert wanted is not None
    scanned = serial.tools.list_ports.comports() if listed is None else listed
    ports = sorted(scanned, key=lambda p: p.device)
    matches = [p for p in ports if p.serial_number == wanted]
    if not matches:
        matches = [
            p for p in ports if p.serial_number and p.serial_number.casefold() == wanted.casefold()
        ]
    if len(matches) == 1:
        return matches[0].device
    if len(matches) > 1:
        # Multi-channel chips (FT2232/FT4232) report one serial number for several ports.
        devices = ", ".join(p.device for p in matches)
        raise PortNotFoundError(
            f"USB serial number {wanted!r} matches {len(matches)} ports ({devices}); "
            "name the port by path instead"
        )
    found = [f"{p.serial_number!r} ({p.device})" for p in ports if p.serial_number]
    listing = ", ".join(found) if found else "none"
    raise PortNotFoundError(
        f"no serial port with USB serial number {wanted!r}; serial numbers found: {listing}"
    )


def open_port(
    spec: PortSpec, *, baudrate: int, timeout: float = 0.1, **kwargs: Any
) -> serial.Serial:
    """Open ``spec`` with pyserial and return the open port.

    Ports are opened ``exclusive`` (a POSIX advisory lock; other pyserial URL handlers accept and
    ignore the flag) so two benches, or a bench and a forgotten ``miniterm``, cannot share one
    meter without noticing. Pass ``exclusive=False`` to opt out. Extra keyword arguments go to
    pyserial (``bytesize``, ``parity``, ...: IEC 62056-21 optical ports are 7E1 on real meters).

    Raises :class:`PortNotFoundError` when the device does not exist and :class:`SerialError`
    for every other failure to open, each with a one-line message.
    """
    target = resolve_port(spec)
    if not spec.is_url and not os.path.exists(target):
        raise PortNotFoundError(f"serial port {target} does not exist ({spec.describe()})")
    kwargs.setdefault("exclusive", True)
    try:
        return serial.serial_for_url(target, baudrate=baudrate, timeout=timeout, **kwargs)
    except serial.SerialException as exc:
        code = exc.errno
        if code == errno.ENOENT:
            raise PortNotFoundError(
                f"serial port {target} does not exist ({spec.describe()})"
            ) from exc
        if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY):
            raise SerialError(
                f"serial port {target} is in use by another program ({spec.describe()})"
            ) from exc
        raise SerialError(f"cannot open serial port {target}: {_one_line(exc)}") from exc
    except (OSError, ValueError) as exc:
        raise SerialError(f"cannot open serial port {target}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return clip(str(exc), 300) or type(exc).__name__


@dataclass(frozen=True)
class PortIdentity:
    """Which device a port was when the bench first opened it.

    A USB adapter is known by its serial number (and vendor:product), wherever it is plugged in.
    Any other device node (a pty, a built-in UART) by its device number and the time its node was
    made: the kernel reuses ``/dev/pts/N`` (same number, same inode) for the next pty, and only
    the node's change time tells the two apart. A URL (``socket://``) is what it names.
    """

    target: str
    usb_serial: str | None = None
    usb_id: str | None = None
    node: tuple[int, int] | None = None

    def same_device(self, other: PortIdentity) -> bool:
        if self.usb_serial is not None:
            return (other.usb_serial, other.usb_id) == (self.usb_serial, self.usb_id)
        if self.node is not None:
            return other.node == self.node
        return other.target == self.target

    def describe(self) -> str:
        if self.usb_serial is not None:
            return f"USB adapter {self.usb_id} serial {self.usb_serial} at {self.target}"
        return self.target


def identify(spec: PortSpec, target: str,
             listed: Sequence[ListPortInfo] | None = None) -> PortIdentity:
    """The identity of the device at ``target`` now; :class:`PortNotFoundError` if none.
    ``listed``: the OS's ports as the caller just scanned them (else scanned here if needed)."""
    if spec.is_url:
        return PortIdentity(target)
    real = os.path.realpath(target)
    try:
        node = os.stat(real)
    except FileNotFoundError:
        raise PortNotFoundError(f"serial port {target} does not exist ({spec.describe()})") \
            from None
    if not real.startswith("/dev/pts/"):  # ptys have no USB identity; skip the sysfs scan
        for info in serial.tools.list_ports.comports() if listed is None else listed:
            if info.serial_number and os.path.realpath(info.device) == real:
                usb_id = f"{info.vid or 0:04x}:{info.pid or 0:04x}"
                return PortIdentity(target, usb_serial=info.serial_number, usb_id=usb_id)
    return PortIdentity(target, node=(node.st_rdev, node.st_ctime_ns))


class StablePort:
    """A configured port, bound to the device behind it when first seen, and never opened onto
    another device after that one vanished (:class:`PortVanished`, a bench fault).

    Every :meth:`open` checks the device at the port's name against the one first seen; for a
    device node it checks again on the open file, so a node replaced in between is caught too.
    A pty is also held by a *witness*, a file descriptor on it kept open (never read): while it
    is open the kernel cannot give the pty's number to another pty, and the pty's hang-up shows
    on it when its far end goes away. :meth:`close` lets go of it.
    """

    def __init__(self, spec: PortSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.identity: PortIdentity | None = None
        self._witness: int | None = None

    def close(self) -> None:
        """Let go of the pty witness (the bench is done with the port). Idempotent."""
        witness, self._witness = self._witness, None
        if witness is not None:
            with contextlib.suppress(OSError):
                os.close(witness)

    def _hung_up(self) -> bool:
        if self._witness is None:
            return False
        poller = select.poll()
        poller.register(self._witness, select.POLLHUP | select.POLLERR | select.POLLNVAL)
        return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
                   for _fd, events in poller.poll(0))

    def _watch(self, identity: PortIdentity) -> None:
        real = os.path.realpath(identity.target)
        if identity.node is None or not real.startswith("/dev/pts/"):
            return
        with contextlib.suppress(OSError):
            witness = os.open(real, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            seen = os.fstat(witness)
            if (seen.st_rdev, seen.st_ctime_ns) == identity.node:
                self._witness = witness
            else:
                os.close(witness)

    def bind(self) -> None:
        """Learn the device behind the port now, if it is there (else at the first open)."""
        with contextlib.suppress(PortNotFoundError):
            self._check()

    def _check(self) -> PortIdentity:
        if self._hung_up():
            assert self.identity is not None
            raise PortVanished(f"{self.name}: {self.identity.describe()} vanished (hung up); it "
                               "is not re-opened under another device")
        # A port named by serial number is found and identified from one scan of the USB
        # ports (a sysfs walk each), not two.
        listed = (serial.tools.list_ports.comports() if self.spec.usb_serial is not None
                  else None)
        try:
            current = identify(self.spec, resolve_port(self.spec, listed), listed)
        except PortNotFoundError as exc:
            if self.identity is not None:
                raise PortVanished(f"{self.name}: {self.identity.describe()} vanished ({exc}); "
                                   "it is not re-opened under another device") from None
            raise
        if self.identity is None:
            self.identity = current
            self._watch(current)
        elif not self.identity.same_device(current):
            raise PortVanished(f"{self.name}: {self.identity.describe()} vanished and "
                               f"{current.target} is now another device; not opened")
        return current

    def open(self, *, baudrate: int, timeout: float = 0.1, **kwargs: Any) -> serial.Serial:
        """Open the port (see :func:`open_port`) if it is still the device first seen."""
        current = self._check()
        port = open_port(PortSpec(path=current.target), baudrate=baudrate, timeout=timeout,
                         **kwargs)
        if current.node is not None:
            opened = os.fstat(port.fileno())
            if (opened.st_rdev, opened.st_ctime_ns) != current.node:
                port.close()
                raise PortVanished(f"{self.name}: {current.target} was replaced while it was "
                                   "being opened; closed again")
        return port
