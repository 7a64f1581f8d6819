"""Load scenarios through the kernel, each next to a same-process anyio baseline.

Every scenario returns a `Result`: operations per second, the baseline measured
in the same process on the same backend just before it, their ratio, and the
p50/p99 of crank times. Scenarios check their own answers (and `kernel.audit()`),
so ``vatrt bench --quick`` doubles as a smoke test.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from .._compiled import build_name
from .._controller import open_kernel
from .._kernel.kernel import Kernel
from . import baseline

PEER = Path(__file__).resolve().parent / "peer_vat.py"


@attrs.frozen
class Result:
    scenario: str
    ops_per_s: float
    unit: str
    baseline_per_s: float
    crank_p50_us: float | None = None
    crank_p99_us: float | None = None
    detail: dict[str, Any] = attrs.field(factory=dict)

    @property
    def ratio(self) -> float:
        return self.ops_per_s / self.baseline_per_s if self.baseline_per_s else 0.0


def config(n_workers: int = 0, **extra: Any) -> dict[str, Any]:
    vats: dict[str, Any] = {"a": {"bundle": "peer"}, "b": {"bundle": "peer"}}
    for i in range(n_workers):
        vats[f"w{i:05d}"] = {"bundle": "peer", "parameters": {"n": i}}
    return {"bootstrap": "a", "bundles": {"peer": str(PEER)}, "vats": vats, **extra}


def placed(cfg: dict[str, Any], worker: str) -> tuple[dict[str, Any], str]:
    """The config and worker kind for `open_kernel`: with ``remote``, two vat
    hosts on this machine (the local launcher) and the config's vats dealt
    between them (a on h1, b on h2, ...); vat-admin stays local."""
    if worker != "remote":
        return cfg, worker
    vats = {
        name: {**vat, "host": ("h1", "h2")[i % 2]}
        for i, (name, vat) in enumerate(cfg["vats"].items())
    }
    hosts = {"h1": {"launcher": "local"}, "h2": {"launcher": "local"}}
    return {**cfg, "vats": vats, "hosts": hosts}, "local"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


class _Run:
    """A kernel for one measurement: in memory or in a fresh SQLite file."""

    def __init__(self, cfg: dict[str, Any], store: bool) -> None:
        self.cfg = cfg
        self.store = store
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def store_path(self) -> Path | None:
        if not self.store:
            return None
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="vatrt-bench-")
        return Path(self._dir.name) / "kernel.sqlite"

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()


async def _measure(
    name: str,
    unit: str,
    cfg: dict[str, Any],
    ops: int,
    work: Callable[[Kernel], Awaitable[Any]],
    check: Callable[[Any], bool],
    *,
    store: bool = False,
    worker: str = "local",
) -> Result:
    base = await baseline.pingpong(2000)
    run = _Run(cfg, store)
    cfg, kind = placed(cfg, worker)
    try:
        async with open_kernel(cfg, run.store_path(), worker=kind) as kernel:
            await kernel.run()
            kernel.crank_times = []
            start = time.perf_counter()
            answer = await work(kernel)
            elapsed = time.perf_counter() - start
            times, kernel.crank_times = kernel.crank_times, None
            if not check(answer):
                raise AssertionError(f"{name}: wrong answer {answer!r}")
            kernel.audit()
    finally:
        run.close()
    where = ("sqlite" if store else "memory") + ("" if worker == "local" else f", {worker}")
    label = f"{name} ({where})"
    return Result(
        label, ops / elapsed, unit, base, _percentile(times, 0.5), _percentile(times, 0.99)
    )


async def _between_two_vats(
    name: str, unit: str, n: int, store: bool, worker: str = "local"
) -> Result:
    """Vat a's `name` method against vat b, n times: both answer n(n-1)/2."""
    return await _measure(
        name,
        unit,
        config(),
        n,
        lambda k: k.call("a", name.replace("-", ""), "b", n),
        lambda t: t == n * (n - 1) // 2,
        store=store,
        worker=worker,
    )


async def pingpong(n: int, store: bool = False, worker: str = "local") -> Result:
    return await _between_two_vats("ping-pong", "round trips/s", n, store, worker)


