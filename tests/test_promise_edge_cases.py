"""Promises SwingSet's own suite tries: resolution cycles, rejections that are not errors."""

import json

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

# -- circular resolution data --------------------------------------------------------

HOLDER = """
from vatrt.vat import E, Far, VatPromise, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}

    def name_of(p):
        for name in ("pa", "pb", "ka", "kb"):
            if p is s.get(name):
                return name
        return "another promise" if type(p) is VatPromise else repr(p)

    class Holder:
        def bootstrap(self, vats, devices):
            s.update(vats)

        def start(self):
            s["pa"] = E(s["maker"]).gen1()
            s["pb"] = E(s["maker"]).gen2()
            E(s["maker"]).take(s["pa"], s["pb"])

        async def walk(self, start, steps):
            # follow start -> [x] -> [y] -> ..., naming each promise met
            p, met = s[start], []
            for _ in range(steps):
                value = await p
                assert type(value) is list and len(value) == 1, value
                p = value[0]
                met.append(name_of(p))
            return met

        async def send_own_cycle(self):
            # two local promises resolved to each other before the kernel hears of them
            ka, resolve_a, _ = make_promise_kit()
            kb, resolve_b, _ = make_promise_kit()
            resolve_a([kb])
            resolve_b([ka])
            s["ka"], s["kb"] = ka, kb
            return await E(s["maker"]).walk_received(ka, 6)

        async def selfish(self):
            inner = (await E(s["maker"]).selfish())[0]
            again = (await inner)[0]
            return [again is inner, type(inner).__name__, type(await again).__name__]

        def forget(self):
            for name in ("pa", "pb", "ka", "kb"):
                s.pop(name, None)

    return Far("Holder", Holder())
"""

MAKER = """
from vatrt.vat import Far, VatPromise, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    kits = {}

    class Maker:
        def gen1(self):
            p, resolve, _ = make_promise_kit()
            kits["gen1"] = resolve
            return p

        def gen2(self):
            p, resolve, _ = make_promise_kit()
            kits["gen2"] = resolve
            return p

        def take(self, pa, pb):
            # pa and pb are the results of gen1 and gen2: they follow the kits
            kits.pop("gen1")([pb])
            kits.pop("gen2")([pa])

        def selfish(self):
            p, resolve, _ = make_promise_kit()
            resolve([p])
            return p

        async def walk_received(self, p, steps):
            first, kinds = p, []
            for _ in range(steps):
                value = await p
                assert type(value) is list and len(value) == 1, value
                p = value[0]
                kinds.append("first" if p is first else type(p).__name__)
            return kinds

    return Far("Maker", Maker())
"""


@pytest.fixture
def cycle_config(tmp_path):
    return make_config(tmp_path, {"holder": HOLDER, "maker": MAKER}, bootstrap="holder")


def promises_in(kernel):
    return sorted(k.split(".")[0] for k in kernel.dump() if k.startswith("kp") and ".record" in k)


async def test_promises_resolved_to_each_other_settle_and_the_run_ends(anyio_backend, cycle_config):
    async with vatrt.open_kernel(cycle_config) as kernel:
        await kernel.run()
        await kernel.call("holder", "start")
        assert await kernel.call("holder", "walk", "pa", 5) == ["pb", "pa", "pb", "pa", "pb"]
        assert await kernel.call("holder", "walk", "pb", 4) == ["pa", "pb", "pa", "pb"]
        kernel.audit()


async def test_promises_resolved_to_each_other_go_to_and_from_the_kernel_in_one_batch(
    anyio_backend, cycle_config, tmp_path
):
    slog = tmp_path / "slog.jsonl"
    async with vatrt.open_kernel(cycle_config, slog=slog) as kernel:
        await kernel.run()
        await kernel.call("holder", "start")
        holder, maker = kernel.vat_id("holder"), kernel.vat_id("maker")
        kernel.audit()
    entries = [json.loads(line) for line in slog.read_text().splitlines()]
    resolves = [
        e["syscall"][1]
        for e in entries
        if e["type"] == "syscall" and e["vatID"] == maker and e["syscall"][0] == "resolve"
    ]
    # gen1's and gen2's results in one syscall, each naming the other
    (first, a_data), (second, b_data) = [(r[0], r[2]["slots"]) for r in resolves[-1]]
    assert (a_data, b_data) == ([second], [first])
    notifies = [
        e["delivery"][1]
        for e in entries
        if e["type"] == "deliver" and e["vatID"] == holder and e["delivery"][0] == "notify"
    ]
    # and the holder hears both in one notify
    assert [len(n) for n in notifies if len(n) > 1] == [2]


