"""The small firmware image format the harness's devices accept (SR 11.1 / 11.4).

``S1FW`` magic, the manufacturer's name (16 bytes, NUL padded), the version (16 bytes, NUL
padded), then the body. A device accepts an image for its own manufacturer whose SHA-256 matches
the ImageHash of the request and whose version matches FirmwareVersion (``docs/envelope.md``).
"""

from __future__ import annotations

import hashlib

IMAGE_MAGIC = b"S1FW"


def build_firmware_image(manufacturer: str, version: str, body: bytes = b"\x00" * 32) -> bytes:
    return (IMAGE_MAGIC + manufacturer.encode()[:16].ljust(16, b"\x00")
            + version.encode()[:16].ljust(16, b"\x00") + body)


def image_parameters(manufacturer: str, version: str) -> dict[str, str]:
    """The 11.1 parameters that carry an image: FirmwareVersion, Image, ImageHash (hex)."""
    image = build_firmware_image(manufacturer, version)
    return {"FirmwareVersion": version, "Image": image.hex(),
            "ImageHash": hashlib.sha256(image).hexdigest()}
