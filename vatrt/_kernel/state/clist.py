"""A vat's c-list: the table between its vrefs and kernel krefs.

Entries come in pairs, ``vN.c.<kref> = "<flag> <vref>"`` and
``vN.c.<vref> = <kref>``. For an import the flag says whether the vat can still
reach the object (``R``) or only recognize it (``_``, after ``dropImports``); an
import entry holds a count on its kref. For an export the flag says whether the
kernel still reaches it; the owner's export holds no count. A promise entry holds
one count on its kpid. A device node's entry (``kdN`` / ``d-N``) holds none:
devices do no GC.

Translation is where vats' mistakes become fatal: a vat naming an import or
promise it does not have, or an import it already dropped, gets `IllegalSyscall`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..._marshal import CapData
from ..._refs import is_object

if TYPE_CHECKING:
    from .keeper import KernelKeeper


# A kref's kind -> the vref kind a vat imports it as (``kd``: a device node, ``d-N``).
_IMPORT_KIND = {"o": "o", "p": "p", "d": "d"}


class IllegalSyscall(Exception):
    """A syscall the vat had no right to make; the crank rolls back, the vat dies."""


class CList:
    """One vat's c-list over the keeper's table of it (see `KernelKeeper.clist_table`)."""

    __slots__ = ("_allocate_import_vref", "keeper", "refcounts", "table", "vat_id")

    def __init__(
        self, vat_id: str, keeper: KernelKeeper, allocate_import_vref: Callable[[str], str]
    ) -> None:
        self.vat_id = vat_id
        self.keeper = keeper
        self.refcounts = keeper.refcounts
        self.table = keeper.clist_table(vat_id)
        self._allocate_import_vref = allocate_import_vref  # the vat keeper's ``vN.o.nextID``

    def kref_of(self, vref: str) -> str | None:
        return self.table.get(vref)

    def entry_of(self, kref: str) -> str | None:
        return self.table.get(kref)

    def vref_of(self, kref: str) -> str | None:
        entry = self.table.get(kref)
        return entry[2:] if entry is not None else None

    def _put(self, key: str, value: str) -> None:
        self.keeper.clist_put(self.vat_id, self.table, key, value)

    def add(self, kref: str, vref: str, *, counted: bool) -> None:
        self.keeper.clist_add(self.vat_id, self.table, kref, vref)
        if counted:
            self.refcounts.incref(kref)

    def set_reachable(self, kref: str, reachable: bool) -> None:
        """Flag an entry reachable (``R``) or only recognizable (``_``); counts are
        the caller's."""
        entry = self.table[kref]
        self._put(kref, f"{'R' if reachable else '_'} {entry[2:]}")

    # -- vat -> kernel (syscalls) ---------------------------------------------------

    def to_kernel(self, vref: str) -> str:
        table = self.table
        kref = table.get(vref)
        if kref is not None:
            if vref[0] == "o":
                entry = table.get(kref)
                if entry is not None and entry[0] == "_":
                    if vref[1] == "-":
                        raise IllegalSyscall(
                            f"vat {self.vat_id} used import {vref} after dropping it"
                        )
                    self._put(kref, f"R {vref}")  # the vat exports it again
            return kref
        if vref.startswith("o+"):
            kref = self.keeper.allocate_object(self.vat_id)
            self.add(kref, vref, counted=False)
            return kref
        if vref.startswith("p+"):
            kref = self.keeper.allocate_promise(self.vat_id)
            self.add(kref, vref, counted=True)
            return kref
        raise IllegalSyscall(f"vat {self.vat_id} used {vref!r}, which is not in its c-list")

    def capdata_to_kernel(self, capdata: CapData) -> CapData:
        return _translated(capdata, self.to_kernel)

    # -- kernel -> vat (deliveries) -------------------------------------------------

    def to_vat(self, kref: str) -> str:
        entry = self.table.get(kref)
        if entry is not None:
            if entry[0] == "_":
                self._put(kref, f"R {entry[2:]}")
                if entry[2] == "o" and entry[3] == "-":
                    self.refcounts.regain_reachable(kref)  # same entry, now reachable
            return entry[2:]
        vref = self._allocate_import_vref(_IMPORT_KIND[kref[1]])
        self.add(kref, vref, counted=True)
        return vref

    def capdata_to_vat(self, capdata: CapData) -> CapData:
        return _translated(capdata, self.to_vat)

    # -- removal ---------------------------------------------------------------------

    def delete(self, kref: str) -> None:
        """Remove an entry (both halves) and release the count it held (an
        export's entry holds none)."""
        entry = self.table.get(kref)
        if entry is None:
            return
        self.keeper.clist_delete(self.vat_id, self.table, kref, entry[2:])
        if not is_object(kref):
            self.refcounts.decref(kref)
        elif entry[3] == "-":
            self.refcounts.decref(kref, reachable=entry[0] == "R")

    def delete_all(self) -> None:
        """Forget every entry, counts untouched (the vat is gone, its counts were
        released entry by entry)."""
        for key in list(self.table):
            self.keeper.clist_remove(self.vat_id, self.table, key)

    def drop_import(self, vref: str) -> str:
        kref = self.kref_of(vref)
        if kref is None or not vref.startswith("o-"):
            raise IllegalSyscall(f"vat {self.vat_id} dropped {vref!r}, which is not an import")
        entry = self.table.get(kref)
        if entry is None or entry[0] != "R":
            raise IllegalSyscall(f"vat {self.vat_id} dropped {vref} twice")
        self._put(kref, f"_ {vref}")
        self.refcounts.drop_reachable(kref)  # still recognizable until retired
        return kref

    def retire_import(self, vref: str) -> str:
        kref = self.kref_of(vref)
        if kref is None or not vref.startswith("o-"):
            raise IllegalSyscall(f"vat {self.vat_id} retired {vref!r}, which is not an import")
        entry = self.entry_of(kref)
        if entry is not None and entry[0] == "R":
            raise IllegalSyscall(f"vat {self.vat_id} retired {vref} before dropping it")
        self.delete(kref)
        return kref

    def entries(self) -> list[tuple[str, str]]:
        """(kref, entry) for every kref in this c-list, sorted by kref key."""
        return sorted((key, entry) for key, entry in self.table.items() if key[0] == "k")


def _translated(capdata: CapData, translate: Callable[[str], str]) -> CapData:
    """`capdata` with every slot translated (itself when it has none)."""
    slots = capdata["slots"]
    if not slots:
        return capdata
    return {"body": capdata["body"], "slots": [translate(s) for s in slots]}
