"""``vatrt bench CONFIG``: a user's own simulation, timed around kernel.run() only."""

import orjson
import pytest
from click.testing import CliRunner

from vatrt.cli import main

PEER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    me = vat_parameters["index"]
    return Far("Peer", hear=lambda rumour: me)
"""

DRIVER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Driver:
        async def bootstrap(self, vats, devices):
            peers = [v for k, v in sorted(vats.items()) if k.startswith("peer-")]
            total = 0
            for _ in range(vat_parameters["rounds"]):
                total += sum([await p for p in [E(p).hear("x") for p in peers]])
            return total

    return Far("Driver", Driver())
"""


def vatrt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def said(result):
    return " ".join(result.output.split())


@pytest.fixture
def gossip(tmp_path):
    (tmp_path / "peer.py").write_text(PEER)
    (tmp_path / "driver.py").write_text(DRIVER)
    path = tmp_path / "gossip.toml"
    path.write_text(
        'bootstrap = "driver"\n[bundles]\npeer = "peer.py"\ndriver = "driver.py"\n'
        '[vats.driver]\nbundle = "driver"\nparameters = { rounds = 4 }\n'
        '[vats.peer]\nbundle = "peer"\ncount = 10\nparameters = { index = "{index}" }\n'
    )
    return path


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_bench_config_reports_rates_counts_and_the_baseline(gossip, tmp_path, backend):
    out, plot = tmp_path / "bench.json", tmp_path / "bench.png"
    result = vatrt(
        "bench", gossip, "--repeat", "3", "--backend", backend, "--json", out, "--plot", plot
    )
    assert result.exit_code == 0, result.output
    record = orjson.loads(out.read_bytes())
    repeats = record["repeats"]
    assert len(repeats) == 3
    # Every repeat boots afresh and runs the same cranks: the bootstrap, 4 rounds
    # of 10 sends each with its notify back to the driver.
    assert {r["cranks"] for r in repeats} == {repeats[0]["cranks"]}
    assert record["same_each_run"] is True
    assert repeats[0]["deliveries"] == 1 + 4 * 10 * 2
    for r in repeats:
        assert r["cranks_per_s"] == pytest.approx(r["cranks"] / r["run_s"])
        assert r["baseline_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["cranks_per_s"] / r["baseline_per_s"])
    assert record["per_method"] == {
        "peer-*.hear": 40,
        "driver.(notify)": 40,
        "driver.bootstrap": 1,
    }
    assert record["per_vat"]["peer-7"] == 4
    assert record["per_table"] == {"driver": 41, "peer-*": 40}
    # Booting (each vat's startVat) is not in what was timed.
    assert not any("startVat" in m for m in record["per_method"])
    assert 0 < record["crank_p50_us"] <= record["crank_p99_us"]
    assert record["bootstrap"] == "fulfilled"
    assert record["backend"] == backend
    assert plot.read_bytes().startswith(b"\x89PNG")
    text = said(result)
    assert "median of 3 warm runs" in text
    assert "cranks/s ÷ baseline" in text
    assert "peer-*.hear" in text


def test_bench_config_with_sqlite_and_max_cranks_stops_each_run_there(gossip, tmp_path):
    out = tmp_path / "bench.json"
    result = vatrt("bench", gossip, "--quick", "--sqlite", "--max-cranks", "15", "--json", out)
    assert result.exit_code == 0, result.output
    record = orjson.loads(out.read_bytes())
    assert record["store"] == "sqlite"
    assert [r["cranks"] for r in record["repeats"]] == [15, 15]
    assert record["bootstrap"] == "unresolved"


def test_bench_of_a_config_that_queues_nothing_says_there_is_nothing_to_measure(tmp_path):
    (tmp_path / "peer.py").write_text(PEER)
    path = tmp_path / "idle.toml"
    path.write_text(
        '[bundles]\npeer = "peer.py"\n[vats.p]\nbundle = "peer"\nparameters = { index = 1 }\n'
    )
    result = vatrt("bench", path, "--repeat", "1")
    assert result.exit_code == 2
    assert "nothing to measure" in said(result)


def test_bench_of_a_missing_or_bad_config_exits_2_naming_it(tmp_path):
    result = vatrt("bench", tmp_path / "nosuch.toml")
    assert result.exit_code == 2
    assert "does not exist" in said(result)
    bad = tmp_path / "bad.toml"
    bad.write_text("[vats.a]\nbundel = 'x'\n")
    result = vatrt("bench", bad)
    assert result.exit_code == 2
    assert "invalid config in" in said(result)


def test_bench_refuses_a_config_and_scenarios_together(gossip):
    result = CliRunner().invoke(main, ["bench", str(gossip), "pingpong"])
    assert result.exit_code == 2
    assert "give one CONFIG, or scenario names, not both" in said(result)


def test_the_scenario_table_header_names_what_its_cells_hold():
    result = vatrt("bench", "chain", "--quick")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "scenario" in line)
    assert "rate" in header
    assert "baseline round trips/s" in header
    assert "ops/s" not in header
    row = next(line for line in result.output.splitlines() if "pipelined chain (memory)" in line)
    assert "hops/s" in row


NOISY = """
import random

from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Noisy:
        async def bootstrap(self, vats, devices):
            for _ in range(random.randrange(1, 200)):
                await E(vats["other"]).ping()
        def ping(self):
            return None
    return Far("Noisy", Noisy())
"""


def test_bench_warns_when_the_runs_did_different_work(tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY)
    path = tmp_path / "noisy.toml"
    path.write_text(
        'bootstrap = "noisy"\n[bundles]\nnoisy = "noisy.py"\n[vats.noisy]\nbundle = "noisy"\n[vats.other]\nbundle = "noisy"\n'
    )
    out = tmp_path / "bench.json"
    result = vatrt("bench", path, "--repeat", "6", "--json", out)
    assert result.exit_code == 0, result.output
    record = orjson.loads(out.read_bytes())
    # Six unseeded draws from 1..199 are all equal about once in 3 * 10^11 runs.
    assert len({r["cranks"] for r in record["repeats"]}) > 1
    assert record["same_each_run"] is False
    assert "the runs differ" in said(result)
    assert "not deterministic" in said(result)


def test_bench_config_says_remote_is_for_the_scenarios(gossip):
    result = CliRunner().invoke(main, ["bench", str(gossip), "--worker", "remote"])
    assert result.exit_code == 2
    assert "--worker remote is for the scenarios" in said(result)
