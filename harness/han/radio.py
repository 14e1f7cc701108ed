"""Choosing the zigpy application class for a radio type, and its zigpy configuration.

Radio libraries are imported only when a lab config chooses them, so a CI machine without the
extras never imports bellows. A missing extra is one line naming what to install. None of the
radio libraries registers a zigpy entry point, so their classes are imported directly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from zigpy.application import ControllerApplication

from harness.han.app import HanApplicationMixin


class RadioUnavailable(RuntimeError):
    """The lab config chose a radio whose library is not installed."""


@dataclass(frozen=True)
class RadioLibrary:
    module: str
    extra: str
    package: str


RADIO_LIBRARIES: dict[str, RadioLibrary] = {
    "ezsp": RadioLibrary("bellows.zigbee.application", "ezsp", "bellows"),
    "znp": RadioLibrary("zigpy_znp.zigbee.application", "znp", "zigpy-znp"),
    "deconz": RadioLibrary("zigpy_deconz.zigbee.application", "deconz", "zigpy-deconz"),
}


def han_application_class(base: type[ControllerApplication]) -> type[ControllerApplication]:
    """``base`` with :class:`HanApplicationMixin` in front of it."""
    if issubclass(base, HanApplicationMixin):
        return base
    return type(f"Han{base.__name__}", (HanApplicationMixin, base), {})


def real_radio_class(radio_type: str) -> type[ControllerApplication]:
    """The HAN application class for a real radio type (``ezsp``, ``znp``, ``deconz``)."""
    try:
        library = RADIO_LIBRARIES[radio_type]
    except KeyError:
        raise RadioUnavailable(
            f"unknown radio type {radio_type!r}; known: {', '.join(RADIO_LIBRARIES)}"
        ) from None
    try:
        module = importlib.import_module(library.module)
    except ImportError:
        raise RadioUnavailable(
            f"radio type {radio_type!r} needs {library.package}: "
            f"pip install 'smets1-dmct[{library.extra}]'"
        ) from None
    return han_application_class(module.ControllerApplication)


def zigpy_config(
    *,
    path: str,
    baudrate: int = 115200,
    flow_control: str | None = None,
    channel: int = 15,
    pan_id: int = 0x1A62,
    extended_pan_id: str | None = None,
    database: str | None = None,
    radio_type: str = "virtual",
) -> dict[str, Any]:
    """A zigpy config for a HAN coordinator.

    OTA (it would fetch over HTTP), periodic backups and topology scans are off: a test bench
    needs none of them, and each is a background task that can outlive a test.
    """
    device: dict[str, Any] = {"path": path, "baudrate": baudrate}
    if flow_control and flow_control != "none":
        device["flow_control"] = flow_control
    network: dict[str, Any] = {"channel": channel, "pan_id": pan_id}
    if extended_pan_id:
        network["extended_pan_id"] = extended_pan_id
    config: dict[str, Any] = {
        "device": device,
        "database_path": database,
        "network": network,
        "ota": {"enabled": False},
        "backup_enabled": False,
        "topology_scan_enabled": False,
    }
    if radio_type == "virtual":
        config["watchdog_enabled"] = False
    if radio_type == "ezsp":
        # bellows otherwise starts a non-daemon thread that can keep the process alive.
        config["use_thread"] = False
    return config
