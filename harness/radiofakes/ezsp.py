"""The Silicon Labs EmberZNet (EZSP over ASH) fake that bellows drives, in one import.

``ash`` is the UART link layer (UG101), ``ezsp_frames`` the EZSP frame layout (UG100),
``ezsp_ncp`` the NCP model answering bellows' commands, ``ezsp_server`` serves it on
``socket://127.0.0.1:PORT``. What it implements and leaves out: ``docs/radio-fakes-ezsp.md``.
"""

from __future__ import annotations

from harness.radiofakes.ezsp_ncp import IMPLEMENTED_COMMANDS, PROTOCOL_VERSION, EzspNcp
from harness.radiofakes.ezsp_server import EzspFakeServer

__all__ = ["IMPLEMENTED_COMMANDS", "PROTOCOL_VERSION", "EzspFakeServer", "EzspNcp"]