async def burst(n: int, store: bool = False, worker: str = "local") -> Result:
    return await _between_two_vats("burst", "msgs/s", n, store, worker)


async def fan_out(n_vats: int, n_each: int, store: bool = False, worker: str = "local") -> Result:
    total = n_vats * n_each * (n_each - 1) // 2
    return await _measure(
        f"fan-out to {n_vats} vats",
        "msgs/s",
        config(n_vats),
        n_vats * n_each,
        lambda k: k.call("a", "fan_out", n_each),
        lambda t: t == total,
        store=store,
        worker=worker,
    )


async def chain(depth: int, store: bool = False, worker: str = "local") -> Result:
    return await _measure(
        "pipelined chain",
        "hops/s",
        config(),
        depth,
        lambda k: k.call("a", "chain", "b", depth),
        lambda v: v == depth,
        store=store,
        worker=worker,
    )


async def create_vats(n: int, store: bool = False, worker: str = "local") -> Result:
    return await _measure(
        f"create {n} dynamic vats",
        "vats/s",
        config(),
        n,
        lambda k: k.call("a", "create_many", n),
        lambda v: v == n,
        store=store,
        worker=worker,
    )


async def upgrade_all(n_vats: int, store: bool = False, worker: str = "local") -> Result:
    cfg = config(n_vats)

    async def work(kernel: Kernel) -> Any:
        report = await kernel.upgrade_all_vats(upgrade_message="bench")
        value = await kernel.call(f"w{n_vats - 1:05d}", "token_value")
        return all(o.status == "upgraded" for o in report.values()) and value == n_vats - 1

    result = await _measure(
        f"upgrade_all {n_vats} vats",
        "vats/s",
        cfg,
        n_vats + 3,
        work,
        bool,
        store=store,
        worker=worker,
    )
    per_vat_ms = 1000 / result.ops_per_s
    return attrs.evolve(result, detail={"ms_per_vat": round(per_vat_ms, 3)})


