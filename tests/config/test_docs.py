"""The format docs cover every field, so a lab can write YAML from the README alone."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.config.lab import LabConfig
from harness.config.profiles import DeviceProfile, Dmc

ROOT = Path(__file__).resolve().parents[2]


def _fields(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for inner in _models_in(field.annotation):
            names |= _fields(inner)
    return names


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


@pytest.mark.parametrize(
    ("readme", "models"),
    [
        ("device_profiles/README.md", (DeviceProfile, Dmc)),
        ("lab_config/README.md", (LabConfig,)),
    ],
)
def test_readme_documents_every_field(readme, models):
    text = (ROOT / readme).read_text()
    # Documented = written as code, alone or as the last part of a dotted path: `meter.demand`.
    missing = sorted(
        name
        for model in models
        for name in _fields(model)
        if not re.search(rf"[`.]{re.escape(name)}[`.]", text)
    )
    assert missing == [], f"{readme} does not document: {missing}"


def test_readme_says_packs_never_read_emulation():
    text = (ROOT / "device_profiles/README.md").read_text()
    assert "Test packs never read `emulation`" in text
