"""``dmct``: run the DMCT test packs, check a bench, validate device profiles.

Exit codes: 0 success; 1 a test failed or was blocked, a device is unreachable or a profile is
invalid; 2 usage or configuration error (one line on stderr, ``dmct: error: ...``, never a
traceback); 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli.common import EXIT_INTERRUPTED, UsageError, fail
from harness.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if extra and args.command != "run":
            raise UsageError(f"unexpected arguments after '--': {' '.join(extra)} (only "
                             "'dmct run' passes arguments to pytest)")
        args.pytest_args = extra
        return int(args.func(args))
    except UsageError as exc:
        return fail(str(exc))
    except OSError as exc:  # a path the system refuses (too long, no permission, disk full)
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{exc.strerror or exc}")
    except Exception as exc:
        # harness.config is imported only once a command needs it (a refusal of a locked
        # results directory comes before): a ConfigError means it is imported already.
        from harness.config import ConfigError

        if isinstance(exc, ConfigError):
            return fail(str(exc))
        raise
    except KeyboardInterrupt:
        print("dmct: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
