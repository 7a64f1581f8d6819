"""What a new user trips on first: reading results, names mistyped, print() in a vat."""

import pytest

import vatrt
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
