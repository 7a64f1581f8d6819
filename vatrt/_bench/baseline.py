"""Baselines measured in the same process as each vatrt figure, on the same backend.

- ``pingpong``: two bare anyio tasks ping-ponging over memory object streams
  (awaited send and awaited receive each way), round trips per second;
- ``one_way``: one task streaming to another, messages per second.

Ratios against these, not absolute rates, are what compare across runs and
machines: both sides see the same machine load.
"""

from __future__ import annotations

import time

import anyio


async def pingpong(n: int = 5000) -> float:
    """Round trips per second between two anyio tasks over memory object streams."""
    to_b_send, to_b = anyio.create_memory_object_stream[int](0)
    to_a_send, to_a = anyio.create_memory_object_stream[int](0)

    async def b() -> None:
        async with to_b, to_a_send:
            async for i in to_b:
                await to_a_send.send(i)

    async with anyio.create_task_group() as tg:
        tg.start_soon(b)
        start = time.perf_counter()
        async with to_b_send, to_a:
            for i in range(n):
                await to_b_send.send(i)
                await to_a.receive()
        elapsed = time.perf_counter() - start
    return n / elapsed


async def one_way(n: int = 50000) -> float:
    """Messages per second from one anyio task to another (buffered, awaited sends)."""
    send, receive = anyio.create_memory_object_stream[int](100)

    async def consumer() -> None:
        async with receive:
            async for _ in receive:
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        start = time.perf_counter()
        async with send:
            for i in range(n):
                await send.send(i)
        elapsed = time.perf_counter() - start
    return n / elapsed
