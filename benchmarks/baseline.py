"""The same-process anyio baselines alone: ``python benchmarks/baseline.py [--backend trio]``.

Two bare anyio tasks over memory object streams: ping-pong round trips per second
(awaited send and awaited receive each way) and one-way messages per second. The
measuring code lives in ``vatrt/_bench/baseline.py`` (pure anyio), where every
``vatrt bench`` scenario also takes its baseline; import it from there.
"""

import argparse

import anyio

from vatrt._bench.baseline import one_way, pingpong


async def measure(n: int) -> tuple[float, float]:
    """(ping-pong round trips/s over `n` round trips, one-way msgs/s over 10·`n`)."""
    return await pingpong(n), await one_way(10 * n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--n", type=int, default=5000, help="round trips (default 5000)")
    args = parser.parse_args()
    round_trips, one_way_rate = anyio.run(measure, args.n, backend=args.backend)
    print(f"anyio baseline on {args.backend}")
    print(f"  ping-pong  {round_trips:>12,.0f} round trips/s")
    print(f"  one-way    {one_way_rate:>12,.0f} msgs/s")


if __name__ == "__main__":
    main()
