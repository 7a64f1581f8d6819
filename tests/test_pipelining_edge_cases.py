"""Messages waiting on promises whose decider is upgraded, dies, or rejects."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

CALLER = """
from vatrt.vat import E, Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    class Caller:
        def bootstrap(self, vats, devices):
            s.update(vats)
        def start(self):
            # a promise the slow vat decides, and messages pipelined to it
            s["later"] = E(s["slow"]).later()
            s["piped"] = [E(s["later"]).n() for _ in range(3)]
        async def outcomes(self):
            out = []
            for p in [s["later"], *s["piped"]]:
                try:
                    out.append(["ok", await p])
                except RemoteError as e:
                    out.append(["error", e.name, str(e), e.reason])
            return out
    return Far("Caller", Caller())
"""

SLOW = """
from vatrt.vat import Far, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    class Slow:
        def later(self):
            p, resolve, reject = make_promise_kit()
            s["settle"] = (resolve, reject)
            return p
        def resolve_now(self):
            s["settle"][0](Far("Answer", n=lambda: 42))
        def reject_now(self):
            s["settle"][1](ValueError("no answer"))
        def leave(self):
            vat_powers.exit_vat_with_failure("gone")
    return Far("Slow", Slow())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"caller": CALLER, "slow": SLOW}, bootstrap="caller")


async def started(kernel):
    await kernel.run()
    await kernel.call("caller", "start")
    return kernel


async def test_pipelined_messages_reach_the_resolution(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await started(kernel)
        await kernel.call("slow", "resolve_now")
        outcomes = await kernel.call("caller", "outcomes")
        assert [o[0] for o in outcomes] == ["ok"] * 4
        assert [o[1] for o in outcomes[1:]] == [42, 42, 42]
        kernel.audit()


async def test_pipelined_messages_reject_with_the_promise(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await started(kernel)
        await kernel.call("slow", "reject_now")
        outcomes = await kernel.call("caller", "outcomes")
        assert {tuple(o[:3]) for o in outcomes} == {("error", "ValueError", "no answer")}
        kernel.audit()


async def test_upgrading_the_decider_rejects_the_promise_and_its_pipelined_messages(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await started(kernel)
        await kernel.restart_vat("slow", upgrade_message="restarting")
        await kernel.run()
        outcomes = await kernel.call("caller", "outcomes")
        reason = {"name": "vatUpgraded", "upgrade_message": "restarting", "incarnation_number": 0}
        assert all(o[0] == "error" and o[3] == reason for o in outcomes)
        await kernel.collect_garbage()
        kernel.audit()


async def test_the_deciders_death_rejects_the_promise_and_its_pipelined_messages(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await started(kernel)
        await kernel.call("slow", "leave")
        outcomes = await kernel.call("caller", "outcomes")
        assert {tuple(o[:3]) for o in outcomes} == {("error", "VatTerminated", "vat terminated")}
        await kernel.collect_garbage()
        kernel.audit()
