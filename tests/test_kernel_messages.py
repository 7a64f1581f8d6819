"""Eventual sends, promises and pipelining through the kernel, on both backends."""

import anyio
import anyio.lowlevel
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

ALICE = """
from vatrt.vat import E, Far, RemoteError, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}

    class Alice:
        def bootstrap(self, vats, devices):
            peers.update(vats)
            return sorted(vats)

        def echo(self, *args):
            return list(args)

        async def burst_to_bob(self, n):
            doubled = [E(peers["bob"]).double(i) for i in range(n)]   # all in flight at once
            return sum([await d for d in doubled])

        async def ping_bob(self, n):
            total = 0
            for i in range(n):
                total += await E(peers["bob"]).double(i)
            return total

        async def pipelined(self):
            counter = E(peers["bob"]).make_counter(10)   # not awaited: pipelined
            E(counter).incr()
            return await E(counter).incr()

        async def catch_remote_error(self):
            try:
                await E(peers["bob"]).fail("boom")
            except RemoteError as e:
                return [e.name, str(e)]

        async def missing_method(self):
            return await E(peers["bob"]).no_such_method()

        async def send_to_data(self):
            p = E(peers["bob"]).plain_data()
            return await E(p).anything()

        async def local_promise_round_trip(self):
            p, resolve, _ = make_promise_kit()
            answer = E(peers["bob"]).wait_for(p)
            resolve(41)
            return await answer

        async def pass_presence_back(self):
            me = Far("Token", object.__new__(type("T", (), {})))
            return await E(peers["bob"]).is_same(me, me)

        def get_bob(self):
            return peers["bob"]

    return Far("Alice", Alice())
"""

BOB = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Counter:
        def __init__(self, n):
            self.n = n
        def incr(self):
            self.n += 1
            return self.n

    class Bob:
        def double(self, i):
            return 2 * i
        def make_counter(self, start):
            return Far("Counter", Counter(start))
        def fail(self, why):
            raise ValueError(why)
        def plain_data(self):
            return {"not": "an object"}
        async def wait_for(self, p):
            return (await p) + 1
        def is_same(self, a, b):
            return a is b
    return Far("Bob", Bob())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"alice": ALICE, "bob": BOB}, bootstrap="alice")


