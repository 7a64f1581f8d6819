"""Ctrl-C at the command line: the first stops at a crank boundary, the second at once.

While a kernel runs, it holds SIGINT itself (`vatrt._kernel.interrupts`): the
first Ctrl-C asks the run to stop at the next crank boundary, where it commits
and `run()` raises KeyboardInterrupt; the command then says how far it got and
how to go on, and exits 130 (128 + SIGINT, what shells expect of a program
Ctrl-C ended). The handler installed here is the one the kernel hands a second
Ctrl-C to: it ends the process at once, without a traceback and without
committing the block in progress (the store keeps its last commit, which is
whole: SQLite's journal makes a commit all or nothing). That is the way out of a
vat that never returns from a delivery, where no crank boundary ever comes.

A Ctrl-C outside any run (opening the store, printing) raises KeyboardInterrupt
as Python's own handler would; the command catches it and exits 130 too.

Installing a handler of our own before the event loop starts also keeps
asyncio's and trio's own SIGINT handlers out (each installs one only over
Python's default): theirs cancel the main task, and a cancelled kernel printed a
raw asyncio traceback on the second Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ._kernel.interrupts import stop_requested

EXIT_INTERRUPTED = 130  # 128 + SIGINT

SECOND_CTRL_C = (
    "\nCtrl-C again: stopped at once. The store (if any) keeps its last commit; "
    "the cranks since were not kept.\n"
)


@contextmanager
def ctrl_c_handled() -> Iterator[None]:
    """For the duration of a command, a second Ctrl-C ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = 0

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal pressed
        pressed += 1
        if stop_requested() or pressed > 1:
            _stop_now()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_now() -> None:
    """End the process from a signal handler: no unwinding, so no traceback."""
    if sys.stderr.isatty():
        sys.stderr.write("\x1b[?25h")  # the progress display hid the cursor
    sys.stderr.write(SECOND_CTRL_C)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # Subprocess workers' children die with this process (PR_SET_PDEATHSIG).
    os._exit(EXIT_INTERRUPTED)


def how_far(cranks: int, queued: int, resume: str | None) -> list[str]:
    """What the command prints after a first Ctrl-C stopped the run: how far it
    got, what is left, and the command that goes on from there (`resume`: None
    for an in-memory kernel, which kept nothing)."""
    events = "event" if queued == 1 else "events"
    lines = [
        f"interrupted: stopped at a crank boundary after {cranks:,} cranks this run, "
        f"{queued:,} {events} left on the run-queue"
    ]
    if resume is None:
        lines.append(
            "the kernel was in memory: nothing was kept (run with --store to resume later)"
        )
    else:
        lines.append(f"committed; resume with: {resume}")
    return lines
