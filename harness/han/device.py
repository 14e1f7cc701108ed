"""ZCL verbs on one joined HAN device: read and write attributes, send cluster commands.

Tests call these synchronously; each call runs on the bench loop. Clusters are named as in
device profiles (``metering``, ``prepayment``...) or given by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import zigpy.zcl
from zigpy.zcl import foundation
from zigpy.zcl.foundation import ZCLAttributeDef

from harness.han.clusters import cluster_by_name
from harness.han.events import normalise_eui

if TYPE_CHECKING:
    import zigpy.device

    from harness.runtime import BenchRuntime


class ZclError(AssertionError):
    """A device answered a ZCL request with a failure status."""


def _command_def(cluster: zigpy.zcl.Cluster, defs: Any, name: str) -> Any:
    try:
        return getattr(defs, name)
    except AttributeError:
        known = ", ".join(c.name for c in defs)
        raise ZclError(f"{cluster.name} has no command {name!r}; known: {known}") from None


def cluster_id_of(cluster: str | int) -> int:
    if isinstance(cluster, int):
        return cluster
    return int(cluster_by_name(cluster).cluster_id)


class HanDevice:
    """A device on the HAN as seen through the coordinator."""

    def __init__(
        self,
        runtime: BenchRuntime,
        device: zigpy.device.ZigbeeDevice,
        endpoint_id: int = 1,
        *,
        request_timeout: float = 5.0,
        retries: int = 0,
    ) -> None:
        self._runtime = runtime
        self.zigpy_device = device
        self.endpoint_id = endpoint_id
        self.request_timeout = request_timeout
        self._retries = retries

    # -- identity ---------------------------------------------------------------------------
    @property
    def eui(self) -> str:
        return normalise_eui(self.zigpy_device.ieee)

    @property
    def nwk(self) -> int:
        return int(self.zigpy_device.nwk)

    @property
    def manufacturer(self) -> str | None:
        return self.zigpy_device.manufacturer

    @property
    def model(self) -> str | None:
        return self.zigpy_device.model

    def __repr__(self) -> str:
        return f"HanDevice({self.eui}, nwk=0x{self.nwk:04X}, {self.manufacturer} {self.model})"

    # -- clusters ---------------------------------------------------------------------------
    def server_cluster(self, cluster: str | int) -> zigpy.zcl.Cluster:
        endpoint = self.zigpy_device.endpoints[self.endpoint_id]
        cid = cluster_id_of(cluster)
        try:
            return endpoint.in_clusters[cid]
        except KeyError:
            raise ZclError(f"{self.eui} has no server cluster {cluster!r} (0x{cid:04X})") from None

    def client_cluster(self, cluster: str | int) -> zigpy.zcl.Cluster:
        endpoint = self.zigpy_device.endpoints[self.endpoint_id]
        cid = cluster_id_of(cluster)
        try:
            return endpoint.out_clusters[cid]
        except KeyError:
            raise ZclError(f"{self.eui} has no client cluster {cluster!r} (0x{cid:04X})") from None

    def has_server_cluster(self, cluster: str | int) -> bool:
        endpoint = self.zigpy_device.endpoints.get(self.endpoint_id)
        return endpoint is not None and cluster_id_of(cluster) in endpoint.in_clusters

    def has_client_cluster(self, cluster: str | int) -> bool:
        endpoint = self.zigpy_device.endpoints.get(self.endpoint_id)
        return endpoint is not None and cluster_id_of(cluster) in endpoint.out_clusters

    @property
    def is_end_device(self) -> bool:
        node_desc = self.zigpy_device.node_desc
        return node_desc is not None and bool(node_desc.is_end_device)

    @property
    def retries(self) -> int:
        """Retries per request: none for an end device. zigpy waits its extended timeout
        (28 s) for each attempt to a sleepy device, whose parent holds the frame until it
        polls: a retry only multiplies that wait (84 s for a silent GSME, not 28 s)."""
        return 0 if self.is_end_device else self._retries

    @retries.setter
    def retries(self, value: int) -> None:
        self._retries = value

    def _request_options(self) -> dict[str, Any]:
        return {"timeout": self.request_timeout, "retries": self.retries}

    # -- verbs ------------------------------------------------------------------------------
    async def read_async(self, cluster: str | int, *attributes: str | int) -> dict[str, Any]:
        target = self.server_cluster(cluster)
        success, failure = await target.read_attributes(
            list(attributes), allow_cache=False, **self._request_options()
        )
        if failure:
            raise ZclError(f"{self.eui} {target.name}: read failed for {failure}")
        return {str(k): v for k, v in success.items()}

    def read(self, cluster: str | int, *attributes: str | int) -> dict[str, Any]:
        """Read attributes over the air (never from zigpy's cache); raise on any failure."""
        return self._runtime.run(self.read_async(cluster, *attributes))

    def read_one(self, cluster: str | int, attribute: str | int) -> Any:
        values = self.read(cluster, attribute)
        return next(iter(values.values()))

    async def write_async(self, cluster: str | int, attributes: Mapping[str, Any]) -> None:
        target = self.server_cluster(cluster)
        values: dict[str | int | ZCLAttributeDef, Any] = {}
        for name, value in attributes.items():
            values[name] = value
        result = await target.write_attributes(values, **self._request_options())
        records = result[0] if result else []
        failed = [
            r for r in records if getattr(r, "status", foundation.Status.SUCCESS) != 0
        ]
        if failed:
            raise ZclError(f"{self.eui} {target.name}: write refused: {failed}")

    def write(self, cluster: str | int, **attributes: Any) -> None:
        """Write attributes; raise :class:`ZclError` if the device refuses any of them."""
        self._runtime.run(self.write_async(cluster, dict(attributes)))

    async def command_async(
        self, cluster: str | int, command: str, *args: Any, **kwargs: Any
    ) -> Any:
        target = self.server_cluster(cluster)
        definition = _command_def(target, target.ServerCommandDefs, command)
        return await target.command(definition.id, *args, **self._request_options(), **kwargs)

    def command(self, cluster: str | int, command: str, *args: Any, **kwargs: Any) -> Any:
        """Send a client-to-server command to a server cluster of the device; return the reply."""
        return self._runtime.run(self.command_async(cluster, command, *args, **kwargs))

    async def client_command_async(
        self, cluster: str | int, command: str, *args: Any, **kwargs: Any
    ) -> Any:
        target = self.client_cluster(cluster)
        definition = _command_def(target, target.ClientCommandDefs, command)
        return await target.client_command(definition.id, *args,
                                           timeout=self.request_timeout, **kwargs)

    def client_command(self, cluster: str | int, command: str, *args: Any, **kwargs: Any) -> Any:
        """Send a server-to-client command to a client cluster of the device (e.g. a message
        to an IHD's Messaging client)."""
        return self._runtime.run(self.client_command_async(cluster, command, *args, **kwargs))

    async def send_raw_async(self, cluster: str | int, data: bytes) -> None:
        """Send a ZCL frame's bytes as they are (security testing: malformed frames); no reply
        is awaited (what comes back is in the frame log and the HAN events)."""
        device = self.zigpy_device
        endpoint = device.endpoints[self.endpoint_id]
        await device.request(
            profile=endpoint.profile_id, cluster=cluster_id_of(cluster), src_ep=1,
            dst_ep=self.endpoint_id, sequence=device.get_sequence(), data=bytes(data),
            expect_reply=False, timeout=self.request_timeout, retries=0,
        )

    def send_raw(self, cluster: str | int, data: bytes) -> None:
        self._runtime.run(self.send_raw_async(cluster, data))

    def configure_reporting(
        self,
        cluster: str | int,
        attribute: str | int,
        min_interval: int,
        max_interval: int,
        reportable_change: int = 1,
    ) -> None:
        """Ask the device to report an attribute (ZCL Configure_Reporting)."""

        async def _configure() -> None:
            target = self.server_cluster(cluster)
            result = await target.configure_reporting(
                attribute, min_interval, max_interval, reportable_change
            )
            failed = {a.name: s for a, s in result.items() if s != foundation.Status.SUCCESS}
            if failed:
                raise ZclError(f"{self.eui} {target.name}: configure reporting refused: {failed}")

        self._runtime.run(_configure())
