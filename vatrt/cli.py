"""The ``vatrt`` command: run simulations, restart vats, inspect and benchmark kernels."""

from __future__ import annotations

import shlex
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

from ._cli_ctrl_c import EXIT_INTERRUPTED, ctrl_c_handled, how_far
from ._cli_json import dumps, run_record
from ._compiled import build_name
from ._controller import open_kernel
from ._kernel.interrupts import stop_on_sigint
from ._kernel.kernel import Kernel
from ._kernel.upgrade import UpgradeOutcome
from ._marshal import RemoteError
from ._vat_traceback import split_traceback, where_raised
from .errors import KernelPanic, RejectedError, StoreError, VatrtError

console = Console()
errors = Console(stderr=True)
BACKENDS = click.Choice(["asyncio", "trio"])
CHUNK = 500  # cranks between progress updates

# Every message, reason and vat-made string printed here goes through `escape`:
# rich reads "[...]" as markup, so "[vats.a]" in a config error would vanish and a
# rejection reason holding "[/x]" would crash the printing of the result.


def _print_traceback(tb: str | None, verbose: bool) -> None:
    """A vat's traceback under the error it goes with: all of it with -v, else
    only where it was raised (the innermost bundle frame)."""
    if not tb:
        return
    if verbose:
        errors.print(escape(tb), soft_wrap=True, highlight=False)
        return
    where = where_raised(tb)
    if where:
        errors.print(f"  raised at {escape(where)}", soft_wrap=True, highlight=False)
        errors.print("  [dim](-v shows the whole traceback)[/]")


def _run_async(backend: str, main: Callable[[], Awaitable[int]], verbose: bool = False) -> None:
    try:
        with ctrl_c_handled():
            code = anyio.run(main, backend=backend)
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]: what was committed before is kept")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except KernelPanic as e:
        errors.print(f"[bold red]kernel panic:[/] {escape(str(e))}")
        raise SystemExit(3) from None
    except StoreError as e:
        # Never wrapped: the file's path and SQLite's cause stay on one line.
        errors.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise SystemExit(2) from None
    except VatrtError as e:
        message, tb = split_traceback(str(e))  # a vat's start failed: its bundle's frames
        errors.print(f"[bold red]error:[/] {escape(message)}")
        _print_traceback(e.traceback if isinstance(e, RejectedError) else tb, verbose)
        raise SystemExit(2) from None
    raise SystemExit(code)


