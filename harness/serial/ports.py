"""Naming and opening serial ports the way a lab config does.

A bench names a port by device path (``/dev/ttyUSB0``), by pyserial URL (``socket://host:4001``,
``rfc2217://host:4000``, ``loop://``) or by the USB serial number of its adapter
(``{"usb_serial": "A10K5TRW"}``). Paths like ``/dev/ttyUSB0`` change with plug order; the USB
serial number does not, which is why labs ask for it.

Opening failures become one-line :class:`~harness.serial.errors.SerialError` messages, so the CLI
and the pytest plugin can show them as they are.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

import serial
import serial.tools.list_ports

from harness.serial.errors import PortNotFoundError, SerialError

__all__ = ["PortSpec", "open_port", "resolve_port"]


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


def resolve_port(spec: PortSpec) -> str:
    """Return the path or URL to open for ``spec``.

    For a USB serial number, look it up among the ports the OS lists now (so a re-plugged
    adapter is found under its new ``/dev`` name). Exact match first, then case-insensitive:
    some drivers report serial numbers in a different case than the label on the adapter.
    """
    if spec.path is not None:
        return spec.path
    wanted = spec.usb_serial
    assert wanted is not None
    ports = sorted(serial.tools.list_ports.comports(), key=lambda p: p.device)
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
    return " ".join(str(exc).split()) or type(exc).__name__
