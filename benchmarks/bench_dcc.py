"""Service Request throughput on the emulated bench, end to end, beside a raw ZCL read.

Run: ``python benchmarks/bench_dcc.py [--requests 1000]``. On one core (the process is pinned to
one), the reference bench brought up and its DCC started, it measures per second:

- the baseline: a raw ZCL read of the ESME's register through the harness HAN API;
- in process: the Service Request handed straight to the S1SP model (countersigned by the DCC,
  no DUIS document): SR 4.1.1 (Read Instantaneous Registers: S1SP checks, the adapter's ZCL
  read) and SR 7.2 / 7.3 alternating (Disable / Arm Supply, Critical: a signed envelope over the
  Tunneling cluster that the emulated ESME verifies and answers);
- as signed DUIS XML end to end, the same SRs as a User sends them: the request document built
  and signed (ECDSA P-256, exclusive c14n), parsed, validated against the DUIS XSD (when the DUIS
  tools are installed), its signature verified, countersigned, executed, and the response
  document built and signed by the DCC.

Each figure is printed beside the raw read's rate, and each DUIS rate beside its in-process
rate. Targets: at least 300 signed SRs per second on one core (issue 3); DUIS XML at least 0.5
of the in-process rate (issue 10).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from harness.bench import Bench
from harness.config import default_lab_config_path, load_lab_config

SIGNED_TARGET_PER_S = 300
DUIS_TARGET_RATIO = 0.5


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


class Rate(float):
    """Calls per second of wall time; ``cpu``: per second of the process's CPU time (both
    threads: the test thread and the bench's event loop), steadier on a shared machine."""

    cpu: float


def rate(count: int, action: Any) -> Rate:
    """Calls of ``action(i)`` per second, after a short warm-up."""
    for i in range(min(20, count)):
        action(i)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        action(i)
    result = Rate(count / (time.perf_counter() - start))
    result.cpu = count / max(time.process_time() - cpu, 1e-9)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    pin_to_one_core()
    lab = load_lab_config(default_lab_config_path())
    with Bench.start(lab) as bench:
        failed = {r: e for r, e in bench.bring_up().items() if isinstance(e, Exception)}
        assert not failed, failed
        dcc = bench.dcc
        esme = bench.device("ESME").zigbee

        def raw_read(_: int) -> None:
            esme.read("metering", "current_summ_delivered")

        def read_in_process(_: int) -> None:
            response = dcc.execute(dcc.build("4.1.1", "ESME", role="IS"))
            assert response.code == "I0", response

        def read_duis(_: int) -> None:
            response = dcc.send("4.1.1", "ESME", role="IS")
            assert response.code == "I0" and response.document, response

        def supply_in_process(i: int) -> None:
            srv = "7.2" if i % 2 == 0 else "7.3"
            response = dcc.execute(dcc.build(srv, "ESME", role="IS"))
            assert response.code == "I0", response

        def supply_duis(i: int) -> None:
            response = dcc.send("7.2" if i % 2 == 0 else "7.3", "ESME", role="IS")
            assert response.code == "I0" and response.document, response

        even = args.requests - args.requests % 2
        raw = rate(args.requests, raw_read)
        read_rate = rate(args.requests, read_in_process)
        read_xml = rate(args.requests, read_duis)
        signed_rate = rate(even, supply_in_process)
        signed_xml = rate(even, supply_duis)
        xsd = "with" if dcc.schema is not None else "WITHOUT (DUIS tools not installed)"
    print(f"raw ZCL read (harness HAN API): {raw:.0f}/s (baseline)")
    print(f"SR 4.1.1 (non-critical) in process: {read_rate:.0f}/s; ratio to raw read "
          f"{read_rate / raw:.2f}")
    print(f"SR 4.1.1 as signed DUIS XML end to end ({xsd} XSD): {read_xml:.0f}/s; "
          f"{read_xml / read_rate:.2f} of in process ({read_xml.cpu:.0f} vs "
          f"{read_rate.cpu:.0f} per CPU second: {read_xml.cpu / read_rate.cpu:.2f})")
    verdict = "met" if signed_rate >= SIGNED_TARGET_PER_S else "NOT met"
    print(f"SR 7.2/7.3 (critical: device envelope) in process: {signed_rate:.0f}/s; ratio to "
          f"raw read {signed_rate / raw:.2f}; target >= {SIGNED_TARGET_PER_S}/s on one core: "
          f"{verdict}")
    ratio = signed_xml / signed_rate
    cpu_ratio = signed_xml.cpu / signed_rate.cpu
    verdict = "met" if min(ratio, read_xml / read_rate) >= DUIS_TARGET_RATIO else "NOT met"
    print(f"SR 7.2/7.3 as signed DUIS XML end to end ({xsd} XSD): {signed_xml:.0f}/s; "
          f"{ratio:.2f} of in process ({signed_xml.cpu:.0f} vs {signed_rate.cpu:.0f} per CPU "
          f"second: {cpu_ratio:.2f}); target >= {DUIS_TARGET_RATIO} of in process: {verdict}")


if __name__ == "__main__":
    main()
