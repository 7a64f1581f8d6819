"""Resident memory of a kernel holding N idle vats: ``python benchmarks/idle_vats.py 10000``.

Boots N static vats (the bench peer bundle, each with a durable object), runs to
idle, collects garbage, and prints boot time and the process's peak resident
memory, with the per-vat cost over a 10-vat kernel measured first.
"""

import resource
import sys
import time

import anyio

import vatrt
from vatrt._bench.scenarios import config


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def boot(n: int) -> float:
    start = time.perf_counter()
    async with vatrt.open_kernel(config(n)) as kernel:
        await kernel.run()
        assert len(kernel.vat_names()) == n + 3
        elapsed = time.perf_counter() - start
        await kernel.collect_garbage()
        kernel.audit()
        rss = peak_rss_mib()
    print(f"{n:>6} idle vats: boot {elapsed:6.2f} s, peak RSS {rss:8.1f} MiB")
    return rss


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    small = anyio.run(boot, 10)
    large = anyio.run(boot, n)
    print(f"per vat: {(large - small) * 1024 / n:.1f} KiB")


if __name__ == "__main__":
    main()
