"""Serve the fake EmberZNet NCP on ``socket://127.0.0.1:PORT``, as bellows opens a network NCP.

:class:`EzspFake` is the dongle on the loop that runs it (``await fake.serve()`` gives the URL),
with the same calls as the ZNP fake (``add_device``, ``power_off``/``power_on``, ``leave``,
``send_from_device``, ``tc``), so a lab runner can serve either. :class:`EzspFakeServer` runs an
:class:`EzspFake` on its own asyncio loop in a daemon thread, on wall time, so it answers bellows
whatever loop (and whatever clock) the harness runs on, as a dongle behind a TCP serial bridge
would. One host connection at a time; the NCP model (its NVM, its devices) outlives connections,
as a dongle's flash outlives a host restart.

Use::

    with EzspFakeServer([device]) as fake:
        config = {"device": {"path": fake.url}, ...}
        ...
        fake.join(device)          # the device tries to join now
        fake.lose_acks(1)          # the next host frame's ASH ACK is lost
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from harness.radiofakes import ezsp_frames as f
from harness.radiofakes.ash import AshNcpLink
from harness.radiofakes.devices import (
    SE_PROFILE_ID,
    Admission,
    ScriptedDevice,
    TimelineEntry,
    TrustCentre,
    parse_eui,
)
from harness.radiofakes.ezsp_ncp import EzspNcp

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class _HostConnection(asyncio.Protocol):
    def __init__(self, fake: EzspFake) -> None:
        self._fake = fake
        self._transport: asyncio.Transport | None = None
        self.link: AshNcpLink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ncp = self._fake.ncp
        loop = asyncio.get_running_loop()
        self.link = AshNcpLink(loop, self._write, ncp.frame_received, ncp.power_on_reset)
        ncp.attach(loop, self.link.send_data)
        self._fake._connected(self)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.close()
        self._fake._disconnected(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class EzspFake:
    """The fake EZSP dongle, on the loop that serves it.

    ``auto_join``: devices not on the network try to join whenever the host opens joining and,
    with ``join_retry_s``, again every ``join_retry_s`` while joining is open, as devices left
    in joining mode do. Off, a device joins only when a test calls :meth:`join`.
    """

    def __init__(
        self,
        devices: Iterable[ScriptedDevice] = (),
        *,
        ieee: str | None = None,
        auto_join: bool = False,
        join_retry_s: float | None = None,
        trust_centre: TrustCentre | None = None,
    ) -> None:
        options: dict[str, Any] = {"trust_centre": trust_centre}
        if ieee is not None:
            options["ieee"] = parse_eui(ieee)
        self.ncp = EzspNcp(**options)
        self.ncp.auto_join = auto_join
        self.tc = self.ncp.trust_centre
        self.join_retry_s = join_retry_s
        self._server: asyncio.base_events.Server | None = None
        self._connection: _HostConnection | None = None
        self._pending_ack_losses = 0
        self._retry: asyncio.TimerHandle | None = None
        #: ASH links served so far (one per host connection), newest last.
        self.links: list[AshNcpLink] = []
        for device in devices:
            self.ncp.add_device(device)

    # -- serving ---------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` in the running loop; the ``socket://`` URL to open."""
        loop = asyncio.get_running_loop()
        self.ncp.attach(loop, None)
        self._server = await loop.create_server(lambda: _HostConnection(self), host, port)
        bound = self._server.sockets[0].getsockname()
        if self.ncp.auto_join and self.join_retry_s:
            self._retry = loop.call_later(self.join_retry_s, self._retry_joins)
        return f"socket://{bound[0]}:{bound[1]}"

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._connection is not None:
            self._connection.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _connected(self, connection: _HostConnection) -> None:
        if self._connection is not None:
            LOGGER.warning("EZSP fake: a second host connected; the first is dropped")
            self._connection.close()
        self._connection = connection
        assert connection.link is not None
        self.links.append(connection.link)
        if self._pending_ack_losses:
            connection.link.lose_acks(self._pending_ack_losses)
            self._pending_ack_losses = 0

    def _disconnected(self, connection: _HostConnection) -> None:
        if self._connection is connection:
            self._connection = None
            self.ncp.attach(asyncio.get_running_loop(), None)

    def _retry_joins(self) -> None:
        assert self.join_retry_s
        for device in list(self.ncp.devices.values()):
            self._try_join(device)
        self._retry = asyncio.get_running_loop().call_later(self.join_retry_s,
                                                            self._retry_joins)

    # -- the air ---------------------------------------------------------------------------

    def add_device(self, device: ScriptedDevice) -> ScriptedDevice:
        """Put a device in range (it joins when :meth:`join` is called, or by ``auto_join``)."""
        self.ncp.add_device(device)
        return device

    def device(self, eui: str) -> ScriptedDevice:
        return self.ncp.devices[parse_eui(eui)]

    def join(self, device: ScriptedDevice) -> Admission:
        """``device`` tries to join now; the trust centre's decision."""
        return self.ncp.join(device)

    def rejoin(self, device: ScriptedDevice) -> Admission:
        return self.ncp.rejoin(device)

    def power_off(self, eui: str) -> None:
        self.device(eui).powered = False

    def power_on(self, eui: str) -> None:
        """Switch a device on: a device that was on the network rejoins it; any other, with
        ``auto_join``, tries to join as soon as it is up (as the ZNP fake's devices do, and a
        device does that looks for a network when it powers up), not at the next retry."""
        device = self.device(eui)
        if device.powered:
            return
        device.powered = True
        if device.joined and not self.ncp.rejoin(device).accepted:
            device.joined = False
            device.nwk = None
        if not device.joined and self.ncp.auto_join:
            self.ncp.later(self.ncp.auto_join_delay_s, lambda: self._try_join(device))

    def _try_join(self, device: ScriptedDevice) -> None:
        if self.tc.permitting(self.ncp.now()) and self.ncp.wants_to_join(device):
            self.ncp.join(device)

    def leave(self, device: ScriptedDevice) -> None:
        """The device leaves by itself; the host hears DEVICE_LEFT."""
        if device.joined:
            self.ncp.device_left(device)

    def send_from_device(self, eui: str, cluster_id: int, data: bytes) -> None:
        """A device sends a ZCL frame of its own (a report, an alert) to the coordinator."""
        device = self.device(eui)
        if device.joined and device.powered:
            aps = f.ApsFrame(SE_PROFILE_ID, cluster_id, device.endpoint, 1, 0, 0,
                             self.ncp.next_aps_sequence())
            self.ncp.incoming(device, aps, data)

    def lose_acks(self, count: int) -> None:
        """Lose the ASH acknowledgement of the host's next ``count`` DATA frames."""
        if self._connection is not None and self._connection.link is not None:
            self._connection.link.lose_acks(count)
        else:
            self._pending_ack_losses += count


