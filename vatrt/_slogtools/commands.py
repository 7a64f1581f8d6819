"""The ``vatrt slog`` commands: ``summary`` and ``report`` (docs/slog.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.markup import escape

from .reader import SlogError, read_slog
from .report import write_report
from .summary import SLOWEST, print_summary, summarize

_SLOG = click.Path(exists=True, dir_okay=False, path_type=Path)


def _read(path: Path):  # type: ignore[no-untyped-def]
    try:
        return read_slog(path)
    except SlogError as e:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise SystemExit(2) from None


@click.group()
def slog() -> None:
    """Read a slog written by ``vatrt run --slog FILE``."""


@slog.command()
@click.argument("file", type=_SLOG)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead.")
@click.option("--all", "show_all", is_flag=True, help="Every row, not the first 30 of each list.")
@click.option(
    "--slowest",
    type=click.IntRange(min=0),
    default=SLOWEST,
    show_default=True,
    metavar="N",
    help="How many of the slowest cranks to list.",
)
def summary(file: Path, as_json: bool, show_all: bool, slowest: int) -> None:
    """Counts per vat and per method, crank time percentiles, the slowest cranks,
    upgrades, terminations and errors (with their tracebacks) of the run in FILE."""
    result = summarize(_read(file), slowest)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
        return
    console = Console()
    if not console.is_terminal:  # piped or captured: wide enough for every column
        console = Console(width=max(console.width, 120))
    print_summary(result, console, limit=1 << 62 if show_all else 30)


@slog.command()
@click.argument("file", type=_SLOG)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (default: FILE with .html).",
)
def report(file: Path, output: Path | None) -> None:
    """Write one self-contained HTML page of the run in FILE: a timeline with a lane
    per vat and the messages between them, crank time over the run, upgrades and
    terminations marked, and the summary's tables. It needs no network."""
    out = output if output is not None else file.with_suffix(".html")
    if not out.parent.is_dir():
        raise click.BadParameter(f"directory {str(out.parent)!r} does not exist", param_hint="-o")
    run = _read(file)
    write_report(run, out)
    click.echo(f"report of {len(run.cranks):,} cranks and {len(run.vats)} vats written to {out}")
