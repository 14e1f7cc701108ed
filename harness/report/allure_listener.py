"""allure-pytest, doing per case only what a DMCT reviewer reads in Allure.

allure-pytest reports every fixture instance as a set-up/tear-down entry: one
``*-container.json`` per fixture instance (about 2.3 per case in a DMCT run) and a wrapper
around every fixture finalizer. A reviewer reads a case's verdict, its steps (one per Service
Request) and its evidence, not the timing of ``bench`` or ``dcc``; those entries cost about a
quarter of what Allure costs per entry (py-spy) and more files than the results themselves. So
:func:`lean_allure` takes allure-pytest's own objects and gives them a class that
leaves that out and writes each result once:

- :class:`CaseListener`: allure-pytest's listener without its fixture hooks. A fixture that
  raises still shows on its case: allure-pytest sets the case's status and message from the
  set-up (or tear-down) report, not from the container. An SR a fixture sends while the case
  sets up or tears down is a step of that case. A DMCT case's result is written with the
  severity of a case without a Testing Issue, so that
  :func:`harness.report.allure.annotate_results` rewrites only the results of cases with an
  issue at the end of the session, not every result;
- :class:`ResultFileLogger`: allure-commons' file writer, writing each result as compact JSON
  in one ``json.dumps`` (its own ``json.dump`` to a file runs the pure-Python encoder).

The objects are kept, only their class changes: allure-pytest registers its listener with
pytest's plugin manager *and* with ``allure_commons.plugin_manager`` and unregisters it from
the latter by identity at the end of the session, so both must keep seeing the same object. The
listener is registered with pytest again so that pytest drops the fixture hooks.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator
from typing import Any

import pytest
from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Label
from allure_pytest.listener import AllureListener
from attr import asdict

from harness.report.allure import CASE_LABEL, NO_ISSUE_SEVERITY, write_result

#: allure-pytest's registration name of its listener with pytest's plugin manager.
LISTENER_NAME = "allure_listener"


class CaseListener(AllureListener):
    """allure-pytest's listener without fixture set-up/tear-down reporting, a DMCT case's
    result written with a severity (see the module docstring)."""

    # Not routines, so neither pytest nor pluggy takes them as hook implementations.
    pytest_fixture_setup = None
    pytest_fixture_post_finalizer = None

    def _update_fixtures_children(self, item: Any) -> None:
        """No fixture containers, so no case is a container's child."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Generator[None, Any, None]:
        """allure-pytest writes the case's result here: first give a DMCT case without a
        severity of its own the severity :func:`annotate_results` gives a case without an
        issue."""
        case_uuid = self._cache.get(nodeid)
        result = self.allure_logger.get_test(case_uuid) if case_uuid else None
        if result is not None:
            names = {label.name for label in result.labels}
            if CASE_LABEL in names and "severity" not in names:
                result.labels.append(Label(name="severity", value=NO_ISSUE_SEVERITY))
        yield from super().pytest_runtest_logfinish(nodeid, location)


class ResultFileLogger(AllureFileLogger):
    """allure-commons' file writer, one compact ``json.dumps`` per result (see the module
    docstring). ``ALLURE_INDENT_OUTPUT`` still asks for allure-commons' indented files."""

    def _report_item(self, item: Any) -> None:
        if os.environ.get("ALLURE_INDENT_OUTPUT"):
            super()._report_item(item)
            return
        data = asdict(item, filter=lambda _, v: v or v is False)
        name = item.file_pattern.format(prefix=uuid.uuid4())
        write_result(self._report_dir / name, data)


def lean_allure(config: pytest.Config) -> None:
    """Give allure-pytest's listener and file writer of this session the classes above (a
    no-op without ``--alluredir``, or if allure-pytest's objects are not what this module
    knows)."""
    from allure_commons import plugin_manager

    listener = config.pluginmanager.get_plugin(LISTENER_NAME)
    if type(listener) is AllureListener:
        config.pluginmanager.unregister(listener)
        listener.__class__ = CaseListener
        config.pluginmanager.register(listener, LISTENER_NAME)
    for plugin in plugin_manager.get_plugins():
        if type(plugin) is AllureFileLogger:
            plugin.__class__ = ResultFileLogger