def _parent_must_exist(_: click.Context, __: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a file to be created in a missing directory before the kernel starts."""
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"directory {str(value.parent)!r} does not exist")
    return value


def _time_shown(kernel: Kernel) -> str:
    """The kernel's time for the progress line and summary ("" without [timer])."""
    if kernel.time is None:
        return ""
    now = kernel.now()
    if not kernel.time.clock.virtual:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    days = f" ({now / 86_400:,.2f} days)" if now >= 86_400 else ""
    return f"{now:,g}{days}"


async def _run_to_idle(
    kernel: Kernel, label: str, limit: int | None = None, until_time: float | None = None
) -> int:
    """Run until idle (or `limit` cranks ran, or time reached `until_time`) in
    chunks, with a live progress line on stderr; return how many cranks ran.

    SIGINT is held for the whole loop, not only while each chunk runs: a Ctrl-C
    landing between two chunks (updating the progress line) stops the loop as
    one inside a chunk does, with KeyboardInterrupt after a commit."""
    total = 0
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[cranks]} cranks, run-queue {task.fields[queue]}"),
        TextColumn("{task.fields[time]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )
    with progress, stop_on_sigint() as interrupt:
        shown = _time_shown(kernel)
        task = progress.add_task(
            label, cranks=0, queue=kernel.stats().run_queue_length, time=shown and f"time {shown}"
        )
        while True:
            if interrupt.requested:  # between two chunks (each run commits at its end)
                raise KeyboardInterrupt("Ctrl-C: the kernel stopped at a crank boundary")
            chunk = CHUNK if limit is None else min(CHUNK, limit - total)
            if chunk <= 0:
                return total
            ran = await kernel.run(max_cranks=chunk, until_time=until_time)
            total += ran
            shown = _time_shown(kernel)
            queue = kernel.stats().run_queue_length
            progress.update(task, cranks=total, queue=queue, time=shown and f"time {shown}")
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


# `vatrt slog summary|report`: their own module (vatrt/_slogtools), imported here.
from ._slogtools.commands import slog  # noqa: E402

main.add_command(slog)


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
    "--resume-stored",
    is_flag=True,
    help="Reopen --store whatever config it was booted from (by default another "
    "config is refused: a stored kernel runs what it holds).",
)
@click.option(
    "--until-time",
    type=click.FloatRange(min=0),
    metavar="T",
    help="With [timer]: run until simulated time T, firing every wakeup on the way.",
)
@click.option(
    "--report",
    metavar="[VAT.]METHOD",
    help="Once idle, call METHOD on VAT's root (the bootstrap vat's without VAT.) "
    "and print the result.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print vats' whole tracebacks, not only where they raised.",
)
@click.option(
    "--json",
    "json_out",
    is_flag=True,
    help="Print the outcome as one JSON object on stdout (result, report, summary).",
)
def run(
    config: Path,
    store: Path | None,
    slog: Path | None,
    backend: str,
    worker: str | None,
    max_cranks: int | None,
    upgrade_all_at: int | None,
    resume_stored: bool,
    until_time: float | None,
    report: str | None,
    verbose: bool,
    json_out: bool,
) -> None:
    """Boot (or reopen) a kernel from CONFIG and run it until idle.

    Prints the bootstrap vat's result and a summary. Exit code 0 when the bootstrap
    result was fulfilled, 1 when rejected (or still unresolved when the run ended),
    2 for bad input, 3 for a kernel panic, 130 when Ctrl-C stopped it (the first
    Ctrl-C stops at the next crank boundary and commits; a second stops at once).
    --max-cranks counts every crank of this run, those before --upgrade-all-at
    included; a run that reaches it first does not upgrade. --until-time T (a
    config with [timer]) moves virtual time to T, firing each wakeup on the way;
    the time is shown as the run goes and after.
    """

    async def main() -> int:
        started = time.perf_counter()
        async with open_kernel(
            config, store, slog=slog, worker=worker, check_config=not resume_stored
        ) as kernel:
            booted = time.perf_counter()
            delivered = kernel.deliveries
            upgraded = None
            first = kernel.stats().cranks

            def left() -> int | None:
                return None if max_cranks is None else max_cranks - (kernel.stats().cranks - first)

            try:
                if upgrade_all_at is not None:
                    budget = left()
                    await kernel.run(
                        max_cranks=upgrade_all_at if budget is None else min(upgrade_all_at, budget)
                    )
                    if left() != 0:
                        stateless = vats_without_durable_state(kernel)
                        upgraded = await kernel.upgrade_all_vats(upgrade_message="mid-run")
                        if not json_out:
                            print_upgrade_report(upgraded)
                            warn_about_lost_state(upgraded, stateless)
                until = None if until_time is None else _whole(until_time)
                await _run_to_idle(kernel, f"running {config.name}", left(), until)
            except KeyboardInterrupt:  # the first Ctrl-C: the run stopped and committed
                again = ["vatrt", "run", str(config), "--store", str(store)]
                again += ["--worker", worker] if worker else []
                again += ["--backend", backend] if backend != "asyncio" else []
                resume = None if store is None else shlex.join(again)
                queued = kernel.stats().run_queue_length
                for line in how_far(kernel.stats().cranks - first, queued, resume):
                    errors.print(escape(line), soft_wrap=True, highlight=False)
                return EXIT_INTERRUPTED
            timing = _Timing(booted - started, time.perf_counter() - booted)
            cranks = kernel.stats().cranks - first
            deliveries = kernel.deliveries - delivered
            queued = kernel.stats().run_queue_length
            if json_out:
                code, record = await run_record(kernel, report, upgraded, idle=not queued)
                summary = _summary(kernel, cranks, deliveries, timing)
                record = {"config": str(config), "backend": backend, **record}
                click.echo(dumps({**record, "summary": summary, "exit_code": code}))
                return code
            if queued:
                limit = "" if max_cranks is None else f" at --max-cranks {max_cranks}"
                events = "event" if queued == 1 else "events"
                console.print(f"[yellow]stopped{limit} with {queued:,} {events} still queued[/]")
            code = _print_bootstrap_result(kernel, idle=not queued, verbose=verbose)
            if report is not None:
                code = max(code, await _print_report(kernel, report))
            timing.wall_s = time.perf_counter() - started
            _print_summary(kernel, cranks, deliveries, timing, backend)
            return code

    _run_async(backend, main, verbose)


