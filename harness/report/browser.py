"""A headless Chromium driven over the DevTools Protocol: prints reports to PDF, lets tests look.

Why a browser: the PDF report is the HTML report as a person would print it (same charts, same
styles), and the harness's own tests check the HTML the way a reviewer sees it (renders with no
console errors, charts drawn, filters working). Only Chromium's DevTools Protocol is used, over
one websocket, so no browser-automation framework is needed.

Waits here are on the wall clock: starting a browser and loading a page are real-world I/O, not
bench delays. Every wait is bounded, and the browser (its whole process group) and its temporary
profile are removed whatever happens. Network requests are blocked: a report is self-contained.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import websocket

from harness.report.files import write_atomic

#: Executable names tried on PATH, in order, when ``DMCT_CHROMIUM`` is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell")
CHROMIUM_ENV = "DMCT_CHROMIUM"
#: Wall-clock bounds (seconds). Generous: a CI machine under load starts Chromium slowly.
START_TIMEOUT = 30.0
LOAD_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0
#: A4 in inches (Page.printToPDF's unit) and a 10 mm margin; the footer sits in the bottom one.
A4_INCHES = (8.27, 11.69)
MARGIN_INCHES = 0.4
FOOTER_TEMPLATE = (
    '<div style="font-size:8px;width:100%;text-align:center;color:#555;">'
    'page <span class="pageNumber"></span> of <span class="totalPages"></span></div>'
)
#: Everything a self-contained page must not fetch.
BLOCKED_URLS = ("http://*", "https://*", "ws://*", "wss://*", "ftp://*")


class BrowserError(RuntimeError):
    """The browser failed at something it was asked to do (load, evaluate, print)."""


class BrowserUnavailable(BrowserError):
    """No Chromium to run, or it would not start: what to install or set is in the message."""


class JavaScriptError(BrowserError):
    """A script evaluated in the page threw."""


@dataclass(frozen=True)
class ConsoleMessage:
    """A console error or warning, an uncaught exception or a browser log error of a page."""

    source: str  # "console", "exception" or "log"
    level: str   # "error" or "warning"
    text: str

    def __str__(self) -> str:
        return f"{self.source} {self.level}: {self.text}"


def find_chromium() -> str:
    """The Chromium executable to use: ``DMCT_CHROMIUM``, else the first of CHROMIUM_NAMES."""
    advice = f"install Chromium (apt install chromium) or set {CHROMIUM_ENV} to its executable"
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise BrowserUnavailable(
                f"{CHROMIUM_ENV}={chosen} is not an executable; {advice}")
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(
        f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)} on PATH); {advice}")


class _DevTools:
    """One DevTools Protocol connection: commands wait for their reply, events are kept or
    handed to listeners. Flat sessions (``sessionId``) address pages over the same socket."""

    def __init__(self, url: str, timeout: float) -> None:
        self._socket = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self._next_id = 0
        self._backlog: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def close(self) -> None:
        self._socket.close()

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        """Send a command and return its result; a protocol error raises BrowserError."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        reply = self._receive_until(lambda m: m.get("id") == message["id"], timeout,
                                    f"a reply to {method}")
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def wait_for(self, method: str, *, session: str | None = None,
                 timeout: float) -> dict[str, Any]:
        """The first event ``method`` of ``session`` not yet waited for (maybe already here)."""
        def wanted(m: dict[str, Any]) -> bool:
            return m.get("method") == method and m.get("sessionId") == session
        for event in self._backlog:
            if wanted(event):
                self._backlog.remove(event)
                return event["params"]
        return self._receive_until(wanted, timeout, f"event {method}", keep=False)["params"]

    def _receive_until(self, wanted: Callable[[dict[str, Any]], bool], timeout: float,
                       what: str, *, keep: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no {what} from Chromium within {timeout:g} s")
            self._socket.settimeout(remaining)
            try:
                raw = self._socket.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as error:
                raise BrowserError(f"lost the connection to Chromium waiting for {what}: "
                                   f"{error}") from error
            message = json.loads(raw)
            if "method" in message:
                for listener in self.listeners:
                    listener(message)
            if wanted(message):
                return message
            if "method" in message and keep:
                self._backlog.append(message)


class Chromium:
    """A headless Chromium process with a throwaway profile; a context manager that always
    ends the process group and removes the profile."""

    def __init__(self, executable: str | None = None, *,
                 start_timeout: float = START_TIMEOUT) -> None:
        self.executable = executable or find_chromium()
        self.start_timeout = start_timeout
        self._profile: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.devtools: _DevTools | None = None

    def __enter__(self) -> Chromium:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="dmct-chromium-"))
        log = self._profile / "chromium.log"
        arguments = [
            self.executable, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-background-networking", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-component-update",
            "--disable-sync", "--mute-audio", "--hide-scrollbars", "--window-size=1280,900",
            "--remote-debugging-port=0", f"--user-data-dir={self._profile}", "about:blank",
        ]
        with log.open("wb") as stderr:
            # A new session makes the browser's helpers one process group to end together.
            self._process = subprocess.Popen(
                arguments, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                start_new_session=True)
        url = self._devtools_url(log)
        self.devtools = _DevTools(url, self.start_timeout)

    def _devtools_url(self, log: Path) -> str:
        """Chromium writes its port and browser path to DevToolsActivePort once it listens."""
        assert self._process is not None and self._profile is not None
        active_port = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if active_port.exists():
                lines = active_port.read_text(encoding="utf-8").split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            if self._process.poll() is not None:
                raise BrowserUnavailable(
                    f"{self.executable} exited with code {self._process.returncode} before it "
                    f"listened: {_tail(log)}")
            time.sleep(0.05)
        raise BrowserUnavailable(
            f"{self.executable} did not start within {self.start_timeout:g} s: {_tail(log)}")

    def close(self) -> None:
        """End the browser's process group and remove its profile; safe to call twice."""
        if self.devtools is not None:
            with suppress(websocket.WebSocketException, OSError):
                self.devtools.close()
            self.devtools = None
        if self._process is not None:
            _end_process_group(self._process)
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    @contextmanager
    def page(self, html_path: Path, *, load_timeout: float = LOAD_TIMEOUT) -> Iterator[BrowserPage]:
        """A new tab showing ``html_path``, loaded, closed on exit."""
        if self.devtools is None:
            raise BrowserError("the browser is not running")
        page = BrowserPage._open(self.devtools, Path(html_path), load_timeout)
        try:
            yield page
        finally:
            page._close()


