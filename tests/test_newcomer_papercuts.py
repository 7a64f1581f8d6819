"""What a new user trips on first: reading results, names mistyped, print() in a vat."""

import orjson
import pytest
from click.testing import CliRunner

import vatrt
from vatrt.cli import main
from vatrt.config import load_config
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

SERVICE = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    class Service:
        def bootstrap(self, vats, devices):
            peers.update(vats)
            return "booted"
        def answer(self):
            return 42
        def refuse(self):
            raise PermissionError("not today")
        async def wait_for_other(self):
            return await E(peers["other"]).answer()
        async def call_a_typo(self):
            return await E(peers["other"]).anwser()
    return Far("Service", Service())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"service": SERVICE, "other": SERVICE}, bootstrap="service")


async def test_kp_result_returns_a_value_raises_a_rejection_and_releases_both(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        good = kernel.queue_to_vat_root("service", "answer")
        bad = kernel.queue_to_vat_root("service", "refuse")
        await kernel.run()
        assert kernel.kp_status(good) == "fulfilled"
        assert kernel.kp_result(good) == 42
        with pytest.raises(vatrt.RejectedError) as caught:
            kernel.kp_result(bad)
        assert caught.value.reason.name == "PermissionError"
        assert "in refuse" in caught.value.traceback
        for kpid in (good, bad):  # read once: released, and the error says so
            with pytest.raises(vatrt.VatrtError, match=r"released \(kp_resolution and kp_result"):
                kernel.kp_status(kpid)
        kernel.audit()


async def test_kp_result_on_an_unresolved_promise_raises_and_keeps_it_held(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        kpid = kernel.queue_to_vat_root("service", "wait_for_other")
        with pytest.raises(vatrt.VatrtError, match="is not resolved yet"):
            kernel.kp_result(kpid)
        await kernel.run()
        assert kernel.kp_result(kpid) == 42
        kernel.audit()


async def test_a_mistyped_method_name_is_answered_with_did_you_mean(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("service", "call_a_typo")
        assert str(caught.value.reason) == (
            "Service has no method 'anwser'; did you mean 'answer'?"
        )
        with pytest.raises(vatrt.RejectedError, match="did you mean 'refuse'"):
            await kernel.call("service", "refuze")
        kernel.audit()


async def test_a_mistyped_vat_name_is_answered_with_did_you_mean(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.VatTerminated) as caught:
            await kernel.call("servise", "answer")
        assert "no live vat named 'servise'; did you mean 'service'?" in str(caught.value)
        with pytest.raises(vatrt.VatTerminated, match="did you mean 'other'"):
            await kernel.restart_vat("othr")
        with pytest.raises(vatrt.VatTerminated, match="did you mean 'other'"):
            await kernel.upgrade_all_vats({"othr": "service"})
        kernel.audit()


def test_mistyped_config_names_are_answered_with_did_you_mean(tmp_path):
    (tmp_path / "s.py").write_text(SERVICE)
    cases = {
        'bootstrap = "s"\nbundels = {}\n[bundles]\ns = "s.py"\n[vats.s]\nbundle = "s"\n': (
            "extra fields found (bundels); did you mean 'bundles'?"
        ),
        '[bundles]\ns = "s.py"\n[vats.s]\nbundel = "s"\n': (
            "extra fields found (bundel); did you mean 'bundle'?"
        ),
        '[bundles]\nservice = "s.py"\n[vats.s]\nbundle = "servce"\n': (
            "vats.s.bundle 'servce' is not in [bundles]; did you mean 'service'?"
        ),
        'bootstrap = "boot"\n[bundles]\ns = "s.py"\n[vats.bot]\nbundle = "s"\n': (
            "bootstrap vat 'boot' is not in [vats]; did you mean 'bot'?"
        ),
    }
    for text, expected in cases.items():
        path = tmp_path / "sim.toml"
        path.write_text(text)
        with pytest.raises(vatrt.ConfigError) as caught:
            load_config(path)
        assert expected in str(caught.value)


async def test_a_single_file_bundle_importing_a_file_beside_it_is_told_to_be_a_package(
    anyio_backend, tmp_path
):
    (tmp_path / "helpers.py").write_text("def f():\n    return 1\n")
    config = make_config(
        tmp_path,
        {
            "split": """
                import helpers
                from vatrt.vat import Far

                def build_root_object(vat_powers, vat_parameters, baggage):
                    return Far("Split", f=helpers.f)
            """
        },
    )
    with pytest.raises(vatrt.BundleError) as caught:
        async with vatrt.open_kernel(config):
            pass
    message = str(caught.value)
    assert "ModuleNotFoundError: No module named 'helpers'" in message
    assert "make the bundle a package: a directory with an __init__.py" in message
    assert "(from . import helpers)" in message


PRINTER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    print("starting", vat_parameters["n"])
    peers = {}
    class Printer:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        async def relay(self):
            print("asking", "two\\nlines")
            answer = await E(peers["bob"]).say("nested")
            print("got", answer, end="!")
            return answer
        def say(self, word):
            print(word)
            return word.upper()
    return Far("Printer", Printer())
"""


async def test_print_in_a_vat_goes_to_the_slog_and_the_console_with_the_vats_name(
    anyio_backend, tmp_path, capsys
):
    config = make_config(
        tmp_path, {"alice": (PRINTER, {"n": 1}), "bob": (PRINTER, {"n": 2})}, bootstrap="alice"
    )
    store, slog = tmp_path / "kernel.sqlite", tmp_path / "slog.jsonl"
    async with vatrt.open_kernel(config, store, slog=slog) as kernel:
        await kernel.run()
        assert await kernel.call("alice", "relay") == "NESTED"
        kernel.audit()
    shown = capsys.readouterr().out.splitlines()
    assert shown == [
        "alice: starting 1",
        "bob: starting 2",
        "alice: asking two",
        "alice: lines",
        "bob: nested",
        "alice: got NESTED!",
    ]
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    console = [(r["name"], r["text"]) for r in records if r["type"] == "console"]
    assert console == [
        ("alice", "starting 1\n"),
        ("bob", "starting 2\n"),
        ("alice", "asking two\nlines\n"),
        ("bob", "nested\n"),
        ("alice", "got NESTED!"),
    ]
    ids = {r["name"]: r["vatID"] for r in records if r["type"] == "console"}
    async with vatrt.open_kernel(config, store) as kernel:
        assert ids == {"alice": kernel.vat_id("alice"), "bob": kernel.vat_id("bob")}
        # Reopening replayed both vats: what they printed then is not printed again.
        assert capsys.readouterr().out == ""
        assert await kernel.call("bob", "say", "again") == "AGAIN"
        kernel.audit()
    assert capsys.readouterr().out == "bob: again\n"


KEEPER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    count = baggage.provide("count", lambda: 0)
    return Far("Keeper", bootstrap=lambda vats, devices: count)
"""

FORGETFUL = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Forgetful", bootstrap=lambda vats, devices: None)
"""


def write_two_vat_toml(tmp_path):
    (tmp_path / "keeper.py").write_text(KEEPER)
    (tmp_path / "forgetful.py").write_text(FORGETFUL)
    config = tmp_path / "sim.toml"
    config.write_text(
        'bootstrap = "keeper"\n[bundles]\nkeeping = "keeper.py"\nforgetting = "forgetful.py"\n'
        '[vats.keeper]\nbundle = "keeping"\n[vats.forgetful]\nbundle = "forgetting"\n'
    )
    return config


def test_inspect_names_each_vats_bundle_and_upgrade_all_warns_of_vats_without_durable_state(
    tmp_path,
):
    config = write_two_vat_toml(tmp_path)
    store = tmp_path / "sim.sqlite"
    runner = CliRunner(env={"COLUMNS": "200"})  # one table row per line
    assert runner.invoke(main, ["run", str(config), "--store", str(store)]).exit_code == 0
    inspected = runner.invoke(main, ["inspect", "--store", str(store)])
    assert inspected.exit_code == 0, inspected.output
    rows = {
        line.split("│")[1].strip(): line for line in inspected.output.splitlines() if "│ v" in line
    }
    assert "keeping b1-" in rows["keeper"]
    assert "forgetting b1-" in rows["forgetful"]
    assert "vat_admin b1-" in rows["vat_admin"]
    upgraded = runner.invoke(main, ["upgrade-all", "--store", str(store)])
    assert upgraded.exit_code == 0, upgraded.output
    said = " ".join(upgraded.output.split())
    assert "warning: 1 upgraded vat(s) kept no durable state" in said
    assert said.endswith("from its vatParameters: forgetful")


async def test_a_mistyped_bundle_name_is_answered_with_did_you_mean(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.BundleError, match="did you mean 'service'"):
            await kernel.restart_vat("other", bundle="servise")
        kernel.audit()
