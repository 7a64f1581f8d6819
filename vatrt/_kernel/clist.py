"""A vat's c-list: the table between its vrefs and kernel krefs.

Entries come in pairs, ``vN.c.<kref> = "<flag> <vref>"`` and
``vN.c.<vref> = <kref>``. For an import the flag says whether the vat can still
reach the object (``R``) or only recognize it (``_``, after ``dropImports``); an
import entry holds a count on its kref. For an export the flag says whether the
kernel still reaches it; the owner's export holds no count. A promise entry holds
one count on its kpid.

Translation is where vats' mistakes become fatal: a vat naming an import or
promise it does not have, or an import it already dropped, gets `IllegalSyscall`.
"""

from __future__ import annotations

from .._marshal import CapData
from .keeper import KernelKeeper
from .refcounts import RefCounts, is_object


class IllegalSyscall(Exception):
    """A syscall the vat had no right to make; the crank rolls back, the vat dies."""


class CList:
    __slots__ = ("keeper", "kv", "refcounts", "vat_id")

    def __init__(self, vat_id: str, keeper: KernelKeeper, refcounts: RefCounts) -> None:
        self.vat_id = vat_id
        self.keeper = keeper
        self.kv = keeper.kv
        self.refcounts = refcounts

    def kref_of(self, vref: str) -> str | None:
        return self.kv.get(f"{self.vat_id}.c.{vref}")

    def entry_of(self, kref: str) -> str | None:
        return self.kv.get(f"{self.vat_id}.c.{kref}")

    def vref_of(self, kref: str) -> str | None:
        entry = self.kv.get(f"{self.vat_id}.c.{kref}")
        return entry[2:] if entry is not None else None

    def add(self, kref: str, vref: str, *, counted: bool) -> None:
        self.kv.set(f"{self.vat_id}.c.{kref}", f"R {vref}")
        self.kv.set(f"{self.vat_id}.c.{vref}", kref)
        if counted:
            self.refcounts.incref(kref)

    # -- vat -> kernel (syscalls) ---------------------------------------------------

    def to_kernel(self, vref: str) -> str:
        kv, vat_id = self.kv, self.vat_id
        kref = kv.get(f"{vat_id}.c.{vref}")
        if kref is not None:
            if vref[0] == "o":
                entry_key = f"{vat_id}.c.{kref}"
                entry = kv.get(entry_key)
                if entry is not None and entry[0] == "_":
                    if vref[1] == "-":
                        raise IllegalSyscall(f"vat {vat_id} used import {vref} after dropping it")
                    kv.set(entry_key, f"R {vref}")  # the vat exports it again
            return kref
        if vref.startswith("o+"):
            kref = self.keeper.allocate_object(vat_id)
            self.add(kref, vref, counted=False)
            return kref
        if vref.startswith("p+"):
            kref = self.keeper.allocate_promise(vat_id)
            self.add(kref, vref, counted=True)
            return kref
        raise IllegalSyscall(f"vat {vat_id} used {vref!r}, which is not in its c-list")

    def capdata_to_kernel(self, capdata: CapData) -> CapData:
        slots = capdata["slots"]
        if not slots:
            return capdata
        return {"body": capdata["body"], "slots": [self.to_kernel(s) for s in slots]}

    # -- kernel -> vat (deliveries) -------------------------------------------------

    def to_vat(self, kref: str) -> str:
        kv, vat_id = self.kv, self.vat_id
        entry_key = f"{vat_id}.c.{kref}"
        entry = kv.get(entry_key)
        if entry is not None:
            if entry[0] == "_":
                kv.set(entry_key, f"R {entry[2:]}")
                if entry[2] == "o" and entry[3] == "-":
                    self.refcounts.incref(kref, reachable=True)
                    self.refcounts.decref(kref, reachable=False)  # same entry, now reachable
            return entry[2:]
        vref = self.keeper.allocate_import_vref(vat_id, "o" if is_object(kref) else "p")
        self.add(kref, vref, counted=True)
        return vref

    def capdata_to_vat(self, capdata: CapData) -> CapData:
        slots = capdata["slots"]
        if not slots:
            return capdata
        return {"body": capdata["body"], "slots": [self.to_vat(s) for s in slots]}

    # -- removal ---------------------------------------------------------------------

    def delete(self, kref: str) -> None:
        """Remove an entry (both halves) and release the count it held."""
        kv, vat_id = self.kv, self.vat_id
        entry = kv.get(f"{vat_id}.c.{kref}")
        if entry is None:
            return
        kv.delete(f"{vat_id}.c.{kref}")
        kv.delete(f"{vat_id}.c.{entry[2:]}")
        if not is_object(kref):
            self.refcounts.decref(kref)
        elif entry[3] == "-":
            self.refcounts.decref(kref, reachable=entry[0] == "R")

    def drop_import(self, vref: str) -> str:
        kref = self.kref_of(vref)
        if kref is None or not vref.startswith("o-"):
            raise IllegalSyscall(f"vat {self.vat_id} dropped {vref!r}, which is not an import")
        entry_key = f"{self.vat_id}.c.{kref}"
        entry = self.kv.get(entry_key)
        if entry is None or entry[0] != "R":
            raise IllegalSyscall(f"vat {self.vat_id} dropped {vref} twice")
        self.kv.set(entry_key, f"_ {vref}")
        self.refcounts.decref(kref, reachable=True)
        self.refcounts.incref(kref, reachable=False)  # still recognizable until retired
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
        """(kref, entry) for every kref in this c-list, sorted by kref."""
        prefix = f"{self.vat_id}.c.k"
        cut = len(self.vat_id) + 3
        return [(k[cut:], v) for k, v in self.kv.items_with_prefix(prefix)]
