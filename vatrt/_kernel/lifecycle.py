"""A vat's life: created (its record and a queued start), incarnations ended, terminated.

`end_incarnation` is the one sweep over a vat's c-list that both an upgrade and
a termination make: every promise the vat decided is rejected (with the
upgrade's ``vatUpgraded`` record, or ``vat terminated``), promise entries are
forgotten, and exports that die with the incarnation are abandoned: they become
ownerless and messages to them reject with ``vat terminated``. Termination then
also releases the vat's imports, its record's holds and its retained
vatParameters (SwingSet leaks these counts; vatrt does not), and deletes its
state.
"""

from __future__ import annotations

from typing import Any

from .._marshal import CapData, decode
from .._refs import ROOT_VREF, is_object
from ..errors import KernelPanic
from .ops import KernelOps
from .promises import VAT_TERMINATED
from .state.keeper import KernelKeeper
from .state.refcounts import event_krefs


def add_vat(
    keeper: KernelKeeper,
    name: str,
    bundle_id: str,
    options: dict[str, Any],
    parameters: CapData | None,
) -> str:
    """Record a new vat and queue its start. `parameters` (kernel krefs) are
    retained with a count on each object in them, and the queued start event
    holds counts of its own until it is delivered."""
    vat_id = keeper.allocate_vat_id()
    keeper.vat(vat_id).initialize(options, bundle_id, parameters)
    keeper.add_vat_name(name, vat_id)
    event = {"type": "startVat", "vatID": vat_id, "vatParameters": parameters}
    keeper.refcounts.incref_all(event_krefs(event))
    keeper.push_event(event)
    return vat_id


def dies_with_incarnation(vref: str) -> bool:
    """An ephemeral export (``o+N``): not the root, not durable (``o+dN/M``)."""
    return vref.startswith("o+") and vref != ROOT_VREF and not vref.startswith("o+d")


def end_incarnation(
    keeper: KernelKeeper,
    ops: KernelOps,
    vat_id: str,
    reason: CapData,
    *,
    terminating: bool,
) -> list[str]:
    """Reject what the vat decided with `reason`, forget its promises, abandon the
    exports that die: all of them when `terminating`, else the ephemeral ones.
    Returns the import vrefs the vat keeps (what a next incarnation inherits);
    when terminating, those imports are released instead."""
    clist = keeper.vat(vat_id).clist
    kept_imports = []
    for kref, entry in clist.entries():
        if kref[1] == "d":  # a device node: kept across upgrades, no count to release
            if terminating:
                clist.delete(kref)
        elif not is_object(kref):
            if keeper.decider_of(kref) == vat_id:
                ops.resolve(kref, True, reason, vat_id)
            clist.delete(kref)
        elif keeper.owner_of(kref) == vat_id:
            if terminating or dies_with_incarnation(entry[2:]):
                abandon_export(keeper, vat_id, kref)
        elif terminating:
            clist.delete(kref)
        else:
            kept_imports.append(entry[2:])
    return kept_imports


def abandon_export(keeper: KernelKeeper, vat_id: str, kref: str) -> None:
    """The owner is done with an export: it lives on ownerless while others hold
    it, and messages to it reject with ``vat terminated``."""
    keeper.clear_owner(kref)
    keeper.vat(vat_id).clist.delete(kref)  # an export's entry holds no count
    keeper.refcounts.maybe_free.add(kref)


def terminate_vat(
    keeper: KernelKeeper, ops: KernelOps, vat_id: str, *, failure: bool, reason: CapData
) -> None:
    """End a vat: reject what it decided, release everything it held, delete its state.

    Its exports become ownerless (messages to them reject with ``vat
    terminated``) and live on only as long as other vats hold them.
    """
    vat = keeper.vat(vat_id)
    options = vat.options()
    if not options:
        return
    name = options["name"]
    ops.stop_worker(vat_id)
    end_incarnation(keeper, ops, vat_id, VAT_TERMINATED, terminating=True)
    if options.get("dynamic"):
        ops.vat_ended(vat_id, failure, reason)
    keeper.refcounts.decref(vat.root())
    vat.release_vat_parameters()
    vat.delete_all()
    keeper.remove_vat_name(name)
    keeper.forget_vat(vat_id)
    ops.slog.write({"type": "vat-terminated", "vatID": vat_id, "failure": failure})
    if options.get("critical"):
        why = decode(reason, lambda kref, iface: f"<{iface or 'ref'} {kref}>")
        ops.panic(KernelPanic(f"critical vat {name!r} ({vat_id}) died: {why}"))
