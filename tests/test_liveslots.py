"""liveslots alone, against a fake kernel: the syscalls a vat makes for each delivery."""

import asyncio
import gc

import orjson
import pytest

from vatrt._liveslots.durable import make_baggage
from vatrt._liveslots.liveslots import LiveSlots
from vatrt._marshal import decode, encode
from vatrt.vat import E, Far, Presence


class FakeKernel:
    """Records syscalls and answers vatstore calls from a dict."""

    def __init__(self):
        self.syscalls = []
        self.vatstore = {}

    def __call__(self, vso):
        self.syscalls.append(vso)
        kind = vso[0]
        if kind == "vatstoreGet":
            return self.vatstore.get(vso[1])
        if kind == "vatstoreSet":
            self.vatstore[vso[1]] = vso[2]
        elif kind == "vatstoreDelete":
            self.vatstore.pop(vso[1], None)
        elif kind == "vatstoreGetKeys":
            return sorted(k for k in self.vatstore if k.startswith(vso[1]))
        return None

    def of(self, kind):
        return [s for s in self.syscalls if s[0] == kind]


def capdata(value):
    return encode(value, lambda x: (x.vref, "") if isinstance(x, Presence) else None)


def message(method, *args, result="p-1", target="o+0"):
    return ["message", target, {"methargs": capdata([method, list(args)]), "result": result}]


def resolution(kernel, vpid):
    [[_, [[_, rejected, data]]]] = [s for s in kernel.of("resolve") if s[1][0][0] == vpid]
    return rejected, decode(data, lambda ref, iface: Presence(ref, iface))


def start(build):
    kernel = FakeKernel()
    ls = LiveSlots(kernel, build, make_baggage)
    assert ls.dispatch(["startVat", capdata(None), []]) == ["ok"]
    return kernel, ls


def simple_root(vat_powers, vat_parameters, baggage):
    class Root:
        def double(self, n):
            return 2 * n

        def fail(self):
            raise ValueError("nope")

        async def ask(self, peer):
            return await E(peer).answer() + 1

        def wait(self):
            return asyncio.sleep(0)

        def keep(self, presence):
            held.append(presence)

        def drop(self):
            held.clear()

        def make(self):
            return Far("Made", type("M", (), {})())

    held = []
    return Far("Root", Root())


def test_a_method_result_is_resolved_with_its_marshalled_value():
    kernel, ls = start(simple_root)
    assert ls.dispatch(message("double", 21)) == ["ok"]
    assert resolution(kernel, "p-1") == (False, 42)


def test_a_raised_exception_rejects_with_its_name_and_message():
    kernel, ls = start(simple_root)
    ls.dispatch(message("fail"))
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert (error.name, str(error)) == ("ValueError", "nope")


def test_a_missing_method_rejects_naming_it():
    kernel, ls = start(simple_root)
    ls.dispatch(message("nothing_here"))
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert "Root has no method 'nothing_here'" in str(error)


def test_an_await_sends_subscribes_and_resumes_on_notify():
    kernel, ls = start(simple_root)
    ls.dispatch(message("ask", Presence("o-50", "Peer")))
    [send] = kernel.of("send")
    assert send[1] == "o-50"
    assert decode(send[2]["methargs"], None) == ["answer", []]
    vpid = send[2]["result"]
    assert ["subscribe", vpid] in kernel.syscalls
    assert not kernel.of("resolve")
    ls.dispatch(["notify", [[vpid, False, capdata(41)]]])
    assert resolution(kernel, "p-1") == (False, 42)


def test_awaiting_anything_but_a_vat_promise_rejects_saying_why():
    kernel, ls = start(simple_root)
    ls.dispatch(message("wait"))
    # a coroutine returned (not awaited) is driven by liveslots like any other
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert "a vat has no clock and no I/O" in str(error)


def test_build_root_object_must_return_a_far_object():
    kernel = FakeKernel()
    ls = LiveSlots(kernel, lambda *a: {"not": "far"}, make_baggage)
    result = ls.dispatch(["startVat", capdata(None), []])
    assert result[0] == "error"
    assert "must return a Far object, not dict" in result[1]


def test_a_dropped_presence_is_reported_at_bring_out_your_dead():
    kernel, ls = start(simple_root)
    ls.dispatch(message("keep", Presence("o-51", "P"), result=None))
    ls.dispatch(message("keep", Presence("o-50", "P"), result=None))
    ls.dispatch(["bringOutYourDead"])
    assert not kernel.of("dropImports")
    ls.dispatch(message("drop", result=None))
    gc.collect()
    ls.dispatch(["bringOutYourDead"])
    assert kernel.of("dropImports") == [["dropImports", ["o-50", "o-51"]]]
    assert kernel.of("retireImports") == [["retireImports", ["o-50", "o-51"]]]


def test_a_dropped_export_that_dies_is_retired():
    kernel, ls = start(simple_root)
    ls.dispatch(message("make"))
    _, made = resolution(kernel, "p-1")
    ls.dispatch(["dropExports", [made.vref]])
    ls.dispatch(["bringOutYourDead"])
    assert kernel.of("retireExports") == [["retireExports", [made.vref]]]


def test_far_refuses_data_and_objects_without_attributes():
    with pytest.raises(TypeError, match="needs an object with methods, not dict"):
        Far("X", {"a": 1})
    with pytest.raises(TypeError, match="does not accept attributes"):
        Far("X", object())


def test_e_refuses_private_methods():
    with pytest.raises(AttributeError, match="underscore methods are private"):
        E(Presence("o-5", "P"))._secret  # noqa: B018


def test_baggage_stores_durable_values_and_refuses_ephemeral_ones():
    kernel = FakeKernel()
    seen = {}

    def build(vat_powers, vat_parameters, baggage):
        baggage.init("n", 1)
        baggage.set("n", baggage.get("n") + 1)
        assert baggage.provide("m", lambda: 7) == 7
        assert baggage.provide("m", lambda: 8) == 7
        assert sorted(baggage.keys()) == ["m", "n"]
        baggage.delete("m")
        assert not baggage.has("m")
        with pytest.raises(KeyError, match="baggage has no key 'absent'"):
            baggage.get("absent")
        with pytest.raises(TypeError, match="ephemeral Far object"):
            baggage.init("far", Far("F", type("F", (), {})()))
        seen["n"] = baggage.get("n")
        return Far("Root", type("R", (), {})())

    ls = LiveSlots(kernel, build, make_baggage)
    assert ls.dispatch(["startVat", capdata(None), []]) == ["ok"]
    assert seen["n"] == 2
    assert orjson.loads(kernel.vatstore["baggage.n"]) == {"body": "2", "slots": []}
