"""Allure results that tell the same story as the DMCT Testing Report.

allure-pytest writes one ``*-result.json`` per case when pytest runs with ``--alluredir`` (as
``dmct run`` does). This module adds what a DMCT reviewer looks for there, in three places:

- **at collection** (:func:`case_labels`): labels as ``allure_label`` markers, which
  allure-pytest copies onto the case's result and which its ``--allure-epics``/``--allure-stories``
  options can select by: ``epic`` = DMC id, ``feature`` = pack, one ``story`` per SRV,
  ``parentSuite`` = ``<DMC> / <installation status>``, ``suite`` = pack, ``subSuite`` = test file,
  a ``tag`` for the installation status, and ``dmctCase`` = the case id the report uses (how a
  result is matched to its case later). allure-pytest's own ``tag`` per bare marker
  (``security``, ``destructive``) stays;
- **during the case**: a step per Service Request (:func:`service_request_step`, called by the
  DCC client) naming its items in the case's ``dcc.json``, the one attachment that holds the
  case's SRs (an SR outside any case's evidence attaches its exchange as JSON instead, masked
  as ``dcc.json`` is); after the case, its evidence files as attachments, linked, not copied
  (:func:`attach_evidence`);
- **at the end of the session** (:func:`annotate_results`): the Testing Issue of a case is only
  known once the report attributes every failure, so the result files of cases with an issue
  are rewritten then with ``severity`` (from the case's issue) and a link of type ``issue``
  named by the issue id; a case with none is written ``normal`` in the first place
  (:mod:`harness.report.allure_listener`), and its file is left alone. Rewriting is
  idempotent, so a resumed run annotates every result in the directory again from the report
  over all records.

Everything here is a no-op unless the allure-pytest plugin is active: the harness runs without
``--alluredir`` as before.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from harness.report.files import write_atomic

if TYPE_CHECKING:
    import pytest

    from harness.report.model import DmctReport, Issue

#: Allure severity of a case by the severity (1..4) of its Testing Issue.
SEVERITY_BY_ISSUE = {1: "blocker", 2: "critical", 3: "normal", 4: "minor"}
#: Allure severity of a case without a Testing Issue (passed, blocked, not applicable): Allure's
#: own default, so such cases sort neither above nor below an issue of severity 3.
NO_ISSUE_SEVERITY = "normal"
#: Label carrying the report's case id (``<pack>/<file>::<test>[<params>]``) on each result.
CASE_LABEL = "dmctCase"
#: MIME type Wireshark and Allure know a pcap capture by.
PCAP_MIME = "application/vnd.tcpdump.pcap"
#: Evidence kinds of a record (``evidence`` keys) as (attachment name, MIME type, extension).
EVIDENCE_ATTACHMENTS = {
    "frames": ("ZigBee frames (frames.json)", "application/json", "json"),
    "pcap": ("ZigBee capture (frames.pcap)", PCAP_MIME, "pcap"),
    "events": ("HAN events (events.json)", "application/json", "json"),
    "dcc": ("Service Requests, responses, envelopes and alerts (dcc.json)",
            "application/json", "json"),
}
TEXT_MIME = "text/plain"
#: Keys of the SR steps: allure-commons keeps a running step by a key it never writes, so a
#: counter does (no ``uuid4``, a system call, per SR).
_STEP_KEYS = itertools.count()


def report_anchor(issue_id: str) -> str:
    """Where the HTML report lists an issue, seen from the Allure report generated in the run
    directory (``allure generate allure-results -o allure-report``): ``../dmct-report.html``.

    The fragment is the element id ``dmct-report.html`` gives the issue's row.
    """
    from harness.report.allure_env import REPORT_FROM_ALLURE
    from harness.report.render_common import issue_anchor

    return f"{REPORT_FROM_ALLURE}#{issue_anchor(issue_id)}"


def allure_active(config: pytest.Config) -> bool:
    """Whether allure-pytest writes results in this run (``--alluredir`` given)."""
    return bool(getattr(config.option, "allure_report_dir", None))


@functools.cache
def _allure_hooks() -> Any:
    """allure-commons' hooks (one plugin manager per process, made on first use)."""
    from allure_commons import plugin_manager

    return plugin_manager.hook


def allure_listening() -> bool:
    """Whether an Allure listener takes steps and attachments now (cheap to ask: once per
    Service Request)."""
    return bool(_allure_hooks().start_step.get_hookimpls())


# -- labels at collection -----------------------------------------------------------------------

def case_labels(*, dmc: str, status: str, pack: str | None, srvs: list[str], case: str,
                module: str) -> list[tuple[str, str]]:
    """The ``(label, value)`` pairs of one case (see the module docstring)."""
    labels = [("epic", dmc), ("parentSuite", f"{dmc} / {status}"), ("subSuite", module),
              ("tag", status), (CASE_LABEL, case)]
    if pack:
        labels += [("feature", pack), ("suite", pack)]
    labels += [("story", srv) for srv in dict.fromkeys(srvs)]
    return labels


def label_item(item: pytest.Item, labels: list[tuple[str, str]]) -> None:
    """Put ``labels`` on ``item`` as allure-pytest's ``allure_label`` markers, ahead of any the
    test declares itself, so that the unique ones (suites) are ours."""
    import pytest
    from allure_pytest.utils import ALLURE_LABEL_MARK

    mark = getattr(pytest.mark, ALLURE_LABEL_MARK)
    for name, value in reversed(labels):
        item.add_marker(mark(value, label_type=name), append=False)


# -- steps and attachments during a case --------------------------------------------------------

