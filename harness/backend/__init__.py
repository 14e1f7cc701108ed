"""What stands behind a bench, chosen once from the lab config: real hardware, the emulator, or
a real radio library on the project's fake of its dongle.

``backend_for(lab)`` is the only place that decides. The emulated backend (and with it
:mod:`harness.emulator`) is imported only for a lab whose radio is ``virtual``; the fake-radio
backend (and with it :mod:`harness.radiofakes`) only for a radio port ``fake://``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.backend.base import BenchBackend, PlannedDevice, Power, PowerControl

if TYPE_CHECKING:
    from harness.config import LabConfig

__all__ = ["BenchBackend", "PlannedDevice", "Power", "PowerControl", "backend_for"]


def backend_for(lab: LabConfig) -> BenchBackend:
    """The backend of ``lab``: emulated for the virtual radio, the fake-radio backend for a
    radio port ``fake://``, else real.

    ``load_lab_config`` has already refused a config whose parts disagree (a virtual radio on
    the real clock, an emulated port on a real radio: see ``lab_config/README.md``).
    """
    if lab.is_emulated:
        from harness.backend.emulated import EmulatedBackend

        return EmulatedBackend(lab)
    if lab.radio.is_fake:
        from harness.backend.fake import FakeRadioBackend

        return FakeRadioBackend(lab)
    from harness.backend.real import RealBackend

    return RealBackend(lab)
