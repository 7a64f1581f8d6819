"""Reference counting: the one place counts change, and the recount that checks them.

A kernel object (``koN``) carries ``(reachable, recognizable)``; a kernel promise
(``kpN``) a single count. Every holder increments when it starts holding and
decrements when it stops; a count that reaches zero puts the kref in
`maybe_free`, which `process_maybe_free` turns into GC decisions at the end of
the crank (so a count that dips to zero and comes back within one crank frees
nothing):

- an owned object no longer reachable: ``dropExport`` to its owner;
- an owned object no longer recognizable: ``retireExport`` (the owner forgets
  it, the object's keys go away);
- an object whose owner is gone, unrecognizable: its keys go away;
- a promise nobody refers to: its keys go away, releasing what its resolution
  and queue held;
- settled promises that only one another's resolutions refer to (resolved to
  each other, and every vat has heard): their keys go away together
  (`_collect_cycle`). SwingSet keeps such a cycle for good.

`recount` computes every count from scratch (c-lists, run-queue, promise queues
and resolutions, retained vatParameters, vat roots, host pins, devices' c-lists)
for `audit()`. Device nodes (``kdN``) have no count: devices do no GC (as in
SwingSet); an object a device imports is held by it for good.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from ..._refs import is_object
from ...errors import KernelPanic
from .records import GCAction, ObjectRecord

if TYPE_CHECKING:
    from .keeper import KernelKeeper


def event_krefs(event: dict[str, Any]) -> list[str]:
    """The krefs a queued run-queue event holds a count on."""
    kind = event["type"]
    if kind == "send":
        return [event["target"], *message_krefs(event["msg"])]
    if kind == "notify":
        return [event["kpid"]]
    if kind in ("startVat", "upgradeVat"):
        return list(event["vatParameters"]["slots"]) if event.get("vatParameters") else []
    if kind == "terminateVat":
        return list(event["reason"]["slots"])
    return []


def message_krefs(msg: dict[str, Any]) -> list[str]:
    """The krefs a message holds (its target aside): argument slots and result."""
    krefs = list(msg["methargs"]["slots"])
    if msg["result"] is not None:
        krefs.append(msg["result"])
    return krefs


class RefCounts:
    def __init__(self, keeper: KernelKeeper) -> None:
        self.keeper = keeper
        self.maybe_free: set[str] = set()
        # Every device node (kdN) the last `recount` met, for `audit` to check.
        self.device_refs_seen: set[str] = set()

    def get(self, kref: str) -> tuple[int, int]:
        record = self.keeper.record(kref)
        if record is None:
            raise KeyError(f"unknown kref {kref}")
        if type(record) is ObjectRecord:
            return record.reachable, record.recognizable
        return record.refcount, record.refcount

    def incref(self, kref: str, reachable: bool = True) -> None:
        if kref[1] == "d":
            return  # a device node: devices do no GC, nothing counts it
        record = self.keeper.touch(kref)
        if kref[1] == "o":
            if reachable:
                record.reachable += 1
            record.recognizable += 1
        else:
            record.refcount += 1

    def decref(self, kref: str, reachable: bool = True) -> None:
        if kref[1] == "d":
            return
        record = self.keeper.touch(kref)
        if kref[1] == "o":
            if reachable:
                record.reachable -= 1
            record.recognizable -= 1
            if record.reachable < 0 or record.recognizable < 0:
                raise _underflow(kref)
            if record.reachable == 0 or record.recognizable == 0:
                self.maybe_free.add(kref)
        else:
            record.refcount -= 1
            if record.refcount < 0:
                raise _underflow(kref)
            if record.refcount == 0:
                self.maybe_free.add(kref)
            elif record.data is not None and _names_a_promise(record.data["slots"]):
                self.maybe_free.add(kref)  # settled: maybe held only by a cycle

    def drop_reachable(self, kref: str) -> None:
        """An object's holder keeps only recognizing it (an import dropped): one
        count less of reachable, recognizable unchanged."""
        record = self.keeper.touch(kref)
        record.reachable -= 1
        if record.reachable < 0:
            raise _underflow(kref)
        if record.reachable == 0:
            self.maybe_free.add(kref)

    def regain_reachable(self, kref: str) -> None:
        """The holder of a recognizable-only object can reach it again (the
        kernel sent it back): one count more of reachable, recognizable unchanged."""
        self.keeper.touch(kref).reachable += 1

    def incref_all(self, krefs: list[str]) -> None:
        for kref in krefs:
            self.incref(kref)

    def decref_all(self, krefs: list[str]) -> None:
        for kref in krefs:
            self.decref(kref)

    def unreferenced_reachable_export(self, kref: str) -> tuple[str, str] | None:
        owner = self.keeper.owner_of(kref)
        if owner is None:
            return None
        entry = self.keeper.clist_table(owner).get(kref)
        if entry is None or entry[0] != "R":
            return None
        return owner, entry[2:]

    def process_maybe_free(self) -> None:
        """Turn counts that reached zero this crank into GC actions and deletions.

        Sorted, because a set's order depends on string hashing, and the kernel's
        state must not.
        """
        keeper = self.keeper
        actions: list[GCAction] = []
        while self.maybe_free:
            batch = sorted(self.maybe_free)
            self.maybe_free.clear()
            for kref in batch:
                if not is_object(kref):
                    state = keeper.promise_state(kref)
                    if state is None:
                        continue
                    if self.get(kref)[0] == 0:
                        self._delete_promise(kref)
                    elif state != "unresolved":
                        self._collect_cycle(kref)
                    continue
                if not keeper.object_exists(kref):
                    continue
                reachable, recognizable = self.get(kref)
                owner = keeper.owner_of(kref)
                if owner is None:
                    if recognizable == 0:
                        keeper.delete_object(kref)
                    continue
                if reachable == 0 and self.unreferenced_reachable_export(kref):
                    actions.append(GCAction(owner, "dropExport", kref))
                if recognizable == 0:
                    actions.append(GCAction(owner, "retireExport", kref))
        keeper.add_gc_actions(actions)

    def _delete_promise(self, kpid: str) -> None:
        keeper = self.keeper
        if keeper.promise_state(kpid) != "unresolved":
            self.decref_all(keeper.promise_data(kpid)["slots"])
        for msg in keeper.promise_queue(kpid):
            self.decref_all(message_krefs(msg))
        keeper.delete_promise(kpid)

    def _collect_cycle(self, kpid: str) -> None:
        """Delete the settled promises reachable from settled `kpid` through
        resolution data that nothing else refers to.

        Trial deletion over that subgraph (its members: settled promises): a member
        whose count exceeds the references the members' data make to it is held
        from outside (a c-list, an event, a pin, an unsettled promise's queue);
        what such a member reaches is alive too; the rest refer only to one another.
        Cheap in the usual case, a resolution naming no settled promise: one member.
        """
        keeper = self.keeper
        edges: dict[str, list[str]] = {}  # member -> the promises its data names
        todo = [kpid]
        while todo:
            each = todo.pop()
            record = keeper.record(each)
            if each in edges or record is None or record.data is None:
                continue  # seen, or not settled: not a member
            edges[each] = [slot for slot in record.data["slots"] if not is_object(slot)]
            todo.extend(edges[each])
        inside = Counter(slot for named in edges.values() for slot in named if slot in edges)
        alive = [each for each in edges if keeper.record(each).refcount > inside[each]]
        reached: set[str] = set()
        while alive:
            each = alive.pop()
            if each not in reached:
                reached.add(each)
                alive.extend(slot for slot in edges[each] if slot in edges)
        garbage = sorted(each for each in edges if each not in reached)
        for each in garbage:
            for slot in keeper.promise_data(each)["slots"]:
                if slot in edges and slot not in reached:
                    continue  # garbage too: goes with it
                self.decref(slot)
        for each in garbage:
            keeper.delete_promise(each)

    # -- audit ---------------------------------------------------------------------

    def recount(self) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
        """(expected counts from every holder, stored counts) for every kref."""
        keeper = self.keeper
        keeper.flush()  # the stored counts are what is checked
        reach: Counter[str] = Counter()
        recog: Counter[str] = Counter()

        device_refs = self.device_refs_seen = set()

        def hold(kref: str, reachable: bool = True) -> None:
            if kref[1] == "d":
                device_refs.add(kref)  # counted by no one: `audit` checks it names a device
                return
            recog[kref] += 1
            if reachable:
                reach[kref] += 1

        for vat_id in keeper.vat_ids():
            vat = keeper.vat(vat_id)
            for kref, entry in vat.clist.entries():
                if is_object(kref) and keeper.owner_of(kref) == vat_id:
                    continue
                hold(kref, entry[0] == "R")
            for held in vat.held_krefs():
                hold(held)
            params = vat.vat_parameters()
            if params is not None:
                for kref in params["slots"]:
                    hold(kref)
        for kref in keeper.device_held_krefs():
            hold(kref)
        callbacks = keeper.vat_admin_callbacks()
        if callbacks is not None:
            hold(callbacks)
        for kpid in keeper.upgrade_results():
            hold(kpid)
        for event in keeper.run_queue_events():
            for kref in event_krefs(event):
                hold(kref)
        stored: dict[str, tuple[int, int]] = {}
        for kref in keeper.stored_krefs():
            stored[kref] = self.get(kref)
            if is_object(kref):
                continue
            if keeper.is_pinned(kref):
                hold(kref)
            state = keeper.promise_state(kref)
            if state is not None and state != "unresolved":
                for slot in keeper.promise_data(kref)["slots"]:
                    hold(slot)
            for msg in keeper.promise_queue(kref):
                for slot in message_krefs(msg):
                    hold(slot)
        expected = {k: (reach[k], recog[k]) for k in set(recog) | set(stored)}
        return expected, stored


def _names_a_promise(slots: list[str]) -> bool:
    """A settled promise's resolution names a promise (it may be part of a cycle)."""
    return bool(slots) and any(slot[1] == "p" for slot in slots)  # most have none


def _underflow(kref: str) -> KernelPanic:
    return KernelPanic(f"refcount of {kref} went below zero: kernel state is inconsistent")
