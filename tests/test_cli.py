"""The vatrt command line, as a user runs it."""

import os
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
    """The output as one line: rich wraps long messages (at 80 columns under CliRunner)."""
    return " ".join(result.output.split())


BOOT = """
from vatrt.vat import E, Far, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    class Boot:
        async def bootstrap(self, vats, devices):
            how = (vat_parameters or {}).get("how", "answer")
            if how == "raise":
                raise ValueError("the [vats.a] books do not balance")
            if how == "reject":
                p, resolve, reject = make_promise_kit()
                reject({"why": "[/x] no", "code": 7})
                return await p
            if how == "die":
                vat_powers.exit_vat_with_failure("gave up")
                return None
            total = 0
            for i in range(how == "long" and 1000 or 3):
                total += await E(vats["echo"]).double(i)
            return {"answer": await E(vats["echo"]).double(21), "total": total}
    return Far("Boot", Boot())
"""

ECHO = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Echo", double=lambda x: 2 * x)
"""


def tiny_config(tmp_path, how="answer", *, critical=False):
    """A bootstrap vat and an echo vat; `how` says what the bootstrap does."""
    (tmp_path / "boot.py").write_text(BOOT)
    (tmp_path / "echo.py").write_text(ECHO)
    config = tmp_path / "tiny.toml"
    config.write_text(
        'bootstrap = "boot"\n'
        '[bundles]\nboot = "boot.py"\necho = "echo.py"\n'
        f'[vats.boot]\nbundle = "boot"\ncritical = {str(critical).lower()}\n'
        f'parameters = {{ how = "{how}" }}\n'
        '[vats.echo]\nbundle = "echo"\n'
    )
    return config


def test_run_prints_a_fulfilled_bootstrap_result_and_exits_0(tmp_path, backend):
    result = vatrt("run", tiny_config(tmp_path), "--backend", backend)
    assert result.exit_code == 0, result.output
    assert "bootstrap result" in said(result)
    assert "{'answer': 42, 'total': 6}" in said(result)
    for row in ("cranks this run", "deliveries", "live vats", "wall time", "cranks/s"):
        assert row in result.output
    assert "run-queue left" not in result.output


WHERE = """
import os
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Boot:
        async def bootstrap(self, vats, devices):
            return {"pids": sorted({os.getpid(), await E(vats["other"]).pid()}),
                    "answer": await E(vats["other"]).double(21)}

        def pid(self):
            return os.getpid()

        def double(self, x):
            return 2 * x
    return Far("Boot", Boot())
