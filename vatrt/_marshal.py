"""Capdata: the wire form of every value that crosses a vat boundary.

A value is marshalled to ``{"body": <JSON text>, "slots": [<ref>, ...]}``. The body
is plain JSON except for a few tagged records, each a dict with the key
``"@qclass"``::

    {"@qclass": "slot", "index": i, "iface": "Alice"}    # slots[i]: object or promise
    {"@qclass": "tuple", "items": [...]}
    {"@qclass": "bytes", "hex": "00ff"}
    {"@qclass": "bigint", "digits": "-123..."}           # beyond 64 bits (orjson's limit)
    {"@qclass": "float", "value": "NaN" | "Infinity" | "-Infinity"}
    {"@qclass": "error", "name": "ValueError", "message": "..."}
    {"@qclass": "record", "entries": [[k, v], ...]}      # a dict whose keys include "@qclass"
    {"@qclass": "retain"}                                # the RETAIN marker (vatParameters)

The walker is one small recursive function dispatching on ``type(x)`` (cattrs is
type-driven and does not fit an untyped object graph); orjson does the text. Who
decides what is a slot is the caller: liveslots maps remotables, presences and
promises to vrefs, the kernel's host side maps handles to krefs. The walker only
asks ``to_slot(value) -> (ref, iface) | None`` and, on the way back,
``from_slot(ref, iface)``.

Anything that is not passable is a `TypeError` naming its type and where it was
found (``args[1]['peer']``), raised at the send, not later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypedDict

import orjson


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


class RemoteError(Exception):
    """A rejection seen by whoever awaited it.

    For a marshalled error ``.name`` is the original exception's type name and the
    message is its message (no traceback crosses vats). For any other rejection
    reason (a ``vatUpgraded`` record, a plain string) ``.reason`` holds it and the
    message shows it.
    """

    def __init__(self, message: str, *, name: str = "Error", reason: Any = None) -> None:
        super().__init__(message)
        self.name = name
        self.reason = reason

    @classmethod
    def from_reason(cls, reason: Any) -> RemoteError:
        if isinstance(reason, RemoteError):
            return reason
        if isinstance(reason, BaseException):
            return cls(str(reason), name=type(reason).__name__, reason=reason)
        return cls(f"rejected: {reason!r}", name="Rejection", reason=reason)

    def __repr__(self) -> str:
        return f"RemoteError({self.name}: {self!s})"


def _where(path: str) -> str:
    return f" at {path}" if path else ""


def encode(value: Any, to_slot: ToSlot, path: str = "") -> CapData:
    """Marshal `value`; `path` names the root in error messages (e.g. ``"args"``)."""
    slots: list[str] = []
    slot_index: dict[str, int] = {}

    def walk(x: Any, where: str) -> Any:
        t = type(x)
        if t is str or t is bool or x is None:
            return x
        if t is int:
            if _INT64_MIN <= x <= _INT64_MAX:
                return x
            return {_QCLASS: "bigint", "digits": str(x)}
        if t is float:
            if math.isfinite(x):
                return x
            return {
                _QCLASS: "float",
                "value": repr(x).replace("inf", "Infinity").replace("nan", "NaN"),
            }
        if t is list:
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(x)]
        if t is dict:
            out = {}
            for k, v in x.items():
                if type(k) is not str:
                    raise TypeError(f"dict keys must be str, not {type(k).__name__}{_where(where)}")
                out[k] = walk(v, f"{where}[{k!r}]")
            if _QCLASS in out:
                return {_QCLASS: "record", "entries": [[k, v] for k, v in out.items()]}
            return out
        if t is tuple:
            return {_QCLASS: "tuple", "items": [walk(v, f"{where}[{i}]") for i, v in enumerate(x)]}
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
            return {_QCLASS: "error", "name": name, "message": str(x)}
        raise TypeError(
            f"{t.__module__}.{t.__qualname__} is not passable{_where(where)}: pass data, "
            "Far objects, presences, promises or errors"
        )

    tree = walk(value, path)
    try:
        body = orjson.dumps(tree).decode()
    except orjson.JSONEncodeError as e:
        raise TypeError(f"{e}{_where(_find_unencodable(value, path))}") from None
    return {"body": body, "slots": slots}


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


def decode(capdata: CapData, from_slot: FromSlot) -> Any:
    """Unmarshal capdata; each slot is turned into a value by `from_slot` once."""
    slots = capdata["slots"]
    made: dict[int, Any] = {}

    def walk(x: Any) -> Any:
        t = type(x)
        if t is list:
            return [walk(v) for v in x]
        if t is not dict:
            return x
        qclass = x.get(_QCLASS)
        if qclass is None:
            return {k: walk(v) for k, v in x.items()}
        if qclass == "slot":
            index = x["index"]
            if index not in made:
                made[index] = from_slot(slots[index], x.get("iface", ""))
            return made[index]
        if qclass == "tuple":
            return tuple(walk(v) for v in x["items"])
        if qclass == "bytes":
            return bytes.fromhex(x["hex"])
        if qclass == "bigint":
            return int(x["digits"])
        if qclass == "float":
            return float(x["value"].replace("Infinity", "inf"))
        if qclass == "error":
            return RemoteError(x["message"], name=x["name"])
        if qclass == "record":
            return {k: walk(v) for k, v in x["entries"]}
        if qclass == "retain":
            return RETAIN
        raise ValueError(f"unknown @qclass {qclass!r} in capdata body")

    return walk(orjson.loads(capdata["body"]))


def no_slots(value: Any) -> None:
    """A `to_slot` for pure data: nothing is a slot."""
    return None


def error_capdata(message: str, name: str = "Error") -> CapData:
    """Capdata for a marshalled error, built without a walk (used on hot kernel paths)."""
    body = orjson.dumps({_QCLASS: "error", "name": name, "message": message}).decode()
    return {"body": body, "slots": []}


def data_capdata(value: Any) -> CapData:
    """Capdata for a slot-free value."""
    return encode(value, no_slots)
