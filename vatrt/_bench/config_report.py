"""Printing and plotting a `ConfigBench` (``vatrt bench CONFIG``)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config_bench import ConfigBench

TOP = 15  # rows of the per-vat and per-method tables


def print_config_bench(result: ConfigBench, console: Console) -> None:
    r0 = result.repeats[0]
    lo = min(r.cranks_per_s for r in result.repeats)
    hi = max(r.cranks_per_s for r in result.repeats)
    where = f"{result.backend}, {result.store}" + (f", {result.worker}" if result.worker else "")
    summary = Table(
        title=f"vatrt bench {escape(result.config)}", title_justify="left", show_header=False
    )
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    rows = [
        ("measured", f"{where}: median of {len(result.repeats)} warm runs"),
        ("cranks per run", f"{r0.cranks:,}"),
        ("deliveries per run", f"{r0.deliveries:,}"),
        ("kernel.run() time", f"{result.median('run_s') * 1000:,.1f} ms"),
        ("cranks/s", f"{result.median('cranks_per_s'):,.0f}  (runs: {lo:,.0f}-{hi:,.0f})"),
        ("deliveries/s", f"{result.median('deliveries_per_s'):,.0f}"),
        ("anyio baseline", f"{result.median('baseline_per_s'):,.0f} round trips/s"),
        ("cranks/s ÷ baseline", f"{result.ratio:.3f}"),
        ("crank p50 / p99", _us(result.crank_p50_us) + " / " + _us(result.crank_p99_us)),
        ("bootstrap result", result.bootstrap),
    ]
    for row in rows:
        summary.add_row(*row)
    console.print(summary)
    if not result.same_each_run:
        counts = ", ".join(f"{r.cranks:,}" for r in result.repeats)
        console.print(
            f"[yellow]the runs differ (cranks: {counts}): the simulation is not "
            "deterministic, so these runs measured different work[/]"
        )
    console.print(
        "[dim]Timed: kernel.run() only (boot, bundle installs and the vats' start "
        "are not). A crank is one run-queue event; most deliver one message or "
        "notify to one vat, and each delivery is counted below.[/]"
    )
    grouped = result.per_table != result.per_vat
    per_vat = result.per_table if grouped else result.per_vat
    _print_counts(
        console, "deliveries per vat", "vat (table-*: its copies)" if grouped else "vat", per_vat
    )
    _print_counts(console, "deliveries per method", "vat.method", result.per_method)


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} µs"


def _print_counts(console: Console, title: str, column: str, counts: dict[str, int]) -> None:
    total = sum(counts.values())
    table = Table(title=f"{title} (one run)", title_justify="left")
    table.add_column(column)
    table.add_column("deliveries", justify="right")
    table.add_column("share", justify="right")
    items = list(counts.items())
    for name, n in items[:TOP]:
        table.add_row(escape(name), f"{n:,}", f"{n / total:.1%}" if total else "")
    if len(items) > TOP:
        rest = sum(n for _, n in items[TOP:])
        table.add_row(f"… {len(items) - TOP} more", f"{rest:,}", f"{rest / total:.1%}")
    console.print(table)


def save_config_plot(result: ConfigBench, path: Path) -> None:
    """Crank time over the run (the median repeat) and the busiest methods."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (over_run, methods) = plt.subplots(1, 2, figsize=(12, 4.5))
    times_us = [t * 1e6 for t in result.crank_times_s]
    over_run.plot(range(1, len(times_us) + 1), times_us, linewidth=0.6)
    over_run.set_yscale("log")
    over_run.set_xlabel("crank (of the median run)")
    over_run.set_ylabel("crank time (µs)")
    over_run.set_title(
        f"crank time: p50 {_us(result.crank_p50_us)}, p99 {_us(result.crank_p99_us)}"
    )
    over_run.grid(True, alpha=0.3)
    top = list(result.per_method.items())[:12][::-1]
    methods.barh([name for name, _ in top], [n for _, n in top])
    methods.set_xlabel("deliveries per run")
    methods.set_title("busiest methods")
    fig.suptitle(
        f"{result.config} on {result.backend} ({result.store}): "
        f"{result.median('cranks_per_s'):,.0f} cranks/s, {result.ratio:.2f}x the anyio baseline"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
