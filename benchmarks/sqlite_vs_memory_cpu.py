"""CPU seconds of burst, fan-out and chain on the memory and the SQLite store.

``python benchmarks/sqlite_vs_memory_cpu.py [burst] [fanout] [chain]``: each
scenario's work (after boot) three times per store in this process, the
minimum of each, and their ratio. CPU time, not wall time, so that a machine
shared with other work still gives the ratio (the fsyncs SQLite waits for are
not in it; `vatrt bench` shows wall-clock rates).
"""

import sys
import time

import anyio

from vatrt._bench import scenarios
from vatrt._controller import open_kernel


async def one(name: str, store: bool) -> float:
    cfg = scenarios.config(20 if name == "fanout" else 0)
    run = scenarios._Run(cfg, store)
    try:
        async with open_kernel(cfg, run.store_path()) as kernel:
            await kernel.run()
            start = time.process_time()
            if name == "burst":
                await kernel.call("a", "burst", "b", 10_000)
            elif name == "fanout":
                await kernel.call("a", "fan_out", 250)
            else:
                await kernel.call("a", "chain", "b", 5_000)
            return time.process_time() - start
    finally:
        run.close()


async def main(names: list[str]) -> None:
    for name in names:
        memory = min([await one(name, False) for _ in range(3)])
        sqlite = min([await one(name, True) for _ in range(3)])
        print(f"{name}: memory {memory:.2f} s, SQLite {sqlite:.2f} s of CPU: {memory / sqlite:.0%}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:] or ["burst", "fanout", "chain"])
