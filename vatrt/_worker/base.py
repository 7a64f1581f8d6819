"""The boundary between the kernel and a running vat, whatever runs it.

The kernel sees only these two protocols (anyio's ``abc`` to its backends): a
`WorkerFactory`, handed to the kernel by whoever opens it, makes a `Worker`
for one incarnation of one vat. A second worker kind (a subprocess, a remote
host) is a new factory; the kernel does not change.

Deliveries, answers and syscalls are the records of `vatrt._protocol`: a
worker in the kernel's process passes them as they are; one in another process
sends them as frames made by that module's codec (the JSON lists transcripts
keep).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs
from anyio.abc import TaskGroup

# What crosses the boundary: records, re-exported for the worker kinds.
from .._protocol import Answer as Answer
from .._protocol import Delivery as Delivery
from .._protocol import Syscall as Syscall
from .._protocol import SyscallFn as SyscallFn

#: How a worker reports what it did on its own (restarts, limits): a slog record.
NoteFn = Callable[[dict[str, Any]], None]


@attrs.frozen
class WorkerSpec:
    """What a worker needs to run one incarnation of a vat."""

    vat_id: str
    name: str
    incarnation: int
    source: str  # the bundle's canonical text (`_bundle_format`)
    filename: str
    worker: str | None = None  # the kind (`vatrt._worker.kinds`); None: the kernel's default
    limits: dict[str, Any] | None = None  # delivery_timeout_s, memory_mb (subprocess only)
    restart: dict[str, Any] | None = None  # max_restarts, within_s (subprocess only)
    max_turns: int | None = None  # the turn meter's limit per delivery (None: liveslots')
    host: str | None = None  # the vat host it runs on (`vatrt._worker.remote`); None: here


@attrs.frozen
class WorkerStatus:
    """What `Kernel.worker_status` shows of a vat's worker."""

    kind: str  # "local" or "subprocess"
    pid: int  # the process the vat runs in (the kernel's own, for a local vat)
    restarts: int  # times its process was replaced after a crash (subprocess)
    host: str | None = None  # the vat host its process runs on (None: this machine)


@attrs.frozen
class HostStatus:
    """One host, as `Kernel.hosts()` shows it."""

    name: str
    launcher: str
    connected: bool
    pid: int  # the host process's pid on its node (0 before it first connected)
    node: str  # where it runs: a Ray node id, or the machine's name
    connections: int  # how many times it has connected (1 + reconnections)


class Worker(Protocol):
    """One incarnation of one vat, ready to take deliveries once started."""

    def status(self) -> WorkerStatus:
        """Its kind, process and restarts."""
        ...

    async def start(self, task_group: TaskGroup) -> None:
        """Start the vat's task in `task_group`; returns once it takes deliveries."""
        ...

    async def deliver(self, delivery: Delivery) -> Answer:
        """Run one delivery from the caller's task; the vat's verdict: `OK` or
        `Failed` (why)."""
        ...

    def hand_over(self, delivery: Delivery, then: Callable[[Answer], None]) -> None:
        """Run `delivery` and call `then(answer)` from the vat's side, without
        waking the kernel's task (the kernel's baton passes with the delivery)."""
        ...

    def take_back(self) -> None:
        """Withdraw a delivery handed over and not yet run."""
        ...

    def stop(self) -> None:
        """End the vat's task (an upgrade or termination ended this incarnation)."""
        ...


@runtime_checkable
class TranscriptReplayer(Protocol):
    """A worker that replays a transcript faster than one delivery at a time
    (a subprocess worker: many deliveries per frame, checked in the child)."""

    async def replay_transcript(
        self, vat_name: str, entries: list[str], between_batches: Callable[[], None]
    ) -> str | None:
        """Replay the encoded transcript `entries` (from position 0), each syscall
        checked against the record; the first divergence, or None.
        `between_batches` may raise to stop (a Ctrl-C)."""
        ...


class WorkerFactory(Protocol):
    """Makes workers of one kind, and checks bundles for it at install time."""

    def make(self, spec: WorkerSpec, syscall: SyscallFn, note: NoteFn) -> Worker:
        """A worker for `spec`, its code loaded, not started; `BundleError` if the
        bundle does not load. `note(record)` puts what the worker itself did (a
        restart, a limit) in the slog."""
        ...

    def validate_bundle(self, source: str, filename: str) -> None:
        """Raise `BundleError` if `source` could never start as a vat."""
        ...
