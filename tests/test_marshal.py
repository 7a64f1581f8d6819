"""Capdata marshalling: every passable value round-trips; anything else is named."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vatrt._marshal import RETAIN, RemoteError, decode, encode, no_slots


class Ref:
    def __init__(self, ref):
        self.ref = ref


def to_slot(x):
    return (x.ref, "Thing") if isinstance(x, Ref) else None


def round_trip(value):
    return decode(encode(value, to_slot), lambda ref, iface: Ref(ref))


scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
)
passable = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(passable)
def test_every_passable_value_round_trips(value):
    assert round_trip(value) == value


def test_big_ints_nan_and_infinities_round_trip():
    value = round_trip([2**70, -(2**80), math.inf, -math.inf, math.nan])
    assert value[:4] == [2**70, -(2**80), math.inf, -math.inf]
    assert math.isnan(value[4])


def test_a_dict_with_a_qclass_key_survives():
    assert round_trip({"@qclass": "slot", "index": 0}) == {"@qclass": "slot", "index": 0}


def test_the_same_object_twice_is_one_slot():
    a, b = Ref("o-5"), Ref("o-6")
    capdata = encode([a, b, a], to_slot)
    assert capdata["slots"] == ["o-5", "o-6"]
    decoded = decode(capdata, lambda ref, iface: Ref(ref))
    assert decoded[0] is decoded[2]


def test_an_error_marshals_to_its_type_name_and_message():
    value = round_trip(ValueError("boom"))
    assert isinstance(value, RemoteError)
    assert value.name == "ValueError"
    assert str(value) == "boom"


def test_retain_is_a_passable_marker():
    assert round_trip({"p": RETAIN})["p"] is RETAIN


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, r"builtins.set is not passable at args\[0\]"),
        ([{"peer": object()}], r"builtins.object is not passable at args\[0\]\[0\]\['peer'\]"),
        ([{1: "x"}], r"dict keys must be str, not int at args\[0\]\[0\]"),
    ],
)
def test_a_non_passable_value_is_a_type_error_naming_type_and_place(value, message):
    with pytest.raises(TypeError, match=message):
        encode([value], no_slots, "args")
