"""The S1SP end of a device's tunnel: signed envelopes out, signed envelopes back, over ZCL.

One tunnel per device (ZigBee SE Tunneling, manufacturer-defined protocol 200), opened on first
use and reopened if the device says it no longer has it. A command goes out in a TransferData
frame; the device acknowledges the frame (ZCL Default Response) and answers later with its own
TransferData carrying a response envelope, which arrives on the HAN event stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.dcc.envelope import TUNNEL_PROTOCOL_ID, Envelope, EnvelopeError, Kind
from harness.han.events import HanEvent, match

if TYPE_CHECKING:
    from harness.dcc.keys import KeyPair, Keystore
    from harness.han.chf import Chf

LOGGER = logging.getLogger(__name__)

MANUFACTURER_CODE_ANY = 0xFFFF
MAX_TRANSFER = 1500


class TunnelError(RuntimeError):
    """The device would not open a tunnel."""


@dataclass(frozen=True)
class Exchange:
    """One envelope sent and what came back (``None``: nothing within the deadline)."""

    command: Envelope
    response: Envelope | None
    response_verified: bool


class TunnelClient:
    """Sends envelopes to devices and waits for their answers, with per-device counters."""

    def __init__(
        self,
        chf: Chf,
        keystore: Keystore,
        *,
        response_timeout_s: float = 60.0,
        record: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._chf = chf
        self._keystore = keystore
        self.response_timeout_s = response_timeout_s
        self._record = record or (lambda kind, data: None)
        self._tunnels: dict[str, int] = {}
        self._counters: dict[str, int] = {}

    def next_counter(self, eui: str) -> int:
        self._counters[eui] = self._counters.get(eui, 0) + 1
        return self._counters[eui]

    async def open(self, eui: str) -> int:
        """The device's tunnel id, requesting a tunnel if none is open."""
        return await self._tunnel_id(eui)

    async def _tunnel_id(self, eui: str) -> int:
        if eui in self._tunnels:
            return self._tunnels[eui]
        cluster = self._chf.device(eui).server_cluster("tunneling")
        response = await cluster.request_tunnel(
            protocol_id=TUNNEL_PROTOCOL_ID, manufacturer_code=MANUFACTURER_CODE_ANY,
            flow_control_support=False, maximum_incoming_transfer_size=MAX_TRANSFER,
        )
        status = getattr(response, "tunnel_status", None)
        if status is None or int(status) != 0:
            raise TunnelError(f"{eui} refused a tunnel: {response}")
        self._tunnels[eui] = int(response.tunnel_id)
        return self._tunnels[eui]

    def forget_tunnel(self, eui: str) -> None:
        self._tunnels.pop(eui, None)

    async def send(self, envelope: Envelope, *, to: str | None = None) -> Exchange:
        """Send an already built (and usually signed) command; wait for the device's answer.

        The envelope goes to the device it names, or to ``to`` (security tests send a device
        an envelope meant for another)."""
        eui = to or envelope.device
        han = self._chf.device(eui)
        cluster = han.server_cluster("tunneling")
        tunnel_id = await self._tunnel_id(eui)
        data = envelope.to_bytes()
        self._record("envelope_out", {"device": eui, "summary": envelope.describe(),
                                      "bytes": len(data)})
        events = self._chf.events
        mark = events.mark()
        result = await cluster.transfer_data(tunnel_id=tunnel_id, data=data,
                                              timeout=han.request_timeout, retries=han.retries)
        if hasattr(result, "transfer_data_status"):
            # TransferDataError: the device does not know the tunnel (it closed it): reopen.
            self.forget_tunnel(eui)
            tunnel_id = await self._tunnel_id(eui)
            mark = events.mark()
            await cluster.transfer_data(tunnel_id=tunnel_id, data=data,
                                        timeout=han.request_timeout, retries=han.retries)

        def is_answer(event: HanEvent) -> bool:
            value = event.value if isinstance(event.value, dict) else {}
            if value.get("tunnel_id") != tunnel_id:
                return False
            try:
                answer = Envelope.from_bytes(bytes(value.get("data", b"")))
            except EnvelopeError:
                return True  # garbage on our tunnel is an answer too: it is evidence
            return answer.kind == Kind.RESPONSE and answer.counter == envelope.counter

        try:
            event = await events.wait_for(
                match("command", device=eui, name="transfer_data_to_client", where=is_answer),
                self.response_timeout_s, since=mark,
            )
        except TimeoutError:
            self._record("envelope_in", {"device": eui, "summary": "no answer within "
                                         f"{self.response_timeout_s:g} s"})
            return Exchange(envelope, None, False)
        raw = bytes(event.value.get("data", b""))
        try:
            answer = Envelope.from_bytes(raw)
        except EnvelopeError as exc:
            self._record("envelope_in", {"device": eui, "summary": f"malformed answer: {exc}",
                                         "data": raw[:64].hex()})
            return Exchange(envelope, None, False)
        public = self._keystore.device_public(eui)
        verified = public is not None and answer.verifies_with(public)
        self._record("envelope_in", {"device": eui, "summary": answer.describe(),
                                     "status": answer.payload.get("status"),
                                     "verified": verified})
        return Exchange(envelope, answer, verified)

    async def command(
        self, eui: str, command: int, payload: dict[str, Any], *, key: KeyPair | None = None
    ) -> Exchange:
        """Build a command envelope with the next counter, sign it (management key by default)."""
        envelope = Envelope(Kind.COMMAND, eui, self.next_counter(eui), int(command), payload)
        signer = key or self._keystore.management_key(eui)
        return await self.send(envelope.signed_with(signer))
