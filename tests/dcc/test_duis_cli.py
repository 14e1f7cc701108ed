"""``dmct duis send`` and ``dmct duis serve`` on the emulated bench, judged by the DCC's tool."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.duis import AlertPusher, _DuisServer, dcc_certificate_pem
from harness.config import load_lab_config
from harness.dcc.duis.alerts import read_alert, verify_alert
from harness.dcc.duis.documents import DS, RA, SR, parse_document, response_code_of
from harness.dcc.duis.signing import verify_single
from harness.dcc.duis.templates import bench_devices, retarget
from harness.dcc.duis.tools import DuisTools, boxed_lab
from harness.dcc.keys import Keystore

from .conftest import bench_euis, start_bench

CHF = "00-0D-6F-FF-FE-00-00-01"  # the emulated bench's CHF (its radio's EUI-64)
ESME = "00-1B-C5-0C-00-00-00-01"
BOXED = {"00-DB-12-34-56-78-90-A0": ESME, "00-DB-12-34-56-78-90-A2": CHF}


def _template(tools: DuisTools, name: str, out: Path) -> Path:
    data = retarget((tools.templates / name).read_bytes(), BOXED)
    path = out / name.replace("_SUCCESS_REQUEST_DUIS.XML", ".xml")
    path.write_bytes(tools.sign(data))
    return path


def test_send_answers_the_resigned_ccs01_template_with_a_valid_i0(
        duis_tools: DuisTools, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = boxed_lab(tmp_path / "lab.yaml")
    request = _template(duis_tools, "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML", tmp_path)
    garbage = tmp_path / "garbage.xml"
    garbage.write_text("<not-duis>")
    unsigned = tmp_path / "unsigned.xml"
    unsigned.write_bytes(retarget(
        (duis_tools.templates / "ECS45_7.4_SUCCESS_REQUEST_DUIS.XML").read_bytes(), BOXED))
    out = tmp_path / "out"
    code = main(["duis", "send", "--lab", str(lab), "--out", str(out), str(request),
                 str(garbage), str(unsigned)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1  # not every request answered I0
    assert lines[0] == f"{request}  8.11  I0"
    assert lines[1].startswith(f"{garbage}  ?  HTTP 400 (not well-formed XML")
    assert lines[2].startswith(f"{unsigned}  7.4  E1 (")
    response = (out / "CCS01_8.11.response.xml").read_bytes()
    assert response_code_of(parse_document(response)) == ("I0", None)
    assert "passed signature check" in duis_tools.validate(
        response, out / "dcc-certificate.pem")
    assert not (out / "garbage.response.xml").exists()


def test_send_refuses_a_missing_file_in_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["duis", "send", str(tmp_path / "nothing.xml")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"dmct: error: {tmp_path / 'nothing.xml'}: request file not found")


def _post(port: int, path: str, data: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/xml"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_on_dcc_boxeds_web_service_paths(
        duis_tools: DuisTools, tmp_path: Path) -> None:
    bench = start_bench(load_lab_config(boxed_lab(tmp_path / "lab.yaml"), env={}),
                        tmp_path / "evidence")
    assert bench_devices(bench_euis(bench))["00-DB-12-34-56-78-90-A2"] == CHF
    server = _DuisServer(0, bench)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        request = _template(duis_tools, "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML", tmp_path)
        status, body = _post(port, "/api/v1/serviceS", request.read_bytes())
        assert status == 200 and response_code_of(parse_document(body)) == ("I0", None)
        read = _template(duis_tools, "ECS45_7.4_SUCCESS_REQUEST_DUIS.XML", tmp_path)
        # Command Variant 1 belongs to the Send Command service, not the Non-Device one.
        status, body = _post(port, "/api/v1/serviceD", read.read_bytes())
        assert status == 200 and response_code_of(parse_document(body))[0] == "E12"
        assert _post(port, "/api/v1/serviceS", b"<broken")[0] == 400
        assert _post(port, "/api/v2/other", read.read_bytes())[0] == 404
        # A client that announces a body and stalls holds up no other client's request (here
        # the 7.4 sent before again: answered, as a replay).
        with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
            stalled.sendall(b"POST /api/v1/serviceS HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/xml\r\nContent-Length: 100000\r\n\r\n<")
            status, body = _post(port, "/api/v1/serviceS", read.read_bytes())
            assert status == 200 and response_code_of(parse_document(body))[0] == "E1"
    finally:
        server.shutdown()
        server.server_close()
        bench.stop()


def test_send_writes_the_alerts_a_request_raised_beside_its_response(
        reference_lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A change of supplier (6.23) raises the old supplier's CoS loss alert."""
    bench = start_bench(reference_lab, tmp_path / "evidence")
    try:
        dcc = bench.dcc
        document = dcc.document(dcc.build("6.23", "ESME", role="IS",
                                          NewSupplier="import-supplier-b"))
    finally:
        bench.stop()
    request = tmp_path / "cos.xml"
    request.write_bytes(document)
    out = tmp_path / "out"
    assert main(["duis", "send", "--out", str(out), str(request)]) == 0
    assert capsys.readouterr().out.strip() == f"{request}  6.23  I0"
    # The old supplier's CoS loss alert: a DUIS DCC Alert signed by the DCC.
    assert sorted(p.name for p in out.iterdir() if "alert" in p.name) == ["cos.alert-1.xml"]
    data = (out / "cos.alert-1.xml").read_bytes()
    alert = read_alert(data)
    old = Keystore.test_pki(reference_lab.seed).user("import-supplier")
    assert (alert.code, alert.kind, alert.recipient) == ("COS_LOSS", "dcc", old.eui)
    assert verify_alert(data, Keystore.test_pki(reference_lab.seed)).role == "DCC"


