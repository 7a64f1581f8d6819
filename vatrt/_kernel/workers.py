"""The kernel's table of running workers, one per live vat, journalled per crank;
and the vat warehouse: at most `max_online` of them loaded at once.

Starting a vat's worker, swapping it for a new incarnation's or stopping it is
part of the crank that does it: if the crank is undone (a failed upgrade, an
exception, the host cancelling `restart_vat`), the new worker is stopped and
the old one is back in the table, still running; a replaced or stopped worker
is really stopped only when its crank commits. Outside a crank (replay at
reopen) changes take effect at once.

**The warehouse** (SwingSet's vat warehouse). With a limit, the table keeps its
workers in least-recently-used order (each delivery moves its vat to the end),
and at the end of a crank that left more than `max_online` loaded, the vats idle
longest are *evicted*: their worker is stopped (a local vat's liveslots and task
dropped, a subprocess vat's child ended) and the vat is marked offline. An
offline vat still counts as started (`has`): its state is all in the store and
its transcript. Its next delivery brings it back (`load`) by replaying that
transcript into a fresh worker, as a reopen does, and a replayed vat is the vat
it was, so the kernel's state, and `dump()`, never depend on the limit. Loading
is not journalled: an offline vat and the same vat loaded are the same state.
"""

from __future__ import annotations

import gc

from anyio.abc import TaskGroup

from .._worker.base import Worker


class _Offline:
    """In the journal: the vat was offline (evicted) before the crank's change."""

    def stop(self) -> None:
        pass


_OFFLINE = _Offline()

# Evictions between two full collections. An evicted local vat's liveslots is a
# web of closures and tables that only the cycle collector frees, and full
# collections are rare while a kernel runs (`_controller`): without this, a
# 5,000-vat warehouse of 100 held 160 MiB instead of 85 (measured). A full
# collection walks what the kernel holds (~10 objects per vat), so once per
# 1,000 evictions it costs well under the loads those evictions made.
_COLLECT_EVERY = 1000


class WorkerTable:
    __slots__ = ("_journal", "_max_online", "_offline", "_task_group", "_workers", "evictions")

    def __init__(self, task_group: TaskGroup, max_online: int | None = None) -> None:
        self._task_group = task_group
        # Loaded workers; with a limit, in least-recently-delivered-to order.
        self._workers: dict[str, Worker] = {}
        self._max_online = max_online
        self._offline: set[str] = set()  # started vats evicted from the warehouse
        self.evictions = 0
        # In a crank: (vat, worker before, worker after) for every change.
        self._journal: list[tuple[str, Worker | _Offline | None, Worker | None]] | None = None

    @property
    def max_online(self) -> int | None:
        return self._max_online

    def get(self, vat_id: str) -> Worker | None:
        """The vat's loaded worker; None if it has none, or is offline."""
        return self._workers.get(vat_id)

    def has(self, vat_id: str) -> bool:
        """Whether the vat has started (loaded, or offline in the warehouse)."""
        return vat_id in self._workers or vat_id in self._offline

    def is_offline(self, vat_id: str) -> bool:
        return vat_id in self._offline

    def online(self) -> int:
        return len(self._workers)

    def offline(self) -> int:
        return len(self._offline)

    def __getitem__(self, vat_id: str) -> Worker:
        workers = self._workers
        if self._max_online is None:
            return workers[vat_id]
        worker = workers[vat_id] = workers.pop(vat_id)  # most recently used: last
        return worker

    async def start(self, vat_id: str, worker: Worker) -> None:
        """Start `worker` as vat `vat_id`'s, in place of the one it had (if any)."""
        await worker.start(self._task_group)
        self._swap(vat_id, worker)

    async def load(self, vat_id: str, worker: Worker) -> None:
        """Bring an offline vat back with `worker` (started here, its transcript
        still to replay); outside the journal (see the module docstring)."""
        await worker.start(self._task_group)
        self._offline.discard(vat_id)
        self._workers[vat_id] = worker

    def unload(self, vat_id: str) -> None:
        """Stop the vat's worker and put it offline (an eviction, or a load that
        failed half-way)."""
        worker = self._workers.pop(vat_id, None)
        if worker is not None:
            worker.stop()
        self._offline.add(vat_id)

    def mark_offline(self, vat_id: str) -> None:
        """At reopen: a started vat beyond the limit stays offline until its first
        delivery (it is not replayed now)."""
        self._offline.add(vat_id)

    def stop(self, vat_id: str) -> None:
        """Vat `vat_id` has no worker from now on."""
        if vat_id in self._workers:
            self._swap(vat_id, None)
        elif vat_id in self._offline:
            self._offline.discard(vat_id)
            if self._journal is not None:
                self._journal.append((vat_id, _OFFLINE, None))

    def _swap(self, vat_id: str, worker: Worker | None) -> None:
        before: Worker | _Offline | None = self._workers.pop(vat_id, None)
        if before is None and vat_id in self._offline:
            self._offline.discard(vat_id)
            before = _OFFLINE
        if worker is not None:
            self._workers[vat_id] = worker
        if self._journal is not None:
            self._journal.append((vat_id, before, worker))
        elif before is not None:
            before.stop()

    def begin_crank(self) -> None:
        self._journal = []

    def commit_crank(self) -> None:
        """Stop the workers the crank replaced or stopped; evict the vats idle
        longest while more than `max_online` are loaded."""
        journal, self._journal = self._journal, None
        if journal:
            for _, before, _after in journal:
                if before is not None and before not in self._workers.values():
                    before.stop()
        if self._max_online is not None and len(self._workers) > self._max_online:
            self._evict()

    def _evict(self) -> None:
        assert self._max_online is not None
        workers = self._workers
        while len(workers) > self._max_online:
            self.unload(next(iter(workers)))
            self.evictions += 1
            if self.evictions % _COLLECT_EVERY == 0:
                gc.collect()

    def abort_crank(self) -> None:
        """Stop the workers the crank started; put back the ones it replaced."""
        journal, self._journal = self._journal, None
        if journal:
            for vat_id, before, after in reversed(journal):
                if after is not None:
                    after.stop()
                    self._workers.pop(vat_id, None)
                if before is _OFFLINE:
                    self._offline.add(vat_id)
                elif isinstance(before, _Offline) or before is None:
                    pass
                else:
                    self._workers[vat_id] = before

    def stop_all(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
        self._offline.clear()
