"""Parking a task until another wakes it, with the running backend's own primitive.

A delivery (or the kernel's baton) passes between tasks that strictly take
turns, so all that is needed is "sleep until woken" and "wake": a bare future on
asyncio, `wait_task_rescheduled` on trio. anyio's streams and events cost a
checkpoint and several layers of calls on every wait, which measured a quarter
of a ping-pong round trip. Both primitives are cancellation points.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any


class Parker:
    """Parks one task until another wakes it: the running backend's own primitive."""

    __slots__ = ("park", "unpark")

    def __init__(self) -> None:
        self.park: Callable[[], Awaitable[None]]
        self.unpark: Callable[[], None]
        if running_trio():
            self._use_trio()
        else:
            self._use_asyncio()

    def _use_trio(self) -> None:
        import trio

        parked: list[Any] = []

        def abort(_: Any) -> Any:
            parked.clear()
            return trio.lowlevel.Abort.SUCCEEDED

        async def park() -> None:
            parked.append(trio.lowlevel.current_task())
            await trio.lowlevel.wait_task_rescheduled(abort)

        def unpark() -> None:
            if parked:
                trio.lowlevel.reschedule(parked.pop())

        self.park, self.unpark = park, unpark

    def _use_asyncio(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        parked: list[asyncio.Future[None]] = []

        async def park() -> None:
            future = loop.create_future()
            parked.append(future)
            try:
                await future
            finally:
                parked.clear()

        def unpark() -> None:
            if parked:
                future = parked.pop()
                if not future.done():
                    future.set_result(None)

        self.park, self.unpark = park, unpark


def running_trio() -> bool:
    import trio

    try:
        trio.lowlevel.current_task()  # raises outside a trio run
    except RuntimeError:
        return False
    return True


@types.coroutine
def asyncio_yield() -> Generator[None, None, None]:
    """One pass through asyncio's loop: what ``asyncio.sleep(0)`` does, minus its
    two extra layers of coroutine."""
    yield