def _whole(value: float) -> float:
    """1e6 rather than 1000000.0: an integral time stays an int in the kernel."""
    return int(value) if value.is_integer() else value


def _print_bootstrap_result(kernel: Kernel, *, idle: bool, verbose: bool = False) -> int:

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
            _print_traceback(value.traceback, verbose)
        else:
            console.print("[bold red]bootstrap rejected:[/]")
            console.print(Pretty(value.reason if isinstance(value, RemoteError) else value))
        return 1
    console.print("[bold green]bootstrap result[/]")
    console.print(Pretty(value, expand_all=False))
    return 0


async def _print_report(kernel: Kernel, target: str) -> int:
    # Vat names may hold dots, method names never do: the last dot splits them.
    name, _, method = target.rpartition(".")
    if not name:
        name = kernel.config.bootstrap or ""
        if not name:
            raise VatrtError(f"--report {target}: no bootstrap vat in the config; say VAT.METHOD")
    value = await kernel.call(name, method)
    console.print(f"[bold green]{name}.{method}()[/]")
    console.print(Pretty(value))
    return 0


@attrs.define
class _Timing:
    """Where a run's time went: `vatrt run`'s cranks/s is over `run_s` alone."""

    boot_s: float  # reading the config, installing bundles, starting (or replaying) vats
    run_s: float  # the cranks after boot, to idle (or --max-cranks)
    wall_s: float | None = None  # everything, printing included


def _summary(kernel: Kernel, cranks: int, deliveries: int, timing: _Timing) -> dict[str, Any]:
    stats = kernel.stats()
    return {
        "cranks": cranks,
        "deliveries": deliveries,
        "run_queue_left": stats.run_queue_length,
        "live_vats": stats.vats,
        "boot_s": timing.boot_s,
        "run_s": timing.run_s,
        "cranks_per_s": cranks / timing.run_s if timing.run_s > 0 else None,
        "deliveries_per_s": deliveries / timing.run_s if timing.run_s > 0 else None,
    }


def _print_summary(
    kernel: Kernel, cranks: int, deliveries: int, timing: _Timing, backend: str
) -> None:
    figures = _summary(kernel, cranks, deliveries, timing)
    table = Table(title="summary", show_header=False, title_justify="left")
    table.add_row("cranks this run", f"{cranks:,}")
    if figures["run_queue_left"]:
        table.add_row("run-queue left", f"{figures['run_queue_left']:,}")
    table.add_row("deliveries this run", f"{deliveries:,}")
    table.add_row("live vats", str(figures["live_vats"]))
    if kernel.time is not None:
        table.add_row("kernel time", _time_shown(kernel))
        table.add_row("time advances this run", f"{kernel.time.advances:,}")
    table.add_row("boot", f"{timing.boot_s:.2f} s")
    table.add_row("run", f"{timing.run_s:.2f} s ({backend})")
    if figures["cranks_per_s"] is not None:
        table.add_row("cranks/s of the run", f"{figures['cranks_per_s']:,.0f}")
    if timing.wall_s is not None:
        table.add_row("wall time", f"{timing.wall_s:.2f} s (boot, run and printing)")
    console.print(table)
    console.print(
        "[dim]A crank is one event off the run-queue (a message, a promise settling, "
        "a GC action, a vat's start or upgrade); a delivery is what one vat is given "
        "in it: most cranks deliver once, some none (a message to a promise waits on "
        "it). Boot's start cranks are not in this run's. cranks/s is over the run "
        "alone: `vatrt bench CONFIG` measures it warm and repeated.[/]"
    )


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


def _bundle_file(kernel: Kernel, bundle_id: str) -> str:
    try:
        _, filename = kernel.bundles.get(bundle_id)
    except VatrtError:
        return bundle_id[:15] + "…"
    return f"{Path(filename).name} {bundle_id[:8]}"


