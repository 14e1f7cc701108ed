"""Lab config, device profiles, DMC catalogue and secrets: schemas, loading, one-line errors.

Everything a bench needs to know before it touches hardware comes through here, validated, with
every problem reported as ``<file>:<line>: <field.path>: <message>`` (:class:`ConfigError`).
"""

from harness.config.catalogue import Catalogue, UnknownIdError, load_catalogue, validate_all
from harness.config.errors import ConfigError
from harness.config.lab import (
    DeviceConfig,
    InstallationConfig,
    LabConfig,
    RadioConfig,
    SerialAdapterConfig,
    default_lab_config_path,
    load_lab_config,
)
from harness.config.profiles import DeviceProfile, Dmc
from harness.config.secrets import InstallCode, InstallCodeRef, SecretStore
from harness.config.source import YamlDocument, load_yaml
from harness.config.types import PortSpec

__all__ = [
    "Catalogue",
    "ConfigError",
    "DeviceConfig",
    "DeviceProfile",
    "Dmc",
    "InstallCode",
    "InstallCodeRef",
    "InstallationConfig",
    "LabConfig",
    "PortSpec",
    "RadioConfig",
    "SecretStore",
    "SerialAdapterConfig",
    "UnknownIdError",
    "YamlDocument",
    "default_lab_config_path",
    "load_catalogue",
    "load_lab_config",
    "load_yaml",
    "validate_all",
]
