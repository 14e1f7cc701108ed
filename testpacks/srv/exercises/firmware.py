"""Firmware activation (11.1, 11.4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.dcc.firmware_image import image_parameters
from testpacks.srv.context import drive
from testpacks.srv.exercise import Exercise

if TYPE_CHECKING:
    from testpacks.srv.context import SrvContext



class Firmware(Exercise):
    """11.1 / 11.4: Basic ``sw_build_id`` reads the new version; the old one is put back."""

    what = "the firmware version (Basic sw_build_id)"
    versions = ("SRV-CHECK-1", "SRV-CHECK-2")

    def __init__(self, srv: str) -> None:
        self.srv = srv

    def observe(self, ctx: SrvContext) -> Any:
        return str(ctx.zigbee.read_one("basic", "sw_build_id"))

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        version = self.versions[0] if before != self.versions[0] else self.versions[1]
        return image_parameters(ctx.profile.manufacturer, version)

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        return params["FirmwareVersion"]

    def restore(self, ctx: SrvContext, original: Any) -> None:
        drive(ctx, self.srv, lambda: self.observe(ctx) == original,
              f"put back firmware {original}",
              **image_parameters(ctx.profile.manufacturer, original))
