"""liveslots alone, against a fake kernel: the syscalls a vat makes for each delivery."""

import asyncio
import gc
import sys
import types

import orjson
import pytest

from vatrt._liveslots.durable import Baggage, make_baggage
from vatrt._liveslots.liveslots import LiveSlots
from vatrt._liveslots.promises import Microtasks
from vatrt._marshal import RemoteError, decode, encode
from vatrt._protocol import (
    OK,
    BringOutYourDead,
    DropExports,
    Failed,
    Message,
    Msg,
    Notify,
    Resolution,
    RetireExports,
    StartVat,
    decode_syscall,
)
from vatrt._protocol import encode as encode_record
from vatrt.vat import E, Far, Presence, VatPromise, durable_kind, make_promise_kit


class FakeKernel:
    """The `syscall` function: records every syscall as its wire list (through the
    codec, which must round-trip it), answers vatstore calls from a dict."""

    def __init__(self, vatstore=None):
        self.syscalls = []
        self.vatstore = {} if vatstore is None else vatstore

    def __call__(self, record):
        frame = encode_record(record)
        assert decode_syscall(frame) == record
        vso = orjson.loads(frame)
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

    def kernel_syscalls(self):
        """Every syscall but the vatstore's (which only reach the vat's own storage)."""
        return [s for s in self.syscalls if not s[0].startswith("vatstore")]

    def of(self, kind):
        return [s for s in self.syscalls if s[0] == kind]


def capdata(value):
    return encode(value, lambda x: (x.vref, x.iface) if type(x) is Presence else None)


def message(method, *args, result="p-1", target="o+0"):
    return Message(target, Msg(capdata([method, list(args)]), result))


def resolution(kernel, vpid):
    """(rejected, value) of the one resolve syscall for `vpid`."""
    [data] = [r for s in kernel.of("resolve") for r in s[1] if r[0] == vpid]
    _, rejected, body = data
    return rejected, decode(body, Presence)


def start(build, kernel=None):
    kernel = kernel or FakeKernel()
    ls = LiveSlots(kernel, build, make_baggage)
    assert ls.dispatch(StartVat(capdata(None))) == OK
    kernel.syscalls.clear()
    return kernel, ls


held = []


class Root:
    def double(self, n):
        return 2 * n

    def fail(self):
        raise ValueError("nope")

    def exit_process(self):
        sys.exit(3)

    async def exit_process_later(self):
        sys.exit(3)

    async def ask(self, peer):
        return await E(peer).answer() + 1

    async def ask_safely(self, peer):
        try:
            await E(peer).answer()
        except RemoteError as e:
            return ["caught", e.name, str(e)]
        return "not rejected"

    def forward(self, peer):
        return E(peer).answer()

    def pipeline(self, peer):
        return E(E(peer).get_b()).ping()

    def poke(self, peer):
        E.sendonly(peer).poke(1)

    def give(self, peer):
        gift = Far("Gift", types.SimpleNamespace())
        return E(peer).take(gift, [gift])

    def send_a_set(self, peer):
        return E(peer).take("ok", {1, 2})

    def local(self):
        return E(self).double(4)

    def with_kit(self):
        promise, resolve, _ = make_promise_kit()
        resolve("later")
        return promise

    def a_set(self):
        return {1, 2}

    def keep(self, presence):
        held.append(presence)

    def drop(self):
        held.clear()

    def make(self):
        made = Far("Made", double=lambda n: 2 * n)
        held.append(made)
        return made


def build_root(vat_powers, vat_parameters, baggage):
    held.clear()
    return Far("Root", Root())


# -- messages ---------------------------------------------------------------------


def test_a_method_result_is_resolved_with_its_marshalled_value():
    kernel, ls = start(build_root)
    assert ls.dispatch(message("double", 21)) == OK
    assert kernel.syscalls == [["resolve", [["p-1", False, {"body": "42", "slots": []}]]]]


def test_a_message_with_no_result_makes_no_syscall():
    kernel, ls = start(build_root)
    assert ls.dispatch(message("double", 21, result=None)) == OK
    assert kernel.syscalls == []


def test_keyword_arguments_reach_the_method():
    kernel, ls = start(build_root)
    methargs = capdata(["double", [], {"n": 5}])
    ls.dispatch(Message("o+0", Msg(methargs, "p-1")))
    assert resolution(kernel, "p-1") == (False, 10)


