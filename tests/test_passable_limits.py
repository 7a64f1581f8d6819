"""Passable limits, one rule everywhere (issue 11, item 12).

Cyclic data and data nested deeper than `MAX_DEPTH` are a TypeError at the sender
(a vat or the host) naming the problem and the path; ints of any size pass; a
receiver never dies of what it is sent (decode refuses over-deep bodies with a
ValueError, never a RecursionError).
"""

import re

import anyio
import pytest

import vatrt
from vatrt._marshal import (
    DECODE_MAX_DEPTH,
    MAX_DEPTH,
    RemoteError,
    decode,
    encode,
    no_slots,
)
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio


def nested(levels, leaf=1):
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def cyclic_list():
    a = [1]
    a.append(a)
    return a


# -- the marshaller ---------------------------------------------------------------------


def test_a_cyclic_list_is_a_type_error_naming_where_it_closes():
    with pytest.raises(TypeError, match=r"^cyclic data is not passable at args\[1\]: "):
        encode(cyclic_list(), no_slots, "args")
    inner = {"peer": None}
    inner["peer"] = [inner]
    with pytest.raises(
        TypeError,
        match=re.escape("cyclic data is not passable at args[0]['x']['peer'][0]: the dict there")
        + r".*also at args\[0\]\['x'\]\)",
    ):
        encode([{"x": inner}], no_slots, "args")


def test_a_cycle_through_a_tuple_is_found_too():
    a = []
    a.append((a,))
    with pytest.raises(TypeError, match=r"cyclic data is not passable at \[0\]\[0\].*the root"):
        encode(a, no_slots)


def test_data_at_the_depth_limit_passes_and_one_level_more_is_a_type_error():
    value = nested(MAX_DEPTH)
    assert decode(encode(value, no_slots), None) == value
    with pytest.raises(
        TypeError, match=rf"^data nested deeper than {MAX_DEPTH} levels is not passable at r\[0\]"
    ):
        encode(nested(MAX_DEPTH + 1), no_slots, "r")
    deep_dict = 1
    for _ in range(MAX_DEPTH + 1):
        deep_dict = {"k": deep_dict}
    with pytest.raises(TypeError, match=r"nested deeper than .* at \['k'\]\['k'\]"):
        encode(deep_dict, no_slots)


def test_far_deeper_data_is_a_type_error_not_a_recursion_error():
    for levels in (300, 1_000, 100_000):
        with pytest.raises(TypeError, match="nested deeper than"):
            encode(nested(levels), no_slots, "args")


def test_the_deepest_records_still_fit_orjsons_limit():
    # a dict with an "@qclass" key is three JSON levels: MAX_DEPTH of them must encode
    value = 1
    for _ in range(MAX_DEPTH):
        value = {"@qclass": "mine", "v": value}
    assert decode(encode(value, no_slots), None) == value


@pytest.mark.parametrize(
    "n",
    [2**63 - 1, -(2**63), 2**64, -(2**64) - 1, 2**200, 10**4299, 10**5000, -(2**100_000)],
    ids=lambda n: f"{'-' if n < 0 else ''}{n.bit_length()}bits",
)
def test_ints_of_any_size_round_trip(n):
    assert decode(encode([n, (n,)], no_slots), None) == [n, (n,)]


def test_bigints_keep_their_decimal_form_up_to_the_str_limit():
    assert (
        encode(2**70, no_slots)["body"] == '{"@qclass":"bigint","digits":"1180591620717411303424"}'
    )
    assert '"hex"' in encode(10**5000, no_slots)["body"]


@pytest.mark.parametrize("levels", [DECODE_MAX_DEPTH + 1, 900, 1_000, 1_024, 5_000])
def test_decode_refuses_an_over_deep_body_cleanly(levels):
    body = "[" * levels + "]" * levels
    with pytest.raises(ValueError, match=r"nested deeper than|depth limit"):
        decode({"body": body, "slots": []}, None)
    tuples = '{"@qclass":"tuple","items":[' * levels + "]}" * levels
    with pytest.raises(ValueError, match=r"nested deeper than|depth limit"):
        decode({"body": tuples, "slots": []}, None)


def test_decode_takes_what_any_sender_could_send_inside_its_envelope():
    body = encode([["m", [nested(MAX_DEPTH)]]], no_slots, max_depth=MAX_DEPTH + 3)["body"]
    assert decode({"body": body, "slots": []}, None) == [["m", [nested(MAX_DEPTH)]]]


# -- through the kernel -----------------------------------------------------------------

ALICE = """
from vatrt.vat import E, Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}

    class Alice:
        def bootstrap(self, vats, devices):
            peers.update(vats)

        async def ask(self, method):
            try:
                return ["ok", await getattr(E(peers["bob"]), method)()]
            except RemoteError as e:
                return [e.name, str(e)]

        async def ask_twice(self, method):
            value = await getattr(E(peers["bob"]), method)()
            return await E(peers["bob"]).echo(value)

        def send_cyclic(self):
            a = [1]
            a.append(a)
            try:
                E(peers["bob"]).echo(a)
            except TypeError as e:
                return str(e)

        def send_deep(self):
            value = 1
            for _ in range(500):
                value = [value]
            try:
                E(peers["bob"]).echo(value)
            except TypeError as e:
                return str(e)

    return Far("Alice", Alice())
"""

