"""``python -m harness.cli``."""

import sys

from harness.cli import main

if __name__ == "__main__":  # not when multiprocessing's fork server imports the main module
    sys.exit(main())
