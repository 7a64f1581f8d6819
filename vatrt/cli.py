"""The ``vatrt`` command: run simulations, restart vats, inspect and benchmark kernels."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import click
from rich.console import Console
from rich.markup import escape
from rich.pretty import Pretty
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._controller import open_kernel
from ._kernel.kernel import Kernel
from ._kernel.upgrade import UpgradeOutcome
from ._marshal import RemoteError
from .errors import KernelPanic, StoreError, VatrtError

console = Console()
errors = Console(stderr=True)
BACKENDS = click.Choice(["asyncio", "trio"])
CHUNK = 500  # cranks between progress updates

# Every message, reason and vat-made string printed here goes through `escape`:
# rich reads "[...]" as markup, so "[vats.a]" in a config error would vanish and a
# rejection reason holding "[/x]" would crash the printing of the result.


def _run_async(backend: str, main: Callable[[], Awaitable[int]]) -> None:
    try:
        code = anyio.run(main, backend=backend)
    except KernelPanic as e:
        errors.print(f"[bold red]kernel panic:[/] {escape(str(e))}")
        raise SystemExit(3) from None
    except StoreError as e:
        # Never wrapped: the file's path and SQLite's cause stay on one line.
        errors.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise SystemExit(2) from None
    except VatrtError as e:
        errors.print(f"[bold red]error:[/] {escape(str(e))}")
        raise SystemExit(2) from None
    raise SystemExit(code)


def _parent_must_exist(_: click.Context, __: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a file to be created in a missing directory before the kernel starts."""
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"directory {str(value.parent)!r} does not exist")
    return value


async def _run_to_idle(kernel: Kernel, label: str, limit: int | None = None) -> int:
    """Run until idle (or `limit` cranks ran) in chunks, with a live progress line
    on stderr; return how many cranks ran."""
    total = 0
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[cranks]} cranks, run-queue {task.fields[queue]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )
    with progress:
        task = progress.add_task(label, cranks=0, queue=kernel.stats().run_queue_length)
        while True:
            chunk = CHUNK if limit is None else min(CHUNK, limit - total)
            if chunk <= 0:
                return total
            ran = await kernel.run(max_cranks=chunk)
            total += ran
            progress.update(task, cranks=total, queue=kernel.stats().run_queue_length)
            if ran < chunk:
                return total


