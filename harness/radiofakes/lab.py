"""A lab config's installation as scripted devices, and a fake served in a thread of its own.

A lab config that names a real radio (``znp`` or ``ezsp``) on ``socket://127.0.0.1:PORT`` can be
run against a fake dongle of that type: :func:`devices_for_lab` puts the installation's devices
(EUI-64, the install code the lab's secrets give, the profile's endpoint, clusters, manufacturer
and model) in range, and :class:`ServedFake` serves the fake (Z-Stack ZNP or EmberZNet EZSP)
from a background thread, so a bench on the real clock (or ``dmct lab check`` in another
process) talks to it as to a dongle.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from harness.config.types import FAKE_RADIO_TYPES
from harness.radiofakes.devices import ScriptedDevice, smart_energy_device
from harness.radiofakes.ezsp_server import EzspFake
from harness.radiofakes.znp import ZnpFake

if TYPE_CHECKING:
    from harness.config import InstallCode
    from harness.config.lab import DeviceConfig, LabConfig
    from harness.config.profiles import DeviceProfile

T = TypeVar("T")

#: Join attempts of a device on a real-clock bench: often, so a test does not wait for one.
LAB_JOIN_RETRY_S = 0.2
#: Radio types a fake dongle exists for.
FAKE_RADIOS = FAKE_RADIO_TYPES

RadioFake = ZnpFake | EzspFake


def make_fake(radio_type: str, devices: Iterable[ScriptedDevice] = (),
              **options: Any) -> RadioFake:
    """The fake dongle for ``radio_type``; its devices join whenever joining is opened for
    them (and again every ``join_retry_s`` while it is open), as devices left in joining
    mode do."""
    if radio_type == "znp":
        return ZnpFake(devices, **options)
    if radio_type == "ezsp":
        options.setdefault("auto_join", True)
        return EzspFake(devices, **options)
    raise ValueError(f"no fake dongle for radio type {radio_type!r}; there are: "
                     f"{', '.join(FAKE_RADIOS)}")


def devices_for_lab(lab: LabConfig, env: Mapping[str, str] | None = None,
                    *, dmc_id: str | None = None) -> list[ScriptedDevice]:
    """The first installation's devices that the DMC under test has, as scripted devices."""
    from harness.config import SecretStore

    secrets = SecretStore.load(lab, env)
    dmc = dmc_id or lab.dmc_ids[0]
    devices = []
    for device in lab.installations[0].devices:
        profile = lab.profile_for(device, dmc)
        if profile is not None:
            devices.append(scripted_device(device, profile,
                                           secrets.install_code(device.install_code)))
    return devices


def scripted_device(device: DeviceConfig, profile: DeviceProfile,
                    install_code: InstallCode) -> ScriptedDevice:
    """A lab device as the fake's air holds it: its EUI-64 and install code, and its profile's
    endpoint, clusters, manufacturer, model and (for a meter) register."""
    from harness.han.clusters import cluster_by_name

    zigbee = profile.zigbee
    meter = profile.emulation.meter if profile.is_meter else None
    extra = [int(cluster_by_name(name).cluster_id) for name in zigbee.server_clusters
             if name not in ("basic", "metering")]
    return smart_energy_device(
        device.eui64, bytes.fromhex(install_code.reveal()),
        manufacturer=profile.manufacturer, model=profile.model,
        device_id=zigbee.device_id,
        metering=({"current_summ_delivered": meter.initial_register,
                   "instantaneous_demand": int(getattr(meter, "demand", 0)),
                   "supply_status": 2}  # On
                  if meter is not None else None),
        extra_clusters=extra, endpoint=zigbee.endpoint,
        out_clusters=[int(cluster_by_name(name).cluster_id)
                      for name in zigbee.client_clusters],
        manufacturer_code=zigbee.manufacturer_code or 0,
        sw_build_id=profile.firmware.version,
    )


class ServedFake:
    """A fake dongle (:class:`ZnpFake`, or :class:`EzspFake` for ``radio="ezsp"``) in a daemon
    thread with its own event loop (real time).

    ``with ServedFake(devices) as served: served.url`` is the ``socket://`` URL; ``call``
    runs a function on the fake in its thread (power a device off, read the timeline).
    """

    def __init__(self, devices: Iterable[ScriptedDevice] = (), *, port: int = 0,
                 radio: str = "znp", **options: Any) -> None:
        options.setdefault("join_retry_s", LAB_JOIN_RETRY_S)
        self.radio = radio
        self.fake: RadioFake = make_fake(radio, devices, **options)
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{radio}-fake",
                                        daemon=True)
        self.url = ""

    def start(self) -> ServedFake:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(
            self.fake.serve(port=self._port), self._loop).result(10)
        return self

    def call(self, function: Callable[[Any], T]) -> T:
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(function(self.fake))
            except BaseException as exc:  # handed back to the caller's thread
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(10)

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.fake.close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ServedFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
