"""The exercise model: how one SRV is exercised (:class:`Exercise`: valid parameters, an
observation of device state, the change the SRV must make, how to put the state back), and
:func:`restoring`, which puts it back whatever the case's outcome."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from testpacks.srv.context import success_code

if TYPE_CHECKING:
    from harness.dcc.requests import ServiceResponse
    from testpacks.srv.context import SrvContext


class Exercise:
    """How one SRV is exercised. Subclasses override what differs from "no observation"."""

    srv: str = ""
    #: A read SR: no state change; its body is checked against the device (``check_read``).
    read_only: bool = False
    #: Makes a change no DCC User can undo (decommissioning): marked ``destructive``.
    destructive: bool = False
    #: What :meth:`observe` shows, for messages.
    what: str = "device state"
    #: How the case judges, when it is less than the table says (a line in the case's
    #: evidence and the report's ``note``); ``None``: code, change and body as described.
    note: str | None = None

    def observe(self, ctx: SrvContext) -> Any:
        """A snapshot of the state the SRV acts on (``None``: nothing observable)."""
        return None

    def prepare(self, ctx: SrvContext, original: Any) -> bool:
        """Bring the device where the SRV's change shows; True if anything was done."""
        return False

    def params(self, ctx: SrvContext, before: Any) -> dict[str, Any]:
        return {}

    def expected_codes(self, ctx: SrvContext, before: Any) -> tuple[str, ...]:
        return (success_code(ctx.catalogue[self.srv]),)

    def expected(self, ctx: SrvContext, params: dict[str, Any], before: Any) -> Any:
        """What :meth:`observe` must show once the SRV executed (``None``: not checked)."""
        return None

    def check_change(self, ctx: SrvContext, params: dict[str, Any], before: Any,
                     response: ServiceResponse) -> str | None:
        """Why the state after the SRV is not what it should make it, or ``None``."""
        wanted = self.expected(ctx, params, before)
        if wanted is None:
            return None
        after = self.observe(ctx)
        if after != wanted:
            return f"{self.what} went from {before!r} to {after!r}, expected {wanted!r}"
        return None

    def check_unchanged(self, ctx: SrvContext, params: dict[str, Any], before: Any
                        ) -> str | None:
        """Why the state shows a change after a refused SRV, or ``None``."""
        if self.read_only or before is None:
            return None
        after = self.observe(ctx)
        if after != before:
            return f"{self.what} changed from {before!r} to {after!r}"
        return None

    def check_read(self, ctx: SrvContext, before: Any, response: ServiceResponse) -> str | None:
        """For a read SR: why its body disagrees with the device, or ``None``."""
        return None

    def restore(self, ctx: SrvContext, original: Any) -> None:
        """Put back what the case changed (``original``: :meth:`observe` before anything)."""


@contextlib.contextmanager
def restoring(exercise: Exercise, ctx: SrvContext, original: Any) -> Iterator[None]:
    """Run the body, then :meth:`Exercise.restore`; a restore failure never hides the body's."""
    try:
        yield
    except BaseException as exc:
        try:
            exercise.restore(ctx, original)
        except Exception as problem:  # the body's failure is the one to report
            exc.add_note(f"restoring the state afterwards failed too: {problem}")
        raise
    exercise.restore(ctx, original)


def other_value(value: int, step: int, maximum: int) -> int:
    """A valid value different from ``value``."""
    return value + step if value + step <= maximum else value - step


#: The note of a case judged by its Service Response's code alone.
RESPONSE_CODE_ONLY = "response code only"


class Unmodelled(Exercise):
    """An SRV of the DUIS catalogue whose body the harness does not model yet (6.12, 6.14.x,
    6.22, 7.7, 7.8, 7.12, 7.13): sent without parameters, judged by its response code only,
    which the case's note says (a pass is not an observed change of the device)."""

    def __init__(self, srv: str) -> None:
        self.srv = srv
        self.note = (f"{RESPONSE_CODE_ONLY}: the harness does not model SR {srv}'s body or "
                     "its effect on the device; judged by the Service Response's code alone")
