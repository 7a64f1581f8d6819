"""The kernel's table of running workers, one per live vat, journalled per crank.

Starting a vat's worker, swapping it for a new incarnation's or stopping it is
part of the crank that does it: if the crank is undone (a failed upgrade, an
exception, the host cancelling `restart_vat`), the new worker is stopped and
the old one is back in the table, still running; a replaced or stopped worker
is really stopped only when its crank commits. Outside a crank (replay at
reopen) changes take effect at once.
"""

from __future__ import annotations

from anyio.abc import TaskGroup

from .._worker.base import Worker


class WorkerTable:
    __slots__ = ("_journal", "_task_group", "_workers")

    def __init__(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        self._workers: dict[str, Worker] = {}
        # In a crank: (vat, worker before, worker after) for every change.
        self._journal: list[tuple[str, Worker | None, Worker | None]] | None = None

    def get(self, vat_id: str) -> Worker | None:
        return self._workers.get(vat_id)

    def has(self, vat_id: str) -> bool:
        return vat_id in self._workers

    def __getitem__(self, vat_id: str) -> Worker:
        return self._workers[vat_id]

    async def start(self, vat_id: str, worker: Worker) -> None:
        """Start `worker` as vat `vat_id`'s, in place of the one it had (if any)."""
        await worker.start(self._task_group)
        self._swap(vat_id, worker)

    def stop(self, vat_id: str) -> None:
        """Vat `vat_id` has no worker from now on."""
        if vat_id in self._workers:
            self._swap(vat_id, None)

    def _swap(self, vat_id: str, worker: Worker | None) -> None:
        before = self._workers.pop(vat_id, None)
        if worker is not None:
            self._workers[vat_id] = worker
        if self._journal is not None:
            self._journal.append((vat_id, before, worker))
        elif before is not None:
            before.stop()

    def begin_crank(self) -> None:
        self._journal = []

    def commit_crank(self) -> None:
        """Stop the workers the crank replaced or stopped."""
        journal, self._journal = self._journal, None
        if journal:
            for _, before, _after in journal:
                if before is not None and before not in self._workers.values():
                    before.stop()

    def abort_crank(self) -> None:
        """Stop the workers the crank started; put back the ones it replaced."""
        journal, self._journal = self._journal, None
        if journal:
            for vat_id, before, after in reversed(journal):
                if after is not None:
                    after.stop()
                    self._workers.pop(vat_id, None)
                if before is not None:
                    self._workers[vat_id] = before

    def stop_all(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