def service_request_step(title: str, *, parameters: Mapping[str, str],
                         attachments: Mapping[str, Any],
                         error: BaseException | None = None) -> None:
    """One Allure step for a Service Request that has been answered (or raised ``error``),
    with each of ``attachments`` as a JSON attachment. Emitted once the outcome is known, so
    that the title can carry the response code."""
    if not allure_listening():
        return
    from allure_commons.types import AttachmentType

    hook = _allure_hooks()
    uuid = f"dmct-sr-{next(_STEP_KEYS)}"  # only the key allure-commons keeps the step by
    hook.start_step(uuid=uuid, title=title, params=dict(parameters))
    for name, data in attachments.items():
        hook.attach_data(body=json.dumps(data, default=str), name=name,
                         attachment_type=AttachmentType.JSON, extension=None)
    hook.stop_step(uuid=uuid, title=title, exc_type=type(error) if error else None,
                   exc_val=error, exc_tb=error.__traceback__ if error else None)


def attach_evidence(out: Path, evidence: Mapping[str, Any]) -> int:
    """Attach a finished case's evidence files (paths in ``evidence`` are relative to ``out``,
    as its record has them) to the case's result; returns how many were attached.

    Each file is **linked** into the results directory (a hard link: the evidence is on disk
    once, whatever Allure shows), copied only where a link cannot be made (another file
    system).
    """
    if not allure_listening():
        return 0
    files: list[tuple[Path, str, str, str]] = []
    for kind, (name, mime, extension) in EVIDENCE_ATTACHMENTS.items():
        path = evidence.get(kind)
        if isinstance(path, str) and (out / path).is_file():
            files.append((out / path, name, mime, extension))
    for path in evidence.get("transcripts", []) or []:
        source = out / path
        if source.is_file():
            files.append((source, f"serial transcript ({source.name})", TEXT_MIME, "txt"))
    writers = _allure_writers() if files else None
    for source, name, mime, extension in files:
        _attach_linked(writers, source, name, mime, extension)
    return len(files)


def _allure_writers() -> tuple[Any, Path] | None:
    """allure-pytest's reporter (which keeps the case's result) and the results directory its
    file logger writes, or ``None`` if either is not there."""
    from allure_commons import plugin_manager
    from allure_commons.logger import AllureFileLogger
    from allure_pytest.listener import AllureListener

    reporter, directory = None, None
    for plugin in plugin_manager.get_plugins():
        if isinstance(plugin, AllureListener):
            reporter = plugin.allure_logger
        elif isinstance(plugin, AllureFileLogger):
            directory = Path(plugin._report_dir)
    if reporter is None or directory is None or not hasattr(reporter, "_attach"):
        return None
    return reporter, directory


def _attach_linked(writers: tuple[Any, Path] | None, source: Path, name: str, mime: str,
                   extension: str) -> None:
    """One attachment of the running case whose file is ``source`` itself, hard-linked
    (``writers``: :func:`_allure_writers`)."""
    if writers is None:  # an allure-pytest without these internals: its own copy
        import allure

        allure.attach.file(str(source), name=name, attachment_type=mime, extension=extension)
        return
    reporter, directory = writers
    file_name = reporter._attach(uuid4(), name=name, attachment_type=mime, extension=extension)
    target = directory / file_name
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


# -- severity and issue links once the report is built -------------------------------------------

def _issue_link(issue: Issue) -> dict[str, str]:
    return {"name": issue.id, "url": issue.url or report_anchor(issue.id), "type": "issue"}


def annotate_results(results: Path, report: DmctReport | Mapping[str, Any]) -> int:
    """Give every result in ``results`` that belongs to a case of ``report`` the severity and
    the issue link of that case's Testing Issue; returns how many results were rewritten.

    Idempotent: the severity label is replaced, and an issue link this function wrote before
    (one whose URL is an issue's own or its report anchor) is dropped before the current one is
    added, so annotating again after a resumed run or a new attribution leaves no stale link.
    """
    if not results.is_dir():
        return 0
    from harness.report.model import as_report

    model = as_report(report)
    issues = {i.id: i for i in model.testing_issues}
    by_case = {c.id: c.testing_issue for c in model.cases}
    changed = 0
    for path in sorted(results.glob("*-result.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # not ours to judge: a result allure-pytest could not finish
        labels = result.get("labels", [])
        case = next((lb.get("value") for lb in labels if lb.get("name") == CASE_LABEL), None)
        if case not in by_case:
            continue
        issue = issues.get(by_case[case] or "")
        severity = (SEVERITY_BY_ISSUE.get(issue.severity, NO_ISSUE_SEVERITY)
                    if issue else NO_ISSUE_SEVERITY)
        severities = [lb.get("value") for lb in labels if lb.get("name") == "severity"]
        links = [lk for lk in result.get("links", []) if not _ours(lk, issues)]
        if issue:
            links.append(_issue_link(issue))
        if severities == [severity] and links == result.get("links", []):
            continue  # a case without an issue: written so (harness.report.allure_listener)
        result["labels"] = [*(lb for lb in labels if lb.get("name") != "severity"),
                            {"name": "severity", "value": severity}]
        result["links"] = links
        write_result(path, result)
        changed += 1
    return changed


def _ours(link: Mapping[str, Any], issues: Mapping[str, Issue]) -> bool:
    """Whether ``link`` is an issue link :func:`annotate_results` wrote."""
    if link.get("type") != "issue":
        return False
    name = str(link.get("name", ""))
    url = link.get("url")
    from harness.report.render_common import issue_anchor

    legacy = "dmct-report.html#" + issue_anchor(name)  # written before the ../ fix
    return url in (report_anchor(name), legacy) or (name in issues
                                                     and url == issues[name].url)


def write_result(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as compact JSON, atomically: Allure never reads half a
    result."""
    write_atomic(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