BOB = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Bob:
        def cyclic(self):
            a = [1]
            a.append(a)
            return a

        def deep(self):
            value = 1
            for _ in range(1_000):
                value = [value]
            return value

        def three_hundred(self):
            value = 1
            for _ in range(300):
                value = [value]
            return value

        def huge(self):
            return 2**200

        def huger(self):
            return -(10**5000)

        def echo(self, value):
            return value

        def ping(self):
            return "pong"

    return Far("Bob", Bob())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"alice": ALICE, "bob": BOB}, bootstrap="alice")


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("cyclic", r"cyclic data is not passable at \[1\]: the list there contains itself"),
        ("deep", rf"data nested deeper than {MAX_DEPTH} levels is not passable at \[0\]"),
        ("three_hundred", rf"data nested deeper than {MAX_DEPTH} levels"),
    ],
)
async def test_a_vat_returning_unpassable_data_rejects_the_caller_and_keeps_working(
    anyio_backend, config, method, message
):
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(10):
            name, text = await kernel.call("alice", "ask", method)
            assert name == "TypeError"
            assert re.search(message, text), text
            # the host asking bob directly sees the same rejection
            with pytest.raises(vatrt.RejectedError) as info:
                await kernel.call("bob", method)
            assert isinstance(info.value.reason, RemoteError)
            assert info.value.reason.name == "TypeError"
            assert re.search(message, str(info.value.reason))
            # bob is alive and well, and so is alice
            assert await kernel.call("bob", "ping") == "pong"
            assert await kernel.call("alice", "ask", "ping") == ["ok", "pong"]
        kernel.audit()


async def test_a_vat_sending_unpassable_arguments_gets_a_type_error_at_the_send(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(10):
            message = await kernel.call("alice", "send_cyclic")
            assert re.match(r"cyclic data is not passable at args\[0\]\[1\]", message), message
            message = await kernel.call("alice", "send_deep")
            assert message.startswith(f"data nested deeper than {MAX_DEPTH} levels")
            assert "at args[0][0]" in message
            assert await kernel.call("alice", "ask", "ping") == ["ok", "pong"]
        kernel.audit()


@pytest.mark.parametrize("kind", ["cyclic", "deep"])
async def test_the_host_passing_unpassable_data_gets_a_type_error_and_nothing_changes(
    anyio_backend, config, kind
):
    value = cyclic_list() if kind == "cyclic" else nested(5_000)
    expected = "cyclic data is not passable" if kind == "cyclic" else "data nested deeper than"
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(10):
            await kernel.run()
            before = kernel.dump()
            with pytest.raises(TypeError, match=rf"{expected}.* at bob\.echo\(\) arguments\[1\]"):
                kernel.queue_to_vat_root("bob", "echo", [value])
            assert kernel.dump() == before
            with pytest.raises(TypeError, match=rf"{expected}.* at bob\.echo\(\) arguments"):
                await kernel.call("bob", "echo", value)
            assert kernel.dump() == before
            with pytest.raises(TypeError, match=expected):
                await kernel.call("bob", "echo", peer={"x": value})
            assert kernel.dump() == before
            # the host's arguments sit two levels down: [method, [args...]]
            assert await kernel.call("bob", "echo", nested(MAX_DEPTH - 2)) == nested(MAX_DEPTH - 2)
            before = kernel.dump()
            with pytest.raises(TypeError, match="nested deeper than"):
                await kernel.call("bob", "echo", nested(MAX_DEPTH - 1))
            assert kernel.dump() == before
        kernel.audit()


async def test_a_huge_int_round_trips_vat_to_vat_to_host(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(10):
            assert await kernel.call("alice", "ask", "huge") == ["ok", 2**200]
            assert await kernel.call("alice", "ask_twice", "huge") == 2**200
            assert await kernel.call("alice", "ask", "huger") == ["ok", -(10**5000)]
            assert await kernel.call("bob", "echo", 10**6000 + 1) == 10**6000 + 1
        kernel.audit()


BOOT = """
from vatrt.vat import E, Far, RemoteError

CHILD = \'\'\'
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    def die(levels):
        value = 1
        for _ in range(levels):
            value = [value]
        vat_powers.exit_vat_with_failure(value)
    return Far("Child", die=die)
\'\'\'

def build_root_object(vat_powers, vat_parameters, baggage):
    vats = {}

    def nested(levels):
        value = 1
        for _ in range(levels):
            value = [value]
        return value

    class Boot:
        def bootstrap(self, given, devices):
            vats.update(given)

        async def child_dies_with(self, levels):
            bundle = await E(vats["vat_admin"]).install_bundle(CHILD)
            made = await E(vats["vat_admin"]).create_vat(bundle, name="child")
            done = E(made["admin_node"]).done()
            E.sendonly(made["root"]).die(levels)
            try:
                await done
            except RemoteError as e:
                return e.reason == nested(levels)

    return Far("Boot", Boot())
"""


async def test_a_vat_exiting_with_a_deep_reason_settles_done_with_it(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"boot": BOOT}, bootstrap="boot")
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(10):
            assert await kernel.call("boot", "child_dies_with", MAX_DEPTH - 3) is True
        kernel.audit()


async def test_a_vat_exiting_with_a_reason_at_the_depth_limit_does_not_break_the_kernel(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"boot": BOOT}, bootstrap="boot")
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(10):
            assert await kernel.call("boot", "child_dies_with", MAX_DEPTH) is True
        kernel.audit()
