"""What the kernel accepts as capdata from a vat: what any receiver can decode.

A vat hands the kernel capdata in three syscalls: a send's method and arguments,
a resolution's data and an exit's info. Whatever in them would make `decode`
fail (a body that is not JSON, an unknown ``@qclass``, a slot index that is not
one of the slots, data nested too deep), or a message that is not ``[method,
args]`` or ``[method, args, kwargs]``, would kill whoever receives it. So the
kernel checks it at the syscall, where it is the sender's fault: a `ValueError`
saying what is wrong, which the syscall handler turns into an illegal syscall.

It refuses a little more than `decode` does: slot indexes that are not ints in
range (``-1`` would pick the last slot), slots the body never refers to (the
receiver would import an object it can never drop) and data nested deeper than
the sender's own marshalling makes (`MAX_DEPTH`, so the kernel can still wrap an
exit's info in a notice to vat-admin).

This is the syscall path, so it is cheap where it can be: a body with neither
``@qclass`` nor a ``\\u`` escape (which could spell one) is only parsed (orjson),
its depth counted a level at a time in C (`vatrt._plain.nests_within`) and its
top looked at, and its tree is left for the receiver to take instead of parsing
the text again (`vatrt._plain.keep_parsed`); the others are walked once, as
`decode` would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .._marshal import MAX_DEPTH
from .._plain import keep_parsed, may_hold_qclass, nests_within

_QCLASS = "@qclass"
_NESTED = (list, dict)

# A message's body is one list around the arguments, as `encode_methargs` makes it.
METHARGS_MAX_DEPTH = MAX_DEPTH + 1


def check_methargs(capdata: Any) -> None:
    """A send's methargs: capdata whose body is ``[method, args]`` or ``[method,
    args, kwargs]``, with a str method, a list of args and a dict of kwargs."""
    tree = check_capdata(capdata, METHARGS_MAX_DEPTH)
    if type(tree) is not list or not 2 <= len(tree) <= 3:
        raise ValueError("methargs body must be [method, args] or [method, args, kwargs]")
    if type(tree[0]) is not str:
        raise ValueError(f"method name must be a str, not {_json_type(tree[0])}")
    if type(tree[1]) is not list:
        raise ValueError(f"method arguments must be a list, not {_json_type(tree[1])}")
    if len(tree) == 3:
        kwargs = tree[2]
        if type(kwargs) is not dict or kwargs.get(_QCLASS, "record") != "record":
            raise ValueError(f"keyword arguments must be a dict, not {_json_type(kwargs)}")


def check_capdata(capdata: Any, max_depth: int = MAX_DEPTH) -> Any:
    """Check `capdata` (see the module's docstring); return its body, parsed."""
    if type(capdata) is not dict or len(capdata) != 2:
        raise ValueError("capdata must be a dict of body and slots")
    body, slots = capdata.get("body"), capdata.get("slots")
    if type(body) is not str:
        raise ValueError(f"capdata body must be a str, not {type(body).__name__}")
    if type(slots) is not list:
        raise ValueError(f"capdata slots must be a list, not {type(slots).__name__}")
    for slot in slots:
        if type(slot) is not str:
            raise ValueError(f"capdata slots must be strs, not {type(slot).__name__}")
    try:
        tree = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"capdata body is not JSON: {e}") from None
    if not may_hold_qclass(body) and nests_within(tree, max_depth):
        if slots:
            raise ValueError("capdata slot 0 is not referred to by its body")
        keep_parsed(body, tree, max_depth)
        return tree
    used: set[int] = set()
    if type(tree) in _NESTED:
        _walk(tree, len(slots), used, max_depth)
    if len(used) != len(slots):
        unused = min(set(range(len(slots))) - used)
        raise ValueError(f"capdata slot {unused} is not referred to by its body")
    return tree


