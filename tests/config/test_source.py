"""Line-aware YAML loading: positions, duplicate keys, syntax errors, YAML 1.2 scalars."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.config import load_yaml
from harness.config.source import format_loc
from harness.dcc.catalogue import catalogue_dir
from harness.report.issues import default_registry_path

from .helpers import assert_error, raises_config_error, write


def test_positions_are_recorded_by_field_path(tmp_path):
    path = write(
        tmp_path / "a.yaml",
        """
        top: 1
        nested:
          inner: x
        items:
          - a
          - {b: 2}
        """,
    )
    doc = load_yaml(path)
    assert doc.data == {"top": 1, "nested": {"inner": "x"}, "items": ["a", {"b": 2}]}
    assert doc.line_of(("top",)) == 1
    assert doc.line_of(("nested", "inner")) == 3
    assert doc.line_of(("items", 1)) == 6
    assert doc.line_of(("items", 1, "b")) == 6
    # An absent key falls back to its nearest recorded ancestor (the parent mapping).
    assert doc.line_of(("nested", "missing")) == 2


def test_duplicate_key_names_both_lines(tmp_path):
    path = write(
        tmp_path / "dup.yaml",
        """
        radio:
          type: virtual
          channel: 15
          channel: 20
        """,
    )
    err = raises_config_error(load_yaml, path)
    assert_error(err, path, 4, "radio.channel", "duplicate key 'channel'", "line 3", "line 4")


def test_duplicate_top_level_key(tmp_path):
    path = write(tmp_path / "dup.yaml", "bench: a\nseed: 1\nbench: b\n")
    err = raises_config_error(load_yaml, path)
    assert_error(err, path, 3, "bench", "first at line 1", "again at line 3")


def test_syntax_error_has_file_and_line(tmp_path):
    path = write(tmp_path / "bad.yaml", "bench: a\nradio: [virtual\nseed: 1\n")
    err = raises_config_error(load_yaml, path)
    assert err.file == str(path)
    assert err.line == 3
    assert err.field == "(document)"
    assert "YAML syntax error" in err.message


def test_tab_indentation_is_a_syntax_error(tmp_path):
    path = tmp_path / "tab.yaml"
    path.write_text("radio:\n\ttype: virtual\n")
    err = raises_config_error(load_yaml, path)
    assert err.line == 2 and "YAML syntax error" in err.message


def test_non_mapping_document_rejected(tmp_path):
    path = write(tmp_path / "list.yaml", "- a\n- b\n")
    err = raises_config_error(load_yaml, path)
    assert_error(err, path, 1, "(document)", "expected a mapping", "got a list")


def test_empty_document_rejected(tmp_path):
    path = write(tmp_path / "empty.yaml", "# only a comment\n")
    err = raises_config_error(load_yaml, path)
    assert_error(err, path, 1, "(document)", "empty")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    err = raises_config_error(load_yaml, path)
    assert_error(err, path, None, "(document)", "file not found")
    assert str(err) == f"{path}: (document): file not found"


def test_multiple_documents_rejected(tmp_path):
    path = write(tmp_path / "two.yaml", "a: 1\n---\nb: 2\n")
    err = raises_config_error(load_yaml, path)
    assert err.line == 2 and "YAML syntax error" in err.message


def test_unsafe_tag_rejected(tmp_path):
    path = write(tmp_path / "tag.yaml", "a: 1\nb: !!python/object:os.system x\n")
    err = raises_config_error(load_yaml, path)
    assert_error(err, path, 2, "b", "unsupported YAML tag")


@pytest.mark.parametrize("packaged", [False, True], ids=["lab file", "packaged file"])
def test_yaml_12_scalars(tmp_path, packaged):
    """on/off stay strings, hex is an int, sexagesimal and octal-looking values stay strings,
    in a lab's files and in the harness's own (composed by libyaml)."""
    path = write(
        tmp_path / "s.yaml",
        """
        supply: on
        flag: off
        yes_no: yes
        truth: true
        pan: 0x1A62
        sexagesimal: 10:20:30
        leading_zero: 0012345678901234
        version: 7.10
        quoted: "7.10"
        when: 2026-01-05T09:00:00+00:00
        nothing: null
        """,
    )
    data = load_yaml(path, packaged=packaged).data
    assert data["supply"] == "on" and data["flag"] == "off" and data["yes_no"] == "yes"
    assert data["truth"] is True
    assert data["pan"] == 0x1A62
    assert data["sexagesimal"] == "10:20:30"
    assert data["leading_zero"] == "0012345678901234"
    assert data["version"] == 7.1  # why SRVs and versions must be quoted
    assert data["quoted"] == "7.10"
    assert data["when"] == dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    assert data["nothing"] is None


@pytest.mark.parametrize("path", [
    catalogue_dir() / "sr_catalogue.yaml", catalogue_dir() / "response_codes.yaml",
    default_registry_path()], ids=lambda p: p.name)
def test_packaged_files_read_the_same_by_libyaml(path):
    """The harness's own data files, composed by libyaml, give the very data and line of every
    field that the guarded composer of lab files gives."""
    fast, guarded = load_yaml(path, packaged=True), load_yaml(path)
    assert fast.data == guarded.data
    assert fast.positions == guarded.positions
    assert len(fast.positions) > 20


def test_merge_keys_fill_in_without_counting_as_duplicates(tmp_path):
    path = write(
        tmp_path / "m.yaml",
        """
        base: &base {a: 1, b: 2}
        child:
          <<: *base
          b: 3
        """,
    )
    doc = load_yaml(path)
    assert doc.data["child"] == {"a": 1, "b": 3}
    assert doc.line_of(("child", "b")) == 4


def test_format_loc():
    assert format_loc(("installations", 0, "devices", 1, "eui64")) == (
        "installations[0].devices[1].eui64"
    )
    assert (
        format_loc(("emulation", "srv_daily_limits", "6.7")) == 'emulation.srv_daily_limits["6.7"]'
    )
    assert format_loc(()) == "(document)"
