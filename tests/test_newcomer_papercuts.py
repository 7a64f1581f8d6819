"""What a new user trips on first: reading results, names mistyped, print() in a vat."""

import pytest

import vatrt
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
