"""Relative links in a printed PDF (``harness.report.pdf_links``)."""

from __future__ import annotations

from pathlib import Path

from harness.report.pdf_links import relative_uri


def test_a_link_inside_the_report_folder_becomes_relative(tmp_path: Path):
    base = tmp_path / "run"
    inside = (base / "evidence" / "case 1" / "frames.json").as_uri()
    assert relative_uri(inside, base) == "evidence/case%201/frames.json"
    assert relative_uri((base / "dmct-report.html").as_uri() + "#issue-91333", base) == (
        "dmct-report.html#issue-91333")


def test_a_file_link_outside_it_is_dropped_and_a_web_link_kept(tmp_path: Path):
    assert relative_uri((tmp_path / "elsewhere.txt").as_uri(), tmp_path / "run") is None
    assert relative_uri("https://tracker.example/1", tmp_path) == "https://tracker.example/1"
