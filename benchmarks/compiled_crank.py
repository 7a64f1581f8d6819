"""How much the crank path gains compiled with mypyc, in one run.

``python benchmarks/compiled_crank.py [--backend trio] [--rounds N]``: copies
``vatrt/`` and ``vats/`` into a temporary directory, compiles the modules of the
crank path there with mypyc (`HOT_MODULES`; needs mypy, from the test extra,
setuptools and a C compiler: ~40 s), then measures ping-pong, burst and many-refs
(CPU time, the ping-pong ratio against the anyio baseline of the same process) in
a child process on this checkout's pure Python and on the compiled copy, in turn,
and prints the least of each.

Nothing is compiled in the checkout itself: a compiled module there would be
imported instead of its source (`vatrt._compiled.check_fresh` refuses one older
than its source). The compiled build itself is ``HATCH_BUILD_HOOK_ENABLE_MYPYC=1
pip install .`` (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vatrt._compiled import COMPILED

ROOT = Path(__file__).resolve().parent.parent

# The modules the compiled build compiles (`vatrt._compiled`, and pyproject.toml's
# mypyc hook): the kernel's side of every crank and the marshalling.
HOT_MODULES = [name.replace(".", "/") + ".py" for name in COMPILED]

SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
modules, sys.argv[3:] = sys.argv[3:], []
setup(name="vatrt-compiled-copy", packages=[], py_modules=[],
      ext_modules=mypycify(modules, opt_level="3"))
"""

# Run in the child, in the copy being measured (its directory is the current one,
# so `import vatrt` finds that copy first).
MEASURE = """
import json, sys, time
import anyio
import vatrt._kernel.core as compiled_or_not
from vatrt._bench import baseline, scale, scenarios
from vatrt._controller import open_kernel

async def main():
    async with open_kernel(scenarios.config()) as kernel:
        await kernel.run()
        await kernel.call("a", "pingpong", "b", 300)
        base = await baseline.pingpong(3000)
        start, started = time.process_time(), time.perf_counter()
        assert await kernel.call("a", "pingpong", "b", 3000) == 3000 * 2999 // 2
        pingpong = (time.process_time() - start) / 3000
        ratio = 3000 / (time.perf_counter() - started) / base
        start = time.process_time()
        assert await kernel.call("a", "burst", "b", 5000) == 5000 * 4999 // 2
        burst = (time.process_time() - start) / 5000
        kernel.audit()
    refs = (await scale.many_refs(100, 100))[0].detail
    print(json.dumps({
        "compiled": compiled_or_not.__file__.endswith(".so"),
        "pingpong_us": pingpong * 1e6, "pingpong_ratio": ratio, "burst_us": burst * 1e6,
        "ref_us": refs["us_per_ref"], "ref_released_us": refs["us_per_ref_released"],
    }))

anyio.run(main, backend=sys.argv[1])
"""


def compiled_copy(into: Path) -> Path:
    for part in ("vatrt", "vats"):
        shutil.copytree(
            ROOT / part, into / part, ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
    (into / "setup_compiled.py").write_text(SETUP)
    built = subprocess.run(
        [sys.executable, "setup_compiled.py", "build_ext", "--inplace", *HOT_MODULES],
        cwd=into,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise SystemExit(f"mypyc failed:\n{built.stdout[-3000:]}{built.stderr[-3000:]}")
    return into


def measure(where: Path, backend: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, backend],
        cwd=where,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vatrt-compiled-") as tmp:
        print("compiling the crank path with mypyc ...", flush=True)
        copy = compiled_copy(Path(tmp))
        runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(options.rounds):
            for where in (ROOT, copy):
                result = measure(where, options.backend)
                runs[bool(result["compiled"])].append(result)
    if not runs[True] or not runs[False]:
        raise SystemExit("the copy did not import its compiled modules")
    keys = ["pingpong_us", "pingpong_ratio", "burst_us", "ref_us", "ref_released_us"]
    best = {
        kind: {k: (max if k.endswith("ratio") else min)(r[k] for r in rs) for k in keys}
        for kind, rs in runs.items()
    }
    print(f"{options.backend}: {'':10} {'pure':>10} {'compiled':>10}  gain")
    for k in keys:
        pure, compiled = best[False][k], best[True][k]
        gain = compiled / pure if k.endswith("ratio") else pure / compiled
        print(f"{k:>20} {pure:10.2f} {compiled:10.2f}  {gain:.2f}x")


if __name__ == "__main__":
    main()
