"""Worker children: the processes a `subprocess` worker talks frames with.

A `SubprocessWorker` does not care where its child runs, only that it can send
it bytes, read its bytes, kill it and learn how it ended: that is a `Child`.
A `ChildSource` hands out started children. Here: children on this machine
(`LocalChild`, from `Spares`, which keeps some started ahead of need). A vat
host on another machine hands out children too (`vatrt._worker.remote`), so
limits, restarts and replay work the same for a vat there.
"""

from __future__ import annotations

from typing import Protocol

import anyio
from anyio.abc import Process, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from .processes import child_command, child_environment

_EXIT_GRACE_S = 0.5  # a stopped child has this long to exit on end-of-stream


class Child(Protocol):
    """One worker child process, wherever it runs."""

    @property
    def pid(self) -> int: ...

    @property
    def receiver(self) -> BufferedByteReceiveStream:
        """The child's frames (its stdout)."""
        ...

    async def send(self, data: bytes) -> None:
        """Bytes to the child's stdin; anyio's Broken/ClosedResourceError or
        OSError if it is gone."""
        ...

    def kill(self) -> None:
        """SIGKILL, now (a limit, a crank taken back)."""
        ...

    async def wait(self) -> None:
        """Until it has ended."""
        ...

    def exit_status(self) -> str:
        """How it ended ("killed by signal 9"), or "" while it runs."""
        ...

    async def end(self) -> None:
        """End-of-stream (it exits), SIGKILL if it has not soon after, and reap it."""
        ...


class ChildSource(Protocol):
    """Hands out started children (`Spares` here; a vat host's elsewhere)."""

    def serve_from(self, task_group: TaskGroup) -> None:
        """Run whatever it needs in the kernel's task group (first call only)."""
        ...

    async def take(self) -> Child:
        """A started child, waiting for its start frame."""
        ...


class LocalChild:
    """A child process of this one."""

    __slots__ = ("_process", "receiver")

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self._process = process
        self.receiver = BufferedByteReceiveStream(process.stdout)

    @property
    def pid(self) -> int:
        return self._process.pid

    async def send(self, data: bytes) -> None:
        assert self._process.stdin is not None
        await self._process.stdin.send(data)

    def kill(self) -> None:
        if self._process.returncode is None:
            try:
                self._process.kill()
            except ProcessLookupError:
                pass

    async def wait(self) -> None:
        await self._process.wait()

    def exit_status(self) -> str:
        code = self._process.returncode
        if code is None:
            return ""
        return f"killed by signal {-code}" if code < 0 else f"exited with status {code}"

    async def end(self) -> None:
        await end_child(self._process)


async def spawn_child() -> LocalChild:
    process = await anyio.open_process(
        child_command(), stdin=-1, stdout=-1, stderr=None, env=child_environment()
    )
    return LocalChild(process)


async def end_child(process: Process) -> None:
    """End-of-stream to a child (it exits), SIGKILL if it has not within
    `_EXIT_GRACE_S` (it is stuck in a delivery), and reap it."""
    if process.returncode is None:
        if process.stdin is not None:
            try:
                await process.stdin.aclose()
            except (anyio.BrokenResourceError, OSError):
                pass
        with anyio.move_on_after(_EXIT_GRACE_S):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()


class Spares:
    """Children started ahead of need, waiting for their first frame.

    A child takes ~75 ms to start (an interpreter, liveslots, msgspec); a
    kernel starting vats one after the other would wait for each. So spares
    are kept ready, and each one taken is replaced at once in the
    background (two are kept: a kernel often starts vats in a row): a vat starts
    in about the time it takes to load its bundle. Spares
    live in the kernel's task group and are killed and reaped with it."""

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._ready: list[LocalChild] = []
        self._starting = 0
        self._task_group: TaskGroup | None = None

    def serve_from(self, task_group: TaskGroup) -> None:
        if self._task_group is None:
            self._task_group = task_group
            task_group.start_soon(self._reap_at_exit, name="vatrt spare workers")

    async def take(self) -> Child:
        """A started child: a spare if one is ready, else a new one."""
        child = self._ready.pop() if self._ready else await spawn_child()
        self._refill()
        return child

    def _refill(self) -> None:
        if self._task_group is None:
            return
        while len(self._ready) + self._starting < self._size:
            self._starting += 1
            self._task_group.start_soon(self._start_one, name="vatrt spare worker")

    async def _start_one(self) -> None:
        try:
            child = await spawn_child()
        finally:
            self._starting -= 1
        self._ready.append(child)

    async def _reap_at_exit(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                for child in self._ready:
                    await child.end()
                self._ready.clear()
