"""Plain data skips the marshalling walk (vatrt._plain): the answers stay the walker's."""

import enum
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vatrt import _marshal
from vatrt._kernel.capdata_check import check_capdata
from vatrt._marshal import DECODE_MAX_DEPTH, MAX_DEPTH, decode, encode, no_slots
from vatrt._plain import nests_within, plain_body


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
