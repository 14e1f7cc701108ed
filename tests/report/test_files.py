"""``harness.report.files.write_atomic``: the one way the report layer replaces a file."""

from __future__ import annotations

import pytest

from harness.report.files import write_atomic


@pytest.mark.parametrize("durable", [False, True])
def test_a_file_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path, durable):
    path = tmp_path / "dmct-report.json"
    path.write_text("old")
    assert write_atomic(path, "new \u00e9 text", durable=durable) == path
    assert path.read_text(encoding="utf-8") == "new \u00e9 text"
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["dmct-report.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "run-state.json"
    path.mkdir()  # a rename over a directory fails
    with pytest.raises(OSError):
        write_atomic(path, "{}", durable=True)
    assert path.is_dir() and [p.name for p in tmp_path.iterdir()] == ["run-state.json"]