async def test_bootstrap_gets_a_presence_for_every_vat_root(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert kernel.kp_status(kernel.bootstrap_kpid) == "fulfilled"
        assert kernel.kp_resolution(kernel.bootstrap_kpid) == ["alice", "bob", "vat_admin"]
        kernel.audit()


async def test_call_returns_what_the_method_returned(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        assert await kernel.call("alice", "echo", 1, "two", (3,), b"4", None) == [
            1,
            "two",
            (3,),
            b"4",
            None,
        ]
        kernel.audit()


async def test_async_methods_await_other_vats_across_cranks(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        before = kernel.stats().cranks
        assert await kernel.call("alice", "ping_bob", 20) == sum(2 * i for i in range(20))
        # one crank for the host's message, then a send and a notify per round trip
        assert kernel.stats().cranks - before == 1 + 2 * 20
        kernel.audit()


async def test_sends_to_an_unresolved_result_are_pipelined(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("alice", "pipelined") == 12
        kernel.audit()


async def test_a_raised_exception_rejects_with_its_name_and_message(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("alice", "catch_remote_error") == ["ValueError", "boom"]
        kernel.audit()


async def test_a_missing_method_rejects_naming_the_method(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="no_such_method"):
            await kernel.call("alice", "missing_method")
        with pytest.raises(vatrt.RejectedError, match="has no method 'nope'"):
            await kernel.call("bob", "nope")
        kernel.audit()


async def test_a_send_to_a_data_resolution_rejects(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="non-object"):
            await kernel.call("alice", "send_to_data")
        kernel.audit()


async def test_a_local_promise_passed_to_another_vat_resolves_there(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("alice", "local_promise_round_trip") == 42
        kernel.audit()


async def test_an_object_passed_twice_arrives_as_one_presence(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("alice", "pass_presence_back") is True
        kernel.audit()


async def test_the_host_can_pass_a_returned_handle_back(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        bob = await kernel.call("alice", "get_bob")
        assert isinstance(bob, vatrt.KernelRef)
        assert bob.kref == kernel.dump()[f"{kernel.vat_id('bob')}.root"]
        assert await kernel.call("alice", "echo", bob) == [bob]
        kernel.audit()


async def test_queue_to_vat_root_holds_the_result_until_read(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        kpid = kernel.queue_to_vat_root("bob", "double", [21])
        assert kernel.kp_status(kpid) == "unresolved"
        with pytest.raises(vatrt.VatrtError, match="not resolved yet"):
            kernel.kp_resolution(kpid)
        await kernel.run()
        assert kernel.kp_status(kpid) == "fulfilled"
        kernel.audit()
        assert kernel.kp_resolution(kpid) == 42
        with pytest.raises(vatrt.VatrtError, match="unknown promise"):
            kernel.kp_status(kpid)
        kernel.audit()


async def test_run_with_max_cranks_stops_early_and_resumes(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        # the static vats started in open_kernel: the bootstrap message and three more
        for n in range(3):
            kernel.queue_to_vat_root("alice", "echo", [n])
        assert await kernel.run(max_cranks=2) == 2
        assert kernel.stats().run_queue_length == 2
        assert await kernel.run() == 2
        assert await kernel.run() == 0
        kernel.audit()


async def test_a_cancelled_run_undoes_its_open_crank_and_a_later_run_finishes_the_work(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        before = kernel.stats().cranks
        kpid = kernel.queue_to_vat_root("alice", "ping_bob", [300])
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(kernel.run)
                with anyio.fail_after(10):
                    for _ in range(20):  # the host gets turns while the run goes on
                        await anyio.lowlevel.checkpoint()
                    for _ in range(10_000):  # a slower worker kind: wait for cranks
                        if kernel.stats().cranks >= before + 3:
                            break
                        await anyio.sleep(0.001)
                scope.cancel()
        assert kernel.kp_status(kpid) == "unresolved"
        cut_short = kernel.stats().cranks
        assert before < cut_short  # cancelled in the middle, not before it began
        kernel.audit()  # no crank half-applied, no count leaked
        await kernel.run()
        assert kernel.stats().cranks > cut_short
        assert kernel.kp_resolution(kpid) == sum(2 * i for i in range(300))
        kernel.audit()


async def test_an_error_in_the_kernels_work_mid_run_is_raised_by_run_with_its_crank_undone(
    anyio_backend, config, monkeypatch
):
    """Between deliveries the kernel's work runs in the vat task that just
    delivered; what goes wrong there must still come out of `run()`."""
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        kpid = kernel.queue_to_vat_root("alice", "ping_bob", [50])
        notifies = []
        # On the class: compiled (docs/performance.md), the kernel's core calls
        # what the class has, not an instance attribute.
        prepare_notify = type(kernel)._prepare_notify

        def failing_on_the_tenth(self, event):
            notifies.append(event)
            if len(notifies) == 10:
                raise RuntimeError("kernel bug")
            return prepare_notify(self, event)

        monkeypatch.setattr(type(kernel), "_prepare_notify", failing_on_the_tenth)
        with pytest.raises(RuntimeError, match="kernel bug"):
            await kernel.run()
        kernel.audit()
        monkeypatch.setattr(type(kernel), "_prepare_notify", prepare_notify)
        await kernel.run()  # the failed crank's event is still queued: nothing lost
        assert kernel.kp_resolution(kpid) == sum(2 * i for i in range(50))
        kernel.audit()


async def test_a_delivery_its_worker_refuses_is_raised_by_run_and_stays_queued(
    anyio_backend, config, monkeypatch
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        kpid = kernel.queue_to_vat_root("alice", "ping_bob", [5])
        bob = kernel.workers[kernel.vat_id("bob")]
        hand_over = bob.hand_over

        def refusing(delivery, then):
            raise RuntimeError("worker refused")

        monkeypatch.setattr(bob, "hand_over", refusing)
        with pytest.raises(RuntimeError, match="worker refused"):
            await kernel.run()
        kernel.audit()
        monkeypatch.setattr(bob, "hand_over", hand_over)
        await kernel.run()
        assert kernel.kp_resolution(kpid) == sum(2 * i for i in range(5))
        kernel.audit()


async def test_a_long_run_to_one_vat_still_lets_the_hosts_other_tasks_run(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        turns = []

        async def host_task():
            while True:
                turns.append(kernel.stats().cranks)
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(host_task)
            # 1,000 deliveries to bob in a row, then 1,000 notifies to alice
            assert await kernel.call("alice", "burst_to_bob", 1000) == 999_000
            tg.cancel_scope.cancel()
        during = [cranks for cranks in turns if 0 < cranks - turns[0] < 2000]
        assert len(during) >= 10, turns[:5]
        kernel.audit()


async def test_a_call_to_an_unknown_vat_is_a_clear_error_that_queues_nothing(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        before = kernel.dump()
        with pytest.raises(vatrt.VatTerminated, match="no live vat named 'carol'"):
            await kernel.call("carol", "hello")
        assert kernel.dump() == before
        kernel.audit()


async def test_a_non_passable_argument_is_a_type_error_that_queues_nothing(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        before = kernel.dump()
        with pytest.raises(TypeError, match=r"set is not passable at .*\[1\]\[0\]\['x'\]"):
            kernel.queue_to_vat_root("bob", "double", [{"x": {1, 2}}])
        assert kernel.dump() == before
        kernel.audit()


async def test_an_error_raised_in_the_kernel_context_reaches_the_host_unwrapped(
    anyio_backend, config
):
    with pytest.raises(vatrt.RejectedError, match="has no method"):
        async with vatrt.open_kernel(config) as kernel:
            await kernel.call("bob", "nope")
