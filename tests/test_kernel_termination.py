"""Vat death: exits, fatal errors, rollback of the failed crank, critical vats."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

CLIENT = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    class Client:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        async def ask(self, method, *args):
            return await getattr(E(peers["victim"]), method)(*args)
        async def get_thing(self):
            peers["thing"] = await E(peers["victim"]).thing()
            return "ok"
        async def poke_thing(self):
            return await E(peers["thing"]).poke()
        async def bump_counter(self):
            return await E(peers["counter"]).bump()
        def counter_value(self):
            return peers.get("count", 0)
    return Far("Client", Client())
"""

VICTIM = """
from vatrt.vat import E, Far, make_promise_kit
from vatrt._liveslots.far import current   # only a broken vat does this: tests use it to misbehave
from vatrt._protocol import Msg, Resolution, Resolve, Send

def build_root_object(vat_powers, vat_parameters, baggage):
    state = {"pending": None}
    class Thing:
        def poke(self):
            return "poked"
    class Victim:
        def thing(self):
            return Far("Thing", Thing())
        def hang(self):
            p, resolve, reject = make_promise_kit()
            state["pending"] = (resolve, reject)
            return p
        def exit(self, completion):
            vat_powers.exit_vat(completion)
            return "exiting"
        def fail(self, reason):
            vat_powers.exit_vat_with_failure(reason)
        def illegal_after_send(self, counter):
            E.sendonly(counter).bump()
            bogus = Msg({"body": "[]", "slots": []}, None)
            current.liveslots.syscall(Send("o-999", bogus))
        def swallow_illegal(self):
            try:
                never_had = Resolution("p-12345", False, {"body": "1", "slots": []})
                current.liveslots.syscall(Resolve([never_had]))
            except Exception:
                return "swallowed"
    return Far("Victim", Victim())
"""

COUNTER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    state = {"n": 0}
    class Counter:
        def bump(self):
            state["n"] += 1
            return state["n"]
        def value(self):
            return state["n"]
    return Far("Counter", Counter())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path,
        {"client": CLIENT, "victim": VICTIM, "counter": COUNTER},
        bootstrap="client",
    )


def vat_keys(kernel, vat_id):
    return [k for k in kernel.dump() if k.startswith(f"{vat_id}.")]


async def test_exit_vat_rejects_its_decided_promises_and_deletes_its_state(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        victim = kernel.vat_id("victim")
        await kernel.call("client", "get_thing")
        hanging = kernel.queue_to_vat_root("victim", "hang")
        await kernel.run()
        assert kernel.kp_status(hanging) == "unresolved"
        assert await kernel.call("victim", "exit", "bye") == "exiting"
        assert kernel.kp_status(hanging) == "rejected"
        assert "vat terminated" in str(kernel.kp_resolution(hanging))
        assert "victim" not in kernel.vat_names()
        assert vat_keys(kernel, victim) == []
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("client", "poke_thing")
        with pytest.raises(vatrt.VatTerminated):
            await kernel.call("victim", "thing")
        await kernel.collect_garbage()
        kernel.audit()


async def test_an_illegal_syscall_rolls_back_the_crank_and_kills_only_that_vat(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        counter_root = vatrt.KernelRef(kernel.dump()[f"{kernel.vat_id('counter')}.root"])
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("victim", "illegal_after_send", counter_root)
        # the send made before the illegal syscall left no trace
        assert await kernel.call("counter", "value") == 0
        assert kernel.vat_names() == ["vat_admin", "client", "counter"]
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("client", "ask", "thing")
        kernel.audit()


async def test_a_vat_that_swallows_its_illegal_syscall_still_dies(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("victim", "swallow_illegal")
        assert "victim" not in kernel.vat_names()
        kernel.audit()


async def test_messages_to_a_dead_vats_objects_reject(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("client", "get_thing")
        assert await kernel.call("client", "poke_thing") == "poked"
        await kernel.call("victim", "fail", "on purpose")
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("client", "poke_thing")
        kernel.audit()


async def test_a_critical_vats_death_panics_the_kernel(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"client": CLIENT, "victim": VICTIM}, bootstrap="client")
    config["vats"]["victim"]["critical"] = True
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        kernel.queue_to_vat_root("victim", "fail", ["meltdown"])
        with pytest.raises(vatrt.KernelPanic, match=r"critical vat 'victim'.*meltdown"):
            await kernel.run()
        with pytest.raises(vatrt.KernelPanic):
            await kernel.run()
