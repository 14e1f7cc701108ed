"""Settings a run takes from environment variables, checked before anything runs: a bad one is
one line naming the variable (``dmct run`` exits 2, pytest stops with a usage error), never a
traceback from wherever the value is first used."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["FUZZ_EXAMPLES_ENV", "BadEnvironment", "check_environment", "fuzz_examples"]

#: Examples per fuzz case of the security pack.
FUZZ_EXAMPLES_ENV = "DMCT_FUZZ_EXAMPLES"
#: Most examples per case a run may ask for (hypothesis' own practical ceiling is far lower).
MAX_FUZZ_EXAMPLES = 100_000


class BadEnvironment(ValueError):
    """A bad environment variable; the message is one line naming it."""


def fuzz_examples(default: int, env: Mapping[str, str] | None = None) -> int:
    """``DMCT_FUZZ_EXAMPLES`` (a whole number 1..100000), else ``default``."""
    env = os.environ if env is None else env
    raw = (env.get(FUZZ_EXAMPLES_ENV) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_FUZZ_EXAMPLES:
        shown = raw if len(raw) <= 20 and raw.isprintable() else f"{raw[:20]!r}..."
        raise BadEnvironment(
            f"environment variable {FUZZ_EXAMPLES_ENV}={shown}: expected a whole number of "
            f"examples per fuzz case, 1 to {MAX_FUZZ_EXAMPLES}")
    return int(raw)


def check_environment(env: Mapping[str, str] | None = None) -> None:
    """Every setting above, checked; raises :class:`BadEnvironment`."""
    fuzz_examples(1, env)
