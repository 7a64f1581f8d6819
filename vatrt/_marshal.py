"""Capdata: the wire form of every value that crosses a vat boundary.

A value is marshalled to ``{"body": <JSON text>, "slots": [<ref>, ...]}``. The body
is plain JSON except for a few tagged records, each a dict with the key
``"@qclass"``::

    {"@qclass": "slot", "index": i, "iface": "Alice"}    # slots[i]: object or promise
    {"@qclass": "tuple", "items": [...]}
    {"@qclass": "bytes", "hex": "00ff"}
    {"@qclass": "bigint", "digits": "-123..."}           # beyond 64 bits (orjson's limit)
    {"@qclass": "bigint", "hex": "-1f..."}               # beyond BIGINT_DECIMAL_BITS
    {"@qclass": "float", "value": "NaN" | "Infinity" | "-Infinity"}
    {"@qclass": "error", "name": "ValueError", "message": "...", "traceback"?: "..."}
                                                         # traceback: the bundle's frames
                                                         # (`vatrt._vat_traceback`)
    {"@qclass": "record", "entries": [[k, v], ...]}      # a dict whose keys include "@qclass"
    {"@qclass": "retain"}                                # the RETAIN marker (vatParameters)

The walker is one small recursive function dispatching on ``type(x)`` (cattrs is
type-driven and does not fit an untyped object graph); orjson does the text. Who
decides what is a slot is the caller: liveslots maps remotables, presences and
promises to vrefs, the kernel's host side maps handles to krefs. The walker only
asks ``to_slot(value) -> (ref, iface) | None`` and, on the way back,
``from_slot(ref, iface)``. Plain data (no slot, tuple, bytes, ``@qclass``...)
skips the walker on both sides: orjson alone does it, checked in C-sized steps
by `vatrt._plain`, with the walker's answer byte for byte.

Anything that is not passable is a `TypeError` naming its type and where it was
found (``args[1]['peer']``), raised at the send, not later. So is data nested
deeper than `MAX_DEPTH` containers (lists, tuples, dicts), and cyclic data (a
container that holds itself), which is only told apart when the depth runs out:
the walk itself carries nothing but a depth counter. `decode` refuses a body
nested deeper than `DECODE_MAX_DEPTH` with a `ValueError`, so no receiver meets a
RecursionError, whatever it is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypedDict

import orjson

from ._plain import NOT_KEPT, may_hold_qclass, nests_within, plain_body, take_parsed
from ._vat_traceback import display_type, vat_traceback


class CapData(TypedDict):
    body: str
    slots: list[str]


ToSlot = Callable[[Any], "tuple[str, str] | None"]
FromSlot = Callable[[str, str], Any]

_QCLASS = "@qclass"


class _Retain:
    """`RETAIN`: upgrade a vat with the vatParameters the kernel retained for it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RETAIN"


RETAIN = _Retain()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

MAX_DEPTH = 64
"""How deep a passable value may nest: containers (list, tuple, dict) inside each
other, the outermost one being level 1. Every sender (a vat, the host) is held to
it, counting from the value it marshals (a method's result, or the arguments list).
It keeps marshalling far from Python's recursion limit and the body within
orjson's 254 levels (a dict with an "@qclass" key takes three)."""

DECODE_MAX_DEPTH = 2 * MAX_DEPTH
"""How deep a received body may nest. Above `MAX_DEPTH`, so that what any sender
marshalled, inside the envelopes that carry it, always decodes."""

BIGINT_DECIMAL_BITS = 14_000
"""Ints up to this many bits are written in decimal ``digits``, bigger ones in
``hex``: Python refuses int/str conversions of over 4,300 decimal digits (it is
quadratic), while hex conversion has no limit. Ints of any size pass."""


class RemoteError(Exception):
    """A rejection seen by whoever awaited it.

    For a marshalled error ``.name`` is the original exception's type name and the
    message is its message (no traceback crosses vats). For any other rejection
    reason (a ``vatUpgraded`` record, a plain string) ``.reason`` holds it and the
    message shows it.

    Python can only raise exceptions, so awaiting a promise rejected with data
    raises a `RemoteError` that *stands for* that data (`stands_for_reason`). A
    promise rejected with such an error (vat code let it propagate, or re-raised
    it) is rejected with the data itself, as ``throw reason`` is in JavaScript:
    the next hop sees the same record, not an error named ``Rejection``.
    """

    def __init__(
        self, message: str, *, name: str = "Error", reason: Any = None, traceback: str | None = None
    ) -> None:
        super().__init__(message)
        # Set on the instance, not as a class default: compiled (mypyc), a class
        # default is not an instance attribute (see docs/performance.md).
        self.stands_for_reason = False
        self.name = name
        self.reason = reason
        #: Where in the raising vat's bundle it was raised (its files and lines), as
        #: Python prints a traceback; None when no bundle code raised it.
        self.traceback = traceback

    @classmethod
    def from_reason(cls, reason: Any) -> RemoteError:
        if isinstance(reason, RemoteError):
            return reason
        if isinstance(reason, BaseException):
            return cls(str(reason), name=type(reason).__name__, reason=reason)
        error = cls(f"rejected: {reason!r}", name="Rejection", reason=reason)
        error.stands_for_reason = True
        return error

    def __repr__(self) -> str:
        return f"RemoteError({self.name}: {self!s})"


