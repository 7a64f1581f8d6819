"""Plain data skips the marshalling walk (vatrt._plain): the answers stay the walker's."""

import enum
import threading
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vatrt
from vatrt import _marshal, _plain
from vatrt._kernel.capdata_check import check_capdata
from vatrt._marshal import DECODE_MAX_DEPTH, MAX_DEPTH, decode, encode, no_slots
from vatrt._plain import keep_parsed, nests_within, plain_body
from vatrt.testing import make_config


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


def walker_encode(value, monkeypatch):
    """What `encode` makes with the fast path turned off."""
    with monkeypatch.context() as m:
        m.setattr(_marshal, "plain_body", lambda value, max_depth: None)
        return encode(value, no_slots)


def walker_decode(capdata, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_marshal, "take_parsed", lambda body, max_depth: _plain.NOT_KEPT)
        m.setattr(_marshal, "may_hold_qclass", lambda body: True)
        return decode(capdata, no_slots)


def nested(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=6) | st.just("@qclass"), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(json_data)
def test_any_data_marshals_exactly_as_the_walker_marshals_it(value):
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert encode(value, no_slots) == walker_encode(value, monkeypatch)


@given(json_data)
def test_any_body_decodes_exactly_as_the_walker_decodes_it(value):
    capdata = encode(value, no_slots)
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected = walker_decode(capdata, monkeypatch)
    got = decode(capdata, no_slots)
    assert repr(got) == repr(expected)  # tells tuples from lists, NaN equals NaN


def test_a_big_nested_dict_of_plain_data_takes_the_fast_path():
    value = {f"k{i}": {"a": i, "b": [i, 1.5, None, "x"], "c": {"d": True}} for i in range(1000)}
    body = plain_body(value, MAX_DEPTH)
    assert body is not None
    assert orjson.loads(body) == value


@pytest.mark.parametrize(
    "value",
    [
        [1, (2, 3)],
        {"a": [{"b": float("nan")}]},
        [float("inf"), None],
        [Color.RED],
        [uuid.UUID(int=5)],
        [orjson.Fragment(b"[1]")],
        [Name("x")],
        {"deep": {"@qclass": "slot", "index": 0}},
        [2**63],
        [b"\x00"],
        ["\ud800"],
    ],
    ids=repr,
)
def test_values_plain_json_cannot_say_are_left_to_the_walker(value):
    assert plain_body(value, MAX_DEPTH) is None


def test_an_int_enum_inside_plain_data_is_still_not_passable():
    with pytest.raises(TypeError, match=r"Color is not passable at args\[1\]\['c'\]"):
        encode([1, {"c": Color.RED}], no_slots, "args")


def test_data_at_the_depth_limit_passes_and_one_deeper_is_refused_naming_where():
    assert orjson.loads(encode(nested(MAX_DEPTH), no_slots)["body"]) == nested(MAX_DEPTH)
    with pytest.raises(TypeError, match=f"nested deeper than {MAX_DEPTH} levels"):
        encode(nested(MAX_DEPTH + 1), no_slots)


def test_cyclic_data_is_still_refused_as_cyclic():
    value: list = [1]
    value.append({"again": value})
    with pytest.raises(TypeError, match="cyclic data is not passable"):
        encode(value, no_slots)


def test_a_plain_body_nested_too_deep_is_refused_on_decode_and_by_the_kernel():
    body = "[" * (DECODE_MAX_DEPTH + 1) + "]" * (DECODE_MAX_DEPTH + 1)
    with pytest.raises(ValueError, match="nested deeper than"):
        decode({"body": body, "slots": []}, no_slots)
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert check_capdata({"body": at_limit, "slots": []}) == nested(MAX_DEPTH)
    with pytest.raises(ValueError, match="nested deeper than"):
        check_capdata({"body": "[" + at_limit + "]", "slots": []})


def test_a_big_plain_body_is_checked_by_the_kernel_without_a_walk(monkeypatch):
    value = [{"k": [i, [i]]} for i in range(500)]
    capdata = encode(value, no_slots)
    import vatrt._kernel.capdata_check as check

    monkeypatch.setattr(check, "_walk", None)  # called, it would fail
    assert check_capdata(capdata) == value


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        ('{"a":[[]]}', 3),
        ('[1,{"a":"]]]]","b":"[[[["},[true,null,-1.5e3]]', 2),
        ('["\\\\",["\\"[",{"k":["]"]}]]', 4),
        ('"[[[["', 0),
        ("[" * 70 + "]" * 70, 70),
    ],
)
def test_the_depth_of_a_body_counts_containers_whatever_its_strings_hold(body, depth):
    tree = orjson.loads(body)
    assert nests_within(tree, depth)
    assert depth == 0 or not nests_within(tree, depth - 1)


def test_a_body_the_kernel_checked_is_handed_to_one_receiver_without_a_second_parse(
    monkeypatch,
):
    capdata = encode([{"k": [i, "x"]} for i in range(100)], no_slots)
    checked = check_capdata(capdata)
    with monkeypatch.context() as m:
        m.setattr(_marshal.orjson, "loads", None)  # a second parse would fail
        received = decode(capdata, no_slots)
    assert received is checked
    again = decode(capdata, no_slots)  # the next decoder parses its own
    assert again == checked
    assert again is not checked


def test_the_trees_kept_for_receivers_stay_within_their_bound():
    body = orjson.dumps(["x" * 1000]).decode()
    for i in range(3 * _plain._KEPT_MAX_CHARS // len(body)):
        keep_parsed(body + " " * (i % 7), ["x" * 1000], MAX_DEPTH)
    assert _plain._kept.chars <= _plain._KEPT_MAX_CHARS
    assert _plain._kept.chars == sum(len(b) for b in _plain._kept.trees)


def test_a_tree_kept_in_one_thread_is_not_handed_to_a_decoder_in_another():
    capdata = encode([{"k": [i, "y"]} for i in range(50)], no_slots)
    checked = []
    thread = threading.Thread(target=lambda: checked.append(check_capdata(capdata)))
    thread.start()
    thread.join()
    received = decode(capdata, no_slots)
    assert received == checked[0]
    assert received is not checked[0]


SHARER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}

    class Sharer:
        def bootstrap(self, vats, devices):
            peers.update(vats)

        async def share(self):
            data = {"items": list(range(50))}
            first = await E(peers["spoiler"]).take(data)
            second = await E(peers["reader"]).take(data)
            return first, second

        def take(self, data):
            return len(data["items"])

    return Far("Sharer", Sharer())
"""

SPOILER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Spoiler:
        def take(self, data):
            data["items"].clear()  # its own copy: no other vat sees this
            return 0
    return Far("Spoiler", Spoiler())
"""


@pytest.mark.anyio
@pytest.mark.both_workers
async def test_two_vats_sent_the_same_plain_body_each_get_their_own_value(anyio_backend, tmp_path):
    config = make_config(
        tmp_path, {"sharer": SHARER, "spoiler": SPOILER, "reader": SHARER}, bootstrap="sharer"
    )
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("sharer", "share") == (0, 50)
        kernel.audit()
