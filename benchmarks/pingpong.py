"""Two-vat ping-pong through the kernel: ``python benchmarks/pingpong.py --n 5000``.

Vat ``a`` (the bootstrap vat, which keeps the other roots it is given) awaits
``E(b).ping(i)`` `n` times; the figure is round trips per second, next to the
bare anyio ping-pong measured in the same process just before it, and their
ratio. The vats are ``vatrt/_bench/peer_vat.py``; the scenario is the one
``vatrt bench pingpong`` runs, with `n` and the store chosen here.
"""

import argparse

import anyio

from vatrt._bench.scenarios import Result, pingpong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--n", type=int, default=5000, help="round trips (default 5000)")
    parser.add_argument("--sqlite", action="store_true", help="also run with a SQLite store")
    args = parser.parse_args()
    results: list[Result] = [anyio.run(pingpong, args.n, False, backend=args.backend)]
    if args.sqlite:
        results.append(anyio.run(pingpong, args.n, True, backend=args.backend))
    print(f"two-vat ping-pong, n={args.n:,}, {args.backend}")
    header = ("scenario", "round trips/s", "anyio baseline", "ratio", "crank p50")
    print(f"{header[0]:22} {header[1]:>14} {header[2]:>15} {header[3]:>6} {header[4]:>10}")
    for r in results:
        p50 = "" if r.crank_p50_us is None else f"{r.crank_p50_us:,.0f} µs"
        print(
            f"{r.scenario:22} {r.ops_per_s:>14,.0f} {r.baseline_per_s:>15,.0f} "
            f"{r.ratio:>6.2f} {p50:>10}"
        )


if __name__ == "__main__":
    main()
