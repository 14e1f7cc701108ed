"""Lab configs and catalogues made for a test, adapted from the shipped files (plugin and CLI
tests). Imported as ``labkit``: pytest puts ``tests/`` on ``sys.path`` (rootdir-relative
"prepend" import mode)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EMULATED_LAB = REPO / "lab_config" / "emulated.yaml"
EXAMPLE_BENCH = REPO / "lab_config" / "example-bench.yaml"
CATALOGUE = REPO / "device_profiles"


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is no longer in the shipped file this test adapts"
    return text.replace(old, new, 1)


class LabFiles:
    """Lab configs and catalogue directories written under ``root``, adapted from the shipped
    ``lab_config/emulated.yaml`` and reference profiles (so they follow the real formats)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.profiles = root / "profiles"

    def dmc(self, dmc_id: str, *, without: tuple[str, ...] = (),
            profiles: dict[str, str] | None = None) -> str:
        """A DMC with REF-DMC-001's devices, less the roles ``without``, with ``profiles``
        (role -> profile id) swapped in; written to ``profiles/dmcs/``."""
        reference = yaml.safe_load((CATALOGUE / "dmcs" / "REF-DMC-001.yaml").read_text())
        devices = {role: profile for role, profile in reference["devices"].items()
                   if role not in without} | (profiles or {})
        text = (f"id: {dmc_id}\nname: {dmc_id} (made by a test)\ndevices:\n"
                + "".join(f"  {role}: {profile}\n" for role, profile in devices.items())
                + "epcl: {dormant: PH-TEST-D, active: PH-TEST-A, mixed: PH-TEST-M}\n"
                + 'source: "test"\n')
        self._write(self.profiles / "dmcs" / f"{dmc_id}.yaml", text)
        return dmc_id

    def esme_profile(self, profile_id: str, *, without_cluster: str) -> str:
        """The reference ESME as ``profile_id``, without one of its server clusters."""
        text = (CATALOGUE / "models" / "ref-esme.yaml").read_text()
        text = _replace(text, "id: ref-esme-1.0.0\n", f"id: {profile_id}\n")
        text = _replace(text, f" {without_cluster},", "")
        self._write(self.profiles / "models" / f"{profile_id}.yaml", text)
        return profile_id

    def profile_variant(self, base: str, profile_id: str, *, emulation: dict | None = None,
                        srvs: list[str] | None = None, drop_srvs: list[str] | None = None,
                        expectations: dict | None = None) -> str:
        """The shipped model ``base`` (file stem, e.g. ``ref-esme``) as ``profile_id``, with
        ``emulation`` and ``expectations`` merged in, ``srvs`` added and ``drop_srvs``
        removed; written to ``profiles/models/``."""
        data = yaml.safe_load((CATALOGUE / "models" / f"{base}.yaml").read_text())
        data["id"] = profile_id
        if emulation:
            data["emulation"] = _merged(data.get("emulation") or {}, emulation)
        if expectations:
            data["expectations"] = _merged(data.get("expectations") or {}, expectations)
        if srvs:
            data["srvs"] = list(dict.fromkeys([*data.get("srvs", []), *srvs]))
        if drop_srvs:
            data["srvs"] = [srv for srv in data.get("srvs", []) if srv not in drop_srvs]
        self._write(self.profiles / "models" / f"{profile_id}.yaml",
                    yaml.safe_dump(data, sort_keys=False))
        return profile_id

    def lab(self, name: str = "lab.yaml", *, dmc: str = "REF-DMC-001",
            source: Path = EMULATED_LAB, edit: dict[str, str] | None = None,
            append: str = "") -> Path:
        """A copy of ``source`` testing ``dmc`` (an id or a YAML list), with ``profile_paths:
        [profiles]`` when this directory has a catalogue, ``edit`` (old -> new text) applied and
        ``append`` added."""
        text = source.read_text()
        if self.profiles.is_dir():
            text = text.replace("\ndmc:", "\nprofile_paths: [profiles]\ndmc:", 1)
        if dmc != "REF-DMC-001":
            text = _replace(text, "\ndmc: REF-DMC-001\n", f"\ndmc: {dmc}\n")
        for old, new in (edit or {}).items():
            text = _replace(text, old, new)
        return self._write(self.root / name, text + append)

    @staticmethod
    def _write(path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in, mapping by mapping (other values replace)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def line_of(path: Path, fragment: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line of ``path`` containing ``fragment``."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line]
    assert len(hits) >= occurrence, f"{fragment!r} not in {path}"
    return hits[occurrence - 1]


#: Broken lab configs: (edit, append, fragment on the offending line, its occurrence, field).
BROKEN_LABS = {
    "unknown key": ({}, "bogus_key: 1\n", "bogus_key", 1, "bogus_key"),
    "bad EUI-64": ({"eui64: 00-1B-C5-0C-00-00-00-02": "eui64: 00-1B-C5-0C-00-00-0G-02"}, "",
                   "0G-02", 1, "installations[0].devices[1].eui64"),
    "duplicate key": ({}, "seed: 1\n", "seed:", 2, "seed"),
}


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in, mapping by mapping (a value replaces a non-mapping)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged

