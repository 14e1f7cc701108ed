"""Benches for the DCC tests: the reference bench, and variants with one emulation setting on.

``dcc_bench`` is the default emulated bench (REF-DMC-001, dormant), every device commissioned,
its DCC started. ``make_bench(esme={...})`` starts a bench whose DMC is the reference DMC with
variant profiles written to a temporary ``profile_paths`` directory: each keyword names a role
and gives the ``emulation`` settings merged into that role's reference profile (``srvs`` adds
SRVs to a profile). Every bench is stopped when the test ends.

The fixtures are not called ``bench``: that is the DMCT plugin's session fixture for packs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import LabFiles

from harness.bench import Bench
from harness.config import LabConfig, default_lab_config_path, load_lab_config
from harness.dcc.duis.tools import DuisTools, find_tools
from harness.dcc.requests import ServiceResponse

#: The shipped model file behind each role of the reference DMC.
REFERENCE_MODELS = {"CHF": "ref-chf", "ESME": "ref-esme", "GSME": "ref-gsme",
                    "PPMID": "ref-ppmid", "IHD": "ref-ihd"}
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def duis_tools() -> DuisTools:
    """The DCC's DUIS tools from the cache; a test needing them fails in CI (``CI=true`` or
    ``DMCT_REQUIRE_TOOLS=1``) and is skipped with one line elsewhere when they are missing."""
    tools = find_tools()
    missing = tools.missing()
    if missing:
        message = (f"DUIS tools missing in {tools.root} ({', '.join(missing)}): run "
                   "python -m harness.dcc.duis.tools install")
        if os.environ.get("DMCT_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return tools


@pytest.fixture(scope="session")
def reference_lab() -> LabConfig:
    return load_lab_config(default_lab_config_path(), env={})


def start_bench(lab: LabConfig, evidence: Path, *, status: str | None = None,
                bring_up: bool = True) -> Bench:
    bench = Bench.start(lab, status=status, evidence_dir=evidence)
    try:
        if bring_up:
            failed = {role: r for role, r in bench.bring_up().items()
                      if isinstance(r, Exception)}
            assert not failed, failed
            bench.dcc  # noqa: B018  (the DCC opens its tunnels now, as the plugin's does)
    except BaseException:
        bench.stop()
        raise
    return bench


@pytest.fixture
def dcc_bench(reference_lab: LabConfig, tmp_path: Path) -> Iterator[Bench]:
    """The reference bench, brought up, its DCC started."""
    bench = start_bench(reference_lab, tmp_path / "evidence")
    try:
        yield bench
    finally:
        bench.stop()


class BenchMaker:
    """Starts benches of variant DMCs; stops them all at the end of the test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.benches: list[Bench] = []

    def lab(self, *, seed: int | None = None, srvs: dict[str, list[str]] | None = None,
            drop_srvs: dict[str, list[str]] | None = None,
            **emulation: dict[str, Any]) -> LabConfig:
        """A lab testing the reference DMC with the roles of ``emulation`` (role -> settings),
        ``srvs`` (role -> SRVs added) and ``drop_srvs`` (role -> SRVs removed) replaced by
        variants of their reference profile."""
        n = next(_ids)
        files = LabFiles(self.root / f"lab-{n}")
        srvs, drop_srvs = srvs or {}, drop_srvs or {}
        profiles = {}
        for role in sorted(set(emulation) | set(srvs) | set(drop_srvs)):
            profiles[role] = files.profile_variant(
                REFERENCE_MODELS[role], f"test-{role.lower()}-{n}",
                emulation=emulation.get(role), srvs=srvs.get(role),
                drop_srvs=drop_srvs.get(role))
        dmc = files.dmc(f"TEST-DMC-{n}", profiles=profiles)
        edit = {"\nseed: 0\n": f"\nseed: {seed}\n"} if seed is not None else None
        return load_lab_config(files.lab(dmc=dmc, edit=edit), env={})

    def __call__(self, *, status: str | None = None, seed: int | None = None,
                 srvs: dict[str, list[str]] | None = None,
                 drop_srvs: dict[str, list[str]] | None = None, bring_up: bool = True,
                 **emulation: dict[str, Any]) -> Bench:
        """A started bench (brought up unless ``bring_up=False``); keywords as :meth:`lab`,
        roles in any case (``esme={...}``)."""
        roles = {role.upper(): settings for role, settings in emulation.items()}
        lab = self.lab(seed=seed, srvs={r.upper(): s for r, s in (srvs or {}).items()},
                       drop_srvs={r.upper(): s for r, s in (drop_srvs or {}).items()},
                       **roles)
        bench = start_bench(lab, self.root / f"evidence-{next(_ids)}", status=status,
                            bring_up=bring_up)
        self.benches.append(bench)
        return bench

    def close(self) -> None:
        for bench in self.benches:
            bench.stop()


@pytest.fixture
def make_bench(tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    maker = BenchMaker(tmp_path)
    try:
        yield maker
    finally:
        maker.close()


# -- reading a device back through the DCC ---------------------------------------------------
def ok(response: ServiceResponse) -> ServiceResponse:
    assert response.code == "I0", str(response)
    return response


def supplier(bench: Bench, role: str) -> dict[str, str]:
    """Who reads a meter: its responsible supplier, or the default User of its supplier role
    when the DCC cannot identify one."""
    user = bench.dcc.inventory.get(bench.dcc.eui_of(role)).responsible_supplier
    return {"user": user} if user else {"role": "IS" if role == "ESME" else "GS"}


def supply(bench: Bench, role: str = "ESME") -> str:
    """Supply status by SR 7.4."""
    return str(ok(bench.dcc.send("7.4", role, **supplier(bench, role))).body["SupplyStatus"])


def device_log(bench: Bench, role: str, log: str = "Security") -> list[dict[str, Any]]:
    """A meter's event or security log by SR 6.13."""
    response = bench.dcc.send("6.13", role, **supplier(bench, role), LogType=log)
    return list(ok(response).body["entries"])


def log_events(bench: Bench, role: str, log: str = "Security") -> list[str]:
    return [entry["event"] for entry in device_log(bench, role, log)]


def han_log(bench: Bench) -> dict[str, bool]:
    """The CHF device log by SR 8.9: EUI-64 -> joined."""
    body = ok(bench.dcc.send("8.9", "CHF", role="IS")).body
    return {entry["DeviceID"]: entry["Joined"] for entry in body["DeviceLog"]}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The DUIS template conformance counts, at the end of the run (also under xdist)."""
    lines = {str(value) for reports in terminalreporter.stats.values() for report in reports
             for name, value in getattr(report, "user_properties", ())
             if name == "summary" and str(value).startswith("duis templates:")}
    for line in sorted(lines):
        terminalreporter.write_line(line)


def bench_euis(bench: Any) -> dict[str, str]:
    """Role (the CHF included) -> EUI-64 of a running bench's devices."""
    return {"CHF": bench.chf.eui, **{role: d.eui for role, d in bench.devices.items()}}


def raise_device_alert(bench: Bench, role: str, code: str) -> bytes:
    """Make an emulated device raise an alert (a stimulus through the emulator); the bytes sent
    on the air, as a sniffer on the HAN captures them."""
    emulated = bench._emulator.devices[bench.device(role).eui]
    mark = bench.events.mark()
    bench.runtime.call(lambda: emulated.firmware.raise_alert(code, {}))
    bench.sleep(1)
    sent = [e for e in bench.events.since(mark) if e.name == "transfer_data_to_client"]
    return bytes(sent[-1].value["data"])
