"""Mutated configs (:mod:`.mutate`): 300+ lab configs with their secrets files and 200+ device
profiles, each either a valid config or one clear line: no traceback, no secret, bounded
length, nothing a terminal would interpret. In-process and reproducible (fixed seeds).

A lab config that loads is also resolved against its secrets file and dumped as JSON (what a
run record does with it), so a value the loader let through but nothing can use shows here.
"""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from labkit import CATALOGUE, EMULATED_LAB, EXAMPLE_BENCH

import harness.config.lab as lab_module
from harness.config import ConfigError, SecretStore, load_lab_config
from harness.config.catalogue import _load as load_catalogue_roots
from harness.dcc.keys import Keystore
from harness.text import printable

from .helpers import MINIMAL_LAB, TEST_CODE
from .mutate import mutants

#: Longest one-line error: file, line, field path and message.
MAX_ERROR = 1000
LAB_MUTANTS = 330
SECRETS_MUTANTS = 60
PROFILE_MUTANTS = 210

SECRETS = f"""install_codes:
  bench-gsme: "{TEST_CODE}"
keys:
  is-signing: keys/is.pem
"""
DCC = """secrets_file: secrets.yaml
dcc:
  users:
    - name: import-supplier
      role: IS
      eui: "90:B3:D5:1F:30:02:00:01"
      organisation: Lab Supplier A
      key: is-signing
"""
SECRET_LAB = MINIMAL_LAB.replace("install_code: emulated\n", "install_code: {secret: bench-gsme}\n")


def _secret_forms() -> list[str]:
    octets = [TEST_CODE[i:i + 2] for i in range(0, len(TEST_CODE), 2)]
    forms = [TEST_CODE, TEST_CODE.lower()]
    forms += [sep.join(octets) for sep in (":", "-", " ")]
    return forms + [f.lower() for f in forms[2:]]


SECRET_FORMS = _secret_forms()


def check_error(err: ConfigError, case: str) -> None:
    text = str(err)
    for one in err.all:
        line = str(one)
        assert "\n" not in line and len(line) <= MAX_ERROR, (case, line[:300], len(line))
        assert printable(line) == line, (case, line[:300])
        assert "Traceback" not in line, (case, line[:300])
        for form in SECRET_FORMS:
            assert form not in line, (case, "secret echoed", line[:300])
    assert text == str(err.all[0])


@functools.cache
def _catalogue(paths: tuple[Path, ...]) -> Any:
    from harness.config.catalogue import load_catalogue

    return load_catalogue(list(paths))


@pytest.fixture
def cached_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaged catalogue is loaded once, not once per mutant (its files do not change)."""
    monkeypatch.setattr(lab_module, "load_catalogue", lambda paths=(): _catalogue(tuple(paths)))


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    (keys / "is.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "secrets.yaml").write_text(SECRETS)
    return tmp_path


def _each(cases: list[tuple[str, str]], run: Callable[[str, str], None]) -> None:
    """Run every case; fail once at the end, listing the crashes (a traceback is a crash)."""
    crashes = []
    for case, text in cases:
        try:
            run(case, text)
        except ConfigError as err:
            check_error(err, case)
        except AssertionError:
            raise
        except Exception:
            crashes.append(f"{case}: {traceback.format_exc(limit=-3)}")
    assert not crashes, f"{len(crashes)} crash(es):\n" + "\n".join(crashes[:5])


def _use_lab(directory: Path) -> Callable[[str, str], None]:
    def run(case: str, text: str) -> None:
        path = directory / "lab.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        lab = load_lab_config(path, env={})
        json.dumps(lab.model_dump(mode="json"))  # what a record keeps of it
        store = SecretStore.load(lab, env={})
        for error in store.check(lab):
            check_error(error, case)
        if lab.dcc is not None and store.secrets_file is not None:
            Keystore.from_lab(lab, store)
        lab.select(None, None)
    return run


def test_mutated_lab_configs_are_valid_or_one_clear_line(bench_dir, cached_catalogue):
    bases = [EMULATED_LAB.read_text(), EXAMPLE_BENCH.read_text(), SECRET_LAB + DCC]
    cases = [(f"lab mutant {base}/{index}", text)
             for base, source in enumerate(bases)
             for index, text in enumerate(mutants(source, LAB_MUTANTS // len(bases),
                                                  seed=1300 + base))]
    assert len(cases) >= 300
    _each(cases, _use_lab(bench_dir))


def test_mutated_secrets_files_are_valid_or_one_clear_line(bench_dir, cached_catalogue):
    (bench_dir / "lab.yaml").write_text(SECRET_LAB + DCC)
    lab = load_lab_config(bench_dir / "lab.yaml", env={})

    def run(case: str, text: str) -> None:
        (bench_dir / "secrets.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        store = SecretStore.load(lab, env={})
        for error in store.check(lab):
            check_error(error, case)
        Keystore.from_lab(lab, store)

    _each([(f"secrets mutant {i}", text)
           for i, text in enumerate(mutants(SECRETS, SECRETS_MUTANTS, seed=1313))], run)


def test_mutated_profiles_are_valid_or_one_clear_line(tmp_path):
    models = sorted((CATALOGUE / "models").glob("*.yaml"))
    per_model = -(-PROFILE_MUTANTS // len(models))
    cases = [(f"{model.stem} mutant {i}", text)
             for n, model in enumerate(models)
             for i, text in enumerate(mutants(model.read_text(), per_model, seed=2600 + n))]
    assert len(cases) >= 200
    root = tmp_path / "catalogue"
    (root / "models").mkdir(parents=True)

    def run(case: str, text: str) -> None:
        (root / "models" / "mutant.yaml").write_text(text, encoding="utf-8",
                                                     errors="surrogatepass")
        catalogue, errors = load_catalogue_roots([root])
        for error in errors:
            check_error(error, case)
        for profile in catalogue.profiles.values():
            json.dumps(profile.model_dump(mode="json"))

    _each(cases, run)