async def replay(deliveries: int, worker: str = "local") -> Result:
    """Reopen time of a stored kernel whose vats' transcripts hold `deliveries`:
    with subprocess workers, the replay goes into fresh children."""
    base = await baseline.pingpong(2000)
    run = _Run(config(), store=True)
    cfg, kind = placed(config(), worker)
    try:
        path = run.store_path()
        async with open_kernel(cfg, path, worker=kind) as kernel:
            await kernel.run()
            await kernel.call("a", "pingpong", "b", deliveries // 2)
        start = time.perf_counter()
        async with open_kernel(cfg, path, worker=kind) as kernel:
            elapsed = time.perf_counter() - start
            assert await kernel.call("b", "ping", 7) == 7
            kernel.audit()
    finally:
        run.close()
    where = "" if worker == "local" else f" ({worker})"
    return Result(
        f"reopen+replay {deliveries} deliveries{where}",
        deliveries / elapsed,
        "deliveries/s",
        base,
        detail={"reopen_s": round(elapsed, 4)},
    )


async def child_start(n: int) -> Result:
    """A subprocess worker's child, from spawn to loaded (its start frame
    answered), one at a time: the cost a vat pays when no spare is ready."""
    from .._bundle_format import read_bundle
    from .._worker.children import spawn_child
    from .._worker.frames import HEADER, encode, frame, split_to_kernel

    base = await baseline.pingpong(2000)
    source = read_bundle(PEER)
    start = {"source": source, "filename": str(PEER), "module": "vatrt_bench_child"}
    times = []
    for _ in range(n):
        began = time.perf_counter()
        child = await spawn_child()
        await child.send(frame(encode(["start", start])))
        reader = child.receiver
        (size,) = HEADER.unpack(await reader.receive_exactly(HEADER.size))
        kind, _, _ = split_to_kernel(await reader.receive_exactly(size))
        times.append(time.perf_counter() - began)
        await child.end()
        if kind != "ready":
            raise AssertionError(f"child start: {kind!r}")
    median = statistics.median(times)
    return Result(
        f"subprocess child start (median {median * 1000:.0f} ms of {n})",
        1 / median,
        "starts/s",
        base,
        detail={"median_ms": round(median * 1000, 1), "worker": "subprocess", "case": "start"},
    )


Scenario = Callable[[bool], Awaitable[list[Result]]]


def scenarios(quick: bool, workers: tuple[str, ...] = ("local",)) -> dict[str, Scenario]:
    """Name -> scenario; `quick` sizes them for a smoke test (seconds, not minutes).
    Every scenario runs once per worker kind in `workers`, in that order, so a
    subprocess figure sits next to the local one measured in the same run."""
    n = 300 if quick else 5000

    def against_local(results: list[Result]) -> list[Result]:
        """Each result of another worker kind, with its throughput as a fraction
        of the local result measured just before it (same sizes, same store)."""
        local: dict[str, float] = {}
        out = []
        for r in results:
            if r.detail.get("worker", "local") == "local":
                local[r.detail["case"]] = r.ops_per_s
            elif r.detail["case"] in local:
                vs = r.ops_per_s / local[r.detail["case"]]
                r = attrs.evolve(r, detail={**r.detail, "vs_local": round(vs, 3)})
            out.append(r)
        return out

    def tag(r: Result, case: str, worker: str) -> Result:
        return attrs.evolve(r, detail={**r.detail, "case": case, "worker": worker})

    def both(fn: Callable[..., Awaitable[Result]], *args: Any) -> Scenario:
        async def run(_: bool) -> list[Result]:
            return against_local(
                [
                    tag(await fn(*args, store=store, worker=worker), str(store), worker)
                    for store in (False, True)
                    for worker in workers
                ]
            )

        return run

    def sizes(fn: Callable[..., Awaitable[Result]], values: tuple[int, ...]) -> Scenario:
        async def run(_: bool) -> list[Result]:
            return against_local(
                [
                    tag(await fn(v, worker=worker), str(v), worker)
                    for v in values
                    for worker in workers
                ]
            )

        return run

    async def timer(_: bool) -> list[Result]:
        from .timer_scenarios import wakeups

        return against_local(
            [
                tag(r, f"{store}-{r.detail['shape']}", worker)
                for store in (False, True)
                for worker in workers
                for r in await wakeups(n // 5 if quick else n, store=store, worker=worker)
            ]
        )

    extra: dict[str, Scenario] = {"wakeups": timer}
    if "subprocess" in workers:

        async def starts(_: bool) -> list[Result]:
            return [await child_start(10 if quick else 30)]

        extra["child-start"] = starts
    from . import scale  # issue 13's scenarios, local workers only

    async def idle(_: bool) -> list[Result]:
        sizes = (10, 100) if quick else (10, 2000, 10000)
        return await scale.idle_vats(sizes, 300 if quick else 3000)

    async def big_dict(_: bool) -> list[Result]:
        return await scale.big_dict(1000, 20 if quick else 300)

    async def many_refs(_: bool) -> list[Result]:
        return await scale.many_refs(100, 20 if quick else 300)

    from . import warehouse_scale  # here: it imports this module

    async def warehouse(_: bool) -> list[Result]:
        sizes = (1_000, 100) if quick else (100_000, 1_000)
        return [await warehouse_scale.warehouse(*sizes)]

    async def reopen_history(_: bool) -> list[Result]:
        histories = (100, 1000) if quick else (1000, 10_000)
        return [
            await warehouse_scale.reopen_vs_history(h, every)
            for every in (None, 100)
            for h in histories
        ]

    return {
        "warehouse": warehouse,
        "reopen-history": reopen_history,
        "pingpong": both(pingpong, n),
        "burst": both(burst, 2 * n),
        "fanout": both(fan_out, 20, n // 20 if quick else 250),
        "chain": both(chain, n),
        "create": both(create_vats, 20 if quick else 200),
        "upgrade-all": sizes(upgrade_all, (10, 50) if quick else (10, 100, 1000)),
        "replay": sizes(replay, (200, 1000) if quick else (1000, 10000, 50000)),
        "idle-vats": idle,
        "big-dict": big_dict,
        "many-refs": many_refs,
        **extra,
    }


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {p: md.version(p) for p in ("vatrt", "anyio", "trio", "orjson")},
        "build": build_name(),  # compiled or pure Python: the figures depend on it
    }