def _print_inspection(kernel: Kernel, store: Path) -> None:
    dump = kernel.dump()
    table = Table(title=f"vats in {store}", title_justify="left")
    columns = ("name", "id", "incarnation", "bundle", "critical", "worker restarts")
    crashed: list[str] = []
    # Bundle IDs say nothing to a person: a config bundle by its name, another by its file.
    named: dict[str, list[str]] = {}
    for key, value in dump.items():
        if key.startswith("namedBundle."):
            named.setdefault(value, []).append(key.removeprefix("namedBundle."))
    unnamed = False
    for column in (*columns, "retained vatParameters"):
        table.add_column(column)
    for name in kernel.vat_names():
        vat_id = kernel.vat_id(name)
        vat = kernel.keeper.vat(vat_id)
        options = vat.options()
        restarts, last = vat.worker_restarts()
        if last is not None:
            crashed.append(f"{name}: worker restarted {restarts} time(s), the last after: {last}")
        bundle_id = dump.get(f"{vat_id}.source", "?")
        names = named.get(bundle_id)
        if names:
            label = f"{', '.join(sorted(names))} {bundle_id[:8]}"
        elif name == "vat_admin":
            label = f"vat_admin {bundle_id[:8]}"
        else:
            unnamed = True
            label = _bundle_file(kernel, bundle_id)
        record = dump.get(f"{vat_id}.vatParameters")
        retained = "none" if record is None else repr(kernel.vat_parameters(vat_id))
        table.add_row(
            name,
            vat_id,
            dump.get(f"{vat_id}.incarnation", "?"),
            escape(label),
            "yes" if options.get("critical") else "no",
            str(restarts),
            escape(_clip(retained, 60)),
        )
    console.print(table)
    for line in crashed:
        console.print(escape(line))
    objects = sum(1 for k in dump if k.startswith("ko") and k.endswith(".refCount"))
    if unnamed:
        console.print(
            "[dim]bundles without a config name are shown by their file; "
            "the stored text is what runs[/]"
        )
    promises = sum(1 for k in dump if k.startswith("kp") and k.endswith(".record"))
    summary = Table(show_header=False, title="kernel", title_justify="left")
    summary.add_row("schema version", dump.get("kernel.schemaVersion", "?"))
    summary.add_row("cranks", dump.get("kernel.crankNumber", "0"))
    summary.add_row("run-queue length", str(kernel.stats().run_queue_length))
    summary.add_row("kernel objects", str(objects))
    summary.add_row("kernel promises", str(promises))
    devices = kernel.devices.names()
    if devices:
        summary.add_row("devices", ", ".join(f"{n} ({kd})" for n, kd in devices.items()))
    if kernel.time is not None:
        summary.add_row("kernel time", _time_shown(kernel))
    console.print(summary)


