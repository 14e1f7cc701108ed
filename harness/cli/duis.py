"""``dmct duis send`` and ``dmct duis serve``: signed DUIS XML requests to a bench's DCC.

Both start the lab's bench (the emulated one by default), bring its devices up and hand each
request document to the DCC's DUIS interface (``harness.dcc.duis``): a bad document, a bad
signature, an unknown User or a wrong Command Variant gets the DUIS refusal, never a traceback.
``serve`` listens on localhost with the paths DCC Boxed gives its DUIS web services
(``/api/v1/serviceS`` Send Command, ``/api/v1/serviceT`` Transform, ``/api/v1/serviceD``
Non-Device; POST ``application/xml``), so a User's own DUIS client can drive a SMETS1 bench.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.common import EXIT_FAILED, EXIT_OK, UsageError, load_lab
from harness.text import clip

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.dcc.alerts import Alert
    from harness.dcc.requests import ServiceResponse

#: DCC Boxed's DUIS web services and the Command Variants each takes.
SERVICES = {"/api/v1/serviceS": (1, 3, 5, 7), "/api/v1/serviceT": (4,),
            "/api/v1/serviceD": (2, 6, 8)}


def _start(lab_path: str | None) -> Bench:
    from harness.bench import Bench
    from harness.dcc.duis.documents import schema_path

    if schema_path() is None:
        raise UsageError("the DUIS XSD is not installed: run 'python -m harness.dcc.duis.tools "
                         "install' (or set DMCT_DUIS_XSD to the DUIS XSD file)")
    lab = load_lab(lab_path)
    lab = lab.select(None, None)
    bench = Bench.start(lab)
    try:
        failed = {role: r for role, r in bench.bring_up().items() if isinstance(r, Exception)}
        if failed:
            raise UsageError("the bench did not come up: " + "; ".join(
                f"{role}: {exc}" for role, exc in failed.items()))
        bench.dcc  # noqa: B018  (the DCC opens its tunnels now)
    except BaseException:
        bench.stop()
        raise
    return bench


def dcc_certificate_pem(bench: Bench) -> bytes:
    from cryptography.hazmat.primitives import serialization

    certificate = bench.dcc.keystore.dcc.certificate
    assert certificate is not None
    return certificate.public_bytes(serialization.Encoding.PEM)


def outcome(response: ServiceResponse) -> str:
    """A response as one line of the terminal."""
    if response.http_status == 400:
        return f"HTTP 400 ({response.detail})"
    if response.code is None:
        return "no response code (DUIS cannot express it)"
    return response.code + (f" ({response.detail})" if response.detail else "")


def cmd_duis_send(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.requests]
    for path in files:
        if not path.is_file():
            raise UsageError(f"{path}: request file not found")
    out = Path(args.out) if args.out else Path(".")
    out.mkdir(parents=True, exist_ok=True)
    bench = _start(args.lab)
    ok = True
    with bench:
        # The certificate the responses' signatures verify with (the DCC's).
        (out / "dcc-certificate.pem").write_bytes(dcc_certificate_pem(bench))
        for path in files:
            mark = bench.dcc.alerts.mark()
            response = bench.dcc.submit_document(path.read_bytes())
            if response.document:
                (out / f"{path.stem}.response.xml").write_bytes(response.document)
            # The alerts it raised, each the signed DUIS alert document the DCC sends.
            for number, alert in enumerate(bench.dcc.alerts.since(mark), 1):
                if alert.document:
                    (out / f"{path.stem}.alert-{number}.xml").write_bytes(alert.document)
            ok = ok and response.ok
            print(f"{path}  {response.srv or '?'}  {outcome(response)}")
    return EXIT_OK if ok else EXIT_FAILED


class _Handler(BaseHTTPRequestHandler):
    server: _DuisServer

    def do_POST(self) -> None:
        variants = SERVICES.get(self.path)
        if variants is None:
            self._reply(404, b"no DUIS web service here", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)  # outside the lock: a slow sender holds up no one
        with self.server.lock:
            response = self.server.bench.dcc.submit_document(
                data, command_variants=variants)
        _say(f"{self.path}  {response.srv or '?'}  {outcome(response)}")
        if response.document:
            self._reply(200, response.document, "application/xml")
        else:
            self._reply(400, response.detail.encode(), "text/plain")

    def _reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is printed by do_POST


class _DuisServer(ThreadingHTTPServer):
    """A thread per connection, so one client's socket (a slow upload, an unread answer, a
    connection left open) never holds up another's request; the lock serialises only the
    submission itself. That must be serial: the DCC checks and records each User's RequestID
    counter (replays) and keeps one evidence stream, and the bench is one event loop whose
    devices answer one SR's exchange at a time, as the S1SP model expects. The XML and
    signature checks under the lock are CPU under the GIL, so no thread would run them
    sooner."""

    daemon_threads = True

    def __init__(self, port: int, bench: Bench) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.bench = bench
        self.lock = threading.Lock()


_PRINTING = threading.Lock()


def _say(line: str) -> None:
    """One whole line on stdout (a request's thread and the alerts' thread both print)."""
    with _PRINTING:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class AlertPusher:
    """Posts each signed DUIS alert the bench's DCC raises to a User's endpoint, as DCC Boxed
    posts alerts (and asynchronous responses) to the endpoint a User gives it: ``POST``
    ``application/xml``, any 2xx taken as received. A thread of its own, so a slow or absent
    endpoint holds up no request; one printed line per alert, delivered or not (after
    :data:`ALERT_ATTEMPTS` tries), and serving goes on either way."""

    def __init__(self, bench: Bench, url: str) -> None:
        self.url = url
        #: The URL as printed: credentials in it (``user:password@``) are not.
        self.shown = shown_url(url)
        self._queue: queue.SimpleQueue[Alert | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._deliver_all, name="dmct-alerts",
                                        daemon=True)
        self._thread.start()
        # Called on the bench loop as each alert is raised: only queued there.
        self._unsubscribe = bench.dcc.alerts.subscribe(self._queue.put)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking alerts; deliver those queued (for at most ``timeout`` seconds)."""
        self._unsubscribe()
        self._queue.put(None)
        self._thread.join(timeout)

    def _deliver_all(self) -> None:
        while (alert := self._queue.get()) is not None:
            if alert.document:
                _say(f"alert {alert.seq}  {alert.code}  {self._deliver(alert.document)}")

    def _deliver(self, document: bytes) -> str:
        request = urllib.request.Request(self.url, data=document, method="POST",
                                         headers={"Content-Type": "application/xml"})
        problem = ""
        for attempt in range(ALERT_ATTEMPTS):
            if attempt:
                time.sleep(ALERT_RETRY_S * attempt)
            try:
                with urllib.request.urlopen(request, timeout=ALERT_TIMEOUT_S) as answer:
                    return f"delivered to {self.shown} (HTTP {answer.status})"
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                problem = clip(str(getattr(exc, "reason", None) or exc), 120)
        return f"NOT delivered to {self.shown} ({problem}, {ALERT_ATTEMPTS} tries)"