def test_a_method_that_raises_rejects_with_an_error_naming_it():
    kernel, ls = start(build_root)
    assert ls.dispatch(message("fail")) == OK
    [[kind, [[vpid, rejected, data]]]] = kernel.syscalls
    assert (kind, vpid, rejected) == ("resolve", "p-1", True)
    assert orjson.loads(data["body"]) == {
        "@qclass": "error",
        "name": "ValueError",
        "message": "nope",
    }


@pytest.mark.parametrize("method", ["exit_process", "exit_process_later"])
def test_a_method_that_calls_sys_exit_rejects_like_any_other_exception(method):
    kernel, ls = start(build_root)
    assert ls.dispatch(message(method)) == OK
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert error.name == "SystemExit"


@pytest.mark.parametrize("method", ["nothing_here", "_private", "__class__"])
def test_a_missing_or_private_method_rejects_naming_it(method):
    kernel, ls = start(build_root)
    assert ls.dispatch(message(method)) == OK
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert error.name == "TypeError"
    assert f"Root has no method {method!r}" in str(error)


def test_a_result_that_is_not_passable_rejects_naming_its_type():
    kernel, ls = start(build_root)
    ls.dispatch(message("a_set"))
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert "builtins.set is not passable" in str(error)


def test_each_returned_far_object_is_exported_with_a_vref_of_its_own():
    kernel, ls = start(build_root)
    ls.dispatch(message("make", result="p-1"))
    ls.dispatch(message("make", result="p-2"))
    [[_, [[_, _, first]]], [_, [[_, _, second]]]] = kernel.syscalls
    assert first["slots"] == ["o+1"]
    assert second["slots"] == ["o+2"]
    assert resolution(kernel, "p-1")[1].iface == "Made"


def test_a_message_to_an_unknown_export_is_fatal():
    _, ls = start(build_root)
    result = ls.dispatch(message("double", 1, target="o+99"))
    assert type(result) is Failed
    assert "o+99" in result.why


def test_an_unknown_delivery_type_is_fatal():
    _, ls = start(build_root)
    result = ls.dispatch(["teleport"])  # not a delivery record at all
    assert type(result) is Failed
    assert "'teleport'" in result.why


# -- eventual sends and awaiting ------------------------------------------------------


def test_an_await_sends_subscribes_and_resumes_on_notify():
    kernel, ls = start(build_root)
    ls.dispatch(message("ask", Presence("o-50", "Peer")))
    assert kernel.syscalls == [
        ["send", "o-50", {"methargs": {"body": '["answer",[]]', "slots": []}, "result": "p+1"}],
        ["subscribe", "p+1"],
    ]
    kernel.syscalls.clear()
    assert ls.dispatch(Notify([Resolution("p+1", False, capdata(41))])) == OK
    assert kernel.syscalls == [["resolve", [["p-1", False, {"body": "42", "slots": []}]]]]


def test_a_rejected_notify_raises_remote_error_with_its_name_in_the_awaiting_method():
    kernel, ls = start(build_root)
    ls.dispatch(message("ask_safely", Presence("o-50", "Peer")))
    [send] = kernel.of("send")
    ls.dispatch(Notify([Resolution(send[2]["result"], True, capdata(KeyError("gone")))]))
    assert resolution(kernel, "p-1") == (False, ["caught", "KeyError", "'gone'"])


def test_returning_another_vats_promise_resolves_the_result_to_it_at_once():
    kernel, ls = start(build_root)
    ls.dispatch(message("forward", Presence("o-50", "Peer")))
    assert [s[0] for s in kernel.syscalls] == ["send", "subscribe", "resolve"]
    [[_, [[vpid, rejected, data]]]] = kernel.of("resolve")
    assert (vpid, rejected, data["slots"]) == ("p-1", False, ["p+1"])


def test_a_send_to_an_unresolved_result_is_pipelined_to_its_vpid():
    kernel, ls = start(build_root)
    ls.dispatch(message("pipeline", Presence("o-50", "Peer"), result=None))
    sends = kernel.of("send")
    assert [(s[1], s[2]["result"]) for s in sends] == [("o-50", "p+1"), ("p+1", "p+2")]
    assert decode(sends[1][2]["methargs"], Presence) == ["ping", []]


def test_sendonly_sends_with_no_result_and_no_subscribe():
    kernel, ls = start(build_root)
    ls.dispatch(message("poke", Presence("o-50", "Peer"), result=None))
    assert kernel.syscalls == [
        ["send", "o-50", {"methargs": {"body": '["poke",[1]]', "slots": []}, "result": None}]
    ]


