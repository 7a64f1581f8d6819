"""Load scenarios through the vatrt kernel, each next to its same-process baseline.

Run alone: ``python benchmarks/scenarios.py [--backend asyncio] [--quick]``.
Each scenario returns ops/s; the anyio ping-pong baseline is measured in the
same process on the same backend, and ratios are what compare across machines.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline

import vatrt

PEER = Path(__file__).resolve().parent / "bundles" / "peer.py"


def config(n_workers: int = 0, **extra: Any) -> dict[str, Any]:
    vats: dict[str, Any] = {"a": {"bundle": "peer"}, "b": {"bundle": "peer"}}
    for i in range(n_workers):
        vats[f"w{i:04d}"] = {"bundle": "peer", "parameters": {"n": i}}
    return {"bootstrap": "a", "bundles": {"peer": str(PEER)}, "vats": vats, **extra}


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await fn()
    return time.perf_counter() - start, result


async def pingpong(n: int) -> float:
    async with vatrt.open_kernel(config()) as kernel:
        await kernel.run()
        elapsed, total = await timed(lambda: kernel.call("a", "pingpong", "b", n))
        assert total == n * (n - 1) // 2
        kernel.audit()
    return n / elapsed


async def burst(n: int) -> float:
    async with vatrt.open_kernel(config()) as kernel:
        await kernel.run()
        elapsed, total = await timed(lambda: kernel.call("a", "burst", "b", n))
        assert total == n * (n - 1) // 2
        kernel.audit()
    return n / elapsed


async def fan_out(n_vats: int, n_each: int) -> float:
    async with vatrt.open_kernel(config(n_vats)) as kernel:
        await kernel.run()
        elapsed, total = await timed(lambda: kernel.call("a", "fan_out", n_each))
        assert total == n_vats * n_each * (n_each - 1) // 2
        kernel.audit()
    return n_vats * n_each / elapsed


async def chain(depth: int) -> float:
    async with vatrt.open_kernel(config()) as kernel:
        await kernel.run()
        elapsed, value = await timed(lambda: kernel.call("a", "chain", "b", depth))
        assert value == depth
        kernel.audit()
    return depth / elapsed


async def upgrade_all(n_vats: int) -> tuple[float, float]:
    """(seconds per vat for upgrade_all_vats, seconds to boot the kernel)."""
    boot_start = time.perf_counter()
    async with vatrt.open_kernel(config(n_vats)) as kernel:
        await kernel.run()
        boot = time.perf_counter() - boot_start
        elapsed, report = await timed(lambda: kernel.upgrade_all_vats(upgrade_message="bench"))
        assert all(o.status == "upgraded" for o in report.values()), report
        assert await kernel.call(f"w{n_vats - 1:04d}", "token_value") == n_vats - 1
        kernel.audit()
    return elapsed / len(report), boot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    q = args.quick
    run = lambda fn, *a: anyio.run(fn, *a, backend=args.backend)  # noqa: E731
    base = run(baseline.pingpong, 2000 if q else 10000)
    print(f"backend {args.backend}; anyio ping-pong baseline {base:,.0f} round trips/s")
    rt = run(pingpong, 500 if q else 5000)
    print(f"ping-pong   {rt:>10,.0f} round trips/s   ratio {rt / base:.2f}")
    print(f"burst       {run(burst, 1000 if q else 10000):>10,.0f} msgs/s")
    print(f"fan-out x20 {run(fan_out, 20, 20 if q else 200):>10,.0f} msgs/s")
    print(f"chain       {run(chain, 200 if q else 2000):>10,.0f} hops/s")
    for n in (10, 100) if q else (10, 100, 1000):
        per_vat, boot = run(upgrade_all, n)
        print(f"upgrade_all {n:>5} vats: {per_vat * 1000:.2f} ms/vat (boot {boot:.2f} s)")


if __name__ == "__main__":
    main()