#: Tries per alert, the wait before the second (doubling after), and each try's timeout.
ALERT_ATTEMPTS = 3
ALERT_RETRY_S = 0.5
ALERT_TIMEOUT_S = 10.0


def shown_url(url: str) -> str:
    """``url`` without the credentials it may carry (``user:password@host``)."""
    parsed = urllib.parse.urlsplit(url)
    if "@" not in parsed.netloc:
        return url
    return urllib.parse.urlunsplit(parsed._replace(netloc="***@" + parsed.netloc.rsplit("@")[-1]))


def _alerts_url(url: str | None) -> str | None:
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--alerts-to {shown_url(url)!r}: give the User's endpoint as an "
                         "http:// or https:// URL")
    return url


def cmd_duis_serve(args: argparse.Namespace) -> int:
    url = _alerts_url(args.alerts_to)
    bench = _start(args.lab)
    with bench:
        server = _DuisServer(args.port, bench)
        pusher = AlertPusher(bench, url) if url is not None else None
        host, port = server.server_address[:2]
        print(f"DUIS web services on http://{host!s}:{port}"
              f"{', '.join(SERVICES)} (Ctrl-C stops)"
              + (f"; alerts to {shown_url(url)}" if url else ""), flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        finally:
            server.server_close()
            if pusher is not None:
                pusher.close()
    return EXIT_OK


def add_parser(sub: Any, formatter: Any) -> None:
    """``dmct duis send`` and ``dmct duis serve``."""
    duis = sub.add_parser("duis", help="signed DUIS XML requests to the bench (send, serve)",
                          description="Signed DUIS XML requests to the bench's DCC.")
    duis_sub = duis.add_subparsers(dest="duis_command", required=True, metavar="COMMAND",
                                   parser_class=sub._parser_class)
    send = duis_sub.add_parser(
        "send", help="submit DUIS request documents, write the signed responses",
        description="Submit each signed DUIS request document to the bench's DCC in one "
        "session; write each signed response as DIR/<request file stem>.response.xml (the "
        "signed DUIS alert documents it raised beside it as <stem>.alert-N.xml, and the "
        "DCC's certificate they verify with as DIR/dcc-certificate.pem) and print one line "
        "per request: "
        "file, SRV, response code.",
        epilog="Exit status: 0 every request answered I0 or I99; 1 otherwise; 2 usage or "
        "configuration error.", formatter_class=formatter)
    send.add_argument("requests", nargs="+", metavar="REQUEST.xml")
    send.add_argument("--lab", metavar="FILE",
                      help="lab config (default: $DMCT_LAB, else the emulated bench)")
    send.add_argument("--out", metavar="DIR", help="where responses go (default: .)")
    send.set_defaults(func=cmd_duis_send)
    serve = duis_sub.add_parser(
        "serve", help="serve the DCC's DUIS web services on localhost",
        description="Serve DUIS over HTTP on localhost as DCC Boxed does: POST a signed "
        "request (application/xml) to /api/v1/serviceS, /api/v1/serviceT or /api/v1/serviceD; "
        "the answer is the signed DUIS response.", formatter_class=formatter)
    serve.add_argument("--lab", metavar="FILE",
                       help="lab config (default: $DMCT_LAB, else the emulated bench)")
    serve.add_argument("--port", type=int, default=8079, metavar="N",
                       help="TCP port (default: 8079)")
    serve.add_argument("--alerts-to", metavar="URL",
                       help="POST each signed DUIS alert the DCC raises to this User endpoint "
                       "(application/xml), as DCC Boxed does; one line per alert")
    serve.set_defaults(func=cmd_duis_serve)
