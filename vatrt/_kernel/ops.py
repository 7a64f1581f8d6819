"""The few kernel operations its helpers may call, handed to them by the kernel.

SwingSet's ``makeKernelSyscallHandler({kernelKeeper, doSend, doResolve, ...})``:
a helper (syscalls, GC actions, termination, upgrade, replay, vat-admin's hooks)
gets the keeper and this object, never the `Kernel`, so what it can do to the
kernel is written here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from .._marshal import CapData
from ..errors import KernelPanic
from .slog import Slog

#: ``(vat, why)``: a delivery the vat broke (an illegal syscall, an error escaping
#: liveslots); its crank is undone and the vat terminated.
Fatal = tuple[str, str]


@attrs.frozen
class KernelOps:
    #: Settle a promise (data in krefs), notifying subscribers but `resolver`.
    resolve: Callable[[str, bool, CapData, str | None], None]
    #: Whether a vat has a running worker (a vat whose start is still queued has not).
    has_worker: Callable[[str], bool]
    #: End a vat's worker; undone if its crank is.
    stop_worker: Callable[[str], None]
    #: Start incarnation N of a vat on a bundle and deliver its ``startVat``
    #: (parameters in krefs, inherited import vrefs); the worker swap is undone
    #: with the crank.
    start_incarnation: Callable[[str, int, str, CapData, list[str]], Awaitable[Fatal | None]]
    #: From now on `run()` raises this.
    panic: Callable[[KernelPanic], None]
    #: vat-admin hears that a dynamic vat ended (failure, reason in krefs).
    vat_ended: Callable[[str, bool, CapData], None]
    #: vat-admin hears how an upgrade it asked for went.
    upgrade_finished: Callable[[str, bool, Any], None]
    slog: Slog
