"""Terminating a vat: reject what it decided, release what it held, delete its state.

Its exports become ownerless: messages to them reject with ``vat terminated``,
and they live on only as long as other vats hold them. Its retained
vatParameters are released (SwingSet leaks these counts; vatrt does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._marshal import CapData, decode, error_capdata
from ..errors import KernelPanic
from .keeper import loads
from .refcounts import is_object

if TYPE_CHECKING:
    from .kernel import Kernel

VAT_TERMINATED = error_capdata("vat terminated", "VatTerminated")


def terminate_vat(kernel: Kernel, vat_id: str, *, failure: bool, reason: CapData) -> None:
    """End a vat: reject what it decided, release everything it held, delete its state.

    Its exports become ownerless (messages to them reject with ``vat
    terminated``) and live on only as long as other vats hold them.
    """
    keeper, kv = kernel.keeper, kernel.kv
    options = keeper.vat_options(vat_id)
    if not options:
        return
    name = options["name"]
    worker = kernel.workers.pop(vat_id, None)
    if worker is not None:
        worker.stop()
    clist = kernel.clist(vat_id)
    for kref, _ in clist.entries():
        if not is_object(kref):
            if keeper.decider_of(kref) == vat_id:
                kernel.resolve_promise(kref, True, VAT_TERMINATED, resolver=vat_id)
            clist.delete(kref)
        elif keeper.owner_of(kref) == vat_id:
            abandon_export(kernel, vat_id, kref)
        else:
            clist.delete(kref)
    if options.get("dynamic"):
        kernel.hooks.vat_ended(vat_id, failure, reason)
    root = kv.get(f"{vat_id}.root")
    if root is not None:
        kernel.refcounts.decref(root)
    params = kv.get(f"{vat_id}.vatParameters")
    if params is not None:
        kernel.refcounts.decref_all(loads(params)["slots"])
    clist.delete_all()
    for key, _ in kv.items_with_prefix(f"{vat_id}."):
        kv.delete(key)
    kv.delete_transcripts(vat_id)
    keeper.remove_vat(name)
    kernel.forget_clist(vat_id)
    kernel.slog.write({"type": "vat-terminated", "vatID": vat_id, "failure": failure})
    if options.get("critical"):
        why = decode(reason, lambda kref, iface: f"<{iface or 'ref'} {kref}>")
        kernel.panic(KernelPanic(f"critical vat {name!r} ({vat_id}) died: {why}"))


def abandon_export(kernel: Kernel, vat_id: str, kref: str) -> None:
    """The owner is done with an export: it lives on ownerless while others hold
    it, and messages to it reject with ``vat terminated``."""
    kernel.keeper.clear_owner(kref)
    kernel.clist(vat_id).delete(kref)  # an export's entry holds no count
    kernel.refcounts.maybe_free.add(kref)
