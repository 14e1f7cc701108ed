"""The catalogue: every device profile and DMC, from the packaged directory and lab additions.

Layout of a catalogue directory (the packaged ``device_profiles`` package, or any directory a
lab config lists in ``profile_paths``)::

    models/**/*.yaml   one device profile per file
    dmcs/**/*.yaml     one DMC per file
    *.yaml             directly in the directory: a DMC if it has a top-level ``devices`` key,
                       otherwise a device profile

Ids are unique across all directories; a duplicate names both files. ``load_catalogue`` stops
at the first error (file order); ``validate_all`` collects every error for
``dmct profiles validate``.
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.config.errors import DOCUMENT, ConfigError, first_error, sort_errors
from harness.config.profiles import DeviceProfile, Dmc
from harness.config.source import Loc, YamlDocument, load_yaml
from harness.config.validation import looks_secret, validate_document

__all__ = [
    "CATALOGUE_CACHE_ENV",
    "Catalogue",
    "UnknownIdError",
    "load_catalogue",
    "packaged_profiles_dir",
    "validate_all",
    "write_catalogue_cache",
]

#: A file :func:`write_catalogue_cache` wrote: ``load_catalogue`` takes the catalogue from it
#: when it was parsed from the same directories (``dmct run`` parses once, its pytest processes
#: take it from there instead of parsing every file again).
CATALOGUE_CACHE_ENV = "DMCT_CATALOGUE_CACHE"

_SUFFIXES = (".yaml", ".yml")


class UnknownIdError(KeyError):
    """An id not in the catalogue; the message lists close ids (KeyError for dict-like use)."""

    def __init__(self, kind: str, wanted: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.wanted = wanted
        known = sorted(known)
        close = difflib.get_close_matches(str(wanted), known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        listing = "" if close else f"; known {kind}s: {', '.join(known) or 'none'}"
        shown = "(a long hex string, not shown)" if looks_secret(str(wanted)) else repr(wanted)
        self.message = f"unknown {kind} id {shown}{hint}{listing}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass
class Catalogue:
    """Profiles and DMCs by id, and the directories they came from."""

    profiles: dict[str, DeviceProfile] = field(default_factory=dict)
    dmcs: dict[str, Dmc] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)

    def profile(self, profile_id: str) -> DeviceProfile:
        try:
            return self.profiles[profile_id]
        except KeyError:
            raise UnknownIdError("profile", profile_id, self.profiles) from None

    def dmc(self, dmc_id: str) -> Dmc:
        try:
            return self.dmcs[dmc_id]
        except KeyError:
            raise UnknownIdError("DMC", dmc_id, self.dmcs) from None

    def children_of(self, dmc_id: str) -> list[Dmc]:
        """DMCs declared substantively equivalent to ``dmc_id`` (EPCL Group 2 children)."""
        return [d for d in self.dmcs.values() if d.substantively_equivalent_to == dmc_id]

    def tested_parent(self, dmc_id: str) -> Dmc:
        """The tested DMC at the top of ``dmc_id``'s substantive-equivalence chain."""
        dmc = self.dmc(dmc_id)
        while dmc.substantively_equivalent_to is not None:
            dmc = self.dmc(dmc.substantively_equivalent_to)
        return dmc

    def close_ids(self, kind: Literal["profile", "DMC"], wanted: str) -> str:
        """The message an unknown id gets (shared by lab-config checks)."""
        known = self.profiles if kind == "profile" else self.dmcs
        return UnknownIdError(kind, wanted, known).message


def packaged_profiles_dir() -> Path:
    """The ``device_profiles`` directory shipped inside the distribution."""
    root = importlib.resources.files("device_profiles")
    if not isinstance(root, Path):  # pragma: no cover - zip imports are not supported
        raise ConfigError(str(root), None, DOCUMENT, "device_profiles must be installed as files")
    return root


def load_catalogue(extra_paths: Sequence[str | Path] = ()) -> Catalogue:
    """Packaged profiles and DMCs plus those under ``extra_paths``; raises the first error."""
    roots = [packaged_profiles_dir(), *map(Path, extra_paths)]
    cached = _cached(roots)
    if cached is not None:
        return cached
    catalogue, errors = _load(roots)
    error = first_error(errors)
    if error is not None:
        raise error
    return catalogue


def write_catalogue_cache(catalogue: Catalogue, path: Path) -> None:
    """Keep a parsed (so valid) catalogue for the processes of the same run."""
    path.write_bytes(pickle.dumps(catalogue, protocol=pickle.HIGHEST_PROTOCOL))


