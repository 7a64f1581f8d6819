"""Scenarios of issue 13's warehouse and bounded replay: memory and reopen time.

`warehouse` boots N idle vats in one in-memory kernel with at most
``max_vats_online`` loaded and reports the process's resident memory over the
same kernel with 10 vats; `reopen_vs_history` reopens a SQLite store whose
durable vat took H deliveries, with and without ``restart_every``. Both are
next to the same-process baseline like every scenario, and check their answers.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

from .._controller import open_kernel
from . import baseline
from .scenarios import PEER, Result, _Run, config

DURABLE = Path(__file__).resolve().parent / "durable_vat.py"


def resident_mib() -> float:
    """The process's resident memory now (Linux), else its peak."""
    if sys.platform == "linux":
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def _boot(n_vats: int, max_online: int) -> tuple[float, float, dict[str, Any]]:
    start = time.perf_counter()
    before = resident_mib()
    async with open_kernel(config(n_vats), max_vats_online=max_online) as kernel:
        await kernel.run()
        booted = time.perf_counter() - start
        rss = resident_mib() - before
        last = f"w{n_vats - 1:05d}"
        if n_vats and await kernel.call(last, "token_value") != n_vats - 1:
            raise AssertionError("warehouse: an evicted vat came back wrong")
        kernel.audit()
        detail = {
            "online": kernel.workers.online(),
            "offline": kernel.workers.offline(),
            "evictions": kernel.workers.evictions,
        }
    return booted, rss, detail


async def warehouse(n_vats: int, max_online: int) -> Result:
    base = await baseline.pingpong(2000)
    _, small, _ = await _boot(10, max_online)
    booted, rss, detail = await _boot(n_vats, max_online)
    per_vat_kib = (rss - small) * 1024 / n_vats
    return Result(
        f"warehouse of {n_vats} vats, {max_online} online (memory): "
        f"{rss:.0f} MiB, {per_vat_kib:.1f} KiB per vat",
        n_vats / booted,
        "vats booted/s",
        base,
        detail={
            **detail,
            "rss_mib": round(rss, 1),
            "per_vat_kib": round(per_vat_kib, 2),
            "boot_s": round(booted, 2),
        },
    )


async def reopen_vs_history(history: int, restart_every: int | None) -> Result:
    """Reopen time of a store whose durable vat took `history` deliveries."""
    base = await baseline.pingpong(2000)
    vat: dict[str, Any] = {"bundle": "durable"}
    if restart_every is not None:
        vat["restart_every"] = restart_every
    cfg = {"bundles": {"durable": str(DURABLE), "peer": str(PEER)}, "vats": {"d": vat}}
    run = _Run(cfg, store=True)
    try:
        path = run.store_path()
        async with open_kernel(cfg, path) as kernel:
            await kernel.run()
            kpids = [kernel.queue_to_vat_root("d", "bump") for _ in range(history)]
            await kernel.run()
            for kpid in kpids:
                kernel.kp_resolution(kpid)
            transcript = kernel.keeper.vat(kernel.vat_id("d")).transcript_length()
        start = time.perf_counter()
        async with open_kernel(cfg, path) as kernel:
            elapsed = time.perf_counter() - start
            if await kernel.call("d", "count") != history:
                raise AssertionError("reopen: the durable count is wrong")
            kernel.audit()
    finally:
        run.close()
    mode = f"restart_every={restart_every}" if restart_every else "unbounded"
    return Result(
        f"reopen after {history} deliveries, {mode}: {elapsed * 1000:.0f} ms, "
        f"{transcript} replayed",
        1 / elapsed,
        "reopens/s",
        base,
        detail={"reopen_ms": round(elapsed * 1000, 1), "replayed": transcript},
    )
