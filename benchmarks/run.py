"""Run the load scenarios without the CLI: ``python benchmarks/run.py [--quick] [NAME ...]``.

The same scenarios as ``vatrt bench`` (they live in ``vatrt/_bench/``), printed
as plain lines; each figure is next to the anyio ping-pong measured in the same
process on the same backend.
"""

import argparse

import anyio

from vatrt._bench.scenarios import scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    available = scenarios(args.quick)
    for name in args.names or available:
        for r in anyio.run(available[name], args.quick, backend=args.backend):
            print(
                f"{r.scenario:40} {r.ops_per_s:>12,.0f} {r.unit:15} "
                f"baseline {r.baseline_per_s:>9,.0f}  ratio {r.ratio:5.2f}  {r.detail or ''}"
            )


if __name__ == "__main__":
    main()