def _store_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--store PATH``: a SQLite file whose folder must exist."""
    return click.option(
        "--store",
        type=click.Path(dir_okay=False, path_type=Path),
        callback=_parent_must_exist,
        help=help,
    )


@click.group()
@click.version_option(package_name="vatrt")
def main() -> None:
    """vatrt: vats under a kernel that routes every message and counts every reference."""


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_store_option("Keep the kernel in this SQLite file.")
@click.option(
    "--slog",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_parent_must_exist,
    help="Write a JSON-lines slog here.",
)
@click.option("--backend", type=BACKENDS, default="asyncio", show_default=True)
@click.option(
    "--worker",
    type=click.Choice(["local", "subprocess"]),
    help="Run vats in this kind of worker (overrides the config's default_worker).",
)
@click.option(
    "--max-cranks",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop after N cranks this run, idle or not.",
)
@click.option(
    "--upgrade-all-at",
    type=click.IntRange(min=0),
    metavar="CRANK",
    help="After this many cranks, upgrade every vat with its retained parameters.",
)
@click.option(
    "--report",
    metavar="METHOD",
    help="Once idle, call METHOD on the bootstrap vat's root and print the result.",
)
def run(
    config: Path,
    store: Path | None,
    slog: Path | None,
    backend: str,
    worker: str | None,
    max_cranks: int | None,
    upgrade_all_at: int | None,
    report: str | None,
) -> None:
    """Boot (or reopen) a kernel from CONFIG and run it until idle.

    Prints the bootstrap vat's result and a summary. Exit code 0 when the bootstrap
    result was fulfilled, 1 when rejected (or still unresolved when the run ended),
    2 for bad input, 3 for a kernel panic. --max-cranks counts every crank of this
    run, those before --upgrade-all-at included; a run that reaches it first does
    not upgrade.
    """

    async def main() -> int:
        started = time.perf_counter()
        async with open_kernel(config, store, slog=slog, worker=worker) as kernel:
            first = kernel.stats().cranks

            def left() -> int | None:
                return None if max_cranks is None else max_cranks - (kernel.stats().cranks - first)

            if upgrade_all_at is not None:
                budget = left()
                await kernel.run(
                    max_cranks=upgrade_all_at if budget is None else min(upgrade_all_at, budget)
                )
                if left() != 0:
                    print_upgrade_report(await kernel.upgrade_all_vats(upgrade_message="mid-run"))
            await _run_to_idle(kernel, f"running {config.name}", left())
            cranks = kernel.stats().cranks - first
            elapsed = time.perf_counter() - started
            queued = kernel.stats().run_queue_length
            if queued:
                limit = "" if max_cranks is None else f" at --max-cranks {max_cranks}"
                events = "event" if queued == 1 else "events"
                console.print(f"[yellow]stopped{limit} with {queued:,} {events} still queued[/]")
            code = _print_bootstrap_result(kernel, idle=not queued)
            if report is not None:
                code = max(code, await _print_report(kernel, report))
            _print_summary(kernel, cranks, elapsed, backend)
            return code

    _run_async(backend, main)


def _print_bootstrap_result(kernel: Kernel, *, idle: bool) -> int:
    kpid = kernel.bootstrap_kpid
    if kpid is None:
        console.print("[dim]no bootstrap vat configured[/]")
        return 0
    try:
        status = kernel.kp_status(kpid)
    except VatrtError:
        console.print("[dim]the bootstrap result was read by an earlier run[/]")
        return 0
    if status == "unresolved":
        why = "the kernel is idle" if idle else "the run stopped before the kernel was idle"
        console.print(f"[yellow]bootstrap result unresolved: {why}[/]")
        return 1
    value = kernel.kp_resolution(kpid)
    if status == "rejected":
        if isinstance(value, RemoteError) and value.reason is None:
            console.print(f"[bold red]bootstrap rejected:[/] {escape(f'{value.name}: {value}')}")
        else:
            console.print("[bold red]bootstrap rejected:[/]")
            console.print(Pretty(value.reason if isinstance(value, RemoteError) else value))
        return 1
    console.print("[bold green]bootstrap result[/]")
    console.print(Pretty(value, expand_all=False))
    return 0


async def _print_report(kernel: Kernel, method: str) -> int:
    name = kernel.config.bootstrap
    if name is None:
        raise VatrtError("--report needs a bootstrap vat in the config")
    value = await kernel.call(name, method)
    console.print(f"[bold green]{name}.{method}()[/]")
    console.print(Pretty(value))
    return 0


def _print_summary(kernel: Kernel, cranks: int, elapsed: float, backend: str) -> None:
    stats = kernel.stats()
    table = Table(title="summary", show_header=False, title_justify="left")
    table.add_row("cranks this run", f"{cranks:,}")
    if stats.run_queue_length:
        table.add_row("run-queue left", f"{stats.run_queue_length:,}")
    table.add_row("deliveries", f"{stats.deliveries:,}")
    table.add_row("live vats", str(stats.vats))
    table.add_row("wall time", f"{elapsed:.2f} s ({backend})")
    if elapsed > 0:
        table.add_row("cranks/s", f"{cranks / elapsed:,.0f}")
    console.print(table)


@main.command()
@click.option(
    "--store",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The kernel's SQLite file.",
)
@click.option("--backend", type=BACKENDS, default="asyncio", show_default=True)
def inspect(store: Path, backend: str) -> None:
    """Show a stored kernel: its vats, run-queue and object and promise counts."""

    async def main() -> int:
        async with open_kernel(None, store) as kernel:
            _print_inspection(kernel, store)
        return 0

    _run_async(backend, main)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _print_inspection(kernel: Kernel, store: Path) -> None:
    dump = kernel.dump()
    table = Table(title=f"vats in {store}", title_justify="left")
    columns = ("name", "id", "incarnation", "bundle", "critical", "worker restarts")
    crashed: list[str] = []
    for column in (*columns, "retained vatParameters"):
        table.add_column(column)
    for name in kernel.vat_names():
        vat_id = kernel.vat_id(name)
        vat = kernel.keeper.vat(vat_id)
        options = vat.options()
        restarts, last = vat.worker_restarts()
        if last is not None:
            crashed.append(f"{name}: worker restarted {restarts} time(s), the last after: {last}")
        record = dump.get(f"{vat_id}.vatParameters")
        retained = "none" if record is None else repr(kernel.vat_parameters(vat_id))
        table.add_row(
            name,
            vat_id,
            dump.get(f"{vat_id}.incarnation", "?"),
            dump.get(f"{vat_id}.source", "?")[:15] + "…",
            "yes" if options.get("critical") else "no",
            str(restarts),
            escape(_clip(retained, 60)),
        )
    console.print(table)
    for line in crashed:
        console.print(escape(line))
    objects = sum(1 for k in dump if k.startswith("ko") and k.endswith(".refCount"))
    promises = sum(1 for k in dump if k.startswith("kp") and k.endswith(".record"))
    summary = Table(show_header=False, title="kernel", title_justify="left")
    summary.add_row("schema version", dump.get("kernel.schemaVersion", "?"))
    summary.add_row("cranks", dump.get("kernel.crankNumber", "0"))
    summary.add_row("run-queue length", str(kernel.stats().run_queue_length))
    summary.add_row("kernel objects", str(objects))
    summary.add_row("kernel promises", str(promises))
    console.print(summary)


@main.command()
@click.argument("names", nargs=-1, metavar="[SCENARIO]...")
@click.option("--backend", type=BACKENDS, default="asyncio", show_default=True)
@click.option("--quick", is_flag=True, help="Small sizes: a smoke test that checks every answer.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write JSON here.")
@click.option(
    "--worker",
    type=click.Choice(["local", "subprocess"]),
    default="local",
    show_default=True,
    help="subprocess: run each scenario with subprocess workers too, next to local.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path),
    help="Also plot throughput against the number of vats to this PNG (needs vatrt[plot]).",
)
def bench(
    names: tuple[str, ...],
    backend: str,
    quick: bool,
    json_path: Path | None,
    worker: str,
    plot_path: Path | None,
) -> None:
    """Run load scenarios, each next to an anyio ping-pong baseline from this process.

    Scenarios: warehouse, reopen-history, pingpong, burst, fanout, chain, create,
    upgrade-all, replay (all by default). Ratios against the baseline are what
    compare across machines.
    """
    import orjson

    from ._bench.scenarios import machine, scenarios

    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.UsageError("--plot needs matplotlib: pip install 'vatrt[plot]'") from None
    available = scenarios(quick, ("local",) if worker == "local" else ("local", worker))
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise click.BadParameter(
            f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(available)}",
            param_hint="SCENARIO",
        )
    chosen = list(names) or list(available)
    results = []
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        # No refresh thread: redrawing every 0.1 s while a scenario runs took the
        # GIL from it (ping-pong read ~10% low). It redraws between scenarios.
        auto_refresh=False,
    )
    with progress:
        task = progress.add_task("benchmarking", total=len(chosen))
        for name in chosen:
            progress.update(task, description=f"benchmarking {name}", refresh=True)
            results += anyio.run(available[name], quick, backend=backend)
            progress.advance(task)
    table = Table(
        title=f"vatrt bench ({backend}{', quick' if quick else ''})", title_justify="left"
    )
    columns = ["scenario", "ops/s", "baseline ops/s", "ratio", "crank p50 µs", "crank p99 µs"]
    if worker != "local":
        columns.append("vs local")
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right", no_wrap=True)
    for r in results:
        table.add_row(
            r.scenario,
            f"{r.ops_per_s:,.0f} {r.unit.split('/')[0]}",
            f"{r.baseline_per_s:,.0f}",
            f"{r.ratio:.2f}",
            "" if r.crank_p50_us is None else f"{r.crank_p50_us:,.0f}",
            "" if r.crank_p99_us is None else f"{r.crank_p99_us:,.0f}",
            *(
                [f"{r.detail['vs_local']:.2f}" if "vs_local" in r.detail else ""]
                * (worker != "local")
            ),
        )
    wide = Console(width=max(console.width, 150)) if not console.is_terminal else console
    wide.print(table)
    if json_path is not None:
        record = {
            "backend": backend,
            "quick": quick,
            "machine": machine(),
            "results": [{**attrs.asdict(r), "ratio": r.ratio} for r in results],
        }
        json_path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    if plot_path is not None:
        from ._bench.plot import save_plot, scaling_series

        errors.print("measuring throughput against the number of vats for the plot...")
        series = anyio.run(scaling_series, quick, backend=backend)
        save_plot(series, plot_path, f"vatrt on {backend}")
        console.print(f"plot written to {plot_path}")


def _parse_bundles(values: tuple[str, ...]) -> dict[str, str]:
    bundles = {}
    for value in values:
        name, sep, spec = value.partition("=")
        if not sep or not name or not spec:
            raise click.BadParameter(f"{value!r} is not NAME=FILE", param_hint="--bundle")
        bundles[name] = spec
    return bundles


def print_upgrade_report(report: dict[str, UpgradeOutcome]) -> None:
    table = Table(title="upgrade-all", title_justify="left")
    if len(report) > 12:
        _print_upgrade_summary(report)
        return
    table.add_column("vat")
    table.add_column("status")
    table.add_column("incarnation", justify="right")
    table.add_column("error")
    colours = {"upgraded": "green", "ineligible": "yellow", "failed": "red"}
    for name, outcome in report.items():
        table.add_row(
            name,
            f"[{colours[outcome.status]}]{outcome.status}[/]",
            "" if outcome.incarnation_number is None else str(outcome.incarnation_number),
            escape(outcome.error or ""),
        )
    console.print(table)


def _print_upgrade_summary(report: dict[str, UpgradeOutcome]) -> None:
    """Many vats: one row per status, failures listed by name."""
    table = Table(title=f"upgrade-all ({len(report)} vats)", title_justify="left")
    table.add_column("status")
    table.add_column("vats", justify="right")
    table.add_column("detail")
    for status in ("upgraded", "ineligible", "failed"):
        names = [n for n, o in report.items() if o.status == status]
        if names:
            detail = (
                escape("; ".join(f"{n}: {report[n].error}" for n in names[:5]))
                if status != "upgraded"
                else ""
            )
            table.add_row(status, str(len(names)), detail)
    console.print(table)


@main.command("upgrade-all")
@click.argument(
    "config", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@_store_option("The kernel's SQLite file.")
@click.option(
    "--bundle",
    "bundles",
    multiple=True,
    metavar="NAME=FILE",
    help="Upgrade vat NAME to this bundle (a file, a config bundle name or a bundle ID).",
)
@click.option("--message", default="kernel upgrade", show_default=True)
@click.option("--backend", type=BACKENDS, default="asyncio", show_default=True)
def upgrade_all(
    config: Path | None, store: Path | None, bundles: tuple[str, ...], message: str, backend: str
) -> None:
    """Restart every vat of a stored kernel (or of one booted from CONFIG) with its
    retained vatParameters.

    Runs the kernel to idle first, then upgrades all vats, prints a table of
    outcomes and commits. Exit code 1 if any vat failed (it was rolled back and
    keeps running).
    """
    if config is None and store is None:
        raise click.UsageError("give a CONFIG, a --store, or both")
    targets = _parse_bundles(bundles)

    async def main() -> int:
        async with open_kernel(config, store) as kernel:
            await _run_to_idle(kernel, "running to idle")
            report = await kernel.upgrade_all_vats(targets, upgrade_message=message)
            print_upgrade_report(report)
            kernel.audit()
            return 1 if any(o.status == "failed" for o in report.values()) else 0

    _run_async(backend, main)
