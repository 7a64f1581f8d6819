"""The `local` worker: a vat as an anyio task in the kernel's process.

The handoff is the cheapest anyio allows: the kernel puts a delivery in the
vat's mailbox with `send_nowait` (no checkpoint) and waits on the reply stream;
the vat task wakes, runs the delivery to quiescence (its syscalls are plain
function calls into the kernel, which is parked waiting), and answers with
`send_nowait`. One wake-up each way per crank, never a pair of full stream round
trips.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .._liveslots.bundle import BundleLoadError, load_build_root_object
from .._liveslots.durable import make_baggage
from .._liveslots.liveslots import LiveSlots, Syscall
from ..errors import BundleError


class LocalWorker:
    def __init__(self, liveslots: LiveSlots, name: str) -> None:
        self._liveslots = liveslots
        self._name = name
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[list[Any]](1)
        self._reply_send, self._replies = anyio.create_memory_object_stream[list[Any]](1)
        self._scope: anyio.CancelScope | None = None

    async def start(self, task_group: TaskGroup) -> None:
        await task_group.start(self._run, name=f"vat {self._name}")

    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            task_status.started()
            dispatch = self._liveslots.dispatch
            reply = self._reply_send.send_nowait
            with self._inbox, self._reply_send:
                async for delivery in self._inbox:
                    reply(dispatch(delivery))

    async def deliver(self, delivery: list[Any]) -> list[Any]:
        self._inbox_send.send_nowait(delivery)
        return await self._replies.receive()

    def stop(self) -> None:
        """Cancel the vat's task; its incarnation is over."""
        self._inbox_send.close()  # ends the task's loop; the task closes its own ends
        self._replies.close()
        if self._scope is not None:
            self._scope.cancel()


def _module_name(vat_id: str, incarnation: int) -> str:
    return f"vatrt_vat_{vat_id}_i{incarnation}"


def validate_bundle(source: str, filename: str) -> None:
    """Load the bundle once, to refuse at install time what could never start."""
    try:
        load_build_root_object(source, filename, "vatrt_bundle_check")
    except BundleLoadError as e:
        raise BundleError(str(e)) from None


def make_local_worker(
    vat_id: str,
    name: str,
    incarnation: int,
    source: str,
    filename: str,
    syscall: Syscall,
) -> LocalWorker:
    """A worker running `source` as a fresh module with its own liveslots."""
    try:
        build = load_build_root_object(source, filename, _module_name(vat_id, incarnation))
    except BundleLoadError as e:
        raise BundleError(str(e)) from None
    return LocalWorker(LiveSlots(syscall, build, make_baggage), name)
