"""The DCC's DUIS tools are found in the cache outside the repository, and work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import harness
from harness.dcc.duis.tools import cache_root

REPO = Path(harness.__file__).resolve().parent.parent


def test_the_cache_is_outside_the_repository():
    assert REPO not in cache_root().resolve().parents


def test_no_file_of_the_gpl_packages_is_in_the_repository():
    """Of the files git tracks or would add (not .git, caches or ignored test output)."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True)
    paths = [Path(name) for name in listed.stdout.decode().split("\0") if name]
    assert len(paths) > 100  # the repository's files, not an empty listing
    names = {"duis-request-matrix.json", "tool.jar", "DUIS Schema V5.1.xsd"}
    found = [p for p in paths if p.name in names or (p.suffix.upper() == ".XML"
             and "_REQUEST_DUIS" in p.name)]
    assert found == []


def test_the_tools_are_there_and_the_jar_signs_and_validates(duis_tools):
    matrix = duis_tools.matrix()
    assert {row["Service Reference Variant"] for row in matrix} >= {"8.11", "6.5", "8.2"}
    templates = duis_tools.template_files()
    assert len(templates) > 200
    template = duis_tools.templates / "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"
    signed = duis_tools.sign(template.read_bytes())
    assert b"<ds:SignatureValue>" in signed
    assert "passed signature check" in duis_tools.validate(signed)