def test_a_far_object_sent_twice_in_one_message_is_one_export():
    kernel, ls = start(build_root)
    ls.dispatch(message("give", Presence("o-50", "Peer"), result=None))
    [send] = kernel.of("send")
    assert send[2]["methargs"]["slots"] == ["o+1"]


def test_sending_a_value_that_is_not_passable_rejects_naming_where_it_is():
    kernel, ls = start(build_root)
    ls.dispatch(message("send_a_set", Presence("o-50", "Peer")))
    assert kernel.of("send") == []
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert error.name == "TypeError"
    assert "builtins.set is not passable at args[1]" in str(error)


def test_a_send_to_a_local_object_runs_within_the_delivery():
    kernel, ls = start(build_root)
    ls.dispatch(message("local"))
    assert kernel.syscalls == [["resolve", [["p-1", False, {"body": "8", "slots": []}]]]]


def test_a_promise_kit_resolved_locally_resolves_the_result():
    kernel, ls = start(build_root)
    ls.dispatch(message("with_kit"))
    assert resolution(kernel, "p-1") == (False, "later")


class Tick:
    def __await__(self):
        yield "tick"


@types.coroutine
def bare_yield():
    yield


class Waiter:
    async def sleep_zero(self):
        await asyncio.sleep(0)

    async def sleep_one(self):
        await asyncio.sleep(1)

    async def tick(self):
        await Tick()

    async def bare(self):
        await bare_yield()

    def return_sleep(self):
        return asyncio.sleep(0)


@pytest.mark.parametrize("method", ["sleep_zero", "sleep_one", "tick", "bare", "return_sleep"])
def test_awaiting_anything_but_a_vat_promise_rejects_saying_a_vat_has_no_clock(method):
    kernel, ls = start(lambda *_: Far("Waiter", Waiter()))
    assert ls.dispatch(message(method)) == OK
    rejected, error = resolution(kernel, "p-1")
    assert rejected
    assert error.name == "TypeError"
    assert "a vat has no clock and no I/O" in str(error)


def test_e_outside_a_delivery_says_it_needs_one():
    with pytest.raises(RuntimeError, match="only be used by vat code during a delivery"):
        E(Presence("o-5", "P")).ping()


def test_e_refuses_private_methods():
    with pytest.raises(AttributeError, match="underscore methods are private"):
        E(Presence("o-5", "P"))._secret  # noqa: B018
    with pytest.raises(AttributeError, match="underscore methods are private"):
        E.sendonly(Presence("o-5", "P"))._hidden  # noqa: B018


# -- starting a vat ----------------------------------------------------------------


def test_build_root_object_gets_its_parameters_and_its_root_is_o_plus_0():
    seen = []

    def build(vat_powers, vat_parameters, baggage):
        seen.append((vat_parameters, type(baggage)))
        return Far("Root", double=lambda n: 2 * n)

    kernel = FakeKernel()
    ls = LiveSlots(kernel, build, make_baggage)
    params = {"n": 1, "peer": Presence("o-7", "Peer")}
    assert ls.dispatch(StartVat(capdata(params))) == OK
    [(got, baggage_type)] = seen
    assert got["n"] == 1
    assert (got["peer"].vref, got["peer"].iface) == ("o-7", "Peer")
    assert baggage_type is Baggage
    ls.dispatch(message("double", 4))
    assert resolution(kernel, "p-1") == (False, 8)


def test_an_async_build_root_object_is_driven_to_its_end():
    async def build(vat_powers, vat_parameters, baggage):
        return Far("Root", double=lambda n: 2 * n)

    kernel, ls = start(build)
    ls.dispatch(message("double", 4))
    assert resolution(kernel, "p-1") == (False, 8)


def test_a_build_root_object_that_returns_a_non_far_is_an_error():
    kernel = FakeKernel()
    ls = LiveSlots(kernel, lambda *a: {"not": "far"}, make_baggage)
    result = ls.dispatch(StartVat(capdata(None)))
    assert type(result) is Failed
    assert "must return a Far object, not dict" in result.why


def test_a_build_root_object_that_raises_is_an_error_naming_the_exception():
    def build(*_):
        raise LookupError("no such thing")

    result = LiveSlots(FakeKernel(), build, make_baggage).dispatch(StartVat(capdata(None)))
    assert type(result) is Failed
    assert "LookupError: no such thing" in result.why


