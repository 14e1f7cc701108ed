"""Where the emulator's randomness comes from: the lab seed, the device and the case.

Seeded behaviours (5% of Service Responses without a code, CoS alerts lost, Power and Voltage
alerts at a rate, a device answering garbage) draw from random generators. One stream per device
across a whole session would make a case's luck depend on every case that ran before it, so a run
resumed half-way, or a single case run alone, would see other draws than an uninterrupted run.
Instead every generator is derived from (lab seed, purpose, device, case) and derived again when
the next case begins (:meth:`harness.emulator.emulator.Emulator.reseed`).
"""

from __future__ import annotations

import random


def seeded_random(purpose: str, seed: int | str, eui: str, case: str | None = None
                  ) -> random.Random:
    """The generator of one ``purpose`` (``"s1sp"``, ``"firmware"``, ``"garbage"``) of the
    device ``eui``, for ``case`` (``None``: before any case began)."""
    name = f"{purpose}:{seed}:{eui}" if case is None else f"{purpose}:{seed}:{eui}:{case}"
    return random.Random(name)
