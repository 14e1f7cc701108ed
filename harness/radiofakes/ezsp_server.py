"""Serve the fake EmberZNet NCP on ``socket://127.0.0.1:PORT``, as bellows opens a network NCP.

The server runs its own asyncio loop in a daemon thread, on wall time, so it answers bellows
whatever loop (and whatever clock) the harness runs on, exactly as a dongle behind a TCP serial
bridge would. One host connection at a time; the NCP model (its NVM, its devices) outlives
connections, as a dongle's flash outlives a host restart.

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

from harness.radiofakes.ash import AshNcpLink
from harness.radiofakes.devices import Admission, ScriptedDevice, TimelineEntry, TrustCentre
from harness.radiofakes.ezsp_ncp import EzspNcp

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class _HostConnection(asyncio.Protocol):
    def __init__(self, server: EzspFakeServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self.link: AshNcpLink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ncp = self._server.ncp
        loop = asyncio.get_running_loop()
        self.link = AshNcpLink(loop, self._write, ncp.frame_received, ncp.power_on_reset)
        ncp.attach(loop, self.link.send_data)
        self._server._connected(self)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.close()
        self._server._disconnected(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class EzspFakeServer:
    """A fake EZSP NCP listening on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        devices: Iterable[ScriptedDevice] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        trust_centre: TrustCentre | None = None,
    ) -> None:
        self.ncp = EzspNcp(trust_centre=trust_centre)
        for device in devices:
            self.ncp.add_device(device)
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ezsp-fake", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._connection: _HostConnection | None = None
        self._pending_ack_losses = 0
        #: ASH links served so far (one per host connection), newest last.
        self.links: list[AshNcpLink] = []

    # -- lifecycle -------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> EzspFakeServer:
        self._thread.start()
        self._server = self.call_async(self._listen())
        return self

    async def _listen(self) -> asyncio.base_events.Server:
        server = await self._loop.create_server(lambda: _HostConnection(self), self._host,
                                                self._port)
        self._port = server.sockets[0].getsockname()[1]
        return server

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.call_async(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def __enter__(self) -> EzspFakeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The port string bellows (and a lab config's ``radio.port``) opens."""
        return f"socket://{self._host}:{self._port}"

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
            self.ncp.attach(self._loop, None)

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

    # -- the air ---------------------------------------------------------------------------

    def add_device(self, device: ScriptedDevice) -> None:
        self.call(lambda: self.ncp.add_device(device))

    def join(self, device: ScriptedDevice) -> Admission:
        """``device`` tries to join now; returns the trust centre's decision."""
        return self.call(lambda: self.ncp.join(device))

    def rejoin(self, device: ScriptedDevice) -> Admission:
        return self.call(lambda: self.ncp.rejoin(device))

    def lose_acks(self, count: int) -> None:
        """Lose the ASH acknowledgement of the host's next ``count`` DATA frames."""

        def lose() -> None:
            if self._connection is not None and self._connection.link is not None:
                self._connection.link.lose_acks(count)
            else:
                self._pending_ack_losses += count

        self.call(lose)

    def host_retransmissions(self) -> int:
        """DATA frames the host sent again because their ACK did not come (all links)."""
        return self.call(lambda: sum(link.host_retransmissions for link in self.links))

    def timeline(self) -> list[TimelineEntry]:
        return self.call(lambda: list(self.ncp.trust_centre.timeline))

    def commands_seen(self) -> dict[str, int]:
        return self.call(lambda: dict(self.ncp.counters.commands))

    def invalid_commands(self) -> list[int]:
        return self.call(lambda: list(self.ncp.counters.invalid_commands))
