"""allure-pytest, doing per case only what a DMCT reviewer reads in Allure.

allure-pytest reports every fixture instance as a set-up/tear-down entry: one
``*-container.json`` per fixture instance (about 2.3 per case in a DMCT run) and a wrapper
around every fixture finalizer. A reviewer reads a case's verdict, its steps (one per Service
Request) and its evidence, not the timing of ``bench`` or ``dcc``; those entries cost about a
quarter of what Allure costs per entry (py-spy) and more files than the results themselves. So
:func:`lean_allure` takes allure-pytest's own objects and gives them a class that
leaves that out:

- :class:`CaseListener`: allure-pytest's listener without its fixture hooks. A fixture that
  raises still shows on its case: allure-pytest sets the case's status and message from the
  set-up (or tear-down) report, not from the container. An SR a fixture sends while the case
  sets up is a step of that case.

The objects are kept, only their class changes: allure-pytest registers its listener with
pytest's plugin manager *and* with ``allure_commons.plugin_manager`` and unregisters it from
the latter by identity at the end of the session, so both must keep seeing the same object. The
listener is registered with pytest again so that pytest drops the fixture hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from allure_pytest.listener import AllureListener

if TYPE_CHECKING:
    import pytest

#: allure-pytest's registration name of its listener with pytest's plugin manager.
LISTENER_NAME = "allure_listener"


class CaseListener(AllureListener):
    """allure-pytest's listener without fixture set-up/tear-down reporting (see the module
    docstring)."""

    # Not routines, so neither pytest nor pluggy takes them as hook implementations.
    pytest_fixture_setup = None
    pytest_fixture_post_finalizer = None

    def _update_fixtures_children(self, item: Any) -> None:
        """No fixture containers, so no case is a container's child."""


def lean_allure(config: pytest.Config) -> None:
    """Give allure-pytest's listener of this session the class above (a no-op without
    ``--alluredir``, or if allure-pytest's objects are not what this module knows)."""
    listener = config.pluginmanager.get_plugin(LISTENER_NAME)
    if type(listener) is AllureListener:
        config.pluginmanager.unregister(listener)
        listener.__class__ = CaseListener
        config.pluginmanager.register(listener, LISTENER_NAME)
