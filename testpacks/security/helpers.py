"""What the security pack's cases share: the case's view of the bench, bench equipment checks,
responses without a code, the PPMID put back on the HAN, and a device's debug console.

Everything here observes the bench as a lab engineer would (Service Responses, ZigBee, serial
ports); nothing reaches into the emulator.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from harness.han.chf import NotJoined
from testpacks.srv.context import SrvContext

if TYPE_CHECKING:
    from harness.bench import Bench, BenchDevice
    from harness.dcc.requests import ServiceResponse
    from harness.serial.console import Console

#: Who refuses a case's attempt, in its record's markers: the device, observed over the HAN or a
#: serial port (the report's device security summary counts these alone), or the DCC side (the
#: harness's S1SP model refuses before any device is contacted: an access-control check of the
#: DCC, reported in a section of its own). Every case of the pack carries exactly one.
REFUSED_BY_DEVICE = pytest.mark.refused_by_device
REFUSED_BY_DCC = pytest.mark.refused_by_dcc
#: Bench seconds a device refused the HAN is watched for a join that must not happen.
REFUSAL_WATCH_S = 90.0
#: Bench seconds a device that may join is given to join and finish its interview.
JOIN_WATCH_S = 60.0
#: How often a request whose response carries no code is sent (a response without a code says
#: nothing; 91339/91340 is a testing issue of its own, found by the srv pack).
SEND_ATTEMPTS = 3
#: Wall seconds a debug console gets to answer one command.
CONSOLE_TIMEOUT_S = 5.0


def context(bench: Bench, dcc: Any, role: str) -> SrvContext:
    """The case's view of the device in ``role`` (skipped as the srv pack's cases are when the
    DMC or the bench has none), every HAN device joined as a case expects to find them."""
    ctx = SrvContext(bench, dcc, role)
    ctx.ready()
    return ctx


def needs_relay(device: BenchDevice, why: str) -> None:
    """Blocked when the bench has no relay channel on the device."""
    if device.power is None:
        pytest.skip(f"blocked: needs a relay channel on the {device.role} to {why} (relay in "
                    "the lab config)")


def needs_console(device: BenchDevice, why: str) -> None:
    """Blocked when the bench has no debug console on the device."""
    if not device.has_console:
        pytest.skip(f"blocked: needs the {device.role}'s debug console to {why} (a console "
                    "serial adapter in the lab config)")


def send_with_code(send: Callable[[], ServiceResponse]) -> ServiceResponse:
    """``send()`` again (at most :data:`SEND_ATTEMPTS` times) while the response carries no
    code. Only for requests that may be repeated (setting what is already set, reads)."""
    response = send()
    for _ in range(SEND_ATTEMPTS - 1):
        if response.code is not None:
            break
        response = send()
    return response


def remove_from_device_log(ctx: SrvContext, device: BenchDevice) -> None:
    """8.11 Remove of ``device``, judged by the state (8.9 and the HAN), not by the code (a
    response without one may have done it): out of the device log and off the HAN."""
    response = None
    for _ in range(SEND_ATTEMPTS):
        response = ctx.send("8.11", role="CHF", DeviceID=device.eui, RequestType="Remove")
        if device.eui not in ctx.device_log() and not device.is_joined:
            return
    assert response is not None
    raise AssertionError(f"could not take the {device.role} out of the device log with SR 8.11 "
                         f"Remove: {ctx.describe(response)}; it is still "
                         f"{'on the HAN' if device.is_joined else 'in the device log'}")


def back_on_the_han(device: BenchDevice) -> None:
    """Put the device back as the case found it: powered and joined (commissioned again with
    its own install code if needed)."""
    if device.power is not None:
        device.power.on()
    if not device.is_joined:
        try:
            device.commission()
        except NotJoined as exc:
            raise NotJoined(f"could not put the {device.role} back on the HAN: {exc}") from None


@contextlib.contextmanager
def putting_back(device: BenchDevice) -> Iterator[None]:
    """Run the body, then :func:`back_on_the_han`; a failure to put it back never hides the
    body's failure."""
    try:
        yield
    except BaseException as exc:
        try:
            back_on_the_han(device)
        except Exception as problem:
            exc.add_note(f"putting the {device.role} back afterwards failed too: {problem}")
        raise
    back_on_the_han(device)


def joins_within(device: BenchDevice, seconds: float) -> bool:
    """Whether the device joins (and finishes its interview) within ``seconds`` of bench time."""
    try:
        device.wait_joined(seconds)
    except NotJoined:
        return False
    return True


# -- debug consoles --------------------------------------------------------------------------

_CTRL_C = b"\x03"


class ConsoleSession:
    """Commands on a device's debug console, with their output.

    The prompt is learnt from the console itself (two empty lines answer the prompt twice), so
    nothing here assumes a device's prompt. A command's output is what the console prints
    between the echo of the command line and the next prompt.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        console.discard()  # output of earlier cases nobody consumed
        console.write(_CTRL_C)  # abandon whatever half-typed line the console holds
        console.send_line("")
        console.send_line("")
        found = console.expect(rb"\r\n([^\r\n]+)\r\n\1", CONSOLE_TIMEOUT_S)
        self.prompt: bytes = found.group(1)

    def run(self, command: str) -> str:
        """Run ``command``; its output (without the echo and the prompt), as text."""
        console = self.console
        console.write(_CTRL_C)
        console.send_line(command)
        console.send_line("")
        prompt = re.escape(self.prompt)
        found = console.expect(
            re.compile(prompt + re.escape(command.encode()) + rb"\r\n(?:(.*?)\r\n)??"
                       + prompt + rb"\r\n" + prompt, re.DOTALL),
            CONSOLE_TIMEOUT_S)
        return (found.group(1) or b"").decode("utf-8", errors="replace")

    def commands(self) -> frozenset[str]:
        """Every word the console's ``help`` prints: what a random input must not type."""
        text = self.run("help")
        return frozenset(word.lower() for word in re.findall(r"[A-Za-z_][A-Za-z0-9_-]{2,}",
                                                             text)) | {"help"}
