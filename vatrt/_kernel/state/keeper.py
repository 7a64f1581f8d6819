"""The kernel keeper: kernel-wide keys, object and promise records, the run-queue.

The key layout it shares with `vat_keeper.VatKeeper` is written out in
`schema`. Object and promise records (``koN.*``, ``kpN.*``), c-lists
(``vN.c.*``), the run-queue and the kernel-wide counters live in memory as
Python objects, loaded on first use and written back as keys by `flush`,
before each block commit (and `dump`): between two flushes those keys in the
store may be stale, so other code reads them only after a flush.

**A crank's undo.** Everything the keeper holds in memory is journalled in one
map, ``_undo``: on a crank's first change to a record, counter, c-list entry or
run-queue slot it keeps what was there before, and `abort_crank` puts those
back. The store keeps an undo log of its own for the keys written to it
directly (vat options, vatstore, bundles): the store is the layer that knows
its keys, and the keeper's in-memory state never reaches it until a flush. The
crank's third layer, workers started or swapped, is the kernel's
(`crank.WorkerSwaps`): processes and tasks are not state.

No policy here: callers decide what is legal. Refcount arithmetic lives in
`refcounts`; a vat's keys in `vat_keeper`.
"""

from __future__ import annotations

from typing import Any

from ..._marshal import CapData
from ..._refs import is_object
from ..._store.kvstore import KVStore
from ...errors import StoreError
from .device_keeper import device_held_krefs
from .records import GCAction, ObjectRecord, PromiseRecord
from .refcounts import RefCounts
from .schema import RUN_QUEUE_CHUNK, dumps, loads
from .vat_keeper import KeyHolder, VatKeeper

# Kernel-wide counters the keeper holds in memory, and their first values.
_COUNTERS = {"kernel.crankNumber": 0, "ko.nextID": 20, "kp.nextID": 40}


# In the record cache: a kref deleted since the last flush (its keys are still stored).
_GONE: Any = object()
# In the crank journal: the run-queue's bounds before the crank first moved them.
_BOUNDS = ("q",)
# In the crank journal: the list of live vats' names before the crank changed it.
_NAMES = ("names",)


