"""The kernel's state, all of it, as keys in the store.

Key schema (every key the kernel writes; values are strings)::

    kernel.schemaVersion = "2"          2: vats retain their vatParameters
    kernel.initialized = "1"            first boot done: static vats and bootstrap queued
    kernel.bootstrapResult = kpN        the bootstrap message's result promise
    kernel.crankNumber = N              cranks committed so far
    kernel.vatAdminCallbacks = koN      vat-admin's callbacks object (one count)
    kernel.upgrade.nextID = N           next upgrade request id (upN)
    kernel.upgradeResult.upN = kpN      kernel-decided: settles when upgrade upN is done

    vat.nextID = N                      next vat id (vN)
    vat.names = JSON [name, ...]        live vats, in creation order
    vat.name.<name> = vN
    vN.options = JSON {name, critical, reapInterval, dynamic, privileged}
    vN.source = b1-<sha256>             the bundle this incarnation runs
    vN.incarnation = N                  0 at creation, +1 per upgrade
    vN.vatParameters = JSON capdata     retained vatParameters; absent = none (schema < 2)
    vN.root = koN                       the root object (kept across upgrades)
    vN.adminNode = koN                  a dynamic vat's admin node (vat-admin's object)
    vN.createResult = kpN               kernel-decided: settles when the vat starts or fails
    vN.done = kpN                       kernel-decided: settles when the vat ends
    vN.reapCountdown = N                deliveries left until bring-out-your-dead
    vN.o.nextID = N, vN.p.nextID = N    next import vrefs o-N / p-N
    vN.c.<kref> = "R <vref>" | "_ <vref>"   c-list kernel->vat; R: reachable by the vat
    vN.c.<vref> = <kref>                c-list vat->kernel
    vN.vs.<key> = value                 vatstore: the vat's durable state

    ko.nextID = N, kp.nextID = N
    koN.owner = vN                      absent once the owning vat is gone
    koN.refCount = "<reachable>,<recognizable>"
    kpN.state = unresolved | fulfilled | rejected
    kpN.decider = vN                    absent while no vat may resolve it
    kpN.subscribers = "vA,vB"
    kpN.queue = JSON [message, ...]     sends waiting for a resolution
    kpN.data = JSON capdata             the resolution
    kpN.refCount = N

    runQueue.head = N, runQueue.tail = N, runQueue.<n> = JSON event
                                        (kernel-initiated upgrades go in at the head,
                                        so N may be negative)
    gcActions = JSON ["vN dropExport koN" | "vN retireExport koN" | "vN retireImport koN", ...]
    bundle.<id> = JSON {filename, source}
    namedBundle.<name> = bundle id      config bundles by name
    host.pin.<kpid> = "1"               a promise the host holds (one count)

Object and promise records (``koN.*``, ``kpN.*``), c-lists (``vN.c.*``) and the
run-queue live in memory as Python objects, loaded on first use and written back as the keys
above by `KernelKeeper.flush`, before each block commit (and `dump`): between
two flushes those keys in the store may be stale: other code reads them only
after a flush (`dump`, the recount behind `audit`).

A kernel object's refCount counts importing vats' c-list entries, queued events
and promise-queued messages, promise resolutions, retained vatParameters and the
vat records' holds (root, admin node, kernel-decided promises) and vat-admin's
callbacks; the owner's own export does not count. Refcount
arithmetic lives in `refcounts`; this module only reads and writes records.
"""

from __future__ import annotations

from typing import Any

import orjson

from .._marshal import CapData
from .._store.kvstore import KVStore

SCHEMA_VERSION = 2


def loads(text: str) -> Any:
    return orjson.loads(text)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Kernel-wide counters the keeper holds in memory, and their first values.
_COUNTERS = {"kernel.crankNumber": 0, "ko.nextID": 20, "kp.nextID": 40}

_PROMISE_SUFFIXES = ("state", "decider", "subscribers", "queue", "data")


class ObjectRecord:
    """A kernel object: its owner (None once the owner is gone) and its counts."""

    __slots__ = ("owner", "reachable", "recognizable")

    def __init__(self, owner: str | None, reachable: int = 0, recognizable: int = 0) -> None:
        self.owner = owner
        self.reachable = reachable
        self.recognizable = recognizable

    def copy(self) -> ObjectRecord:
        return ObjectRecord(self.owner, self.reachable, self.recognizable)