async def test_a_vat_sending_a_promise_cycle_it_settled_itself_resolves_it_in_one_batch(
    anyio_backend, cycle_config
):
    async with vatrt.open_kernel(cycle_config) as kernel:
        await kernel.run()
        kinds = await kernel.call("holder", "send_own_cycle")
        # the receiver meets a promise for [first] and then the first promise again
        assert kinds == ["VatPromise", "first"] * 3
        assert await kernel.call("holder", "walk", "ka", 4) == ["kb", "ka", "kb", "ka"]
        kernel.audit()


async def test_a_promise_resolved_to_a_list_holding_itself_settles(anyio_backend, cycle_config):
    async with vatrt.open_kernel(cycle_config) as kernel:
        await kernel.run()
        before = promises_in(kernel)
        assert await kernel.call("holder", "selfish") == [True, "VatPromise", "list"]
        assert promises_in(kernel) == before  # it referred only to itself: freed
        kernel.audit()


async def test_a_cycle_of_resolved_promises_nobody_holds_is_collected_by_the_kernel(
    anyio_backend, cycle_config
):
    async with vatrt.open_kernel(cycle_config) as kernel:
        await kernel.run()
        before = promises_in(kernel)
        await kernel.call("holder", "start")
        await kernel.call("holder", "walk", "pa", 3)
        await kernel.call("holder", "send_own_cycle")
        await kernel.call("holder", "selfish")
        await kernel.call("holder", "forget")
        await kernel.collect_garbage()
        # the cycles' promises referred only to one another: they are gone
        assert promises_in(kernel) == before
        kernel.audit()


# -- rejections that are not errors ----------------------------------------------------

REJECTER = """
from vatrt.vat import Far, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    class Rejecter:
        def reject_with_record(self):
            p, _, reject = make_promise_kit()
            reject({"code": 7})
            return p

        def reject_with_string(self):
            p, _, reject = make_promise_kit()
            reject("not today")
            return p

        def reject_with_presence(self):
            p, _, reject = make_promise_kit()
            reject({"code": 8, "by": Far("Witness", name=lambda: "witness")})
            return p

        def fail(self):
            raise ValueError("a real error")

    return Far("Rejecter", Rejecter())
"""

RERAISER = """
from vatrt.vat import E, Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}

    class Reraiser:
        def bootstrap(self, vats, devices, forward=True):
            s.update(vats)
            if forward:
                E(vats["relay"]).bootstrap(vats, devices, False)

        async def reraise(self, method):
            return await getattr(E(s["rejecter"]), method)()

        async def reraise_caught(self, method):
            try:
                await getattr(E(s["rejecter"]), method)()
            except RemoteError as e:
                raise e

        async def two_hops(self, method):
            # the second hop: another vat re-raises what this one re-raised
            try:
                await E(s["relay"]).reraise(method)
            except RemoteError as e:
                return {"name": e.name, "reason": e.reason, "message": str(e)}

        async def witness_name(self):
            try:
                await E(s["relay"]).reraise("reject_with_presence")
            except RemoteError as e:
                return await E(e.reason["by"]).name()

    return Far("Reraiser", Reraiser())
"""


@pytest.fixture
def reject_config(tmp_path):
    return make_config(
        tmp_path,
        {"front": RERAISER, "relay": RERAISER, "rejecter": REJECTER},
        bootstrap="front",
    )


@pytest.mark.parametrize("via", ["reraise", "reraise_caught"])
async def test_a_record_rejection_reaches_the_host_as_the_record_through_a_vat_that_reraises(
    anyio_backend, reject_config, via
):
    async with vatrt.open_kernel(reject_config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("front", via, "reject_with_record")
        assert caught.value.reason == {"code": 7}
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("front", via, "reject_with_string")
        assert caught.value.reason == "not today"
        kernel.audit()


async def test_a_record_rejection_survives_two_hops_and_vat_code_sees_the_record(
    anyio_backend, reject_config
):
    async with vatrt.open_kernel(reject_config) as kernel:
        await kernel.run()
        seen = await kernel.call("front", "two_hops", "reject_with_record")
        assert seen["reason"] == {"code": 7}
        assert seen["name"] == "Rejection"
        assert "{'code': 7}" in seen["message"]
        # a real error still arrives as an error, whatever the hops
        seen = await kernel.call("front", "two_hops", "fail")
        assert (seen["name"], seen["message"], seen["reason"]) == (
            "ValueError",
            "a real error",
            None,
        )
        kernel.audit()


async def test_a_rejection_record_holding_a_presence_keeps_it_across_hops(
    anyio_backend, reject_config
):
    async with vatrt.open_kernel(reject_config) as kernel:
        await kernel.run()
        assert await kernel.call("front", "witness_name") == "witness"
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("front", "reraise", "reject_with_presence")
        assert caught.value.reason["code"] == 8
        assert caught.value.reason["by"].kref.startswith("ko")
        kernel.audit()