def _walk(tree: Any, n_slots: int, used: set[int], max_depth: int) -> None:
    def walk(x: Any, depth: int) -> None:
        if depth > max_depth:
            raise ValueError(f"capdata body nested deeper than {max_depth} levels")
        depth += 1
        children: Iterable[Any]
        if type(x) is list:
            children = x
        else:
            qclass = x.get(_QCLASS)
            if qclass is None:
                children = x.values()
            else:
                check = _RECORDS.get(qclass) if type(qclass) is str else None
                if check is None:
                    raise ValueError(f"unknown @qclass {qclass!r} in capdata body")
                children = check(x, n_slots, used)
        for v in children:
            if type(v) in _NESTED:
                walk(v, depth)

    walk(tree, 1)


# One check per ``@qclass`` record `decode` knows: it raises `ValueError`, and
# returns the values inside the record (to be walked in turn).
_Check = Callable[[dict[str, Any], int, set[int]], Iterable[Any]]


def _slot(x: dict[str, Any], n_slots: int, used: set[int]) -> Iterable[Any]:
    index = x.get("index")
    if type(index) is not int or not 0 <= index < n_slots:
        raise ValueError(f"capdata slot index {index!r} is not one of its {n_slots} slot(s)")
    if type(x.get("iface", "")) is not str:
        raise ValueError("capdata slot iface must be a str")
    used.add(index)
    return ()


def _tuple(x: dict[str, Any], n_slots: int, used: set[int]) -> Iterable[Any]:
    items = x.get("items")
    if type(items) is not list:
        raise ValueError("capdata tuple record needs a list of items")
    return items


def _record(x: dict[str, Any], n_slots: int, used: set[int]) -> Iterable[Any]:
    entries = x.get("entries")
    if type(entries) is not list or not all(
        type(e) is list and len(e) == 2 and type(e[0]) is str for e in entries
    ):
        raise ValueError("capdata record needs a list of [str, value] entries")
    return [e[1] for e in entries]


def _text(qclass: str, key: str, parse: Callable[[str], Any]) -> _Check:
    """A record holding one str that `parse` must accept."""

    def check(x: dict[str, Any], n_slots: int, used: set[int]) -> Iterable[Any]:
        value = x.get(key)
        if type(value) is not str:
            raise ValueError(f"capdata {qclass} record needs a str {key}")
        try:
            parse(value)
        except ValueError as e:
            raise ValueError(f"capdata {qclass} record is malformed: {e}") from None
        return ()

    return check


_DIGITS = _text("bigint", "digits", int)
_HEX = _text("bigint", "hex", lambda s: int(s, 16))


def _bigint(x: dict[str, Any], n_slots: int, used: set[int]) -> Iterable[Any]:
    return (_DIGITS if "digits" in x else _HEX)(x, n_slots, used)


def _special_float(value: str) -> None:
    if value not in ("NaN", "Infinity", "-Infinity"):
        raise ValueError(f"{value!r} is not NaN, Infinity or -Infinity")


def _error(x: dict[str, Any], n_slots: int, used: set[int]) -> Iterable[Any]:
    if type(x.get("name")) is not str or type(x.get("message")) is not str:
        raise ValueError("capdata error record needs a str name and message")
    if "traceback" in x and type(x["traceback"]) is not str:
        raise ValueError("capdata error record's traceback must be a str")
    return ()


_RECORDS: dict[str, _Check] = {
    "slot": _slot,
    "tuple": _tuple,
    "record": _record,
    "bytes": _text("bytes", "hex", bytes.fromhex),
    "bigint": _bigint,
    "float": _text("float", "value", _special_float),
    "error": _error,
    "retain": lambda x, n_slots, used: (),
}


def _json_type(value: Any) -> str:
    if type(value) is dict and _QCLASS in value:
        return f"a {value[_QCLASS]!r} record"
    return {dict: "an object", list: "a list", str: "a str", type(None): "null"}.get(
        type(value), type(value).__name__
    )