def _where(path: str) -> str:
    return f" at {path}" if path else ""


_PLAIN = frozenset({str, bool, type(None)})  # marshalled as they are, without a call
_NESTED = frozenset({list, dict})  # what decode walks into: the rest of JSON is as it is


class _TooDeep(Exception):
    """Raised inside the walk when it passes `max_depth`; `encode` then finds why."""


def _bigint(x: int) -> dict[str, str]:
    if x.bit_length() <= BIGINT_DECIMAL_BITS:
        try:
            return {_QCLASS: "bigint", "digits": str(x)}
        except ValueError:  # the process lowered sys.set_int_max_str_digits
            pass
    return {_QCLASS: "bigint", "hex": format(x, "x")}


def encode(value: Any, to_slot: ToSlot, path: str = "", *, max_depth: int = MAX_DEPTH) -> CapData:
    """Marshal `value`; `path` names the root in error messages (e.g. ``"args"``).

    Cyclic data, or data nested deeper than `max_depth`, is a `TypeError` naming
    where it is. Plain data goes through orjson alone (`vatrt._plain`)."""
    body = plain_body(value, max_depth)
    if body is not None:
        return {"body": body, "slots": []}
    slots: list[str] = []
    slot_index: dict[str, int] = {}

    def walk(x: Any, where: str, depth: int) -> Any:
        t = type(x)
        if t is str or t is bool or x is None:
            return x
        if t is int:
            if _INT64_MIN <= x <= _INT64_MAX:
                return x
            return _bigint(x)
        if t is float:
            if math.isfinite(x):
                return x
            return {
                _QCLASS: "float",
                "value": repr(x).replace("inf", "Infinity").replace("nan", "NaN"),
            }
        if t is list:
            if depth > max_depth:
                raise _TooDeep
            depth += 1
            return [
                v
                if type(v) in _PLAIN or (type(v) is int and _INT64_MIN <= v <= _INT64_MAX)
                else walk(v, f"{where}[{i}]", depth)
                for i, v in enumerate(x)
            ]
        if t is dict:
            if depth > max_depth:
                raise _TooDeep
            depth += 1
            out = {}
            for k, v in x.items():
                if type(k) is not str:
                    raise TypeError(f"dict keys must be str, not {type(k).__name__}{_where(where)}")
                out[k] = (
                    v
                    if type(v) in _PLAIN or (type(v) is int and _INT64_MIN <= v <= _INT64_MAX)
                    else walk(v, f"{where}[{k!r}]", depth)
                )
            if _QCLASS in out:
                return {_QCLASS: "record", "entries": [[k, v] for k, v in out.items()]}
            return out
        if t is tuple:
            if depth > max_depth:
                raise _TooDeep
            depth += 1
            return {
                _QCLASS: "tuple",
                "items": [
                    v
                    if type(v) in _PLAIN or (type(v) is int and _INT64_MIN <= v <= _INT64_MAX)
                    else walk(v, f"{where}[{i}]", depth)
                    for i, v in enumerate(x)
                ],
            }
        if t is bytes:
            return {_QCLASS: "bytes", "hex": x.hex()}
        if x is RETAIN:
            return {_QCLASS: "retain"}
        slot = to_slot(x)
        if slot is not None:
            ref, iface = slot
            index = slot_index.get(ref)
            if index is None:
                index = slot_index[ref] = len(slots)
                slots.append(ref)
            return {_QCLASS: "slot", "index": index, "iface": iface}
        if isinstance(x, BaseException):
            name = x.name if isinstance(x, RemoteError) else type(x).__name__
            record = {_QCLASS: "error", "name": name, "message": str(x)}
            tb = vat_traceback(x)
            if tb is not None:
                record["traceback"] = tb
            return record
        raise TypeError(
            f"{display_type(t)} is not passable{_where(where)}: pass data, "
            "Far objects, presences, promises or errors"
        )

    try:
        tree = walk(value, path, 1)
    except _TooDeep:
        raise TypeError(_why_too_deep(value, path, max_depth)) from None
    try:
        body = orjson.dumps(tree).decode()
    except orjson.JSONEncodeError as e:
        raise TypeError(f"{e}{_where(_find_unencodable(value, path))}") from None
    return {"body": body, "slots": slots}