"""


def test_run_with_worker_subprocess_puts_each_vat_in_a_child_of_its_own(tmp_path, backend):
    (tmp_path / "where.py").write_text(WHERE)
    config = tmp_path / "where.toml"
    config.write_text(
        'bootstrap = "boot"\n[bundles]\nwhere = "where.py"\n'
        '[vats.boot]\nbundle = "where"\n[vats.other]\nbundle = "where"\n'
    )
    result = vatrt("run", config, "--backend", backend, "--worker", "subprocess")
    assert result.exit_code == 0, result.output
    shown = said(result).split("bootstrap result")[1]
    pids = orjson.loads(shown[shown.index("[") : shown.index("]") + 1])
    assert len(pids) == 2
    assert os.getpid() not in pids
    assert "'answer': 42" in shown
    local = vatrt("run", config, "--backend", backend)
    assert f"[{os.getpid()}]" in said(local)
    wrong = vatrt("run", config, "--worker", "thread")
    assert wrong.exit_code == 2
    assert "'thread' is not one of 'local', 'subprocess'" in said(wrong)


def test_a_rejected_bootstrap_exits_1_and_prints_the_error_type_and_message(tmp_path, backend):
    result = vatrt("run", tiny_config(tmp_path, "raise"), "--backend", backend)
    assert result.exit_code == 1, result.output
    assert "bootstrap rejected: ValueError: the [vats.a] books do not balance" in said(result)


def test_a_rejection_reason_that_is_not_an_error_is_printed_as_data(tmp_path, backend):
    result = vatrt("run", tiny_config(tmp_path, "reject"), "--backend", backend)
    assert result.exit_code == 1, result.output
    assert "bootstrap rejected:" in said(result)
    assert "{'why': '[/x] no', 'code': 7}" in said(result)


def test_a_bundle_that_fails_to_load_exits_2_with_its_error_and_no_traceback(tmp_path, backend):
    config = tiny_config(tmp_path)
    (tmp_path / "echo.py").write_text('raise ImportError("no [/x] here")\n')
    result = vatrt("run", config, "--backend", backend)
    assert result.exit_code == 2
    assert "echo.py" in said(result)
    assert "ImportError" in said(result)
    assert "no [/x] here" in said(result)
    assert "Traceback" not in result.output


def test_a_critical_vat_that_dies_panics_the_kernel_and_exits_3(tmp_path, backend):
    result = vatrt("run", tiny_config(tmp_path, "die", critical=True), "--backend", backend)
    assert result.exit_code == 3
    assert "kernel panic" in said(result)
    assert "gave up" in said(result)


def test_max_cranks_stops_the_run_early_and_says_so(tmp_path, backend):
    result = vatrt("run", tiny_config(tmp_path, "long"), "--max-cranks", 700, "--backend", backend)
    assert result.exit_code == 1, result.output
    assert "stopped at --max-cranks 700" in said(result)
    assert "bootstrap result unresolved: the run stopped before the kernel was idle" in said(result)
    assert "│ 700 " in result.output
    assert "run-queue left" in said(result)


def test_max_cranks_above_what_the_run_needs_changes_nothing(tmp_path):
    result = vatrt("run", tiny_config(tmp_path, "long"), "--max-cranks", 100_000)
    assert result.exit_code == 0, result.output
    assert "'total': 999000" in said(result)
    assert "stopped" not in result.output


def test_a_slog_or_store_in_a_missing_directory_is_refused_before_the_run(tmp_path):
    config = tiny_config(tmp_path)
    for option in ("--slog", "--store"):
        result = vatrt("run", config, option, tmp_path / "nowhere" / "file")
        assert result.exit_code == 2
        assert f"Invalid value for '{option}'" in said(result)
        assert "nowhere' does not exist" in said(result)


def test_the_slog_of_a_tiny_run_has_a_start_and_finish_for_every_crank(tmp_path, backend):
    slog = tmp_path / "tiny.slog"
    result = vatrt("run", tiny_config(tmp_path), "--slog", slog, "--backend", backend)
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    starts = [r["crankNum"] for r in records if r["type"] == "crank-start"]
    finishes = [r["crankNum"] for r in records if r["type"] == "crank-finish"]
    assert starts == finishes == list(range(len(starts)))
    assert f"│ {len(starts)} " in result.output  # cranks this run, as the summary says


def test_run_prints_the_bootstrap_result_and_a_summary(backend):
    result = vatrt("run", BUNDLES / "payments.toml", "--backend", backend)
    assert result.exit_code == 0, result.output
    assert "'supply_conserved': True" in said(result)
    assert "cranks this run" in said(result)
    assert f"({backend})" in said(result)


def test_run_with_an_unknown_config_key_exits_2_naming_it(tmp_path, backend):
    config = tmp_path / "bad.toml"
    config.write_text('[bundles]\nx = "x.py"\n[vats.a]\nbundel = "x"\n')
    result = vatrt("run", config, "--backend", backend)
    assert result.exit_code == 2
    assert "bundel" in said(result)
    assert "bad.toml" in said(result)


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
    assert "'nothing_lost': True" in said(result)
    assert "'member_incarnations_run': [2]" in said(result)


def test_upgrade_all_needs_a_config_or_a_store():
    result = CliRunner().invoke(main, ["upgrade-all"])
    assert result.exit_code == 2
    assert "give a CONFIG, a --store, or both" in said(result)


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


def test_bench_with_subprocess_workers_puts_each_figure_next_to_the_local_one(tmp_path):
    out = tmp_path / "bench.json"
    result = vatrt(
        "bench", "pingpong", "replay", "child-start", "--quick", "--worker", "subprocess",
        "--json", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = orjson.loads(out.read_bytes())["results"]
    assert [r["scenario"] for r in rows] == [
        "ping-pong (memory)",
        "ping-pong (memory, subprocess)",
        "ping-pong (sqlite)",
        "ping-pong (sqlite, subprocess)",
        "reopen+replay 200 deliveries",
        "reopen+replay 200 deliveries (subprocess)",
        "reopen+replay 1000 deliveries",
        "reopen+replay 1000 deliveries (subprocess)",
        rows[-1]["scenario"],
    ]
    for local, sub in zip(rows[0:8:2], rows[1:8:2], strict=True):
        assert "vs_local" not in local["detail"]
        assert sub["detail"]["vs_local"] == round(sub["ops_per_s"] / local["ops_per_s"], 3)
    assert rows[-1]["scenario"].startswith("subprocess child start (median ")
    assert 0 < rows[-1]["detail"]["median_ms"] < 5000
    assert "vs local" in result.output


def test_bench_with_remote_workers_runs_the_vats_on_two_hosts_next_to_local(tmp_path):
    out = tmp_path / "bench.json"
    result = vatrt("bench", "pingpong", "fanout", "--quick", "--worker", "remote", "--json", out)
    assert result.exit_code == 0, result.output
    rows = orjson.loads(out.read_bytes())["results"]
    assert [r["scenario"] for r in rows] == [
        "ping-pong (memory)",
        "ping-pong (memory, remote)",
        "ping-pong (sqlite)",
        "ping-pong (sqlite, remote)",
        "fan-out to 20 vats (memory)",
        "fan-out to 20 vats (memory, remote)",
        "fan-out to 20 vats (sqlite)",
        "fan-out to 20 vats (sqlite, remote)",
    ]
    for local, remote in zip(rows[0::2], rows[1::2], strict=True):
        assert remote["detail"]["worker"] == "remote"
        assert remote["detail"]["vs_local"] == round(remote["ops_per_s"] / local["ops_per_s"], 3)


def test_bench_names_an_unknown_scenario():
    result = CliRunner().invoke(main, ["bench", "nosuch"])
    assert result.exit_code == 2
    assert "unknown scenario(s) nosuch" in said(result)