class PromiseRecord:
    """A kernel promise. Its lists are replaced, never changed in place, so a
    copy (the crank journal's) shares them safely."""

    __slots__ = ("data", "decider", "queue", "refcount", "state", "subscribers")

    def __init__(self, decider: str | None) -> None:
        self.state = "unresolved"
        self.decider = decider
        self.subscribers: list[str] = []
        self.queue: list[dict[str, Any]] = []
        self.data: CapData | None = None
        self.refcount = 0

    def copy(self) -> PromiseRecord:
        twin = PromiseRecord(self.decider)
        twin.state, twin.subscribers, twin.queue = self.state, self.subscribers, self.queue
        twin.data, twin.refcount = self.data, self.refcount
        return twin


# In the record cache: a kref deleted since the last flush (its keys are still stored).
_GONE: Any = object()


class KernelKeeper:
    """Typed access to the keys above. No policy: callers decide what is legal."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv
        # The run-queue (see below): loaded from the store on first use.
        self._events: dict[int, dict[str, Any]] | None = None
        self._run_queue_bounds: list[int] | None = None  # [head, tail) in memory
        self._stored_bounds = (0, 0)  # [head, tail) as the store has them
        self._unflushed: set[int] = set()  # positions written since the last flush
        # This crank's run-queue moves: (position, event it held or None, head, tail).
        self._journal: list[tuple[int, dict[str, Any] | None, int, int]] | None = None
        # Object and promise records (see below): kref -> record, or _GONE.
        self._records: dict[str, Any] = {}
        self._dirty: set[str] = set()  # krefs changed since the last flush
        self._counters: dict[str, int] = {}  # see `_COUNTERS`
        # C-lists (see below): vat -> {kref: "R vref", vref: kref}, as ``vN.c.*``.
        self._clists: dict[str, dict[str, str]] = {}
        self._clist_dirty: set[tuple[str, str]] = set()
        # In a crank, what each c-list entry it changed was before (None: absent).
        self._clist_undo: dict[tuple[str, str], str | None] | None = None
        # In a crank, what each record and counter it changed was before: a copy of
        # the record (None: the crank created it), or the counter's value.
        self._undo: dict[str, Any] | None = None

    # -- counters -----------------------------------------------------------------

    def _next(self, key: str, first: int = 1) -> int:
        value = self.kv.get(key)
        n = int(value) if value is not None else first
        self.kv.set(key, str(n + 1))
        return n

    def counter(self, key: str) -> int:
        """A kernel-wide counter (`_COUNTERS`): held in memory, written at flush."""
        n = self._counters.get(key)
        if n is None:
            value = self.kv.get(key)
            n = self._counters[key] = int(value) if value is not None else _COUNTERS[key]
        return n

    def bump(self, key: str) -> int:
        """Increment a kernel-wide counter; return its value before."""
        n = self.counter(key)
        undo = self._undo
        if undo is not None and key not in undo:
            undo[key] = n
        self._counters[key] = n + 1
        return n

    def allocate_object(self, owner: str) -> str:
        kref = f"ko{self.bump('ko.nextID')}"
        self._create(kref, ObjectRecord(owner))
        return kref

    def allocate_promise(self, decider: str | None) -> str:
        kpid = f"kp{self.bump('kp.nextID')}"
        self._create(kpid, PromiseRecord(decider or None))
        return kpid

    def allocate_vat_id(self) -> str:
        return f"v{self._next('vat.nextID', 1)}"

    def allocate_import_vref(self, vat_id: str, kind: str) -> str:
        return f"{kind}-{self._next(f'{vat_id}.{kind}.nextID', 50)}"

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
        count = kv.get(f"{kref}.refCount")
        if count is None:
            return _GONE  # not cached: the store stays the authority on absence
        record: ObjectRecord | PromiseRecord
        if kref[1] == "o":
            reachable, recognizable = count.split(",")
            record = ObjectRecord(kv.get(f"{kref}.owner"), int(reachable), int(recognizable))
        else:
            record = PromiseRecord(kv.get(f"{kref}.decider"))
            record.state = kv.get(f"{kref}.state") or "unresolved"
            subscribers = kv.get(f"{kref}.subscribers")
            record.subscribers = subscribers.split(",") if subscribers else []
            queue = kv.get(f"{kref}.queue")
            record.queue = loads(queue) if queue else []
            data = kv.get(f"{kref}.data")
            record.data = loads(data) if data else None
            record.refcount = int(count)
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
                del records[kref]
                if kv.get(f"{kref}.refCount") is None:
                    continue  # born and gone since the last flush: never stored
                suffixes = ("owner",) if kref[1] == "o" else _PROMISE_SUFFIXES
                for suffix in (*suffixes, "refCount"):
                    kv.delete(f"{kref}.{suffix}")
            elif type(record) is ObjectRecord:
                put(f"{kref}.owner", record.owner)
                put(f"{kref}.refCount", f"{record.reachable},{record.recognizable}")
            else:
                assert type(record) is PromiseRecord
                put(f"{kref}.state", record.state)
                put(f"{kref}.decider", record.decider)
                put(f"{kref}.subscribers", ",".join(record.subscribers) or None)
                put(f"{kref}.queue", dumps(record.queue) if record.queue else None)
                put(f"{kref}.data", dumps(record.data) if record.data is not None else None)
                put(f"{kref}.refCount", str(record.refcount))
        self._dirty.clear()

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
            cut = len(vat_id) + 3
            rows = self.kv.items_with_prefix(f"{vat_id}.c.")
            table = self._clists[vat_id] = {key[cut:]: value for key, value in rows}
        return table

    def clist_put(self, vat_id: str, table: dict[str, str], key: str, value: str) -> None:
        undo = self._clist_undo
        if undo is not None and (vat_id, key) not in undo:
            undo[vat_id, key] = table.get(key)
        table[key] = value
        self._clist_dirty.add((vat_id, key))

    def clist_remove(self, vat_id: str, table: dict[str, str], key: str) -> None:
        if key not in table:
            return
        undo = self._clist_undo
        if undo is not None and (vat_id, key) not in undo:
            undo[vat_id, key] = table[key]
        del table[key]
        self._clist_dirty.add((vat_id, key))

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
        record = self.record(kpid)
        return list(record.subscribers) if record is not None else []

    def add_subscriber(self, kpid: str, vat_id: str) -> None:
        record = self.record(kpid)
        if record is not None and vat_id not in record.subscribers:
            record = self.touch(kpid)
            record.subscribers = sorted([*record.subscribers, vat_id])

    def promise_queue(self, kpid: str) -> list[dict[str, Any]]:
        record = self.record(kpid)
        return list(record.queue) if record is not None else []

    def set_promise_queue(self, kpid: str, queue: list[dict[str, Any]]) -> None:
        self.touch(kpid).queue = list(queue)

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
    # every store commit and before reading the store whole (`dump`). A crank keeps
    # a journal of its run-queue moves, undone if the crank aborts.

    def _load_run_queue(self) -> dict[int, dict[str, Any]]:
        kv = self.kv
        head, tail = int(kv.get("runQueue.head") or 0), int(kv.get("runQueue.tail") or 0)
        self._stored_bounds = (head, tail)
        self._run_queue_bounds = [head, tail]
        events = self._events = {
            n: loads(kv.get(f"runQueue.{n}") or "null") for n in range(head, tail)
        }
        return events

    def begin_crank(self) -> None:
        self._journal = []
        self._undo = {}
        self._clist_undo = {}

    def commit_crank(self) -> None:
        self._journal = None
        self._undo = None
        self._clist_undo = None

    def abort_crank(self) -> None:
        """Undo the crank's changes to counters, records, c-lists and the run-queue."""
        clist_undo, self._clist_undo = self._clist_undo, None
        for (vat_id, key), before in (clist_undo or {}).items():
            table = self._clists[vat_id]
            if before is None:
                table.pop(key, None)
            else:
                table[key] = before
        undo, self._undo = self._undo, None
        records, counters = self._records, self._counters
        for key, before in (undo or {}).items():
            if key in _COUNTERS:
                counters[key] = before
            elif before is None:
                records.pop(key, None)
            else:
                records[key] = before
        journal, self._journal = self._journal, None
        if not journal:
            return
        events, bounds = self._events, self._run_queue_bounds
        assert events is not None
        assert bounds is not None
        for n, event, head, tail in reversed(journal):
            if event is None:
                del events[n]
            else:
                events[n] = event
            bounds[0], bounds[1] = head, tail

    def push_event(self, event: dict[str, Any]) -> None:
        events = self._events
        if events is None:
            events = self._load_run_queue()
        bounds = self._run_queue_bounds
        head, tail = bounds  # type: ignore[misc]
        events[tail] = event
        self._unflushed.add(tail)
        bounds[1] = tail + 1  # type: ignore[index]
        if self._journal is not None:
            self._journal.append((tail, None, head, tail))

    def push_events_first(self, events: list[dict[str, Any]]) -> None:
        """Put `events` at the head of the run-queue, in order, before everything queued."""
        for event in reversed(events):
            queued = self._events
            if queued is None:
                queued = self._load_run_queue()
            bounds = self._run_queue_bounds
            head, tail = bounds  # type: ignore[misc]
            position = head - 1
            if self._journal is not None:
                self._journal.append((position, queued.get(position), head, tail))
            queued[position] = event
            self._unflushed.add(position)
            bounds[0] = position  # type: ignore[index]

    def pop_event(self) -> dict[str, Any] | None:
        events = self._events
        if events is None:
            events = self._load_run_queue()
        bounds = self._run_queue_bounds
        head, tail = bounds  # type: ignore[misc]
        if head >= tail:
            return None
        event = events.pop(head)
        bounds[0] = head + 1  # type: ignore[index]
        if self._journal is not None:
            self._journal.append((head, event, head, tail))
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

    def unflushed(self) -> int:
        """How many records, c-list entries and run-queue entries changed since the
        last `flush`."""
        return len(self._dirty) + len(self._clist_dirty) + len(self._unflushed)

    def flush(self) -> None:
        """Write counters, records and the run-queue to the store as they are in
        memory (net)."""
        kv = self.kv
        for key, n in self._counters.items():
            if kv.get(key) != (value := str(n)):
                kv.set(key, value)
        self._flush_records()
        self._flush_clists()
        self._flush_run_queue()

    def _flush_run_queue(self) -> None:
        events = self._events
        if events is None:
            return
        kv = self.kv
        head, tail = self._run_queue_bounds  # type: ignore[misc]
        stored_head, stored_tail = self._stored_bounds
        for n in range(stored_head, min(stored_tail, head)):
            kv.delete(f"runQueue.{n}")  # consumed since the last flush
        for n in self._unflushed:
            if head <= n < tail:
                kv.set(f"runQueue.{n}", dumps(events[n]))
        self._unflushed.clear()
        if head != stored_head:
            kv.set("runQueue.head", str(head))
        if tail != stored_tail:
            kv.set("runQueue.tail", str(tail))
        self._stored_bounds = (head, tail)

    # -- GC actions ----------------------------------------------------------------

    def gc_actions(self) -> list[str]:
        value = self.kv.get("gcActions")
        return loads(value) if value else []

    def set_gc_actions(self, actions: list[str]) -> None:
        if actions:
            self.kv.set("gcActions", dumps(sorted(set(actions))))
        else:
            self.kv.delete("gcActions")

    # -- vats --------------------------------------------------------------------

    def vat_names(self) -> list[str]:
        return loads(self.kv.get("vat.names") or "[]")  # type: ignore[no-any-return]

    def vat_id_of(self, name: str) -> str | None:
        return self.kv.get(f"vat.name.{name}")

    def add_vat(self, name: str, vat_id: str) -> None:
        names = self.vat_names()
        names.append(name)
        self.kv.set("vat.names", dumps(names))
        self.kv.set(f"vat.name.{name}", vat_id)

    def remove_vat(self, name: str) -> None:
        self.kv.set("vat.names", dumps([n for n in self.vat_names() if n != name]))
        self.kv.delete(f"vat.name.{name}")

    def vat_options(self, vat_id: str) -> dict[str, Any]:
        return loads(self.kv.get(f"{vat_id}.options") or "{}")  # type: ignore[no-any-return]

    def vat_ids(self) -> list[str]:
        """Live vat ids, in creation order."""
        return [v for v in (self.vat_id_of(n) for n in self.vat_names()) if v is not None]

    def is_live_vat(self, vat_id: str) -> bool:
        return self.kv.get(f"{vat_id}.options") is not None

    # -- host pins ---------------------------------------------------------------

    def is_pinned(self, kpid: str) -> bool:
        return self.kv.get(f"host.pin.{kpid}") is not None
