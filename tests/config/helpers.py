"""Helpers for config tests: write small YAML files, check one-line errors, sample configs."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config import ConfigError

#: The ZigBee SE install code test vector (code + CRC) and its link key.
TEST_CODE = "83FED3407A939723A5C639B26916D505C3B5"
TEST_LINK_KEY = "66B6900981E1EE3CA4206B6B861C02BB"


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, fragment: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``fragment`` (tests name lines so)."""
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if fragment in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{fragment!r} not in {path}")


def raises_config_error(func: Callable[..., Any], *args: Any, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        func(*args, **kwargs)
    return info.value


def assert_error(
    err: ConfigError, path: Path | str, line: int | None, field: str, *fragments: str
) -> None:
    """The error is exactly at ``path:line`` / ``field`` and its message contains ``fragments``."""
    text = str(err)
    assert "\n" not in text
    assert err.file == str(path), text
    assert err.line == line, text
    assert err.field == field, text
    prefix = f"{path}:{line}: {field}: " if line is not None else f"{path}: {field}: "
    assert text.startswith(prefix), text
    for fragment in fragments:
        assert fragment in err.message, text


MINIMAL_LAB = """
bench: test-bench
radio:
  type: virtual
serial_adapters:
  - name: esme-optical
    port: emulated
    role: optical
  - name: relays
    port: emulated
    role: relay
installations:
  - id: home-1
    devices:
      - role: ESME
        eui64: 00-1B-C5-0C-00-00-00-01
        install_code: emulated
        serial: [esme-optical]
        relay: {adapter: relays, channel: 1}
      - role: GSME
        eui64: 00-1B-C5-0C-00-00-00-02
        install_code: emulated
dmc: REF-DMC-001
installation_status: dormant
"""

REAL_LAB = """
bench: real-bench
radio:
  type: ezsp
  port: /dev/ttyUSB0
serial_adapters:
  - name: esme-optical
    port: {usb_serial: "A10K5TRW"}
    role: optical
installations:
  - id: home-1
    devices:
      - role: ESME
        eui64: 00-1B-C5-0C-00-00-00-01
        install_code: {env: DMCT_ESME_CODE}
        serial: [esme-optical]
      - role: GSME
        eui64: 00-1B-C5-0C-00-00-00-02
        install_code: {secret: bench-gsme}
dmc: REF-DMC-001
installation_status: [dormant, active]
"""