class _UserEndpoint(ThreadingHTTPServer):
    """A User's response endpoint on loopback: keeps each POSTed body, answers 204."""

    def __init__(self) -> None:
        received: list[tuple[str, bytes]] = []
        arrived = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append((self.headers.get("Content-Type", ""),
                                 self.rfile.read(length)))
                arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.received, self.arrived = received, arrived
        self.url = f"http://127.0.0.1:{self.server_address[1]}/dcc/response"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_serve_posts_each_alert_to_the_users_endpoint(
        reference_lab, duis_tools: DuisTools, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A change of supplier sent to ``serve`` raises the old supplier's CoS loss alert: it
    reaches the User's endpoint as the DCC's signed DUIS alert, which the DCC's own tool
    validates (XSD and signature); an endpoint that is not there is one line, and the next
    request is still answered."""
    bench = start_bench(reference_lab, tmp_path / "evidence")
    server = _DuisServer(0, bench)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = _UserEndpoint()
    pusher = AlertPusher(bench, endpoint.url)
    try:
        port = server.server_address[1]
        dcc = bench.dcc
        cos = dcc.document(dcc.build("6.23", "ESME", role="IS",
                                     NewSupplier="import-supplier-b"))
        status, body = _post(port, "/api/v1/serviceS", cos)
        assert status == 200 and response_code_of(parse_document(body))[0] == "I0"
        assert endpoint.arrived.wait(30), "no alert reached the User's endpoint"
        (kind, data), = endpoint.received
        assert kind == "application/xml"
        alert = read_alert(data)
        old = Keystore.test_pki(reference_lab.seed).user("import-supplier")
        assert (alert.code, alert.recipient) == ("COS_LOSS", old.eui)
        assert verify_alert(data, Keystore.test_pki(reference_lab.seed)).role == "DCC"
        certificate = tmp_path / "dcc-certificate.pem"
        certificate.write_bytes(dcc_certificate_pem(bench))
        assert "passed signature check" in duis_tools.validate(data, certificate)
        pusher.close()

        endpoint.shutdown()
        endpoint.server_close()  # the User's endpoint is gone
        # (credentials in the URL are never printed)
        gone = AlertPusher(bench, endpoint.url.replace("http://", "http://user:s3cret@"))
        back = dcc.document(dcc.build("6.23", "ESME", user="import-supplier-b",
                                      NewSupplier="import-supplier"))
        status, body = _post(port, "/api/v1/serviceS", back)
        assert status == 200 and response_code_of(parse_document(body))[0] == "I0"
        gone.close(timeout=30)
        lines = capsys.readouterr().out.splitlines()
        alerts = [line for line in lines if line.startswith("alert ")]
        assert len(alerts) == 2, lines
        assert alerts[0].endswith(f"  COS_LOSS  delivered to {endpoint.url} (HTTP 204)")
        shown = endpoint.url.replace("http://", "http://***@")
        assert f"  COS_LOSS  NOT delivered to {shown} (" in alerts[1]
        assert alerts[1].endswith(", 3 tries)") and "s3cret" not in "".join(lines)
    finally:
        server.shutdown()
        server.server_close()
        bench.stop()


def test_serve_refuses_an_alerts_endpoint_that_is_no_url(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["duis", "serve", "--alerts-to", "localhost:9000"]) == 2
    assert capsys.readouterr().err.strip() == (
        "dmct: error: --alerts-to 'localhost:9000': give the User's endpoint as an http:// "
        "or https:// URL")


def test_a_device_answer_is_a_smets1_response_and_a_dcc_refusal_a_response_message(
        dcc_bench) -> None:
    """I0 from the ESME comes in DUIS's SMETS1ResponseMessage (the MMC Header names the device,
    the User and the request's counter; the one signature, the DCC's, sits in
    SMETS1SignedResponse); the DCC's own refusal (E2) is a plain ResponseMessage."""
    dcc = dcc_bench.dcc
    request = dcc.build("4.1.1", "ESME", role="IS")
    answered = dcc.submit(request)
    refused = dcc.send("7.1", "ESME", role="ED")
    assert (answered.code, refused.code) == ("I0", "E2")
    root = parse_document(answered.document)
    signed = root.find(f"{SR}Body/{SR}SMETS1ResponseMessage/{SR}SMETS1SignedResponse")
    assert signed is not None
    header = signed.find(f"{SR}SMETS1Response/{SR}Header")
    assert [header.findtext(RA + n) for n in ("BusinessOriginatorID", "BusinessTargetID",
                                              "OriginatorCounter")] == [
        request.request_id.target, request.request_id.originator, str(request.request_id.counter)]
    assert signed.find(f"{{{DS}}}Signature") is not None
    assert verify_single(root, dcc.keystore).role == "DCC"
    assert response_code_of(root) == ("I0", None)
    other = parse_document(refused.document)
    assert other.find(f"{SR}Body/{SR}ResponseMessage") is not None
    assert verify_single(other, dcc.keystore).role == "DCC"
