"""The smoke pack through zigpy-znp on a lab whose radio is the ZNP fake (real clock).

The pack's wrong-install-code case watches 90 s of wall time for a join that must not happen;
it is left out here and proved on the virtual clock instead
(``test_znp_chf.py::test_a_device_with_a_wrong_install_code_does_not_join``, and the whole pack
on a ``fake://`` lab in ``test_fake_port_packs.py``). The
join-outside-the-window case power-cycles the PPMID; this bench has no relay, so on a real bench
a person is asked to, and with nobody at the bench (CI) the case is blocked as a bench fault:
that is checked here instead of a pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runkit import WHOLE_RUNS

from harness.cli import main
from tests.radiofakes.conftest import ZnpLab, needs_znp

pytestmark = needs_znp


@WHOLE_RUNS  # a whole dmct run on wall time: on two busy cores, more than 120 s
def test_the_smoke_pack_passes_on_the_znp_fake(znp_lab: ZnpLab, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMCT_OPERATOR", "none")  # nobody at this bench, whatever the terminal
    out = tmp_path / "results"
    code = main(["run", "--lab", str(znp_lab.path), "--pack", "smoke", "--status", "dormant",
                 "--out", str(out), "--", "-k", "not wrong_install_code"])
    printed = capsys.readouterr().out
    report = json.loads((out / "REF-DMC-001" / "dormant" / "dmct-report.json").read_text())
    cases = {c["id"].split("::")[-1]: c for c in report["cases"]}
    outside = cases.pop("test_join_outside_the_window_is_refused")
    assert outside["outcome"] == "blocked", outside
    assert "bench fault" in outside["reason"] and "needs a person" in outside["reason"]
    assert {c["outcome"] for c in cases.values()} <= {"passed", "not_applicable"}, printed
    assert code == 1  # the blocked case: a report with a blocked case does not meet the criteria
    outcomes = {k: c["outcome"] for k, c in cases.items()}
    joins = {k: v for k, v in outcomes.items() if k.startswith("test_device_joins")}
    assert sorted(joins) == [f"test_device_joins_with_its_install_code_inside_the_window[{r}]"
                             for r in ("ESME", "GSME", "IHD", "PPMID")]
    assert set(joins.values()) == {"passed"}
    timeline = znp_lab.served.call(lambda fake: list(fake.tc.timeline))
    joined = [e for e in timeline if e.what == "joined"]
    assert joined and all("install_code_only=on" in e.detail for e in joined)
