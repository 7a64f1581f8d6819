"""``vatrt bench CONFIG``: the user's own simulation, measured as the scenarios are.

What is timed is `Kernel.run()` alone, from the first crank after boot to idle
(or ``max_cranks``): not reading the config, not installing bundles, not the
static vats' ``startVat`` cranks (those run inside `open_kernel`), not printing.
Each repeat boots a fresh kernel (in memory, or in a fresh SQLite file), so
every repeat runs the same cranks; one untimed warm-up run comes first, with a
slog, from which the per-vat and per-method delivery counts are taken (a kernel
is deterministic: every repeat delivers the same). Next to each repeat, in the
same process on the same backend just before it, the anyio ping-pong baseline
(`baseline.pingpong`) is measured; the ratio of cranks/s to it is the figure that
compares across machines and runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any, cast

import attrs
import orjson

from .._config_overrides import config_dict
from .._controller import open_kernel
from .._kernel.kernel import Kernel
from ..config import load_config
from . import baseline
from .scenarios import _percentile


@attrs.frozen
class Repeat:
    """One timed `Kernel.run()`."""

    cranks: int
    deliveries: int
    run_s: float
    baseline_per_s: float
    crank_p50_us: float | None
    crank_p99_us: float | None

    @property
    def cranks_per_s(self) -> float:
        return self.cranks / self.run_s if self.run_s > 0 else 0.0

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.run_s if self.run_s > 0 else 0.0


@attrs.frozen
class ConfigBench:
    config: str
    backend: str
    store: str  # "memory" or "sqlite"
    worker: str | None  # None: the config's
    repeats: list[Repeat]
    # Over every timed crank of every repeat, in µs.
    crank_p50_us: float | None
    crank_p99_us: float | None
    per_vat: dict[str, int]  # deliveries per vat (the warm-up run's)
    per_method: dict[str, int]  # "vat.method" (a count table: "table-*.method") or a kind
    per_table: dict[str, int]  # deliveries per vat, a count table's copies summed as "table-*"
    bootstrap: str  # the bootstrap result's status after a run
    crank_times_s: list[float]  # the median repeat's, in order: for the plot

    @property
    def same_each_run(self) -> bool:
        """Whether every repeat ran the same cranks and deliveries (a deterministic
        simulation does; one that is not measures something different each time)."""
        return len({(r.cranks, r.deliveries) for r in self.repeats}) == 1

    def median(self, figure: str) -> float:
        return float(statistics.median(getattr(r, figure) for r in self.repeats))

    @property
    def ratio(self) -> float:
        base = self.median("baseline_per_s")
        return self.median("cranks_per_s") / base if base else 0.0

    def to_json(self) -> dict[str, Any]:
        record = attrs.asdict(self, filter=lambda a, _: a.name != "crank_times_s")
        record["repeats"] = [
            {
                **attrs.asdict(r),
                "cranks_per_s": r.cranks_per_s,
                "deliveries_per_s": r.deliveries_per_s,
                "ratio": r.cranks_per_s / r.baseline_per_s if r.baseline_per_s else 0.0,
            }
            for r in self.repeats
        ]
        record["median"] = {
            "cranks_per_s": self.median("cranks_per_s"),
            "deliveries_per_s": self.median("deliveries_per_s"),
            "run_s": self.median("run_s"),
            "baseline_per_s": self.median("baseline_per_s"),
            "ratio": self.ratio,
        }
        record["same_each_run"] = self.same_each_run
        return record


class _DeliveryCounter:
    """A slog sink that counts deliveries per vat and per method, after boot."""

    def __init__(self) -> None:
        self.counting = False
        self.names: dict[str, str] = {}
        self.per_vat: Counter[str] = Counter()
        self.per_method: Counter[tuple[str, str]] = Counter()

    def write(self, line: bytes) -> int:
        record = orjson.loads(line)
        kind = record["type"]
        if kind == "vat-start":
            self.names[record["vatID"]] = record["name"]
        elif kind == "deliver" and self.counting:
            name = self.names.get(record["vatID"], record["vatID"])
            delivery = record["delivery"]
            self.per_vat[name] += 1
            if delivery[0] == "message":
                method = str(orjson.loads(delivery[2]["methargs"]["body"])[0])
            else:
                method = f"({delivery[0]})"
            self.per_method[name, method] += 1
        return len(line)

    def flush(self) -> None:
        pass


def _bootstrap_status(kernel: Kernel) -> str:
    kpid = kernel.bootstrap_kpid
    return "none" if kpid is None else kernel.kp_status(kpid)


async def _one_run(
    cfg: dict[str, Any], store: Path | None, worker: str | None, max_cranks: int | None
) -> tuple[Repeat, list[float], str]:
    base = await baseline.pingpong(2000)
    async with open_kernel(cfg, store, worker=worker) as kernel:
        first, delivered = kernel.stats().cranks, kernel.deliveries
        kernel.crank_times = []
        start = time.perf_counter()
        await kernel.run(max_cranks)
        elapsed = time.perf_counter() - start
        times, kernel.crank_times = kernel.crank_times, None
        cranks, deliveries = kernel.stats().cranks - first, kernel.deliveries - delivered
        status = _bootstrap_status(kernel)
        kernel.audit()
    repeat = Repeat(
        cranks,
        deliveries,
        elapsed,
        base,
        _percentile(times, 0.5),
        _percentile(times, 0.99),
    )
    return repeat, times, status


def _method_key(name: str, method: str, copy_of: dict[str, str]) -> str:
    table = copy_of.get(name)
    return f"{table}-*.{method}" if table is not None else f"{name}.{method}"


async def bench_config(
    config: Path,
    *,
    backend: str,
    repeats: int = 5,
    sqlite: bool = False,
    worker: str | None = None,
    max_cranks: int | None = None,
    parameters: dict[str, dict[str, Any]] | None = None,
) -> ConfigBench:
    """Warm up once (counting deliveries), then time `repeats` runs of the config."""
    cfg = config_dict(config, parameters=parameters)
    copy_of = {n: t for t, names in load_config(cfg).groups.items() for n in names}
    counter = _DeliveryCounter()
    # The slog only ever calls write() and flush(): a counter stands in for a file.
    async with open_kernel(cfg, slog=cast(IO[bytes], counter), worker=worker) as kernel:
        counter.counting = True
        await kernel.run(max_cranks)
        kernel.audit()
    per_method: Counter[str] = Counter()
    for (name, method), n in counter.per_method.items():
        per_method[_method_key(name, method, copy_of)] += n
    per_table: Counter[str] = Counter()
    for name, n in counter.per_vat.items():
        per_table[f"{copy_of[name]}-*" if name in copy_of else name] += n
    runs: list[tuple[Repeat, list[float], str]] = []
    with tempfile.TemporaryDirectory(prefix="vatrt-bench-") as folder:
        for i in range(repeats):
            store = Path(folder) / f"kernel-{i}.sqlite" if sqlite else None
            runs.append(await _one_run(cfg, store, worker, max_cranks))
    every_crank = [t for _, times, _ in runs for t in times]
    by_speed = sorted(runs, key=lambda r: r[0].cranks_per_s)
    return ConfigBench(
        str(config),
        backend,
        "sqlite" if sqlite else "memory",
        worker,
        [r for r, _, _ in runs],
        _percentile(every_crank, 0.5),
        _percentile(every_crank, 0.99),
        dict(counter.per_vat.most_common()),
        dict(per_method.most_common()),
        dict(per_table.most_common()),
        runs[-1][2],
        by_speed[len(by_speed) // 2][1],
    )
