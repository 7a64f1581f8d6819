"""vatrt run --until-time: simulated time on the command line, in the progress
line and the summary, and time advances in the slog."""

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from vatrt.cli import main

BUNDLES = Path(__file__).resolve().parent.parent / "bundles"


@pytest.fixture(params=["asyncio", "trio"])
def backend(request):
    return request.param


def vatrt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def said(result):
    return " ".join(result.output.split())


def test_until_time_stops_the_auction_midway_and_shows_the_time(tmp_path, backend):
    slog = tmp_path / "run.slog"
    config = BUNDLES / "auction.toml"
    result = vatrt("run", config, "--until-time", 200_000, "--slog", slog, "--backend", backend)
    assert result.exit_code == 1, result.output  # the market is still open: unresolved
    assert "bootstrap result unresolved" in said(result)
    assert "kernel time │ 200,000 (2.31 days)" in said(result)
    advances = [
        record
        for record in map(orjson.loads, slog.read_bytes().splitlines())
        if record["type"] == "time-advance"
    ]
    assert advances[0]["from"] == 0
    assert advances[0]["to"] == 8 * 3600  # the first morning's opening
    assert advances[-1]["to"] == 200_000
    assert all(a["from"] < a["to"] for a in advances)


def test_until_time_reopens_a_store_and_runs_the_rest(tmp_path, backend):
    store = tmp_path / "auction.sqlite"
    first = vatrt(
        "run",
        BUNDLES / "auction.toml",
        "--store",
        store,
        "--until-time",
        100_000,
        "--backend",
        backend,
    )
    assert first.exit_code == 1, first.output
    rest = vatrt("run", BUNDLES / "auction.toml", "--store", store, "--backend", backend)
    assert rest.exit_code == 0, rest.output
    assert "'money_conserved': True" in rest.output
    assert "day 5 23:00" in rest.output
    shown = said(vatrt("inspect", "--store", store))
    assert "devices │ timer (kd30)" in shown
    assert "kernel time │ 428,400 (4.96 days)" in shown


def test_until_time_without_a_timer_is_refused(tmp_path):
    result = vatrt("run", BUNDLES / "payments.toml", "--until-time", 5)
    assert result.exit_code == 2
    assert "needs a [timer] in the config" in said(result)


def test_bench_wakeups_measures_the_timer_service_next_to_the_baseline(tmp_path):
    out = tmp_path / "bench.json"
    result = vatrt("bench", "wakeups", "--quick", "--json", out)
    assert result.exit_code == 0, result.output
    rows = orjson.loads(out.read_bytes())["results"]
    assert [r["scenario"] for r in rows] == [
        "timer wake_at wakeups (memory)",
        "timer repeater wakeups (memory)",
        "timer wake_at wakeups (sqlite)",
        "timer repeater wakeups (sqlite)",
    ]
    assert all(r["unit"] == "wakeups/s" and r["baseline_per_s"] > 0 for r in rows)
