"""Settings a run takes from environment variables, checked before anything runs: a bad one is
one line naming the variable (``dmct run`` exits 2, pytest stops with a usage error), never a
traceback from wherever the value is first used."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

__all__ = ["FUZZ_EXAMPLES_ENV", "MISSING_CODE_RATE_ENV", "BadEnvironment", "check_environment",
           "fuzz_examples", "missing_code_rate"]

#: Examples per fuzz case of the security pack.
FUZZ_EXAMPLES_ENV = "DMCT_FUZZ_EXAMPLES"
#: Most examples per case a run may ask for (hypothesis' own practical ceiling is far lower).
MAX_FUZZ_EXAMPLES = 100_000
#: The rate of responses without a response code the srv pack's response-code case detects.
MISSING_CODE_RATE_ENV = "DMCT_MISSING_CODE_RATE"
#: The smallest rate a run may ask for: its sample (about 3 / rate requests) stays bounded.
MIN_MISSING_CODE_RATE = 0.0001


class BadEnvironment(ValueError):
    """A bad environment variable; the message is one line naming it."""


def fuzz_examples(default: int, env: Mapping[str, str] | None = None) -> int:
    """``DMCT_FUZZ_EXAMPLES`` (a whole number 1..100000), else ``default``."""
    env = os.environ if env is None else env
    raw = (env.get(FUZZ_EXAMPLES_ENV) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_FUZZ_EXAMPLES:
        raise BadEnvironment(
            f"environment variable {FUZZ_EXAMPLES_ENV}={_shown(raw)}: expected a whole number of "
            f"examples per fuzz case, 1 to {MAX_FUZZ_EXAMPLES}")
    return int(raw)


def _shown(raw: str) -> str:
    return raw if len(raw) <= 20 and raw.isprintable() else f"{raw[:20]!r}..."


def missing_code_rate(default: float, env: Mapping[str, str] | None = None) -> float:
    """``DMCT_MISSING_CODE_RATE`` (a fraction, 0.0001 to below 1), else ``default``."""
    env = os.environ if env is None else env
    raw = (env.get(MISSING_CODE_RATE_ENV) or "").strip()
    if not raw:
        return default
    try:
        rate = float(raw) if raw.isascii() else math.nan
    except ValueError:
        rate = math.nan
    if not MIN_MISSING_CODE_RATE <= rate < 1:  # (false for nan)
        raise BadEnvironment(
            f"environment variable {MISSING_CODE_RATE_ENV}={_shown(raw)}: expected the rate of "
            f"responses without a response code to detect, a fraction from "
            f"{MIN_MISSING_CODE_RATE} to below 1 (0.01 is 1%)")
    return rate


def check_environment(env: Mapping[str, str] | None = None) -> None:
    """Every setting above, checked; raises :class:`BadEnvironment`."""
    fuzz_examples(1, env)
    missing_code_rate(0.01, env)
