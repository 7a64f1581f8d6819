"""Baggage: the vat's durable MapStore, kept in the vatstore (``vN.vs.*``).

Each entry is the capdata of its value under ``baggage.<key>``, so baggage
outlives the incarnation that wrote it: the next incarnation of the vat reads the
same keys back through ``vatstoreGet``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .liveslots import LiveSlots

_PREFIX = "baggage."
_MISSING = object()


class Baggage:
    """``init``, ``get``, ``set``, ``has``, ``delete``, ``keys()`` and ``provide``."""

    def __init__(self, liveslots: LiveSlots) -> None:
        self._ls = liveslots

    def _read(self, key: str) -> Any:
        if not isinstance(key, str):
            raise TypeError(f"baggage keys must be str, not {type(key).__name__}")
        text = self._ls.syscall(["vatstoreGet", _PREFIX + key])
        if text is None:
            return _MISSING
        return self._ls.unmarshal(orjson.loads(text))

    def _write(self, key: str, value: Any) -> None:
        capdata = self._ls.marshal(value, f"baggage[{key!r}]")
        self._ls.syscall(["vatstoreSet", _PREFIX + key, orjson.dumps(capdata).decode()])

    def has(self, key: str) -> bool:
        return self._read(key) is not _MISSING

    def get(self, key: str) -> Any:
        value = self._read(key)
        if value is _MISSING:
            raise KeyError(f"baggage has no key {key!r}")
        return value

    def init(self, key: str, value: Any) -> None:
        if self.has(key):
            raise KeyError(f"baggage already has key {key!r}")
        self._write(key, value)

    def set(self, key: str, value: Any) -> None:
        if not self.has(key):
            raise KeyError(f"baggage has no key {key!r}; use init() first")
        self._write(key, value)

    def delete(self, key: str) -> None:
        if not self.has(key):
            raise KeyError(f"baggage has no key {key!r}")
        self._ls.syscall(["vatstoreDelete", _PREFIX + key])

    def keys(self) -> list[str]:
        return [k[len(_PREFIX) :] for k in self._ls.syscall(["vatstoreGetKeys", _PREFIX])]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def provide(self, key: str, make_default: Callable[[], Any]) -> Any:
        """The value under `key`, first storing ``make_default()`` if there is none."""
        value = self._read(key)
        if value is _MISSING:
            value = make_default()
            self._write(key, value)
        return value


def make_baggage(liveslots: LiveSlots) -> Baggage:
    return Baggage(liveslots)
