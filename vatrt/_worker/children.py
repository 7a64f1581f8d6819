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
    # A session of its own: a Ctrl-C at the terminal is the kernel's to handle (it
    # stops at a crank boundary), and must not reach a child still starting up,
    # before it ignores SIGINT (it died with a KeyboardInterrupt traceback, and the
    # kernel with "its worker did not start"). It still dies with the kernel
    # (PR_SET_PDEATHSIG, `child.py`).
    process = await anyio.open_process(
        child_command(),
        stdin=-1,
        stdout=-1,
        stderr=None,
        env=child_environment(),
        start_new_session=True,
    )
    return LocalChild(process)


async def _spawn_shielded() -> LocalChild:
    """A child started whole even if the caller is cancelled meanwhile: a
    cancellation inside `open_process` (asyncio connects the pipes after the
    fork) left a running child that nothing reaped, found later by the
    collector as a "still running" subprocess. Starting takes milliseconds."""
    with anyio.CancelScope(shield=True):
        child = await spawn_child()
    return child


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
        self._closed = False

    def serve_from(self, task_group: TaskGroup) -> None:
        if self._task_group is None:
            self._task_group = task_group
            task_group.start_soon(self._reap_at_exit, name="vatrt spare workers")

    async def take(self) -> Child:
        """A started child: a spare if one is ready, else a new one."""
        child = self._ready.pop() if self._ready else await _spawn_shielded()
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
            child = await _spawn_shielded()
        finally:
            self._starting -= 1
        if self._closed:  # the kernel closed while it started: nobody will take it
            with anyio.CancelScope(shield=True):
                await child.end()
            return
        self._ready.append(child)

    async def _reap_at_exit(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            self._closed = True
            with anyio.CancelScope(shield=True):
                while self._ready:
                    await self._ready.pop().end()