class EzspFakeCalls:
    """The fake's air and counters, called from the caller's thread: what a test does to
    the radio's surroundings. A subclass says how a call reaches the fake's loop (its own
    thread, :class:`EzspFakeServer`, or a bench's loop)."""

    fake: EzspFake
    ncp: EzspNcp

    def call(self, function: Callable[[], T]) -> T:
        raise NotImplementedError

    def add_device(self, device: ScriptedDevice) -> None:
        self.call(lambda: self.fake.add_device(device))

    def join(self, device: ScriptedDevice) -> Admission:
        """``device`` tries to join now; returns the trust centre's decision."""
        return self.call(lambda: self.fake.join(device))

    def rejoin(self, device: ScriptedDevice) -> Admission:
        return self.call(lambda: self.fake.rejoin(device))

    def lose_acks(self, count: int) -> None:
        """Lose the ASH acknowledgement of the host's next ``count`` DATA frames."""
        self.call(lambda: self.fake.lose_acks(count))

    def host_retransmissions(self) -> int:
        """DATA frames the host sent again because their ACK did not come (all links)."""
        return self.call(lambda: sum(link.host_retransmissions for link in self.fake.links))

    def timeline(self) -> list[TimelineEntry]:
        return self.call(lambda: list(self.ncp.trust_centre.timeline))

    def commands_seen(self) -> dict[str, int]:
        return self.call(lambda: dict(self.ncp.counters.commands))

    def invalid_commands(self) -> list[int]:
        return self.call(lambda: list(self.ncp.counters.invalid_commands))



class EzspFakeServer(EzspFakeCalls):
    """An :class:`EzspFake` listening on 127.0.0.1 from a thread of its own."""

    def __init__(
        self,
        devices: Iterable[ScriptedDevice] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.fake = EzspFake(devices, **options)
        self.ncp = self.fake.ncp
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ezsp-fake", daemon=True)
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> EzspFakeServer:
        self._thread.start()
        self.url = self.call_async(self.fake.serve(self._host, self._port))
        self._port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.call_async(self.fake.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> EzspFakeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    # -- calls into the server's loop ------------------------------------------------------

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the server's loop and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def call_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)
