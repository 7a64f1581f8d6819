"""Ctrl-C while kernels run: stop at the next crank boundary, never inside a vat.

Vat code runs in the host's main thread, where Python raises KeyboardInterrupt
wherever that thread happens to be. Inside a vat's method it would look like the
vat's own error (liveslots rejects the method's result, or fails the delivery):
an innocent vat would pay for the host's Ctrl-C. So while a run is under way in
the main thread the kernel holds SIGINT itself: the signal only asks every run in
progress to stop. Each ends the crank it is in, begins no other, commits, and
raises KeyboardInterrupt from `run()`. The crank in flight is completed, not
undone: its delivery may have run, and undoing it would leave the vat's memory a
delivery ahead of kernel state (the same delivery would run again).

The handler the host had (Python's default, asyncio's or trio's) goes back when
the last run ends. A host that ignores SIGINT, or has no Python-level handler
for it, keeps it as it is; so does a run outside the main thread (signals are
only handled there, so no Ctrl-C can land in its vats' code). A second Ctrl-C
before the runs have stopped goes to the host's handler at once, as if vatrt were
not there: the way out of a vat that never returns.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class StopRequest:
    """One run's flag: set when a Ctrl-C asks it to stop."""

    __slots__ = ("requested",)

    def __init__(self) -> None:
        self.requested = False


# The runs holding SIGINT now, and the handler the host had before the first.
_runs: list[StopRequest] = []
_host_handler: Any = None


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if any(run.requested for run in _runs) and callable(_host_handler):
        _host_handler(signum, frame)  # a second Ctrl-C: the host's own way
        return
    for run in _runs:
        run.requested = True


def stop_requested() -> bool:
    """Whether a Ctrl-C has asked a run in progress to stop (and it has not yet).

    A host's own SIGINT handler reads it to tell a second Ctrl-C (the kernel
    passes it on while a run is stopping) from a first one outside any run."""
    return any(run.requested for run in _runs)


@contextmanager
def stop_on_sigint() -> Iterator[StopRequest]:
    """Hold SIGINT for the duration of one run; yields the run's `StopRequest`."""
    global _host_handler
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    if not _runs:
        current = signal.getsignal(signal.SIGINT)
        if not callable(current):  # SIG_IGN, SIG_DFL, or not set from Python
            yield request
            return
        _host_handler = current
        signal.signal(signal.SIGINT, _on_sigint)
    _runs.append(request)
    try:
        yield request
    finally:
        _runs.remove(request)
        if not _runs:
            # Give it back, unless the host put a handler of its own in meanwhile.
            if signal.getsignal(signal.SIGINT) is _on_sigint:
                signal.signal(signal.SIGINT, _host_handler)
            _host_handler = None
