"""The layer table of ``docs/architecture.md``, enforced: every import of ``harness/``,
``fixtures/`` and ``testpacks/`` (module level, inside functions, under ``TYPE_CHECKING``) goes to
the importer's own row of the table or a row below it, and the table's "never" rules on the
emulator hold. The table is read from the document, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SCANNED = ("harness", "fixtures", "testpacks")
PROJECT = set(SCANNED)

#: Imports that go up the table on purpose, each with why. (importer module, imported module)
EXCEPTIONS: dict[tuple[str, str], str] = {
    # The lab config validates its testing issue registry when it loads (a broken registry must
    # stop a run before it starts); the registry's format belongs to the report layer. Lazy.
    ("harness.config.lab", "harness.report.issues"): "registry checked at load",
    # TYPE_CHECKING only: Dcc's constructor takes the narrow parts it uses; the one factory
    # Dcc.for_bench(bench) picks them off a Bench for the bench that wires it.
    ("harness.dcc.client", "harness.bench"): "Dcc.for_bench annotation",
}
#: The only importers of the emulator besides the emulator itself.
EMULATOR_IMPORTERS = ("harness.backend.emulated",)
#: The only importer of the radio fakes besides the fakes themselves (a ``fake://`` radio port).
RADIOFAKES_IMPORTERS = ("harness.backend.fake",)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    where: str


def layer_table(text: str) -> list[list[str]]:
    """The rows of the Layers table, top first: the module names in each row's first cell."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        rows.append([name.rstrip("/") for name in re.findall(r"`([^`]+)`", first_cell)])
    return rows


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    """Every project import of one file, relative ones resolved."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from harness import emulator`` imports a module; ``from x import name`` a name
            # of x: count both as x.name, the layer lookup takes the longest known prefix.
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] in PROJECT:
                yield Import(importer, name, f"{path.relative_to(ROOT)}:{node.lineno}")


def all_imports() -> list[Import]:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            found += imports_of(path)
    return found


def row_of(module: str, rows: list[list[str]]) -> int | None:
    """Index of the row whose name is the longest prefix of ``module`` (``None``: no row)."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(rows):
        for name in names:
            inside = module == name or module.startswith(name + ".")
            if inside and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def violations(imports: list[Import], rows: list[list[str]]) -> list[str]:
    found = []
    for imp in imports:
        if (imp.imported.startswith("harness.emulator")
                and not imp.importer.startswith(("harness.emulator", *EMULATOR_IMPORTERS))):
            found.append(f"{imp.where}: {imp.importer} imports {imp.imported}; only "
                         f"{', '.join(EMULATOR_IMPORTERS)} may")
        if (imp.imported.startswith("harness.radiofakes")
                and not imp.importer.startswith(("harness.radiofakes", *RADIOFAKES_IMPORTERS))):
            found.append(f"{imp.where}: {imp.importer} imports {imp.imported}; only "
                         f"{', '.join(RADIOFAKES_IMPORTERS)} may")
        if imp.importer.startswith("testpacks") and imp.imported.startswith("harness.backend"):
            found.append(f"{imp.where}: a pack imports {imp.imported}; packs see the bench only")
        if any(imp.importer.startswith(a) and imp.imported.startswith(b)
               for a, b in EXCEPTIONS):
            continue
        own, target = row_of(imp.importer, rows), row_of(imp.imported, rows)
        if own is None or target is None:
            for module, known in ((imp.importer, own), (imp.imported, target)):
                if known is None and module.startswith("harness."):
                    found.append(f"{imp.where}: {module} is in no row of the layer table")
            continue
        if target < own:
            found.append(f"{imp.where}: {imp.importer} (row {', '.join(rows[own])}) imports "
                         f"{imp.imported} (row {', '.join(rows[target])}), a layer above it")
    return found


@pytest.fixture(scope="module")
def rows() -> list[list[str]]:
    return layer_table(ARCHITECTURE.read_text(encoding="utf-8"))


def test_the_table_names_every_package_once(rows):
    names = [name for row in rows for name in row]
    assert len(names) == len(set(names)), names
    assert names[0] == "testpacks" and "harness.backend" in names
    packages = {p.name for p in (ROOT / "harness").iterdir()
                if (p / "__init__.py").is_file() or (p.suffix == ".py" and p.stem != "__init__")}
    missing = sorted(f"harness.{p.removesuffix('.py')}" for p in packages
                     if row_of(f"harness.{p.removesuffix('.py')}", rows) is None)
    assert missing == [], f"modules of harness/ in no row of the layer table: {missing}"


def test_every_import_goes_down_the_table(rows):
    assert violations(all_imports(), rows) == []


def test_every_exception_is_still_needed():
    """An exception nobody needs any more is stale: take it out of EXCEPTIONS."""
    imports = all_imports()
    stale = [pair for pair in EXCEPTIONS
             if not any(i.importer.startswith(pair[0]) and i.imported.startswith(pair[1])
                        for i in imports)]
    assert stale == [], f"exceptions no import needs any more: {stale}"


def test_the_checker_finds_upward_and_emulator_imports(rows):
    source = ("from harness.bench import Bench\n"
              "def f():\n    from harness.emulator.node import EmulatedNode\n"
              "from harness.backend.emulated import EmulatedBackend\n"
              "from harness.clock import BenchClock\n")
    expected = {
        # two imports up the table, and the emulator twice (a layer above, and not allowed)
        "harness/han/probe.py": ["harness.bench.Bench", "harness.backend.emulated",
                                 "harness.emulator.node", "harness.emulator.node"],
        # packs may import the bench, never the emulator or a backend
        "testpacks/probe.py": ["harness.backend.emulated", "harness.emulator.node"],
        # the bench is above the emulator, and still may not import it
        "harness/bench.py": ["harness.emulator.node"],
        # a module the table does not know is an error too
        "harness/unknown.py": ["harness.unknown"] * 4 + ["harness.emulator.node"],
    }
    for name, modules in expected.items():
        found = violations(_imports_of_source(source, ROOT / name), rows)
        assert len(found) == len(modules), (name, found)
        for module in set(modules):
            hits = sum(f"imports {module}" in m or f"{module} is in no row" in m for m in found)
            assert hits == modules.count(module), (
                name, module, found)
    # Going down, or within a row, is fine.
    ok = [Import("harness.migration.runner", "harness.dcc.client.Dcc", "x:1"),
          Import("harness.runtime", "harness.clock.Clock", "x:2"),
          Import("fixtures.bench", "harness.pytest_plugin.lab_config_of", "x:3"),
          Import("harness.backend.emulated", "harness.emulator.radio.VirtualRadio", "x:4"),
          Import("harness.backend.fake", "harness.radiofakes.lab.make_fake", "x:5")]
    assert violations(ok, rows) == []
    # The radio fakes are below the bench, and only the fake-radio backend may serve them.
    stray = [Import("harness.bench", "harness.radiofakes.lab.make_fake", "x:6"),
             Import("harness.backend.real", "harness.radiofakes.znp.ZnpFake", "x:7")]
    assert [v.split(";")[1].strip() for v in violations(stray, rows)] == [
        "only harness.backend.fake may"] * 2


def _imports_of_source(source: str, path: Path) -> list[Import]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [Import(module_name(path), f"{node.module}.{a.name}", f"probe:{node.lineno}")
                      for a in node.names]
    return found
