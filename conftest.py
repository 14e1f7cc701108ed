"""Root conftest: registers the harness's pytest plugin for runs from a source checkout.

An installed smets1-dmct registers the same plugin through its ``pytest11`` entry point; the
entry point's name is the module name, so pytest does not register it twice.
"""

pytest_plugins = ["harness.pytest_plugin"]