def _why_too_deep(value: Any, path: str, max_depth: int) -> str:
    """The walk ran out of depth: say where, and whether it is because of a cycle.

    The slow path, walked again in the same order with the containers of the
    current path kept by ``id()``: the first repeat is a cycle, else the first
    container past `max_depth` is where the data is too deep."""
    on_path: dict[int, str] = {}

    def find(x: Any, where: str, depth: int) -> str | None:
        t = type(x)
        if t is list or t is tuple:
            children: Any = ((f"{where}[{i}]", v) for i, v in enumerate(x))
        elif t is dict:
            children = ((f"{where}[{k!r}]", v) for k, v in x.items())
        else:
            return None
        outer = on_path.get(id(x))
        if outer is not None:
            kind = t.__name__
            return (
                f"cyclic data is not passable{_where(where)}: the {kind} there contains "
                f"itself (it is also at {outer or 'the root'})"
            )
        if depth > max_depth:
            return f"data nested deeper than {max_depth} levels is not passable{_where(where)}"
        on_path[id(x)] = where
        for place, v in children:
            found = find(v, place, depth + 1)
            if found is not None:
                return found
        del on_path[id(x)]
        return None

    found = find(value, path, 1)
    return found or f"data nested deeper than {max_depth} levels is not passable{_where(path)}"


def _find_unencodable(x: Any, where: str) -> str:
    """Where the str that is not valid UTF-8 (a lone surrogate) is: the rare slow path."""
    if type(x) is str:
        try:
            x.encode()
        except UnicodeEncodeError:
            return where
        return ""
    pairs: list[tuple[str, Any]] = []
    if type(x) in (list, tuple):
        pairs = [(f"{where}[{i}]", v) for i, v in enumerate(x)]
    elif type(x) is dict:
        pairs = [(f"{where}[{k!r}]", v) for k, v in x.items()]
    for place, v in pairs:
        found = _find_unencodable(v, place)
        if found:
            return found
    return ""


def decode(capdata: CapData, from_slot: FromSlot, *, max_depth: int = DECODE_MAX_DEPTH) -> Any:
    """Unmarshal capdata; each slot is turned into a value by `from_slot` once.

    A body nested deeper than `max_depth` is a `ValueError` (never a RecursionError).
    A body that cannot hold a ``@qclass`` record is what orjson parses, and a
    body the kernel has just checked is not even parsed again (`take_parsed`)."""
    body = capdata["body"]
    tree = take_parsed(body, max_depth)
    if tree is not NOT_KEPT:
        return tree
    if not may_hold_qclass(body):
        tree = orjson.loads(body)
        if nests_within(tree, max_depth):
            return tree
    slots = capdata["slots"]
    made: dict[int, Any] = {}

    def walk(x: Any, depth: int) -> Any:
        # Called for lists and dicts only: scalars are taken as they are. Loops, not
        # comprehensions: a comprehension would make `depth` a cell on every call.
        if depth > max_depth:
            raise ValueError(f"capdata body nested deeper than {max_depth} levels")
        depth += 1
        if type(x) is list:
            items = []
            for v in x:
                items.append(walk(v, depth) if type(v) in _NESTED else v)
            return items
        qclass = x.get(_QCLASS)
        if qclass is None:
            out = {}
            for k, v in x.items():
                out[k] = walk(v, depth) if type(v) in _NESTED else v
            return out
        if qclass == "slot":
            index = x["index"]
            if index not in made:
                made[index] = from_slot(slots[index], x.get("iface", ""))
            return made[index]
        if qclass == "tuple":
            items = []
            for v in x["items"]:
                items.append(walk(v, depth) if type(v) in _NESTED else v)
            return tuple(items)
        if qclass == "bytes":
            return bytes.fromhex(x["hex"])
        if qclass == "bigint":
            digits = x.get("digits")
            return int(x["hex"], 16) if digits is None else int(digits)
        if qclass == "float":
            return float(x["value"].replace("Infinity", "inf"))
        if qclass == "error":
            return RemoteError(x["message"], name=x["name"], traceback=x.get("traceback"))
        if qclass == "record":
            out = {}
            for k, v in x["entries"]:
                out[k] = walk(v, depth) if type(v) in _NESTED else v
            return out
        if qclass == "retain":
            return RETAIN
        raise ValueError(f"unknown @qclass {qclass!r} in capdata body")

    tree = orjson.loads(capdata["body"])
    return walk(tree, 1) if type(tree) in _NESTED else tree


def no_slots(value: Any) -> None:
    """A `to_slot` for pure data: nothing is a slot."""
    return None


def error_capdata(message: str, name: str = "Error", traceback: str | None = None) -> CapData:
    """Capdata for a marshalled error, built without a walk (used on hot kernel paths)."""
    record = {_QCLASS: "error", "name": name, "message": message}
    if traceback is not None:
        record["traceback"] = traceback
    body = orjson.dumps(record).decode()
    return {"body": body, "slots": []}


def data_capdata(value: Any) -> CapData:
    """Capdata for a slot-free value."""
    return encode(value, no_slots)
