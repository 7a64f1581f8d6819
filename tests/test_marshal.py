"""Capdata marshalling: every passable value round-trips; anything else is named."""

import math
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vatrt._marshal import (
    RETAIN,
    RemoteError,
    data_capdata,
    decode,
    encode,
    error_capdata,
    no_slots,
)


class Ref:
    """Stands in for a remotable or presence: marshalled as the slot `ref`."""

    def __init__(self, ref, iface="Thing"):
        self.ref = ref
        self.iface = iface

    def __eq__(self, other):
        return type(other) is Ref and (other.ref, other.iface) == (self.ref, self.iface)

    def __hash__(self):
        return hash(self.ref)

    def __repr__(self):
        return f"Ref({self.ref!r}, {self.iface!r})"


def to_slot(x):
    return (x.ref, x.iface) if type(x) is Ref else None


def round_trip(value):
    return decode(encode(value, to_slot), Ref)


def same(a, b):
    """Equality that also checks types (a tuple is not a list, True is not 1),
    NaN equals NaN and -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


ints = (
    st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**200)
    | st.integers(min_value=-(2**200), max_value=-(2**63) + 1)
)
scalars = (
    st.none()
    | st.booleans()
    | ints
    | st.floats()  # NaN, infinities and -0.0 included
    | st.text()
    | st.binary()
    | st.sampled_from(["o-5", "o+1", "p-3"]).map(Ref)
)
keys = st.text(max_size=8) | st.sampled_from(["@qclass", "index", "body", "slots"])
passable = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=25,
)


@given(passable)
def test_capdata_round_trips_every_passable_value(value):
    assert same(round_trip(value), value)


@given(passable)
def test_a_capdata_body_is_json_text_and_slots_are_strings(value):
    capdata = encode(value, to_slot)
    orjson.loads(capdata["body"])
    assert all(type(slot) is str for slot in capdata["slots"])
    assert len(set(capdata["slots"])) == len(capdata["slots"])


def test_capdata_round_trips_nested_tuples_and_bytes():
    value = {"t": (1, (b"\x00\xff", [()]), "x"), "b": b"", "l": [(None,)]}
    decoded = round_trip(value)
    assert same(decoded, value)
    assert type(decoded["t"][1]) is tuple
    assert type(decoded["l"][0]) is tuple


def test_plain_data_marshals_to_plain_json():
    assert data_capdata({"a": [1, "x", None, True, 1.5]}) == {
        "body": '{"a":[1,"x",null,true,1.5]}',
        "slots": [],
    }


@pytest.mark.parametrize("n", [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 3**200, -(7**150)])
def test_ints_beyond_64_bits_round_trip_exactly(n):
    assert same(round_trip(n), n)
    assert same(round_trip([n, {"n": n}]), [n, {"n": n}])


def test_nan_and_infinities_round_trip():
    inf, minus_inf, nan = round_trip([math.inf, -math.inf, math.nan])
    assert inf == math.inf
    assert minus_inf == -math.inf
    assert math.isnan(nan)


def test_negative_zero_keeps_its_sign():
    assert math.copysign(1, round_trip(-0.0)) == -1


def test_bools_stay_bools_and_ints_stay_ints():
    assert same(round_trip([True, 1, False, 0, 1.0]), [True, 1, False, 0, 1.0])


@pytest.mark.parametrize(
    "value",
    [
        {"@qclass": "slot", "index": 0},
        {"@qclass": "bytes", "hex": "zz"},
        {"@qclass": (1, b"\x01"), "other": {"@qclass": "error"}},
        [{"@qclass": None}],
    ],
)
def test_a_dict_with_a_qclass_key_survives(value):
    assert same(round_trip(value), value)


def test_the_same_object_twice_is_one_slot():
    a, b = Ref("o-5"), Ref("o-6")
    capdata = encode([a, b, {"again": a}], to_slot)
    assert capdata["slots"] == ["o-5", "o-6"]
    decoded = decode(capdata, Ref)
    assert decoded[0] is decoded[2]["again"]


def test_each_slot_is_turned_into_a_value_once_and_keeps_its_iface():
    made = []

    def from_slot(ref, iface):
        made.append((ref, iface))
        return Ref(ref, iface)

    decode(encode([Ref("o-5", "Alice"), Ref("o-5", "Alice"), Ref("p+1", "")], to_slot), from_slot)
    assert made == [("o-5", "Alice"), ("p+1", "")]


def test_an_error_marshals_to_its_type_name_and_message():
    capdata = encode(ValueError("boom"), to_slot)
    assert orjson.loads(capdata["body"]) == {
        "@qclass": "error",
        "name": "ValueError",
        "message": "boom",
    }
    assert capdata["slots"] == []


def test_an_error_decodes_to_a_remote_error_with_its_name():
    value = round_trip({"why": KeyError("missing")})["why"]
    assert isinstance(value, RemoteError)
    assert value.name == "KeyError"
    assert "missing" in str(value)


def test_a_remote_error_passed_on_keeps_its_original_name():
    once = round_trip(ZeroDivisionError("division by zero"))
    twice = round_trip(once)
    assert (twice.name, str(twice)) == ("ZeroDivisionError", "division by zero")


def test_error_capdata_matches_a_marshalled_error():
    assert decode(error_capdata("gone", "VatTerminated"), no_slots).name == "VatTerminated"
    assert error_capdata("gone", "X") == encode(RemoteError("gone", name="X"), no_slots)


def test_retain_is_a_passable_marker():
    assert round_trip({"p": RETAIN})["p"] is RETAIN


class Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "type_name", "path"),
    [
        ({1, 2}, "builtins.set", "args"),
        (["x", {"peer": object()}], "builtins.object", "args[1]['peer']"),
        ([(1, frozenset())], "builtins.frozenset", "args[0][1]"),
        ({"a": [Opaque()]}, f"{Opaque.__module__}.Opaque", "args['a'][0]"),
        ([1, {"k": {2: "x"}}], "not int", "args[1]['k']"),
        ([{None: 1}], "not NoneType", "args[0]"),
    ],
)
def test_a_non_passable_value_is_a_type_error_naming_type_and_path(value, type_name, path):
    with pytest.raises(TypeError) as info:
        encode(value, no_slots, "args")
    message = str(info.value)
    assert type_name in message
    assert re.search(rf"at {re.escape(path)}(:|$)", message), message


def test_a_dict_with_int_keys_is_refused_saying_keys_must_be_str():
    with pytest.raises(TypeError, match=r"dict keys must be str, not int at args\[0\]"):
        encode([{1: "x"}], no_slots, "args")


def test_a_non_passable_value_without_a_root_name_still_names_its_type():
    with pytest.raises(TypeError, match=r"^builtins\.set is not passable:"):
        encode({1, 2}, no_slots)


def test_a_str_with_a_lone_surrogate_is_a_type_error_naming_its_path():
    with pytest.raises(TypeError, match=r"at args\[1\]\['s'\]"):
        encode(["ok", {"s": "\ud800"}], no_slots, "args")


def test_an_unknown_qclass_in_a_body_is_refused():
    with pytest.raises(ValueError, match="unknown @qclass 'mystery'"):
        decode({"body": '{"@qclass":"mystery"}', "slots": []}, no_slots)
