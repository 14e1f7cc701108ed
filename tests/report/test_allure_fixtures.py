"""Under the harness plugin allure-pytest reports cases, not fixtures
(``harness.report.allure_listener``): no set-up/tear-down entries (``*-container.json``), and
what a fixture does or raises shows on the case that set it up. A DMCT case (one with a
``dmctCase`` label) is written with the severity of a case without a Testing Issue, which the
end of the session then leaves alone.

One inner session in a subprocess (as ``tests/plugin`` runs them): the plugin and allure-pytest
load from their entry points, as in ``dmct run``.
"""

from __future__ import annotations

import json

import pytest

CASES = '''
import allure
import pytest


@pytest.fixture
def probe():
    with allure.step("plug the optical probe"):
        pass
    yield "probe"


@pytest.fixture
def unplugged_probe():
    raise RuntimeError("optical probe not connected")


@pytest.fixture
def leaky_bench():
    yield
    with allure.step("unjoin the PPMID"):
        pass
    raise RuntimeError("the PPMID is still joined")


@allure.label("dmctCase", "pack/test_cases.py::test_reads_the_register")
def test_reads_the_register(probe):
    assert probe == "probe"


def test_needs_the_probe(unplugged_probe):
    pass


def test_leaves_the_bench_dirty(leaky_bench):
    pass
'''


def test_fixtures_are_no_entries_of_their_own_and_their_errors_show_on_the_case(
        pytester: pytest.Pytester, clean_run_env: None) -> None:
    pytester.makepyfile(test_cases=CASES)
    results = pytester.path / "allure-results"
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                        f"--alluredir={results}", timeout=60)
    run.assert_outcomes(passed=2, errors=2)  # the dirty bench passes, then errs in tear-down
    assert sorted(p.name.split("-")[-1] for p in results.iterdir()) == ["result.json"] * 3
    by_name = {r["name"]: r for r in (json.loads(p.read_text())
                                      for p in results.glob("*-result.json"))}
    passed = by_name["test_reads_the_register"]
    assert passed["status"] == "passed"
    assert [s["name"] for s in passed["steps"]] == ["plug the optical probe"]
    assert [lb["value"] for lb in passed["labels"] if lb["name"] == "severity"] == ["normal"]
    for name, message in (("test_needs_the_probe", "optical probe not connected"),
                          ("test_leaves_the_bench_dirty", "the PPMID is still joined")):
        assert by_name[name]["status"] == "broken"
        assert by_name[name]["statusDetails"]["message"] == f"RuntimeError: {message}"
        assert "severity" not in {lb["name"] for lb in by_name[name]["labels"]}  # not DMCT's
    assert [s["name"] for s in by_name["test_leaves_the_bench_dirty"]["steps"]] == [
        "unjoin the PPMID"]
