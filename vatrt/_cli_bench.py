"""``vatrt bench CONFIG``: the command's body (the measuring is `_bench.config_bench`)."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import click
import orjson
from rich.console import Console

from ._bench.config_bench import bench_config
from ._bench.config_report import print_config_bench, save_config_plot
from ._bench.scenarios import machine
from .errors import VatrtError


def looks_like_config(name: str) -> bool:
    """A bench argument that names a config file rather than a scenario: it ends in
    .toml or .json, or is a path (``./sim.cfg``). A file that happens to be named
    like a scenario in the working directory stays a scenario."""
    return name.endswith((".toml", ".json")) or "/" in name or os.sep in name


def bench_config_command(
    config: Path,
    *,
    backend: str,
    repeat: int,
    sqlite: bool,
    worker: str | None,
    max_cranks: int | None,
    json_path: Path | None,
    plot_path: Path | None,
    console: Console,
    errors: Console,
) -> None:
    if not config.is_file():
        raise click.BadParameter(f"config file {str(config)!r} does not exist", param_hint="CONFIG")
    errors.print(f"benchmarking {config}: one warm-up run, then {repeat} timed...")
    result = anyio.run(
        lambda: bench_config(
            config,
            backend=backend,
            repeats=repeat,
            sqlite=sqlite,
            worker=worker,
            max_cranks=max_cranks,
        ),
        backend=backend,
    )
    if result.repeats[0].cranks == 0:
        raise VatrtError(
            f"nothing to measure: {config} is idle once booted (no bootstrap vat, "
            "or its bootstrap queues nothing)"
        )
    wide = Console(width=max(console.width, 120)) if not console.is_terminal else console
    print_config_bench(result, wide)
    if json_path is not None:
        record = {"machine": machine(), **result.to_json()}
        json_path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    if plot_path is not None:
        save_config_plot(result, plot_path)
        console.print(f"plot written to {plot_path}")
