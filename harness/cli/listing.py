"""``dmct list dmcs|packs|profiles``: what a run can be asked for, before asking for it."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.cli.common import EXIT_OK, available_packs, packs_dir
from harness.cli.output import console

STATUSES = ("dormant", "active", "mixed")


def _catalogue(args: argparse.Namespace) -> Any:
    """The packaged catalogue, with a lab config's ``profile_paths`` when ``--lab`` is given."""
    from harness.cli.common import load_lab
    from harness.config import load_catalogue

    if args.lab:
        return load_lab(args.lab).catalogue
    return load_catalogue()


def pack_summary(directory: Path) -> str:
    """The first line of a pack's docstring (its ``__init__.py``), without importing it."""
    init = directory / "__init__.py"
    try:
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        doc = ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _table(*columns: str, wrapped: tuple[str, ...] = ("NAME",)) -> Table:
    """Columns separated by two spaces; only the ``wrapped`` ones (free text) wrap."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in columns:
        if name in wrapped:
            table.add_column(name, min_width=12, max_width=40)
        else:
            table.add_column(name, no_wrap=True)
    return table


def cmd_list(args: argparse.Namespace) -> int:
    out = console()
    if args.what == "packs":
        table = _table("PACK", "TEST FILES", "ABOUT", wrapped=("ABOUT",))
        for name in available_packs():
            directory = packs_dir() / name
            table.add_row(name, str(len(list(directory.glob("test_*.py")))),
                          pack_summary(directory))
    elif args.what == "dmcs":
        catalogue = _catalogue(args)
        table = _table("DMC", "EPCL ENTRIES", "DEVICES", wrapped=("DMC",))
        for dmc_id in sorted(catalogue.dmcs):
            dmc = catalogue.dmc(dmc_id)
            epcl = "\n".join(f"{s} {dmc.epcl_id(s)}" for s in STATUSES if dmc.epcl_id(s))
            name = dmc.name
            if dmc.substantively_equivalent_to:
                name += f" (substantively equivalent to {dmc.substantively_equivalent_to})"
            table.add_row(Text.assemble((dmc.id, "bold"), "\n" + name), epcl or "-",
                          "\n".join(f"{role} {pid}" for role, pid in dmc.devices.items()))
    else:
        catalogue = _catalogue(args)
        table = _table("PROFILE", "TYPE", "MANUFACTURER", "MODEL", "FIRMWARE",
                       wrapped=("MANUFACTURER", "MODEL"))
        for profile_id in sorted(catalogue.profiles):
            profile = catalogue.profile(profile_id)
            placeholder = " *" if profile.firmware.placeholder else ""
            table.add_row(profile.id, str(profile.device_type), profile.manufacturer,
                          profile.model.replace(" (placeholder)", " *"),
                          profile.firmware.version + placeholder)
    out.print(table)
    if args.what == "profiles":
        out.print("* placeholder: not the real model or firmware (device_profiles/README.md)")
    return EXIT_OK
