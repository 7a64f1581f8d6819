"""Function calls per ping-pong round trip, by function: a deterministic proxy.

``python benchmarks/crank_calls.py [ROUND_TRIPS] [BACKEND]``: runs ping-pong (in
memory, local workers) under cProfile and prints the calls each function makes
per round trip, most first, with the total. Unlike CPU time, the counts do not
move with the machine's load, so a change to the crank path can be judged on a
busy machine: fewer calls per round trip is (almost always) less time.
"""

import cProfile
import pstats
import sys

import anyio

from vatrt._bench import scenarios
from vatrt._controller import open_kernel


async def main(n: int) -> None:
    async with open_kernel(scenarios.config()) as kernel:
        await kernel.run()
        await kernel.call("a", "pingpong", "b", 200)  # warm: imports, first records
        profile = cProfile.Profile()
        profile.enable()
        total = await kernel.call("a", "pingpong", "b", n)
        profile.disable()
        assert total == n * (n - 1) // 2
        kernel.audit()
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, name), (_, calls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((calls / n, f"{path.rsplit('/', 2)[-2:]!s}:{line} {name}"))
    rows.sort(reverse=True)
    print(f"{sum(c for c, _ in rows):.0f} calls per round trip")
    for calls, where in rows[:60]:
        print(f"{calls:8.2f}  {where}")


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    anyio.run(main, rounds, backend=sys.argv[2] if len(sys.argv) > 2 else "asyncio")