@main.command()
@click.argument("names", nargs=-1, metavar="[SCENARIO]... | CONFIG")
@click.option("--backend", type=BACKENDS, default="asyncio", show_default=True)
@click.option("--quick", is_flag=True, help="Small sizes: a smoke test that checks every answer.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write JSON here.")
@click.option(
    "--worker",
    type=click.Choice(["local", "subprocess", "remote"]),
    help="Scenarios (default local): subprocess runs each with subprocess workers too, "
    "next to local; remote, with the vats on two vat hosts of this machine (the local "
    "launcher). CONFIG: the vats' worker, local or subprocess (default: the config's).",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path),
    help="Also plot to this PNG (needs vatrt[plot]): scenarios, throughput against the "
    "number of vats; CONFIG, crank time over the run and the busiest methods.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    metavar="N",
    help="CONFIG: timed runs after the warm-up (--quick: 2).",
)
@click.option("--sqlite", is_flag=True, help="CONFIG: each run in a fresh SQLite store.")
@click.option(
    "--max-cranks",
    type=click.IntRange(min=1),
    metavar="N",
    help="CONFIG: stop each run after N cranks (for a simulation that never goes idle).",
)
def bench(
    names: tuple[str, ...],
    backend: str,
    quick: bool,
    json_path: Path | None,
    worker: str | None,
    plot_path: Path | None,
    repeat: int,
    sqlite: bool,
    max_cranks: int | None,
) -> None:
    """Run load scenarios, each next to an anyio ping-pong baseline from this process;
    or benchmark your own CONFIG.

    Scenarios: warehouse, reopen-history, pingpong, burst, fanout, chain, create,
    upgrade-all, replay, idle-vats, big-dict, many-refs, wakeups (all by default).
    Ratios against the baseline are what compare across machines.

    With a CONFIG (a .toml or .json file): one warm-up run, then --repeat timed runs,
    each from a fresh boot; cranks/s and deliveries/s are timed around kernel.run()
    only, next to the baseline, with deliveries per vat and per method and crank
    time p50/p99.
    """
    import orjson

    from ._bench.scenarios import machine, scenarios
    from ._cli_bench import bench_config_command, looks_like_config

    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.UsageError("--plot needs matplotlib: pip install 'vatrt[plot]'") from None
    configs = [n for n in names if looks_like_config(n)]
    if configs:
        if len(names) > 1:
            raise click.UsageError("give one CONFIG, or scenario names, not both")
        if worker == "remote":
            raise click.UsageError(
                "--worker remote is for the scenarios; a CONFIG puts its vats on hosts "
                "itself ([hosts] and host = ... on a vat table, docs/config.md)"
            )
        try:
            bench_config_command(
                Path(configs[0]),
                backend=backend,
                repeat=2 if quick and repeat == 5 else repeat,
                sqlite=sqlite,
                worker=worker,
                max_cranks=max_cranks,
                json_path=json_path,
                plot_path=plot_path,
                console=console,
                errors=errors,
            )
        except VatrtError as e:
            errors.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
            raise SystemExit(2) from None
        return
    worker = worker or "local"
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
        title=f"vatrt bench ({backend}, {build_name()}{', quick' if quick else ''})",
        title_justify="left",
    )
    columns = [
        "scenario",
        "rate",
        "baseline round trips/s",
        "ratio",
        "crank p50 µs",
        "crank p99 µs",
    ]
    if worker != "local":
        columns.append("vs local")
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right", no_wrap=True)
    for r in results:
        table.add_row(
            r.scenario,
            f"{r.ops_per_s:,.0f} {r.unit}",
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


def vats_without_durable_state(kernel: Kernel) -> list[str]:
    """Live vats whose vatstore is empty: no baggage, no durable objects. An
    upgrade gives them back only what their vatParameters rebuild."""
    kernel.keeper.flush()
    return [
        name
        for name in kernel.vat_names()
        if not kernel.kv.items_with_prefix(f"{kernel.vat_id(name)}.vs.")
    ]


def warn_about_lost_state(report: dict[str, UpgradeOutcome], stateless: list[str]) -> None:
    lost = [name for name in stateless if name in report and report[name].status == "upgraded"]
    if not lost:
        return
    shown = ", ".join(lost[:10]) + (f", ... ({len(lost)} in all)" if len(lost) > 10 else "")
    errors.print(
        f"[yellow]warning:[/] {len(lost)} upgraded vat(s) kept no durable state (no baggage, "
        f"no durable objects), so what they held in memory is gone and each starts again "
        f"from its vatParameters: {escape(shown)}",
        highlight=False,
    )


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
            stateless = vats_without_durable_state(kernel)
            report = await kernel.upgrade_all_vats(targets, upgrade_message=message)
            print_upgrade_report(report)
            warn_about_lost_state(report, stateless)
            kernel.audit()
            return 1 if any(o.status == "failed" for o in report.values()) else 0

    _run_async(backend, main)


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--all", "all_copies", is_flag=True, help="List every copy of a count table.")
@click.option("--json", "json_out", is_flag=True, help="Print the checked config as JSON.")
def check(config: Path, all_copies: bool, json_out: bool) -> None:
    """Load and validate CONFIG and its bundles and list its vats, running nothing.

    Exit code 0 when the config would boot as far as the config and the bundles go,
    2 (with the reason) when not.
    """
    from ._cli_check import check_command

    raise SystemExit(check_command(config, all_copies=all_copies, json_out=json_out))
