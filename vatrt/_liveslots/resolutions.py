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
    first = _resolution(vpid, promise, marshal)
    if not names_a_promise(first.data["slots"]):
        return [(promise, first)]  # the usual case, kept cheap
    batch = [(promise, first)]
    queued = {vpid}
    for _, resolution in batch:  # grows as it goes
        for slot in resolution.data["slots"]:
            if slot[0] != "p" or slot in queued:
                continue
            other = promise_of(slot)
            if other is not None and other.settled and other.decided_here:
                queued.add(slot)
                batch.append((other, _resolution(slot, other, marshal)))
    return batch


def names_a_promise(slots: list[str]) -> bool:
    """Whether capdata slots (vrefs) name a promise."""
    return bool(slots) and any(slot[0] == "p" for slot in slots)  # most have none


def _resolution(vpid: str, promise: VatPromise, marshal: Callable[[Any], CapData]) -> Resolution:
    rejected = promise.rejected
    try:
        data = marshal(promise.value)
    except TypeError as exc:
        rejected, data = True, error_capdata(str(exc), "TypeError")
    return Resolution(vpid, rejected, data)