class KernelKeeper:
    """Typed access to the kernel's state (see `schema`)."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv
        self.refcounts = RefCounts(self)
        self._vats: dict[str, VatKeeper] = {}
        self._vat_names: list[str] | None = None  # ``vat.names``, loaded on first use
        self._names_dirty = False
        # The run-queue (see below): loaded from the store on first use.
        self._events: dict[int, dict[str, Any]] | None = None
        self._run_queue_bounds: list[int] | None = None  # [head, tail) in memory
        self._stored_bounds = (0, 0)  # [head, tail) as the store has them
        self._unflushed: set[int] = set()  # positions written since the last flush
        self._stored_chunks: set[int] = set()  # chunks the store has (see below)
        # Object and promise records (see below): kref -> record, or _GONE.
        self._records: dict[str, Any] = {}
        self._dirty: set[str] = set()  # krefs changed since the last flush
        self._counters: dict[str, int] = {}  # see `counter`
        self._counters_dirty: set[str] = set()
        # C-lists (see below): vat -> {kref: "R vref", vref: kref}, as ``vN.c.*``.
        self._clists: dict[str, dict[str, str]] = {}
        self._clist_dirty: set[tuple[str, str]] = set()
        # koN -> the vats importing it; built on first use (see `importers_of`).
        self._importers: dict[str, set[str]] | None = None
        # In a crank, what each thing it changed was before (None: absent), by key:
        # a kref (a copy of its record), a counter's key (its value), ("c", vat,
        # key) for a c-list entry, ("q", n) for a popped run-queue event, _BOUNDS.
        self._undo: dict[Any, Any] | None = None

    # -- vats --------------------------------------------------------------------

    def vat(self, vat_id: str) -> VatKeeper:
        """The keeper of vat `vat_id`'s keys (cheap: cached, holds no state of its own)."""
        keeper = self._vats.get(vat_id)
        if keeper is None:
            keeper = self._vats[vat_id] = VatKeeper(vat_id, self)
        return keeper

    def forget_vat(self, vat_id: str) -> None:
        self._vats.pop(vat_id, None)

    def allocate_vat_id(self) -> str:
        return f"v{self.next_id('vat.nextID', 1)}"

    def peek_vat_id(self) -> str:
        """The id the next vat will get (for a default name)."""
        return f"v{self.kv.get('vat.nextID') or 1}"

    # The live vats' names are a list in memory, written back as ``vat.names`` by
    # `flush`: rewriting the whole JSON list at each new vat made a kernel of N
    # vats cost O(N^2) to boot (100,000 vats: hours).

    def _names(self) -> list[str]:
        names = self._vat_names
        if names is None:
            names = self._vat_names = loads(self.kv.get("vat.names") or "[]")
        return names

    def _names_for_change(self) -> list[str]:
        names = self._names()
        undo = self._undo
        if undo is not None and _NAMES not in undo:
            undo[_NAMES] = list(names)
        self._names_dirty = True
        return names

    def vat_names(self) -> list[str]:
        return list(self._names())

    def vat_id_of(self, name: str) -> str | None:
        return self.kv.get(f"vat.name.{name}")

    def add_vat_name(self, name: str, vat_id: str) -> None:
        self._names_for_change().append(name)
        self.kv.set(f"vat.name.{name}", vat_id)

    def remove_vat_name(self, name: str) -> None:
        names = self._names_for_change()
        names[:] = [n for n in names if n != name]
        self.kv.delete(f"vat.name.{name}")

    def vat_ids(self) -> list[str]:
        """Live vat ids, in creation order."""
        return [v for v in (self.vat_id_of(n) for n in self.vat_names()) if v is not None]

    def is_live_vat(self, vat_id: str) -> bool:
        return self.vat(vat_id).is_live()

    # -- kernel-wide keys --------------------------------------------------------

    def is_initialized(self) -> bool:
        return self.kv.get("kernel.initialized") is not None

    def mark_initialized(self) -> None:
        self.kv.set("kernel.initialized", "1")

    def schema_version(self) -> int:
        """The store's schema version (1 for a store from before it was kept); a
        value the kernel cannot have written is a `StoreError` naming it."""
        text = self.kv.get("kernel.schemaVersion")
        if text is None:
            return 1
        # Only what `set_schema_version` writes: int() would also take " 4", "+4", "4_0".
        if not (text.isascii() and text.isdigit()) or text.startswith("0"):
            raise StoreError(
                self.kv.location,
                f"its kernel.schemaVersion is {text!r}, not a schema version "
                "(a whole number from 1): the store is damaged or was not written by vatrt",
            )
        return int(text)

    def set_schema_version(self, version: int) -> None:
        self.kv.set("kernel.schemaVersion", str(version))

    def booted_from(self) -> dict[str, Any] | None:
        """The identity of the config the first boot used (`config_identity`);
        None for a store booted before it was kept."""
        record = self.kv.get("kernel.config")
        return None if record is None else loads(record)

    def set_booted_from(self, identity: dict[str, Any]) -> None:
        self.kv.set("kernel.config", dumps(identity))

    def bootstrap_result(self) -> str | None:
        return self.kv.get("kernel.bootstrapResult")

    def set_bootstrap_result(self, kpid: str) -> None:
        self.kv.set("kernel.bootstrapResult", kpid)

    def vat_admin_callbacks(self) -> str | None:
        return self.kv.get("kernel.vatAdminCallbacks")

    def set_vat_admin_callbacks(self, kref: str) -> None:
        """Hold `kref` as vat-admin's callbacks object, releasing the one held before."""
        previous = self.vat_admin_callbacks()
        self.refcounts.incref(kref)  # increment-before-decrement: the same kref stays alive
        self.kv.set("kernel.vatAdminCallbacks", kref)
        if previous is not None:
            self.refcounts.decref(previous)

    def allocate_upgrade_id(self) -> str:
        return f"up{self.next_id('kernel.upgrade.nextID', 1)}"

    def upgrade_result(self, request_id: str) -> KeyHolder:
        """Where the kernel-decided promise of upgrade `request_id` is held."""
        return KeyHolder(self.kv, f"kernel.upgradeResult.{request_id}")

    def upgrade_results(self) -> list[str]:
        """Every kernel-decided upgrade promise still held (for the recount)."""
        return [kpid for _, kpid in self.kv.items_with_prefix("kernel.upgradeResult.")]

    # -- host pins ---------------------------------------------------------------

    def pin(self, kpid: str) -> None:
        """The host holds `kpid` (one count) until it reads the resolution."""
        self.kv.set(f"host.pin.{kpid}", "1")
        self.refcounts.incref(kpid)

    def unpin(self, kpid: str) -> bool:
        """Release the host's hold on `kpid`; False if it held none."""
        if not self.is_pinned(kpid):
            return False
        self.kv.delete(f"host.pin.{kpid}")
        self.refcounts.decref(kpid)
        return True

    def is_pinned(self, kpid: str) -> bool:
        return self.kv.get(f"host.pin.{kpid}") is not None

    # -- counters -----------------------------------------------------------------

    def next_id(self, key: str, first: int = 1) -> int:
        """A stored counter's next value, written at once (for rare allocations)."""
        value = self.kv.get(key)
        n = int(value) if value is not None else first
        self.kv.set(key, str(n + 1))
        return n

    # Counters bumped every crank live in memory, written back at `flush`: the
    # kernel-wide ones (`_COUNTERS`) and each vat's reap countdown, transcript
    # position and import ids (``vN.*``, see `VatKeeper`). Writing them to the
    # store at each delivery was three store writes a crank, and with SQLite
    # three rows a delivery folded into every block. Clean counters are dropped
    # at `flush` (read again on next use), so a kernel of 100,000 vats holds only
    # the ones its last block touched.

    def counter(self, key: str, first: int | None = None) -> int:
        """A counter held in memory (written at flush): a kernel-wide one
        (`_COUNTERS`) or a vat's, whose value before its first write is `first`."""
        n = self._counters.get(key)
        return self._load_counter(key, first)[0] if n is None else n

    def _load_counter(self, key: str, first: int | None) -> tuple[int, int | None]:
        """(A counter's value, what the store has or None), the stored value kept
        in memory (a default is kept only once the counter is set: `bump`)."""
        value = self.kv.get(key)
        if value is None:
            return (_COUNTERS[key] if first is None else first), None
        n = self._counters[key] = int(value)
        return n, n

    def set_counter(self, key: str, n: int, first: int | None = None) -> None:
        """Set a counter (journalled, written at flush): `bump` journals it."""
        self.bump(key, first)
        self._counters[key] = n

    def bump(self, key: str, first: int | None = None) -> int:
        """Increment a counter; return its value before (journalled, written at
        flush). The crank's journal keeps None for a counter never set before."""
        counters = self._counters
        n = before = counters.get(key)
        if n is None:
            n, before = self._load_counter(key, first)
        undo = self._undo
        if undo is not None and key not in undo:
            undo[key] = before
        counters[key] = n + 1
        self._counters_dirty.add(key)
        return n

    def forget_counters(self, prefix: str) -> None:
        """Drop the in-memory counters under `prefix` (a deleted vat's: its stored
        keys are deleted by the caller), journalled like a change."""
        undo, counters = self._undo, self._counters
        for key in [k for k in counters if k.startswith(prefix)]:
            if undo is not None and key not in undo:
                undo[key] = counters[key]
            del counters[key]
            self._counters_dirty.discard(key)

    def allocate_object(self, owner: str) -> str:
        kref = f"ko{self.bump('ko.nextID')}"
        self._create(kref, ObjectRecord(owner))
        return kref

    def allocate_promise(self, decider: str | None) -> str:
        kpid = f"kp{self.bump('kp.nextID')}"
        self._create(kpid, PromiseRecord(decider or None))
        return kpid

    # -- object and promise records ------------------------------------------------
    #
    # Objects and promises live in memory as records, loaded from the store on
    # first use and written back (their keys, net) by `flush`: a promise is born,
    # counted up and down a dozen times, resolved and deleted within a few cranks,
    # and most of that never needs to reach the store. A crank's first change to a
    # record keeps a copy, put back if the crank aborts.

    def record(self, kref: str) -> Any:
        """The `ObjectRecord` or `PromiseRecord` of `kref`, or None if it does not
        exist. Read-only: see `touch`."""
        record = self._records.get(kref)
        if record is None:
            record = self._load(kref)
        return None if record is _GONE else record

    def touch(self, kref: str) -> Any:
        """The record of `kref`, to change in place (journalled, written at flush)."""
        record = self._records.get(kref)
        if record is None:
            record = self._load(kref)
        if record is _GONE:
            raise KeyError(f"unknown kref {kref}")
        undo = self._undo
        if undo is not None and kref not in undo:
            undo[kref] = record.copy()
        self._dirty.add(kref)
        return record

    def _create(self, kref: str, record: ObjectRecord | PromiseRecord) -> None:
        undo = self._undo
        if undo is not None and kref not in undo:
            undo[kref] = self._records.get(kref)
        self._records[kref] = record
        self._dirty.add(kref)

    def _remove(self, kref: str) -> None:
        self.touch(kref)
        self._records[kref] = _GONE

    def _load(self, kref: str) -> Any:
        kv = self.kv
        record: ObjectRecord | PromiseRecord
        if kref[1] == "o":
            count = kv.get(f"{kref}.refCount")
            if count is None:
                return _GONE  # not cached: the store stays the authority on absence
            reachable, recognizable = count.split(",")
            record = ObjectRecord(kv.get(f"{kref}.owner"), int(reachable), int(recognizable))
        else:
            text = kv.get(f"{kref}.record")
            if text is None:
                return _GONE
            record = PromiseRecord.decode(text)
        self._records[kref] = record
        return record

    def _flush_records(self) -> None:
        kv, records = self.kv, self._records

        def put(key: str, value: str | None) -> None:
            if kv.get(key) != value:
                if value is None:
                    kv.delete(key)
                else:
                    kv.set(key, value)

        # In any order: the store ends the same, and sorting 100,000 krefs is not free.
        for kref in self._dirty:
            record = records.get(kref)
            if record is None:
                continue  # an aborted creation: the store never had it
            if record is _GONE:
                self._drop_gone(kref)
            elif type(record) is ObjectRecord:
                put(f"{kref}.owner", record.owner)
                put(f"{kref}.refCount", f"{record.reachable},{record.recognizable}")
            else:
                assert type(record) is PromiseRecord
                put(f"{kref}.record", record.encode())
        self._dirty.clear()

    def _drop_gone(self, kref: str) -> None:
        """Forget deleted `kref`: its tombstone, and its keys if the store has them."""
        kv = self.kv
        del self._records[kref]
        if kref[1] == "p":
            kv.delete(f"{kref}.record")  # a no-op if it was never stored
        elif kv.get(f"{kref}.refCount") is not None:  # else born and gone unstored
            kv.delete(f"{kref}.owner")
            kv.delete(f"{kref}.refCount")

    # -- c-lists --------------------------------------------------------------------
    #
    # Each vat's c-list is a dict in memory, both directions in one table keyed
    # as the store keys them after ``vN.c.``; `clist.CList` reads it directly and
    # writes through `clist_put`/`clist_remove` (journalled, written at flush).
    # A promise's entries come and go within a crank or two and never reach the
    # store.

    def clist_table(self, vat_id: str) -> dict[str, str]:
        """Vat `vat_id`'s c-list, to read. Change it only through `clist_put` and
        `clist_remove`."""
        table = self._clists.get(vat_id)
        if table is None:
            table = self._clists[vat_id] = self._stored_clist(vat_id)
        return table

    def _stored_clist(self, vat_id: str) -> dict[str, str]:
        cut = len(vat_id) + 3
        return {key[cut:]: value for key, value in self.kv.items_with_prefix(f"{vat_id}.c.")}

    def clist_put(self, vat_id: str, table: dict[str, str], key: str, value: str) -> None:
        undo = self._undo
        if undo is not None and ("c", vat_id, key) not in undo:
            undo["c", vat_id, key] = table.get(key)
        self._clist_write(vat_id, table, key, value)

    def clist_remove(self, vat_id: str, table: dict[str, str], key: str) -> None:
        if key not in table:
            return
        undo = self._undo
        if undo is not None and ("c", vat_id, key) not in undo:
            undo["c", vat_id, key] = table[key]
        self._clist_write(vat_id, table, key, None)

    # An entry's two halves are written together (`clist_add`, `clist_delete`): a
    # vref key never names an object import, so its half skips `_clist_write`'s
    # index upkeep. Every message with a ref or a result promise does this.

    def clist_add(self, vat_id: str, table: dict[str, str], kref: str, vref: str) -> None:
        """Both halves of a new, reachable entry: ``kref = "R vref"``, ``vref = kref``."""
        if self._undo is not None:
            self._journal_entry_pair(vat_id, table, kref, vref)
        self._clist_write(vat_id, table, kref, f"R {vref}")
        table[vref] = kref
        self._clist_dirty.add((vat_id, vref))

    def clist_delete(self, vat_id: str, table: dict[str, str], kref: str, vref: str) -> None:
        """Both halves of the entry of `kref`, whose vref is `vref`."""
        if self._undo is not None:
            self._journal_entry_pair(vat_id, table, kref, vref)
        self._clist_write(vat_id, table, kref, None)
        if table.pop(vref, None) is not None:
            self._clist_dirty.add((vat_id, vref))

    def _journal_entry_pair(self, vat_id: str, table: dict[str, str], kref: str, vref: str) -> None:
        """Keep both halves of an entry as they were before the crank changes them."""
        undo: dict[Any, Any] = self._undo  # type: ignore[assignment]
        if ("c", vat_id, kref) not in undo:
            undo["c", vat_id, kref] = table.get(kref)
        if ("c", vat_id, vref) not in undo:
            undo["c", vat_id, vref] = table.get(vref)

    def _clist_write(self, vat_id: str, table: dict[str, str], key: str, value: str | None) -> None:
        """Write (or, for None, remove) one c-list entry, keeping the importers
        index in step: an object's entry whose vref is ``o-N`` is an import."""
        importers = self._importers
        if importers is not None and key[0] == "k" and key[1] == "o":
            old = table.get(key)
            if old is not None and old[2] == "o" and old[3] == "-":
                vats = importers.get(key)
                if vats is not None:
                    vats.discard(vat_id)
                    if not vats:
                        del importers[key]
            if value is not None and value[2] == "o" and value[3] == "-":
                importers.setdefault(key, set()).add(vat_id)
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self._clist_dirty.add((vat_id, key))

    def importers_of(self, kref: str) -> list[str]:
        """The vats whose c-list imports `kref`, sorted.

        From an index kept with every c-list write, built on first use from the
        c-lists in memory and the store's keys of the others (no c-list is
        loaded for it), so a ``retireExports`` costs what its importers have, not
        what every vat has."""
        importers = self._importers
        if importers is None:
            importers = self._importers = {}
            for vat_id in self.vat_ids():
                table = self._clists.get(vat_id)
                rows = table.items() if table is not None else self._stored_imports(vat_id)
                for key, entry in rows:
                    if key[0] == "k" and key[1] == "o" and entry[2] == "o" and entry[3] == "-":
                        importers.setdefault(key, set()).add(vat_id)
        return sorted(importers.get(kref, ()))

    def _stored_imports(self, vat_id: str) -> list[tuple[str, str]]:
        cut = len(vat_id) + 3
        return [(k[cut:], v) for k, v in self.kv.items_with_prefix(f"{vat_id}.c.ko")]

    def _flush_clists(self) -> None:
        kv, tables = self.kv, self._clists
        for vat_id, key in self._clist_dirty:
            value = tables[vat_id].get(key)
            stored_key = f"{vat_id}.c.{key}"
            if value is None:
                kv.delete(stored_key)
            elif kv.get(stored_key) != value:
                kv.set(stored_key, value)
        self._clist_dirty.clear()

    # -- objects -----------------------------------------------------------------

    def owner_of(self, kref: str) -> str | None:
        record = self.record(kref)
        return record.owner if record is not None else None

    def object_exists(self, kref: str) -> bool:
        return self.record(kref) is not None

    def clear_owner(self, kref: str) -> None:
        """The owner is gone (or done with it): the object lives on ownerless."""
        self.touch(kref).owner = None

    def delete_object(self, kref: str) -> None:
        if self.record(kref) is not None:
            self._remove(kref)

    # -- promises ----------------------------------------------------------------

    def promise_state(self, kpid: str) -> str | None:
        record = self.record(kpid)
        return record.state if record is not None else None

    def decider_of(self, kpid: str) -> str | None:
        record = self.record(kpid)
        return record.decider if record is not None else None

    def set_decider(self, kpid: str, vat_id: str | None) -> None:
        self.touch(kpid).decider = vat_id or None

    def subscribers(self, kpid: str) -> list[str]:
        """Read-only (the record's own list)."""
        record = self.record(kpid)
        return record.subscribers if record is not None else []

    def add_subscriber(self, kpid: str, vat_id: str) -> None:
        record = self.record(kpid)
        if record is not None and vat_id not in record.subscribers:
            record = self.touch(kpid)
            record.subscribers = sorted([*record.subscribers, vat_id])

    def promise_queue(self, kpid: str) -> list[dict[str, Any]]:
        """The messages queued on `kpid`: read-only (the record's own list)."""
        record = self.record(kpid)
        return record.queue if record is not None else []

    def queue_message(self, kpid: str, msg: dict[str, Any]) -> None:
        """Queue `msg` on unresolved `kpid`: one append (see `PromiseRecord`)."""
        self.touch(kpid).queue.append(msg)

    def promise_data(self, kpid: str) -> CapData:
        record = self.record(kpid)
        return None if record is None else record.data  # type: ignore[return-value]

    def set_resolution(self, kpid: str, rejected: bool, data: CapData) -> None:
        record = self.touch(kpid)
        record.state = "rejected" if rejected else "fulfilled"
        record.data = data
        record.decider = None
        record.subscribers = []
        record.queue = []

    def delete_promise(self, kpid: str) -> None:
        if self.record(kpid) is not None:
            self._remove(kpid)

    # -- run-queue ---------------------------------------------------------------
    #
    # The run-queue lives in memory: events by position, and [head, tail). Every
    # crank pops one event and pushes a few, and most are consumed before the next
    # commit, so writing each to the store (and parsing it back) was waste. `flush`
    # writes the store's ``runQueue.*`` keys from memory; the kernel calls it before
    # every store commit and before reading the store whole (`dump`).

    # In the store (schema 4) the queue is in chunks of `RUN_QUEUE_CHUNK`
    # positions, ``runQueue.<k>`` holding the live events of positions
    # [k * CHUNK, (k + 1) * CHUNK) as ``[first position, event, ...]``: a burst of
    # 10,000 sends in flight across blocks was 20,000 rows written and deleted,
    # and is ~300 chunks. A chunk may still list events consumed since it was
    # written (below ``runQueue.head``); loading skips them, and a chunk is
    # deleted once it holds no live event.

    def _load_run_queue(self) -> dict[int, dict[str, Any]]:
        kv = self.kv
        head, tail = int(kv.get("runQueue.head") or 0), int(kv.get("runQueue.tail") or 0)
        self._stored_bounds = (head, tail)
        self._run_queue_bounds = [head, tail]
        events: dict[int, dict[str, Any]] = {}
        for k in _chunks_of(head, tail):
            self._stored_chunks.add(k)
            first, *chunk = loads(kv.get(f"runQueue.{k}") or "[0]")
            for n, event in enumerate(chunk, first):
                if head <= n < tail:
                    events[n] = event
        self._events = events
        return events

    # A crank's journal of the run-queue is its bounds before the crank first
    # moved them and the events it popped: on abort, whatever lies outside the
    # old bounds was pushed by the crank and goes, and what was popped comes back.

    def _bounds_for_change(self) -> list[int]:
        """The run-queue's [head, tail), about to change (journalled)."""
        if self._events is None:
            self._load_run_queue()
        bounds: list[int] = self._run_queue_bounds  # type: ignore[assignment]
        undo = self._undo
        if undo is not None and _BOUNDS not in undo:
            undo[_BOUNDS] = (bounds[0], bounds[1])
        return bounds

    def push_event(self, event: dict[str, Any]) -> None:
        bounds = self._bounds_for_change()
        tail = bounds[1]
        self._events[tail] = event  # type: ignore[index]
        self._unflushed.add(tail)
        bounds[1] = tail + 1

    def push_events_first(self, events: list[dict[str, Any]]) -> None:
        """Put `events` at the head of the run-queue, in order, before everything queued."""
        bounds = self._bounds_for_change()
        queued: dict[int, dict[str, Any]] = self._events  # type: ignore[assignment]
        for event in events[::-1]:  # (mypyc cannot compile reversed() here)
            position = bounds[0] - 1
            queued[position] = event
            self._unflushed.add(position)
            bounds[0] = position

    def pop_event(self) -> dict[str, Any] | None:
        if self._events is None:
            self._load_run_queue()
        head, tail = self._run_queue_bounds  # type: ignore[misc]
        if head >= tail:
            return None
        bounds = self._bounds_for_change()
        bounds[0] = head + 1
        event = self._events.pop(head)  # type: ignore[union-attr]
        if self._undo is not None:
            self._undo["q", head] = event
        return event

    def run_queue_length(self) -> int:
        if self._events is None:
            self._load_run_queue()
        head, tail = self._run_queue_bounds  # type: ignore[misc]
        return tail - head

    def run_queue_events(self) -> list[dict[str, Any]]:
        events = self._events
        if events is None:
            events = self._load_run_queue()
        head, tail = self._run_queue_bounds  # type: ignore[misc]
        return [events[n] for n in range(head, tail)]

    def _flush_run_queue(self) -> None:
        events = self._events
        if events is None:
            return
        kv, stored = self.kv, self._stored_chunks
        head, tail = self._run_queue_bounds  # type: ignore[misc]
        live = _chunks_of(head, tail)
        for k in [k for k in stored if k not in live]:
            kv.delete(f"runQueue.{k}")  # every event in it consumed
            stored.discard(k)
        for k in {n // RUN_QUEUE_CHUNK for n in self._unflushed}:
            if k not in live:
                continue  # pushed and consumed since the last flush
            first = max(head, k * RUN_QUEUE_CHUNK)
            chunk = [events[n] for n in range(first, min(tail, (k + 1) * RUN_QUEUE_CHUNK))]
            kv.set(f"runQueue.{k}", dumps([first, *chunk]))
            stored.add(k)
        self._unflushed.clear()
        stored_head, stored_tail = self._stored_bounds
        if head != stored_head:
            kv.set("runQueue.head", str(head))
        if tail != stored_tail:
            kv.set("runQueue.tail", str(tail))
        self._stored_bounds = (head, tail)

    # -- the crank's undo (see the module docstring) ----------------------------------

    def begin_crank(self) -> None:
        self._undo = {}

    def commit_crank(self) -> None:
        self._undo = None

    def abort_crank(self) -> None:
        """Put back every counter, record, c-list entry and run-queue slot the crank
        changed, as it was before the crank."""
        undo, self._undo = self._undo, None
        if not undo:
            return
        records, counters = self._records, self._counters
        for key, before in undo.items():
            if type(key) is tuple:
                if key[0] == "c":
                    _, vat_id, entry_key = key
                    self._clist_write(vat_id, self._clists[vat_id], entry_key, before)
                elif key == _BOUNDS:  # equal, not the same object: compiled, a
                    self._restore_bounds(before)  # tuple constant is boxed anew
                elif key == _NAMES:
                    self._vat_names = before
                else:
                    self._events[key[1]] = before  # type: ignore[index]
            elif key in _COUNTERS or key[0] == "v":  # a counter (a vat's: ``vN.*``)
                if before is None:  # never set before the crank: nothing to write
                    counters.pop(key, None)
                    self._counters_dirty.discard(key)
                else:
                    counters[key] = before
                    self._counters_dirty.add(key)
            elif before is None:
                records.pop(key, None)
            else:
                before.restore()
                records[key] = before

    def _restore_bounds(self, before: tuple[int, int]) -> None:
        """Forget what the crank pushed: everything outside the bounds it began with."""
        events: dict[int, dict[str, Any]] = self._events  # type: ignore[assignment]
        bounds: list[int] = self._run_queue_bounds  # type: ignore[assignment]
        head, tail = before
        for n in [*range(min(bounds[0], head), head), *range(tail, max(bounds[1], tail))]:
            events.pop(n, None)
        bounds[0], bounds[1] = head, tail

    # -- write-back --------------------------------------------------------------

    def unflushed(self) -> int:
        """How many records, c-list entries and run-queue entries changed since the
        last `flush`."""
        return len(self._dirty) + len(self._clist_dirty) + len(self._unflushed)

    def flush(self) -> None:
        """Write counters, records and the run-queue to the store as they are in
        memory (net)."""
        self._flush_counters()
        self._flush_records()
        self._flush_clists()
        self._flush_run_queue()
        if self._names_dirty:
            self.kv.set("vat.names", dumps(self._names()))
            self._names_dirty = False

    def _flush_counters(self) -> None:
        kv, counters = self.kv, self._counters
        for key in self._counters_dirty:
            if kv.get(key) != (value := str(counters[key])):
                kv.set(key, value)
        self._counters_dirty.clear()
        counters.clear()  # read again on next use: see `counter`

    def prune(self) -> int:
        """What a store nobody reopens needs instead of `flush` between dumps:
        forget what is gone since the last flush (tombstones of deleted records,
        removed c-list entries, consumed run-queue positions, deleting whatever
        of it the store has), and write back the counters, so that memory holds
        live state only; live records and entries stay unwritten, as they are,
        until a `flush`. Copying them into an in-memory store every 100,000
        changes cost ~6 µs per object ref sent (each ref is four c-list entries
        and a record). Returns how many changes are left unflushed."""
        self._flush_counters()
        records = self._records
        live_records = set()
        for kref in self._dirty:
            record = records.get(kref)
            if record is _GONE:
                self._drop_gone(kref)
            elif record is not None:
                live_records.add(kref)
        self._dirty = live_records
        kv, tables = self.kv, self._clists
        live_entries = set()
        for entry in self._clist_dirty:
            vat_id, key = entry
            if key in tables[vat_id]:
                live_entries.add(entry)
            else:
                kv.delete(f"{vat_id}.c.{key}")  # a no-op if it was never stored
        self._clist_dirty = live_entries
        if self._run_queue_bounds is not None:
            head, tail = self._run_queue_bounds
            self._unflushed = {n for n in self._unflushed if head <= n < tail}
        return self.unflushed()

    # -- GC actions ----------------------------------------------------------------

    def gc_actions(self) -> list[GCAction]:
        value = self.kv.get("gcActions")
        return [GCAction.decode(text) for text in loads(value)] if value else []

    def set_gc_actions(self, actions: list[GCAction]) -> None:
        if actions:
            self.kv.set("gcActions", dumps(sorted({a.encode() for a in actions})))
        else:
            self.kv.delete("gcActions")

    def add_gc_actions(self, actions: list[GCAction]) -> None:
        if actions:
            self.set_gc_actions([*self.gc_actions(), *actions])

    # -- the recount's view ------------------------------------------------------------

    def device_held_krefs(self) -> list[str]:
        """Every object a device's c-list imports (devices hold them for good)."""
        return device_held_krefs(self.kv)

    def stored_krefs(self) -> list[str]:
        """Every object and promise the store has a record of (after a `flush`)."""
        return [
            k.split(".", 1)[0]
            for k, _ in self.kv.items_with_prefix("k")
            if k.endswith((".refCount", ".record"))
        ]


def _chunks_of(head: int, tail: int) -> range:
    """The run-queue chunks that hold positions [head, tail)."""
    if head >= tail:
        return range(0)
    return range(head // RUN_QUEUE_CHUNK, (tail - 1) // RUN_QUEUE_CHUNK + 1)


__all__ = ["KernelKeeper", "is_object"]
