"""What one ``syscall.resolve`` settles: a promise, and the settled promises it reaches.

When a promise this vat decides settles, liveslots tells the kernel in one
`Resolve`. If the resolution's data holds other promises this vat decides that
are settled already, their resolutions go in the same batch, each once, and so
on through their data. Without that, promises resolved to each other (``pa`` to
``[pb]``, ``pb`` to ``[pa]``) never end: resolving ``pb`` names ``pa``, whose vref
was retired when ``pa`` was resolved, so ``pa`` gets a new vref, whose resolution
names ``pb``, retired in turn... One batch holds the whole cycle. SwingSet's
liveslots does the same (its ``resolutionCollector``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._marshal import CapData, error_capdata
from .._protocol import Resolution
from .promises import VatPromise


def collect_resolutions(
    vpid: str,
    promise: VatPromise,
    marshal: Callable[[Any], CapData],
    promise_of: Callable[[str], VatPromise | None],
) -> list[tuple[VatPromise, Resolution]]:
    """The resolutions to send for settled `promise` (known to the kernel as
    `vpid`): its own first, then each settled promise this vat decides that the
    batch's data names, in the order first named (so the kernel meets a new
    promise's vref in data before it meets its resolution)."""
    batch: list[tuple[VatPromise, Resolution]] = []
    queued = {vpid}
    todo = [(vpid, promise)]
    for vpid, promise in todo:  # grows as it goes
        rejected = promise.rejected
        try:
            data = marshal(promise.value)
        except TypeError as exc:
            rejected, data = True, error_capdata(str(exc), "TypeError")
        batch.append((promise, Resolution(vpid, rejected, data)))
        for slot in data["slots"]:
            if slot[0] != "p" or slot in queued:
                continue
            other = promise_of(slot)
            if other is not None and other.settled and other.decided_here:
                queued.add(slot)
                todo.append((slot, other))
    return batch
