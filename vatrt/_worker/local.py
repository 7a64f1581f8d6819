"""The `local` worker: a vat as an anyio task in the kernel's process.

A delivery and its answer strictly alternate between tasks, so the handoff is a
slot and a way to wake the other side (`parking`), not a pair of memory object
streams. Two ways in:

- `hand_over` (the crank loop's way): the delivery goes in the slot with a
  function to call with the answer, and the vat's task is woken. After
  delivering, the vat's task calls it: that is the kernel's work for the end of
  this crank and the beginning of the next, which hands the next delivery on
  (to this vat again: it runs at once, with a yield to the loop every 64).
- `deliver` (starting a vat, upgrades, replay): the kernel's task awaits the
  answer. On asyncio it yields once (a bare ``yield``) and the vat task runs
  first in that loop pass, so the answer is waiting; on trio, which runs ready
  tasks in any order, it parks at once and the answer wakes it.

Cancelling the vat's scope (an upgrade, a termination) ends its task at its next
wait.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .._liveslots.bundle import BundleLoadError, load_build_root_object
from .._liveslots.durable import make_baggage
from .._liveslots.liveslots import LiveSlots
from ..errors import BundleError
from .base import Answer, Delivery, NoteFn, SyscallFn, WorkerSpec, WorkerStatus
from .parking import Parker, asyncio_yield, running_trio


class LocalWorker:
    def __init__(self, liveslots: LiveSlots, name: str) -> None:
        self._liveslots = liveslots
        self._name = name
        # The records go in and out as they are: nothing is encoded in-process.
        self._delivery: Delivery | None = None
        # Set with a delivery handed over by `hand_over`: what to call with its answer.
        self._then: Callable[[Answer], None] | None = None
        self._answer: Answer | None = None
        self._stopped = False
        self._scope: anyio.CancelScope | None = None

    def status(self) -> WorkerStatus:
        return WorkerStatus("local", os.getpid(), 0)

    async def start(self, task_group: TaskGroup) -> None:
        self._on_trio = running_trio()
        self._vat = Parker()
        self._kernel = Parker()
        await task_group.start(self._run, name=f"vat {self._name}")

    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            task_status.started()
            dispatch = self._liveslots.dispatch
            park, wake_kernel = self._vat.park, self._kernel.unpark
            pass_turn = _pass_turn()
            in_a_row = 0
            while not self._stopped:
                delivery = self._delivery
                if delivery is None:
                    in_a_row = 0
                    await park()
                    continue
                self._delivery = None
                then, self._then = self._then, None
                answer = dispatch(delivery)
                if then is None:
                    self._answer = answer
                    wake_kernel()
                    continue
                then(answer)  # the kernel's turn, in this task: it may hand us the next
                in_a_row += 1
                if in_a_row >= _IN_A_ROW_BEFORE_YIELDING:
                    in_a_row = 0
                    await pass_turn()  # let the host's other tasks run now and then

    async def deliver(self, delivery: Delivery) -> Answer:
        if self._stopped:
            raise RuntimeError(f"vat {self._name}: delivery to a stopped worker")
        self._answer = None  # a kernel cancelled mid-delivery left nothing to read
        self._delivery = delivery
        self._vat.unpark()
        if not self._on_trio:
            # asyncio runs the vat's step first in the next loop pass: the answer is
            # then waiting when this task resumes, and it never needs to park. Trio
            # runs ready tasks in any order, so there the kernel parks at once and
            # the vat's answer wakes it.
            await asyncio_yield()
        while (answer := self._take_answer()) is None:
            await self._kernel.park()
        return answer

    def hand_over(self, delivery: Delivery, then: Callable[[Answer], None]) -> None:
        """Baton passing: run `delivery` in the vat's task, then call `then(answer)`
        there, instead of waking the kernel's task. `then` goes on with the
        kernel's work (the next crank) and may hand the next delivery to any vat,
        this one included (then it runs without a task switch)."""
        if self._stopped:
            raise RuntimeError(f"vat {self._name}: delivery to a stopped worker")
        self._delivery, self._then = delivery, then
        self._vat.unpark()

    def take_back(self) -> None:
        """Withdraw a delivery handed over and not yet run (its crank is aborted)."""
        self._delivery = self._then = None

    def _take_answer(self) -> Answer | None:
        answer, self._answer = self._answer, None
        return answer

    def stop(self) -> None:
        """Cancel the vat's task; its incarnation is over."""
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()


# Deliveries a vat runs back to back, without going through the event loop,
# before it yields once anyway.
_IN_A_ROW_BEFORE_YIELDING = 64


def _pass_turn() -> Callable[[], Awaitable[None]]:
    """The running backend's cheapest yield to the scheduler (a cancellation point)."""
    if running_trio():
        import trio

        return trio.lowlevel.checkpoint
    return asyncio_yield


def _module_name(vat_id: str, incarnation: int) -> str:
    return f"vatrt_vat_{vat_id}_i{incarnation}"


class LocalWorkerFactory:
    """The `local` kind: each vat an anyio task in the kernel's process."""

    def validate_bundle(self, source: str, filename: str) -> None:
        """Load the bundle once, to refuse at install time what could never start."""
        try:
            load_build_root_object(source, filename, "vatrt_bundle_check")
        except BundleLoadError as e:
            raise BundleError(str(e)) from None

    def make(self, spec: WorkerSpec, syscall: SyscallFn, note: NoteFn | None = None) -> LocalWorker:
        """A worker running the bundle as a fresh module with its own liveslots."""
        module = _module_name(spec.vat_id, spec.incarnation)
        try:
            build = load_build_root_object(spec.source, spec.filename, module)
        except BundleLoadError as e:
            raise BundleError(str(e)) from None
        turns = {} if spec.max_turns is None else {"max_turns": spec.max_turns}
        console = None
        if note is not None:
            vat_id = spec.vat_id

            def console(text: str) -> None:
                note({"type": "console", "vatID": vat_id, "text": text})

        liveslots = LiveSlots(syscall, build, make_baggage, console=console, **turns)
        return LocalWorker(liveslots, spec.name)