def test_exit_vat_makes_an_exit_syscall_once():
    def build(vat_powers, vat_parameters, baggage):
        def leave():
            vat_powers.exit_vat("bye")
            vat_powers.exit_vat("again")

        return Far("Root", leave=leave)

    kernel, ls = start(build)
    ls.dispatch(message("leave", result=None))
    assert kernel.syscalls == [["exit", False, {"body": '"bye"', "slots": []}]]


# -- garbage collection -------------------------------------------------------------


def test_a_dropped_presence_is_reported_at_bring_out_your_dead():
    kernel, ls = start(build_root)
    ls.dispatch(message("keep", Presence("o-51", "P"), result=None))
    ls.dispatch(message("keep", Presence("o-50", "P"), result=None))
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == []  # the vat still holds both
    ls.dispatch(message("drop", result=None))
    gc.collect()
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == [
        ["dropImports", ["o-50", "o-51"]],
        ["retireImports", ["o-50", "o-51"]],
    ]
    kernel.syscalls.clear()
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == []  # reported once


def test_a_presence_that_comes_back_is_the_same_object_while_it_lives():
    _, ls = start(build_root)
    ls.dispatch(message("keep", Presence("o-50", "P"), result=None))
    ls.dispatch(message("keep", Presence("o-50", "P"), result=None))
    assert held[0] is held[1]


def test_a_dropped_export_is_retired_once_the_vat_lets_go_of_it():
    kernel, ls = start(build_root)
    ls.dispatch(message("make"))
    [vref] = kernel.syscalls[0][1][0][2]["slots"]
    kernel.syscalls.clear()
    ls.dispatch(DropExports([vref]))
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == []  # the vat still holds it
    ls.dispatch(message("drop", result=None))
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == [["retireExports", [vref]]]


def test_an_export_the_kernel_still_reaches_is_kept_alive():
    kernel, ls = start(build_root)
    ls.dispatch(message("make"))
    ls.dispatch(message("drop", result=None))
    gc.collect()
    kernel.syscalls.clear()
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == []
    ls.dispatch(message("double", 1, target="o+1"))
    assert resolution(kernel, "p-1") == (False, 2)


def test_the_root_object_is_never_dropped():
    kernel, ls = start(build_root)
    ls.dispatch(DropExports(["o+0"]))
    ls.dispatch(RetireExports(["o+0"]))
    gc.collect()
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == []
    assert ls.dispatch(message("double", 2)) == OK
    assert resolution(kernel, "p-1") == (False, 4)


# -- Far --------------------------------------------------------------------------


@pytest.mark.parametrize("data", [{"a": 1}, [1], (1,), "s", b"b", 1, 1.5, True])
def test_far_refuses_data(data):
    with pytest.raises(TypeError, match=f"needs an object with methods, not {type(data).__name__}"):
        Far("X", data)


def test_far_refuses_objects_that_take_no_attributes():
    with pytest.raises(TypeError, match="cannot mark a object: it does not accept attributes"):
        Far("X", object())


