"""GC actions: the drops and retires that refcounts reaching zero decided.

`refcounts.process_maybe_free` records them (`GCAction`: vat, kind, kref) at the
end of a crank; the crank loop takes them before the run-queue, one delivery per
vat and kind, after checking that each one still holds (a count may have come
back since).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .state.keeper import KernelKeeper
from .state.records import GCAction


def take_gc_action(
    keeper: KernelKeeper, has_worker: Callable[[str], bool]
) -> dict[str, Any] | None:
    """The next GC delivery: all still-valid actions of one vat and kind."""
    actions = keeper.gc_actions()
    while actions:
        vat_id, kind = actions[0].vat_id, actions[0].kind
        batch = [a for a in actions if a.vat_id == vat_id and a.kind == kind]
        actions = [a for a in actions if not (a.vat_id == vat_id and a.kind == kind)]
        vrefs = [vref for action in batch if (vref := _apply(keeper, action)) is not None]
        keeper.set_gc_actions(actions)
        if vrefs and has_worker(vat_id):
            return {"type": "gc", "vatID": vat_id, "kind": kind + "s", "vrefs": vrefs}
    return None


def _apply(keeper: KernelKeeper, action: GCAction) -> str | None:
    """Apply one action to the c-list if it still holds; the vref to tell the vat."""
    vat_id, kind, kref = action
    record = keeper.record(kref)  # one lookup: existence, counts and owner
    if record is None:
        return None
    clist = keeper.vat(vat_id).clist
    entry = clist.entry_of(kref)
    if entry is None:
        return None
    if kind == "dropExport":
        if record.reachable != 0 or entry[0] != "R" or record.owner != vat_id:
            return None
        clist.set_reachable(kref, False)
        return entry[2:]
    if kind == "retireExport":
        if record.recognizable != 0 or record.owner != vat_id:
            return None
        clist.delete(kref)  # an export's entry holds no count
        keeper.delete_object(kref)
        return entry[2:]
    clist.delete(kref)  # retireImport
    return entry[2:]
