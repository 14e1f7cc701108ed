"""Service Request throughput on the emulated bench, end to end, beside a raw ZCL read.

Run: ``python benchmarks/bench_dcc.py [--requests 1000]``. On one core (the process is pinned to
one), the reference bench brought up and its DCC started, it measures per second:

- the baseline: a raw ZCL read of the ESME's register through the harness HAN API;
- SR 4.1.1 (Read Instantaneous Registers, non-critical): request built, S1SP checks (catalogue,
  role, device type, counter), the adapter's ZCL read, Service Response;
- SR 7.2 / 7.3 (disable / enable supply, alternating, critical): the same plus an ECDSA P-256
  signature by the supplier's key and its verification by the S1SP, and a signed envelope over
  the Tunneling cluster that the emulated ESME verifies (signature and counter) and answers.

Each figure is printed beside the raw read's rate as a ratio. Target (issue 3): at least 300
signed SRs per second on one core.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from harness.bench import Bench
from harness.config import default_lab_config_path, load_lab_config

SIGNED_TARGET_PER_S = 300


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def rate(count: int, action: Any) -> float:
    """Calls of ``action(i)`` per second of wall time, after a short warm-up."""
    for i in range(min(20, count)):
        action(i)
    start = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - start)


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

        def read_registers(_: int) -> None:
            response = dcc.send("4.1.1", "ESME", role="IS")
            assert response.code == "I0", response

        def supply(i: int) -> None:
            response = dcc.send("7.2" if i % 2 == 0 else "7.3", "ESME", role="IS")
            assert response.code == "I0", response

        raw = rate(args.requests, raw_read)
        read_rate = rate(args.requests, read_registers)
        signed_rate = rate(args.requests - args.requests % 2, supply)
    print(f"raw ZCL read (harness HAN API): {raw:.0f}/s (baseline)")
    print(f"SR 4.1.1 (non-critical) end to end: {read_rate:.0f}/s; ratio to raw read "
          f"{read_rate / raw:.2f}")
    verdict = "met" if signed_rate >= SIGNED_TARGET_PER_S else "NOT met"
    print(f"SR 7.2/7.3 (critical: signed, verified, device envelope) end to end: "
          f"{signed_rate:.0f}/s; ratio to raw read {signed_rate / raw:.2f}; target >= "
          f"{SIGNED_TARGET_PER_S}/s on one core: {verdict}")


if __name__ == "__main__":
    main()