def test_far_builds_an_object_from_functions():
    obj = Far("Counter", read=lambda: 1)
    assert obj.read() == 1
    assert "Counter" in repr(obj)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((3, types.SimpleNamespace()), {}, "interface name must be a str, not int"),
        (("X", types.SimpleNamespace()), {"f": len}, "either an object or functions"),
        (("X",), {"f": 1}, "f is not callable"),
    ],
)
def test_far_refuses_misuse(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Far(*args, **kwargs)


# -- baggage ------------------------------------------------------------------------


def new_baggage(kernel=None):
    kernel = kernel or FakeKernel()
    ls = LiveSlots(kernel, build_root, make_baggage)
    return kernel, make_baggage(ls.durable)


def test_baggage_init_then_get_reads_the_value_from_the_vatstore():
    kernel, baggage = new_baggage()
    baggage.init("n", {"count": 1, "t": (1, b"x")})
    assert orjson.loads(kernel.vatstore["baggage.n"])["slots"] == []
    assert baggage.get("n") == {"count": 1, "t": (1, b"x")}
    assert baggage.has("n")
    assert "n" in baggage


def test_baggage_get_of_a_missing_key_raises_key_error_naming_it():
    _, baggage = new_baggage()
    with pytest.raises(KeyError, match="'absent'"):
        baggage.get("absent")


def test_baggage_init_of_an_existing_key_raises_key_error():
    _, baggage = new_baggage()
    baggage.init("n", 1)
    with pytest.raises(KeyError, match="already has key 'n'"):
        baggage.init("n", 2)
    assert baggage.get("n") == 1


def test_baggage_set_replaces_a_value_and_needs_init_first():
    _, baggage = new_baggage()
    with pytest.raises(KeyError, match=r"'n'.*init"):
        baggage.set("n", 1)
    baggage.init("n", 1)
    baggage.set("n", baggage.get("n") + 1)
    assert baggage.get("n") == 2


def test_baggage_delete_removes_a_key_and_refuses_a_missing_one():
    kernel, baggage = new_baggage()
    baggage.init("n", 1)
    baggage.delete("n")
    assert not baggage.has("n")
    assert "baggage.n" not in kernel.vatstore
    with pytest.raises(KeyError, match="'n'"):
        baggage.delete("n")


def test_baggage_keys_lists_only_its_own_keys():
    kernel, baggage = new_baggage()
    kernel.vatstore["vom.kinds"] = "{}"
    for key in ("b", "a", "c"):
        baggage.init(key, None)
    assert sorted(baggage.keys()) == ["a", "b", "c"]
    assert sorted(baggage) == ["a", "b", "c"]


def test_baggage_provide_stores_the_default_only_once():
    _, baggage = new_baggage()
    assert baggage.provide("m", lambda: [7]) == [7]
    assert baggage.provide("m", lambda: pytest.fail("made a default twice")) == [7]
    assert baggage.get("m") == [7]


def test_baggage_keys_must_be_str():
    _, baggage = new_baggage()
    with pytest.raises(TypeError, match="baggage keys must be str, not int"):
        baggage.init(1, "x")


def test_baggage_refuses_ephemeral_far_objects_and_promises():
    _, baggage = new_baggage()
    with pytest.raises(TypeError, match=r"baggage\['far'\].*ephemeral Far object"):
        baggage.init("far", Far("F", types.SimpleNamespace()))
    with pytest.raises(TypeError, match=r"baggage\['promise'\].*a promise"):
        baggage.init("promise", VatPromise(Microtasks()))
    assert not baggage.has("far")
    assert not baggage.has("promise")


def test_baggage_outlives_the_incarnation_that_wrote_it():
    kernel, baggage = new_baggage()
    baggage.init("peer", Presence("o-50", "Peer"))
    baggage.init("n", 1)
    _, next_baggage = new_baggage(FakeKernel(kernel.vatstore))
    peer = next_baggage.get("peer")
    assert (type(peer), peer.vref, peer.iface) == (Presence, "o-50", "Peer")
    assert next_baggage.get("n") == 1


def test_a_presence_kept_only_in_baggage_is_not_dropped_until_its_entry_is_deleted():
    def build(vat_powers, vat_parameters, baggage):
        def remember(peer):
            baggage.init("peer", peer)

        def forget():
            baggage.delete("peer")

        return Far("Root", remember=remember, forget=forget)

    kernel, ls = start(build)
    ls.dispatch(message("remember", Presence("o-50", "Peer"), result=None))
    gc.collect()
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == []  # baggage still refers to it
    ls.dispatch(message("forget", result=None))
    gc.collect()
    ls.dispatch(BringOutYourDead())
    assert kernel.kernel_syscalls() == [["dropImports", ["o-50"]], ["retireImports", ["o-50"]]]


def test_a_durable_kind_instance_has_a_durable_vref_and_durable_state():
    made = []

    def build(vat_powers, vat_parameters, baggage):
        @durable_kind(baggage, "Counter")
        class Counter:
            @staticmethod
            def init(start):
                return {"n": start}

            def incr(self):
                self.state["n"] += 1
                return self.state["n"]

        def new_counter(start):
            counter = Counter(start)
            made.append(counter)
            return counter

        return Far("Root", new_counter=new_counter)

    kernel, ls = start(build)
    ls.dispatch(message("new_counter", 5))
    [[_, [[_, _, data]]]] = kernel.of("resolve")
    assert data["slots"] == ["o+d1/1"]
    ls.dispatch(message("incr", target="o+d1/1", result="p-2"))
    assert resolution(kernel, "p-2") == (False, 6)
    assert decode(orjson.loads(kernel.vatstore["vom.o+d1/1"]), Presence) == {"n": 6}
