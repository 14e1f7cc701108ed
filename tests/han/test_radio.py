"""harness.han.radio: radio class selection (a missing library is one line naming the extra) and
the zigpy configuration of a HAN coordinator."""

from __future__ import annotations

import importlib
import types

import pytest
import zigpy.config
from zigpy.application import ControllerApplication

from harness.emulator.radio import VirtualCoordinator, VirtualRadio
from harness.han import radio as han_radio
from harness.han.app import HanApplicationMixin
from harness.han.radio import (
    RADIO_LIBRARIES,
    RadioUnavailable,
    han_application_class,
    real_radio_class,
    zigpy_config,
)


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> list[str]:
    """Make ``modules`` fail to import; returns the names that were asked for."""
    asked: list[str] = []
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> types.ModuleType:
        asked.append(name)
        if name in modules:
            raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake)
    return asked


# -- class selection ------------------------------------------------------------------------------


def test_han_application_class_puts_the_mixin_first():
    cls = han_application_class(VirtualCoordinator)
    assert cls.__mro__[1] is HanApplicationMixin
    assert issubclass(cls, VirtualCoordinator)
    assert cls.__name__ == "HanVirtualCoordinator"


def test_han_application_class_leaves_a_han_class_alone():
    assert han_application_class(VirtualRadio) is VirtualRadio


@pytest.mark.parametrize(
    ("radio_type", "package", "extra"),
    [("ezsp", "bellows", "ezsp"), ("znp", "zigpy-znp", "znp"),
     ("deconz", "zigpy-deconz", "deconz")],
)
def test_a_missing_radio_library_is_one_line_naming_the_extra(
    monkeypatch, radio_type, package, extra
):
    library = RADIO_LIBRARIES[radio_type]
    asked = _missing(monkeypatch, library.module)
    with pytest.raises(RadioUnavailable) as info:
        real_radio_class(radio_type)
    message = str(info.value)
    assert "\n" not in message
    assert package in message
    assert f"pip install 'smets1-dmct[{extra}]'" in message
    assert asked == [library.module]
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unknown_radio_type_names_the_known_ones():
    with pytest.raises(RadioUnavailable, match=r"unknown radio type 'zigate'.*ezsp, znp, deconz"):
        real_radio_class("zigate")


def test_an_installed_radio_library_gives_its_application_with_the_mixin(monkeypatch):
    class FakeApplication(VirtualCoordinator):
        pass

    module = types.ModuleType("bellows.zigbee.application")
    module.ControllerApplication = FakeApplication  # type: ignore[attr-defined]
    monkeypatch.setattr(han_radio.importlib, "import_module",
                        lambda name, package=None: module)
    cls = real_radio_class("ezsp")
    assert issubclass(cls, HanApplicationMixin)
    assert issubclass(cls, FakeApplication)
    assert cls.duplicate_filter is True  # a real medium can duplicate frames


# -- zigpy config ---------------------------------------------------------------------------------


def test_virtual_config_is_accepted_by_zigpy_and_turns_background_work_off():
    config = zigpy_config(path="virtual://")
    validated = zigpy.config.CONFIG_SCHEMA(config)
    assert validated["device"]["path"] == "virtual://"
    assert config["ota"] == {"enabled": False}
    assert config["backup_enabled"] is False
    assert config["topology_scan_enabled"] is False
    assert config["database_path"] is None
    assert config["watchdog_enabled"] is False
    assert "use_thread" not in config
    assert "flow_control" not in config["device"]


def test_ezsp_config_avoids_bellows_extra_thread(tmp_path):
    database = str(tmp_path / "zigpy.db")
    config = zigpy_config(path="/dev/ttyUSB0", radio_type="ezsp", flow_control="software",
                          database=database, channel=20, pan_id=0x1234,
                          extended_pan_id="00:1b:c5:0c:ff:fe:00:01", baudrate=57600)
    assert config["use_thread"] is False
    assert config["device"] == {"path": "/dev/ttyUSB0", "baudrate": 57600,
                                "flow_control": "software"}
    assert config["network"] == {"channel": 20, "pan_id": 0x1234,
                                 "extended_pan_id": "00:1b:c5:0c:ff:fe:00:01"}
    assert config["database_path"] == database
    assert "watchdog_enabled" not in config


def test_flow_control_none_is_left_out():
    assert "flow_control" not in zigpy_config(path="/dev/ttyACM0", flow_control="none")["device"]


def test_the_virtual_radio_builds_from_the_config():
    app = VirtualRadio(zigpy_config(path="virtual://"))
    assert isinstance(app, ControllerApplication)
    assert app.duplicate_filter is False
    assert app.config["ota"]["enabled"] is False
