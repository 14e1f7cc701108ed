"""Serve a fake dongle with a lab config's devices: ``python -m harness.radiofakes LAB [PORT]``.

The lab config names the radio (``type: znp`` for the Z-Stack ZNP fake, ``type: ezsp`` for the
EmberZNet EZSP fake; ``port: socket://127.0.0.1:PORT``) and the installation whose devices the
fake puts in range (install codes from the lab's secrets).
Runs until interrupted; then ``dmct lab check --lab LAB`` in another shell talks to it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    from harness.config import ConfigError, load_lab_config
    from harness.radiofakes.lab import FAKE_RADIOS, ServedFake, devices_for_lab

    try:
        lab = load_lab_config(Path(argv[0]))
        devices = devices_for_lab(lab)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    radio = lab.radio.type
    if radio not in FAKE_RADIOS:
        print(f"error: {argv[0]}: radio.type: {radio!r} has no fake dongle; one of "
              f"{', '.join(FAKE_RADIOS)}", file=sys.stderr)
        return 2
    port = int(argv[1]) if len(argv) > 1 else _lab_port(lab)
    with ServedFake(devices, port=port, radio=radio) as served:
        print(f"{radio.upper()} fake on {served.url} with {len(devices)} device(s); "
              "Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _lab_port(lab: object) -> int:
    port = getattr(getattr(lab, "radio", None), "port", None)
    path = str(getattr(port, "path", "") or "")
    return int(path.rsplit(":", 1)[1]) if path.startswith("socket://") else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
