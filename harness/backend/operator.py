"""Asking a person at the bench to do what the harness cannot (switch a supply with no relay).

The prompt goes to the controlling terminal (``/dev/tty``), not to stdout, so it reaches the
person whether pytest captures output or ``dmct run`` reads it from a pipe. Where nobody can
answer (CI, no terminal, ``DMCT_OPERATOR=none``) or nobody answers in time, or the person types
``skip``, the step raises :class:`OperatorUnavailable`, a bench fault: the case is *blocked*
with that reason, never failed.
"""

from __future__ import annotations

import os
import select
from collections.abc import Mapping

from harness.backend.base import POWER_OFF_S
from harness.faults import BenchFault
from harness.runtime import BenchRuntime

#: ``DMCT_OPERATOR=none`` says nobody is at the bench (CI): every prompt blocks its case.
OPERATOR_ENV = "DMCT_OPERATOR"
#: How long a person has to do what was asked and press Enter.
ANSWER_TIMEOUT_S = 600.0
TTY = "/dev/tty"


class OperatorUnavailable(BenchFault):
    """A step needs a person at the bench and none answered."""


class Operator:
    """The person at the bench, reached through the controlling terminal."""

    def __init__(self, *, env: Mapping[str, str] | None = None, tty: str = TTY,
                 timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        self._env = os.environ if env is None else env
        self._tty = tty
        self._timeout_s = timeout_s

    def ask(self, action: str) -> None:
        """Ask for ``action`` and wait until the person presses Enter.

        Raises :class:`OperatorUnavailable` (the case is blocked) when nobody can answer.
        """
        if self._env.get(OPERATOR_ENV, "").strip().lower() == "none":
            raise OperatorUnavailable(f"needs a person to {action} ({OPERATOR_ENV}=none)")
        try:
            fd = os.open(self._tty, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            raise OperatorUnavailable(f"needs a person to {action}, and there is no terminal "
                                      "to ask on") from None
        try:
            os.write(fd, f"\n[dmct] Please {action}, then press Enter (or type skip): ".encode())
            answer = self._read_line(fd, action)
        finally:
            os.close(fd)
        if answer.strip().lower() == "skip":
            raise OperatorUnavailable(f"needs a person to {action}; the operator skipped it")

    def _read_line(self, fd: int, action: str) -> str:
        ready, _, _ = select.select([fd], [], [], self._timeout_s)
        if not ready:
            raise OperatorUnavailable(f"needs a person to {action}; nobody answered within "
                                      f"{self._timeout_s:.0f} s")
        # A terminal in canonical mode hands over one line per read.
        return os.read(fd, 1024).decode("utf-8", errors="replace")


class ManualPower:
    """A device's supply on a bench without a relay channel for it: a person switches it."""

    def __init__(self, operator: Operator, device: str, runtime: BenchRuntime) -> None:
        self._operator = operator
        self._device = device
        self._runtime = runtime

    def on(self) -> None:
        self._operator.ask(f"switch the {self._device} ON")

    def off(self) -> None:
        self._operator.ask(f"switch the {self._device} OFF")

    def cycle(self, off_seconds: float = POWER_OFF_S) -> None:
        self._operator.ask(f"power-cycle the {self._device} (off for at least "
                           f"{off_seconds:g} s, then on)")
        self._runtime.sleep(0)
