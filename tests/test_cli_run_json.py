"""``vatrt run --json`` and what the run summary says its figures are."""

import orjson
import pytest
from click.testing import CliRunner

from vatrt._cli_json import jsonable
from vatrt._kernel.kernel import KernelRef
from vatrt._marshal import RemoteError
from vatrt.cli import main

BOOT = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Boot:
        async def bootstrap(self, vats, devices):
            if vat_parameters["how"] == "raise":
                raise ValueError("the books do not balance")
            doubled = [await E(vats["echo"]).double(i) for i in range(3)]
            return {"doubled": doubled, "big": 2**70, "raw": b"\\x01\\xff", "echo": vats["echo"]}

        def books(self):
            return {"balanced": True}
    return Far("Boot", Boot())
"""

ECHO = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Echo", double=lambda x: 2 * x)
"""


def config(tmp_path, how="answer"):
    (tmp_path / "boot.py").write_text(BOOT)
    (tmp_path / "echo.py").write_text(ECHO)
    path = tmp_path / "tiny.toml"
    path.write_text(
        'bootstrap = "boot"\n[bundles]\nboot = "boot.py"\necho = "echo.py"\n'
        f'[vats.boot]\nbundle = "boot"\nparameters = {{ how = "{how}" }}\n'
        '[vats.echo]\nbundle = "echo"\n'
    )
    return path


def run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_json_prints_only_one_json_object_with_the_result_report_and_summary(tmp_path, backend):
    result = run(config(tmp_path), "--json", "--report", "books", "--backend", backend)
    assert result.exit_code == 0, result.output
    record = orjson.loads(result.stdout)
    assert record["bootstrap"]["status"] == "fulfilled"
    value = record["bootstrap"]["value"]
    assert value["doubled"] == [0, 2, 4]
    assert value["big"] == {"@bigint": str(2**70)}
    assert value["raw"] == {"@bytes": "01ff"}
    assert value["echo"]["@ref"].startswith("ko")
    assert value["echo"]["iface"] == "echo"  # a root, as the kernel names it
    assert record["report"] == {"vat": "boot", "method": "books", "value": {"balanced": True}}
    summary = record["summary"]
    # The bootstrap message, three sends and their three notifies.
    assert summary["cranks"] == 7
    assert summary["deliveries"] == 7
    assert summary["run_queue_left"] == 0
    assert summary["cranks_per_s"] == pytest.approx(summary["cranks"] / summary["run_s"])
    assert record["exit_code"] == 0
    assert record["backend"] == backend


def test_run_json_of_a_rejected_bootstrap_exits_1_with_the_error_as_a_record(tmp_path):
    result = run(config(tmp_path, "raise"), "--json")
    assert result.exit_code == 1
    record = orjson.loads(result.stdout)
    assert record["bootstrap"]["status"] == "rejected"
    assert record["bootstrap"]["value"]["@error"] == "ValueError"
    assert "the books do not balance" in record["bootstrap"]["value"]["message"]
    assert record["exit_code"] == 1


def test_the_summary_times_the_run_apart_from_boot_and_says_what_cranks_and_deliveries_are(
    tmp_path,
):
    result = run(config(tmp_path))
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "deliveries this run │ 7" in text
    assert "cranks/s of the run" in text
    assert "boot, run and printing" in text
    assert "A crank is one event off the run-queue" in text
    assert "a delivery is what one vat is given in it" in text


def test_jsonable_tags_what_json_cannot_hold():
    assert jsonable((1, -(2**63), 2**63)) == [1, -(2**63), {"@bigint": str(2**63)}]
    assert jsonable(KernelRef("ko3", "Peer")) == {"@ref": "ko3", "iface": "Peer"}
    rejection = RemoteError.from_reason({"code": 7})
    assert jsonable(rejection) == {
        "@error": "Rejection",
        "message": "rejected: {'code': 7}",
        "reason": {"code": 7},
    }
    assert jsonable({1: {3.5}}) == {"1": {"@repr": "{3.5}"}}


def test_run_json_with_a_bad_config_prints_nothing_on_stdout_and_the_error_on_stderr(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[vats.a]\nbundel = 'x'\n")
    result = run(bad, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "invalid config in" in " ".join(result.stderr.split())


def test_run_json_report_may_name_any_vat(tmp_path):
    result = run(config(tmp_path), "--json", "--report", "boot.books")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["report"]["vat"] == "boot"
