"""The `local` worker: a vat as an anyio task in the kernel's process.

The handoff is one yield each way per crank. The kernel puts a delivery in the
vat's mailbox with `send_nowait` and yields once; by the time it resumes, the vat
task has (almost always) run the delivery to quiescence (its syscalls are plain
function calls into the kernel, which is parked) and answered with `send_nowait`,
so the kernel takes the answer with `receive_nowait`. The vat task does the same
on its side. Only when the other side is not there yet does either fall back to
a full, waiting `receive()`.

The yield is the backend's own cheapest checkpoint, chosen once per worker:
anyio's generic `checkpoint()` looks the backend up on every call, which on the
crank path cost a third of the handoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .._liveslots.bundle import BundleLoadError, load_build_root_object
from .._liveslots.durable import make_baggage
from .._liveslots.liveslots import LiveSlots, Syscall
from ..errors import BundleError


def _cheapest_checkpoint() -> Callable[[], Awaitable[None]]:
    """The running backend's plain yield-to-the-scheduler (a cancellation point)."""
    import trio

    try:
        trio.lowlevel.current_task()  # raises outside a trio run
    except RuntimeError:
        pass
    else:
        return trio.lowlevel.checkpoint
    import asyncio

    async def sleep0() -> None:
        await asyncio.sleep(0)

    return sleep0


class LocalWorker:
    def __init__(self, liveslots: LiveSlots, name: str) -> None:
        self._liveslots = liveslots
        self._name = name
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[list[Any]](1)
        self._reply_send, self._replies = anyio.create_memory_object_stream[list[Any]](1)
        self._scope: anyio.CancelScope | None = None
        self._yield: Callable[[], Awaitable[None]] = anyio.lowlevel.checkpoint

    async def start(self, task_group: TaskGroup) -> None:
        self._yield = _cheapest_checkpoint()
        await task_group.start(self._run, name=f"vat {self._name}")

    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            task_status.started()
            dispatch = self._liveslots.dispatch
            reply = self._reply_send.send_nowait
            inbox, yield_ = self._inbox, self._yield
            with self._inbox, self._reply_send:
                while True:
                    try:
                        delivery = inbox.receive_nowait()
                    except anyio.WouldBlock:
                        try:
                            delivery = await inbox.receive()
                        except anyio.EndOfStream:
                            return
                    except anyio.EndOfStream:
                        return
                    reply(dispatch(delivery))
                    await yield_()  # let the kernel take the answer and send the next

    async def deliver(self, delivery: list[Any]) -> list[Any]:
        self._inbox_send.send_nowait(delivery)
        await self._yield()
        try:
            return self._replies.receive_nowait()
        except anyio.WouldBlock:
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