class BrowserPage:
    """One loaded page: its console messages, scripts evaluated in it, screenshots, PDF.

    ``BrowserPage(path)`` used as a context manager starts its own browser; several pages of one
    browser come from ``Chromium().page(path)``.
    """

    def __init__(self, html_path: Path, *, executable: str | None = None,
                 load_timeout: float = LOAD_TIMEOUT) -> None:
        self.path = Path(html_path)
        self._executable = executable
        self._load_timeout = load_timeout
        self._browser: Chromium | None = None
        self._devtools: _DevTools | None = None
        self._target = ""
        self._session = ""
        self.console: list[ConsoleMessage] = []
        #: URLs the page tried to fetch from the network (all blocked).
        self.network_requests: list[str] = []

    def __enter__(self) -> BrowserPage:
        self._browser = Chromium(self._executable).__enter__()
        try:
            assert self._browser.devtools is not None
            self._attach(self._browser.devtools, self._load_timeout)
        except BaseException:
            self._browser.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._close()
        finally:
            if self._browser is not None:
                self._browser.close()

    @classmethod
    def _open(cls, devtools: _DevTools, html_path: Path, load_timeout: float) -> BrowserPage:
        page = cls(html_path, load_timeout=load_timeout)
        try:
            page._attach(devtools, load_timeout)
        except BaseException:
            page._close()  # a page that never loaded still has a tab to close
            raise
        return page

    def _attach(self, devtools: _DevTools, load_timeout: float) -> None:
        if not self.path.is_file():
            raise BrowserError(f"{self.path}: no such file")
        self._devtools = devtools
        self._target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = devtools.send("Target.attachToTarget",
                                      {"targetId": self._target, "flatten": True})["sessionId"]
        devtools.listeners.append(self._on_event)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable")
        self._send("Network.setBlockedURLs", {"urls": list(BLOCKED_URLS)})
        navigation = self._send("Page.navigate", {"url": self.path.resolve().as_uri()})
        if navigation.get("errorText"):
            raise BrowserError(f"{self.path}: {navigation['errorText']}")
        devtools.wait_for("Page.loadEventFired", session=self._session, timeout=load_timeout)

    def _close(self) -> None:
        if self._devtools is None:
            return
        devtools, self._devtools = self._devtools, None
        if self._on_event in devtools.listeners:
            devtools.listeners.remove(self._on_event)
        if self._target:
            with suppress(BrowserError):  # the browser is ended by its owner anyway
                devtools.send("Target.closeTarget", {"targetId": self._target}, timeout=5)

    def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._devtools is None:
            raise BrowserError("the page is closed")
        return self._devtools.send(method, params, session=self._session)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("sessionId") != self._session:
            return
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            text = " ".join(str(arg.get("value", arg.get("description", "")))
                            for arg in params.get("args", []))
            self.console.append(ConsoleMessage("console", params["type"], text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.console.append(ConsoleMessage("exception", "error", text))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console.append(ConsoleMessage("log", "error",
                                               f"{entry.get('text', '')} {entry.get('url', '')}"))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if url.split(":", 1)[0] not in ("file", "data", "about", "blob"):
                self.network_requests.append(url)

    @property
    def errors(self) -> list[ConsoleMessage]:
        """Console errors and uncaught exceptions so far (warnings left out)."""
        return [message for message in self.console if message.level == "error"]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (promises awaited)."""
        result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise JavaScriptError(f"{expression[:80]!r} threw: {text}")
        return result.get("result", {}).get("value")

    def click(self, selector: str) -> None:
        """Click the first element matching ``selector``."""
        self.evaluate(f"{_element(selector)}.click()")

    def set_value(self, selector: str, value: str) -> None:
        """Set a form field's value as typing or choosing would: ``input`` then ``change``."""
        self.evaluate(
            f"(() => {{ const e = {_element(selector)}; e.value = {json.dumps(value)};"
            " e.dispatchEvent(new Event('input', {bubbles: true}));"
            " e.dispatchEvent(new Event('change', {bubbles: true})); })()")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, not just the window."""
        metrics = self._send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        image = self._send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1},
        })["data"]
        return _write_atomically(Path(path), base64.b64decode(image))

    def pdf(self, path: Path) -> Path:
        """The page printed as a person would: A4, backgrounds, page numbers in the footer."""
        width, height = A4_INCHES
        data = self._send("Page.printToPDF", {
            "paperWidth": width, "paperHeight": height, "printBackground": True,
            "marginTop": MARGIN_INCHES, "marginBottom": MARGIN_INCHES,
            "marginLeft": MARGIN_INCHES, "marginRight": MARGIN_INCHES,
            "displayHeaderFooter": True, "headerTemplate": "<div></div>",
            "footerTemplate": FOOTER_TEMPLATE,
        })["data"]
        from harness.report.pdf_links import relative_links

        printed = base64.b64decode(data)
        printed = relative_links(printed, self.path.resolve().parent)  # as in the HTML
        return _write_atomically(Path(path), printed)


def print_pdf(html_path: Path, pdf_path: Path) -> None:
    """Print ``html_path`` to ``pdf_path`` (A4); an existing PDF is replaced only on success."""
    with BrowserPage(html_path) as page:
        page.pdf(pdf_path)


def _element(selector: str) -> str:
    """JS for the element matching ``selector``, throwing a clear error when there is none."""
    quoted = json.dumps(selector)
    return (f"(document.querySelector({quoted}) ?? "
            f"(() => {{ throw new Error('no element ' + {quoted}); }})())")


def _write_atomically(path: Path, data: bytes) -> Path:
    """Write via a temporary file so a failure never leaves half a file in place of a good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, data)


def _end_process_group(process: subprocess.Popen[bytes]) -> None:
    """TERM then, if it lingers, KILL the browser's process group, and reap the browser."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Helpers of the group may outlive the browser by a moment: make sure none is left.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"
