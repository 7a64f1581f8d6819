"""What a crank that must be undone hands back to the crank loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .._protocol import Delivery, Syscall
from .interrupts import StopRequest


@attrs.frozen
class Rollback:
    """Undo the crank, then run `recover(event)` in a fresh crank that takes the
    same event off the queue again (so the event is consumed exactly once)."""

    why: str
    recover: Callable[[dict[str, Any]], None]


class CrankInFlight:
    """A crank begun and not yet ended: its event and, when it delivers, to whom."""

    __slots__ = (
        "awaits",
        "delivery",
        "event",
        "load",
        "number",
        "recording",
        "started",
        "vat_id",
        "worker",
    )

    def __init__(self, event: dict[str, Any], number: int) -> None:
        self.event = event
        self.number = number
        self.started = 0.0
        self.awaits = False  # its event starts a worker: the kernel's task runs it
        self.vat_id: str | None = None
        self.delivery: Delivery | None = None
        self.worker: Any = None  # the `Worker` it was handed to
        self.recording: list[tuple[Syscall, Any]] | None = None
        # (vat, delivery) for a vat the warehouse must load before delivering.
        self.load: tuple[str, Delivery] | None = None


class RunState:
    """One `run()`: when it stops, what it counted, and where the baton is.

    The baton is the right to run kernel code. The kernel's task hands it to a
    vat's task with a delivery; that task finishes the crank after delivering and
    goes on with the next ones, handing the baton on with the next delivery, until
    the run is over or an event needs an await (then it wakes the kernel's task).
    """

    __slots__ = (
        "crank",
        "error",
        "idle",
        "interrupt",
        "max_cranks",
        "next",
        "ran",
        "times",
        "until",
    )

    def __init__(
        self,
        max_cranks: int | None,
        until: Callable[[], bool] | None,
        times: list[float] | None,
        interrupt: StopRequest | None = None,
    ) -> None:
        self.max_cranks = max_cranks
        self.until = until
        self.times = times
        self.interrupt = interrupt if interrupt is not None else StopRequest()  # Ctrl-C
        self.ran = 0
        self.crank: CrankInFlight | None = None  # handed over with its delivery, not yet run
        self.next: CrankInFlight | None = None  # begun, and needs the kernel's task
        self.error: BaseException | None = None  # raised in a vat's task, for the kernel's
        # A timed run: asked when the run-queue is empty; True if it moved time
        # and queued what was due (`timer.TimeDriver.step`).
        self.idle: Callable[[], bool] | None = None

    def passing(self, crank: CrankInFlight) -> None:
        """The kernel's task hands the baton out with `crank`."""
        self.crank, self.next, self.error = crank, None, None

    def over(self) -> bool:
        if self.interrupt.requested:
            return True
        if self.max_cranks is not None and self.ran >= self.max_cranks:
            return True
        return self.until is not None and self.until()
