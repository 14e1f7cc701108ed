"""Choosing the zigpy application class for a radio type, and its zigpy configuration.

Radio libraries are imported only when a lab config chooses them, so a CI machine without the
extras never imports bellows. A missing extra is one line naming what to install. None of the
radio libraries registers a zigpy entry point, so their classes are imported directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import zigpy.exceptions
import zigpy.types as t
from zigpy.application import ControllerApplication

from harness.config.types import eui64_to_zigpy
from harness.han.app import HanApplicationMixin
from harness.text import clip

LOGGER = logging.getLogger(__name__)


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


#: Seconds a real radio's permit is asked to outlast the window it serves: the CHF closes the
#: window itself (``permit(0)``) before the radio library's own end-of-permit clean-up runs.
REAL_PERMIT_MARGIN_S = 2.0
#: Largest APS payload a radio library can hand its dongle in one request (bytes); Z-Stack
#: fragments it over the air itself. zigpy-znp: one MT frame of 250 bytes, 20 of them header.
RADIO_MAX_PAYLOAD: dict[str, int] = {"znp": 230}


#: bellows' TRUST_CENTER_POLICY decision (EZSP v8+ bitmask) made install-code-only:
#: ALLOW_JOINS | JOINS_USE_INSTALL_CODE_KEY. bellows sets it as its default policy at start-up
#: and restores it after every permit task of its own, so it never restores anything looser.
EZSP_INSTALL_CODE_ONLY_POLICY = 0x11


class BellowsPermitWithoutPrePermit:
    """bellows' ``permit`` without its ``pre_permit`` task.

    bellows' ``permit(time_s)`` starts ``pre_permit``: it adds the well-known key
    ``ZigBeeAlliance09`` as a wildcard transient key (any joiner may use it, even under an
    install-code-only policy), sets a policy that is not install-code-only, and ``time_s + 2``
    seconds later restores the default policy. Every ``permit(0)`` (zigpy's at start-up, the
    CHF's to close joining) would so leave a window the CHF opens next open to a device with the
    well-known key. Here ``permit`` is zigpy's own (the ZDO broadcast and the NCP's
    ``permitJoining``) and nothing else; the CHF opens joining only with
    ``permit_with_link_key``, which sets install-code-only itself.
    """

    async def permit(self, time_s: int = 60, node: Any = None) -> None:
        await ControllerApplication.permit(self, time_s, node)  # type: ignore[arg-type]

    async def forget_link_key(self, ieee: t.EUI64) -> None:
        """A removed device's install-code key must not outlive its removal: EmberZNet keeps a
        transient key for minutes, and the device would rejoin under another device's window.
        EZSP v8 cannot erase one transient entry, so it is overwritten with a random key."""
        ezsp: Any = self._ezsp  # type: ignore[attr-defined]
        await ezsp.add_transient_link_key(ieee, t.KeyData(secrets.token_bytes(16)))


class ZnpForgetLinkKey:
    """A removed device's install-code key must not outlive its removal on Z-Stack either: it
    keeps the key zigpy-znp's ``permit_with_link_key`` added (``BDBAddInstallCode``) after the
    window closes, and the device would get in at the radio under another device's window
    (where only the CHF's device log refused it). The entry is overwritten the way it was added
    (the same MT command) with a random key, as for EmberZNet: the device's own key no longer
    opens it."""

    async def forget_link_key(self, ieee: t.EUI64) -> None:
        # the ZNP extra: only a ZNP radio's application has this class
        from zigpy_znp import commands as c
        from zigpy_znp import types as znp_types

        znp: Any = self._znp  # type: ignore[attr-defined]
        await znp.request(
            c.AppConfig.BDBAddInstallCode.Req(
                InstallCodeFormat=c.app_config.InstallCodeFormat.KeyDerivedFromInstallCode,
                IEEE=ieee, InstallCode=secrets.token_bytes(16)),
            RspStatus=znp_types.Status.SUCCESS)


class RadioStartError(RuntimeError):
    """The radio did not start; the message is one line: radio, port and the likely cause."""


def han_application_class(base: type[ControllerApplication],
                          radio_type: str | None = None) -> type[ControllerApplication]:
    """``base`` with :class:`HanApplicationMixin` in front of it."""
    if issubclass(base, HanApplicationMixin):
        return base
    extra: dict[str, Any] = {"permit_margin_s": REAL_PERMIT_MARGIN_S, "radio_type": radio_type,
                             "max_payload": RADIO_MAX_PAYLOAD.get(radio_type or "")}
    bases: tuple[type, ...] = (HanApplicationMixin, base)
    if radio_type == "ezsp":
        bases = (HanApplicationMixin, BellowsPermitWithoutPrePermit, base)
    elif radio_type == "znp":
        bases = (HanApplicationMixin, ZnpForgetLinkKey, base)
    return type(f"Han{base.__name__}", bases, extra)


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
    return han_application_class(module.ControllerApplication, radio_type)


def zigpy_extended_pan_id(eui: str) -> t.ExtendedPanId:
    """An extended PAN id as a lab config writes it (an EUI-64, DUIS style) as zigpy's."""
    return t.ExtendedPanId(eui64_to_zigpy(eui))


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
    """A zigpy config for a HAN coordinator; ``extended_pan_id`` as a lab config writes it.

    OTA (it would fetch over HTTP), periodic backups and topology scans are off: a test bench
    needs none of them, and each is a background task that can outlive a test.
    """
    device: dict[str, Any] = {"path": path, "baudrate": baudrate}
    if flow_control and flow_control != "none":
        device["flow_control"] = flow_control
    network: dict[str, Any] = {"channel": channel, "pan_id": pan_id}
    if extended_pan_id:
        network["extended_pan_id"] = str(zigpy_extended_pan_id(extended_pan_id))
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
        # Install-code-only as bellows' default trust-centre policy: whatever bellows restores
        # (at start-up, after a permit of its own) never lets the well-known key in.
        config["ezsp_policies"] = {"TRUST_CENTER_POLICY": EZSP_INSTALL_CODE_ONLY_POLICY}
    return config


@dataclass(frozen=True)
class NetworkWanted:
    """The network a lab config asks the coordinator for; ``form``: ``replace`` re-forms a
    dongle that holds another network, ``keep`` refuses to use it."""

    channel: int
    pan_id: int
    extended_pan_id: str | None = None
    form: str = "keep"


async def start_radio(app: ControllerApplication, *, radio_type: str, where: str,
                      wanted: NetworkWanted | None = None) -> None:
    """Start a real radio as a bench needs it: load zigpy's database (so devices and keys
    persist), connect, check the dongle's network against the lab config, then start.

    Any failure is a :class:`RadioStartError` of one line naming the radio, the port and the
    likely cause; the application is shut down.
    """
    try:
        await app._load_db()
        await app.connect()
        if wanted is not None:
            await _check_network(app, wanted, radio_type, where)
        await app.initialize(auto_form=True)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await app.shutdown()
        if isinstance(exc, RadioStartError):
            raise
        if not isinstance(exc, Exception):
            raise
        raise RadioStartError(describe_start_failure(radio_type, where, exc)) from exc


async def _check_network(app: ControllerApplication, wanted: NetworkWanted, radio_type: str,
                         where: str) -> None:
    try:
        await app.load_network_info(load_devices=False)
    except zigpy.exceptions.NetworkNotFormed:
        return  # a blank dongle: initialize forms the lab's network
    info = app.state.network_info
    held = _describe(info.channel, info.pan_id, info.extended_pan_id)
    want_ext = (zigpy_extended_pan_id(wanted.extended_pan_id)
                if wanted.extended_pan_id else None)
    same = (int(info.pan_id) == wanted.pan_id and int(info.channel) == wanted.channel
            and (want_ext is None or info.extended_pan_id == want_ext))
    if same:
        return
    asked = _describe(wanted.channel, wanted.pan_id, want_ext)
    if wanted.form != "replace":
        raise RadioStartError(
            f"radio {radio_type} on {where}: the dongle holds another network ({held}); the "
            f"lab config asks for {asked}; set radio.form: replace to re-form it (every device "
            "joined to the old network must join again)")
    LOGGER.warning("radio %s on %s: re-forming the dongle's network (%s) as %s", radio_type,
                   where, held, asked)
    await app.form_network()


def _describe(channel: int, pan_id: int, extended_pan_id: Any) -> str:
    ext = f", extended PAN {extended_pan_id}" if extended_pan_id is not None else ""
    return f"PAN 0x{int(pan_id):04X}{ext}, channel {int(channel)}"


def describe_start_failure(radio_type: str, where: str, exc: BaseException) -> str:
    """One line for a radio that did not start: what failed and what probably caused it."""
    cause = exc
    while isinstance(cause, zigpy.exceptions.TransientConnectionError) and cause.__cause__:
        cause = cause.__cause__
    detail = clip(str(cause), 160)
    name = type(cause).__name__
    if isinstance(cause, TimeoutError | asyncio.TimeoutError):
        likely = ("no answer from the dongle: check the port, the radio type (is it a "
                  f"{radio_type} dongle?), the baud rate and flow control, and that no other "
                  "program holds the port")
    elif isinstance(cause, ConnectionRefusedError):
        likely = "nothing listens on that address (is the dongle's network server running?)"
    elif isinstance(cause, FileNotFoundError):
        likely = "the port does not exist (is the dongle plugged in, and is that its by-id path?)"
    elif isinstance(cause, PermissionError):
        likely = "no permission to open the port (add the lab user to the dialout group)"
    elif isinstance(cause, OSError | ConnectionError):
        likely = "the port could not be opened or was lost"
    elif isinstance(cause, zigpy.exceptions.FormationFailure):
        likely = "the dongle could not form the network"
    elif isinstance(cause, zigpy.exceptions.NetworkNotFormed):
        likely = "the dongle has no network and could not form one"
    else:
        likely = "the radio library failed while starting the network"
    what = f"{name}: {detail}" if detail else name
    return f"radio {radio_type} on {where} did not start ({what}): {likely}"
