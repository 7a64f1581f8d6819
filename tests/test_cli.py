"""The vatrt command line, as a user runs it."""

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


def test_run_prints_the_bootstrap_result_and_a_summary(backend):
    result = vatrt("run", BUNDLES / "payments.toml", "--backend", backend)
    assert result.exit_code == 0, result.output
    assert "'supply_conserved': True" in result.output
    assert "cranks this run" in result.output
    assert f"({backend})" in result.output


def test_run_with_an_unknown_config_key_exits_2_naming_it(tmp_path, backend):
    config = tmp_path / "bad.toml"
    config.write_text('[bundles]\nx = "x.py"\n[vats.a]\nbundel = "x"\n')
    result = vatrt("run", config, "--backend", backend)
    assert result.exit_code == 2
    assert "bundel" in result.output
    assert "bad.toml" in result.output


def test_run_writes_a_slog_of_json_lines(tmp_path, backend):
    slog = tmp_path / "run.slog"
    result = vatrt("run", BUNDLES / "upgrade.toml", "--slog", slog, "--backend", backend)
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    kinds = {r["type"] for r in records}
    assert {"crank-start", "crank-finish", "deliver", "syscall", "vat-start"} <= kinds
    assert "vat-upgraded" in kinds
    starts = [r["crankNum"] for r in records if r["type"] == "crank-start"]
    assert starts == list(range(len(starts)))


def test_run_with_a_store_then_inspect_and_upgrade_all(tmp_path, backend):
    store = tmp_path / "kernel.sqlite"
    assert (
        vatrt("run", BUNDLES / "upgrade.toml", "--store", store, "--backend", backend).exit_code
        == 0
    )
    shown = vatrt("inspect", "--store", store, "--backend", backend)
    assert shown.exit_code == 0, shown.output
    assert "ledger" in shown.output
    assert "{'fee': 2}" in shown.output
    upgraded = vatrt("upgrade-all", "--store", store, "--backend", backend)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.output.count("upgraded") >= 3
    again = vatrt("inspect", "--store", store)
    assert "│ 2 " in again.output  # the ledger is now in its third incarnation


def test_upgrade_all_mid_run_on_the_fleet_demo(backend):
    result = vatrt(
        "run",
        BUNDLES / "fleet.toml",
        "--upgrade-all-at",
        4000,
        "--report",
        "report",
        "--backend",
        backend,
    )
    assert result.exit_code == 0, result.output
    assert "upgraded │  202" in result.output
    assert "'nothing_lost': True" in result.output
    assert "'member_incarnations_run': [2]" in result.output


def test_upgrade_all_needs_a_config_or_a_store():
    result = CliRunner().invoke(main, ["upgrade-all"])
    assert result.exit_code == 2
    assert "give a CONFIG, a --store, or both" in result.output


def test_bench_quick_checks_its_answers_and_writes_json_and_a_plot(tmp_path):
    out, plot = tmp_path / "bench.json", tmp_path / "scaling.png"
    result = vatrt("bench", "pingpong", "upgrade-all", "--quick", "--json", out, "--plot", plot)
    assert result.exit_code == 0, result.output
    record = orjson.loads(out.read_bytes())
    scenarios = [r["scenario"] for r in record["results"]]
    assert scenarios == [
        "ping-pong (memory)",
        "ping-pong (sqlite)",
        "upgrade_all 10 vats (memory)",
        "upgrade_all 50 vats (memory)",
    ]
    assert all(r["ops_per_s"] > 0 and r["baseline_per_s"] > 0 for r in record["results"])
    assert record["machine"]["cpus"] >= 1
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_bench_names_an_unknown_scenario():
    result = CliRunner().invoke(main, ["bench", "nosuch"])
    assert result.exit_code == 2
    assert "unknown scenario(s) nosuch" in result.output
