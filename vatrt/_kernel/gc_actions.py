"""GC actions: the drops and retires that refcounts reaching zero decided.

`refcounts.process_maybe_free` records them (``vN dropExport koN``, ...) at the
end of a crank; the crank loop takes them before the run-queue, one delivery per
vat and kind, after checking that each one still holds (a count may have come
back since).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import KernelPanic

if TYPE_CHECKING:
    from .kernel import Kernel


def take_gc_action(kernel: Kernel) -> dict[str, Any] | None:
    """The next GC delivery: all still-valid actions of one vat and kind."""
    keeper = kernel.keeper
    actions = keeper.gc_actions()
    if not actions:
        return None
    while actions:
        vat_id, kind, _ = actions[0].split(" ")
        batch = [a for a in actions if a.startswith(f"{vat_id} {kind} ")]
        actions = [a for a in actions if not a.startswith(f"{vat_id} {kind} ")]
        vrefs = []
        for action in batch:
            kref = action.split(" ")[2]
            vref = _apply_gc_action(kernel, vat_id, kind, kref)
            if vref is not None:
                vrefs.append(vref)
        keeper.set_gc_actions(actions)
        if vrefs and vat_id in kernel.workers:
            return {"type": "gc", "vatID": vat_id, "kind": kind + "s", "vrefs": vrefs}
    return None


def _apply_gc_action(kernel: Kernel, vat_id: str, kind: str, kref: str) -> str | None:
    keeper = kernel.keeper
    if not keeper.object_exists(kref):
        return None
    clist = kernel.clist(vat_id)
    entry = clist.entry_of(kref)
    if entry is None:
        return None
    vref = entry[2:]
    reachable, recognizable = kernel.refcounts.get(kref)
    if kind == "dropExport":
        if reachable != 0 or entry[0] != "R" or keeper.owner_of(kref) != vat_id:
            return None
        clist.set_reachable(kref, False)
        return vref
    if kind == "retireExport":
        if recognizable != 0 or keeper.owner_of(kref) != vat_id:
            return None
        clist.delete(kref)  # an export's entry holds no count
        keeper.delete_object(kref)
        return vref
    if kind == "retireImport":
        clist.delete(kref)
        return vref
    raise KernelPanic(f"unknown GC action {kind!r}")