def _cached(roots: list[Path]) -> Catalogue | None:
    """The catalogue of ``$DMCT_CATALOGUE_CACHE`` if parsed from ``roots``, else ``None``."""
    path = os.environ.get(CATALOGUE_CACHE_ENV)
    if not path:
        return None
    try:
        catalogue = pickle.loads(Path(path).read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None  # parse the files as if there were no cache
    if not isinstance(catalogue, Catalogue):
        return None
    wanted = [r.resolve() for r in roots]
    return catalogue if [r.resolve() for r in catalogue.roots] == wanted else None


def validate_all(extra_paths: Sequence[str | Path] = ()) -> list[ConfigError]:
    """Every error in every catalogue file (empty when all is well), in file order."""
    _catalogue, errors = _load([packaged_profiles_dir(), *map(Path, extra_paths)])
    return errors


# -- loading --------------------------------------------------------------------------------------

Kind = Literal["profile", "dmc"]


def _files(root: Path) -> list[tuple[Path, Kind | None]]:
    found: list[tuple[Path, Kind | None]] = []
    folders: tuple[tuple[str, Kind], ...] = (("models", "profile"), ("dmcs", "dmc"))
    for sub, kind in folders:
        folder = root / sub
        if folder.is_dir():
            found += [
                (p, kind)
                for p in sorted(folder.rglob("*"))
                if p.suffix in _SUFFIXES and p.is_file()
            ]
    found += [(p, None) for p in sorted(root.iterdir()) if p.suffix in _SUFFIXES and p.is_file()]
    return found


def _load(roots: list[Path]) -> tuple[Catalogue, list[ConfigError]]:
    catalogue = Catalogue(roots=list(roots))
    errors: list[ConfigError] = []
    profile_docs: dict[str, YamlDocument] = {}
    dmc_docs: dict[str, YamlDocument] = {}
    for root in roots:
        if not root.is_dir():
            errors.append(ConfigError(root, None, DOCUMENT, "profile directory not found"))
            continue
        for path, kind in _files(root):
            try:
                doc = load_yaml(path)
            except ConfigError as exc:
                errors.append(exc)
                continue
            if kind is None:
                kind = "dmc" if "devices" in doc.data else "profile"
            if kind == "profile":
                profile, errs = validate_document(DeviceProfile, doc)
                errors += errs
                if profile is not None:
                    errors += _profile_checks(profile, doc)
                    errors += _register(catalogue.profiles, profile_docs, profile, doc, "profile")
            else:
                dmc, errs = validate_document(Dmc, doc)
                errors += errs
                if dmc is not None:
                    errors += _register(catalogue.dmcs, dmc_docs, dmc, doc, "DMC")
    for dmc_id, dmc in catalogue.dmcs.items():
        errors += _dmc_checks(dmc, dmc_docs[dmc_id], catalogue)
    return catalogue, sort_errors(errors)


def _register(
    table: dict,
    docs: dict[str, YamlDocument],
    item: DeviceProfile | Dmc,
    doc: YamlDocument,
    kind: str,
) -> list[ConfigError]:
    previous = table.get(item.id)
    if previous is not None:
        return [
            doc.error(
                ("id",),
                f"duplicate {kind} id {item.id!r}: also defined in "
                f"{previous.source_file}:{previous.line}",
            )
        ]
    table[item.id] = item
    docs[item.id] = doc
    return []


def _profile_checks(profile: DeviceProfile, doc: YamlDocument) -> list[ConfigError]:
    """Checks across fields of one profile (shape is already validated)."""
    errors: list[ConfigError] = []
    kind = profile.device_type
    if profile.optical is not None and not profile.is_meter:
        errors.append(
            doc.error(("optical",), f"only ESME and GSME have an optical port, not {kind}")
        )
    if doc.has(("emulation", "meter")) and not profile.is_meter:
        errors.append(
            doc.error(("emulation", "meter"), f"only ESME and GSME are meters, not {kind}")
        )
    if doc.has(("emulation", "chf")) and kind != "CHF":
        errors.append(doc.error(("emulation", "chf"), f"only a CHF profile has this, not {kind}"))
    if doc.has(("expectations", "join_time_period_max_s")) and kind != "CHF":
        errors.append(
            doc.error(
                ("expectations", "join_time_period_max_s"),
                f"only a CHF profile has this (the CHF serves SR 8.11), not {kind}",
            )
        )
    errors += _duplicates(doc, ("srvs",), profile.srvs, "SRV")
    errors += _duplicates(
        doc, ("zigbee", "server_clusters"), profile.zigbee.server_clusters, "cluster"
    )
    errors += _duplicates(
        doc, ("zigbee", "client_clusters"), profile.zigbee.client_clusters, "cluster"
    )
    supported = set(profile.srvs)
    for index, srv in enumerate(profile.emulation.undocumented_srvs):
        if srv in supported:
            errors.append(doc.error(("emulation", "undocumented_srvs", index),
                                    f"SRV {srv} is in this profile's srvs (documented); an "
                                    "undocumented SRV is one srvs leaves out"))
    for section in ("expectations", "emulation"):
        block = getattr(profile, section)
        for index, srv in enumerate(block.restricted_srvs):
            if srv not in supported:
                errors.append(
                    doc.error(
                        (section, "restricted_srvs", index),
                        f"SRV {srv} is not in this profile's srvs; list it there first",
                    )
                )
        errors += _duplicates(doc, (section, "restricted_srvs"), block.restricted_srvs, "SRV")
        for srv in block.srv_daily_limits:
            if srv not in supported:
                errors.append(
                    doc.error(
                        (section, "srv_daily_limits", srv),
                        f"SRV {srv} is not in this profile's srvs; list it there first",
                    )
                )
    return errors


def _duplicates(doc: YamlDocument, loc: tuple, values: list[str], what: str) -> list[ConfigError]:
    seen: dict[str, int] = {}
    errors = []
    for index, value in enumerate(values):
        if value in seen:
            errors.append(
                doc.error(
                    (*loc, index),
                    f"{what} {value} listed twice "
                    f"(first at line {doc.line_of((*loc, seen[value]))})",
                )
            )
        else:
            seen[value] = index
    return errors


def _dmc_checks(dmc: Dmc, doc: YamlDocument, catalogue: Catalogue) -> list[ConfigError]:
    """References from a DMC to profiles and to its substantively-equivalent parent."""
    errors: list[ConfigError] = []
    for role, profile_id in dmc.devices.items():
        loc: Loc = ("devices", role)
        profile = catalogue.profiles.get(profile_id)
        if profile is None:
            errors.append(doc.error(loc, catalogue.close_ids("profile", profile_id)))
        elif profile.device_type != role:
            errors.append(
                doc.error(
                    loc,
                    f"profile {profile_id!r} is a {profile.device_type} "
                    f"({profile.source_file}:{profile.line}), not a {role}",
                )
            )
    roles = set(dmc.roles)
    for role in dmc.target_firmware:
        if role not in roles:
            errors.append(
                doc.error(("target_firmware", role), f"this DMC has no {role} in devices")
            )
    errors += _population_checks(dmc, doc)
    parent = dmc.substantively_equivalent_to
    if parent is not None:
        loc = ("substantively_equivalent_to",)
        if parent == dmc.id:
            errors.append(doc.error(loc, "a DMC cannot be substantively equivalent to itself"))
        elif parent not in catalogue.dmcs:
            errors.append(doc.error(loc, catalogue.close_ids("DMC", parent)))
        else:
            chain = [dmc.id]
            current: str | None = parent
            while current is not None and current in catalogue.dmcs:
                if current in chain:
                    cycle = " -> ".join([*chain, current])
                    errors.append(doc.error(loc, f"substantive equivalence forms a cycle: {cycle}"))
                    break
                chain.append(current)
                current = catalogue.dmcs[current].substantively_equivalent_to
    return errors


def _population_checks(dmc: Dmc, doc: YamlDocument) -> list[ConfigError]:
    """A population belongs to an EPCL entry, and its device counts fit its installations."""
    errors: list[ConfigError] = []
    most = len(dmc.roles)
    for status in ("active", "dormant", "mixed"):
        population = dmc.population_for(status)
        if population is None:
            continue
        if dmc.epcl_id(status) is None:
            errors.append(
                doc.error(
                    ("population", status),
                    f"this DMC has no EPCL entry for {status} installations (epcl.{status}); "
                    "a population belongs to an EPCL entry",
                )
            )
        for row in ("at_target_firmware", "upgradable_to_target_firmware"):
            counts = getattr(population, row)
            loc = ("population", status, row, "devices")
            if counts.devices < counts.installs:
                errors.append(
                    doc.error(
                        loc,
                        f"{counts.devices} devices in {counts.installs} installations: every "
                        "installation has at least one device",
                    )
                )
            elif counts.devices > counts.installs * most:
                errors.append(
                    doc.error(
                        loc,
                        f"{counts.devices} devices in {counts.installs} installations: an "
                        f"installation of this DMC has at most {most} devices "
                        f"({', '.join(dmc.roles)})",
                    )
                )
    return errors
