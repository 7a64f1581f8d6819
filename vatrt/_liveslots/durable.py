"""Durable state: baggage and durable kinds, kept in the vatstore (``vN.vs.*``).

Everything here outlives the incarnation that wrote it: the next incarnation of
the vat reads the same vatstore keys back. Vatstore layout (inside the vat's own
namespace)::

    baggage.<key> = JSON capdata        a baggage entry
    vom.kinds = JSON {tag: kind_id}     every durable kind ever defined
    vom.<kind_id>.next = N              next instance number of that kind
    vom.o+d<kind_id>/<n> = JSON capdata the state dict of one durable instance
    rc.<vref> = N                       durable references to an import (o-N),
                                        so liveslots never drops what storage holds

Only durable values may be stored: data, presences, durable instances and the
vat's own root object (it keeps its kref across upgrades). An
ephemeral ``Far`` object or a promise dies with its incarnation, so storing one is
a `TypeError` at the write, not a dangling reference after an upgrade.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import orjson

from .._marshal import CapData
from .._protocol import SyscallFn, VatstoreDelete, VatstoreGet, VatstoreGetKeys, VatstoreSet
from .._refs import ROOT_VREF
from .far import FAR_ATTR

_BAGGAGE = "baggage."
_MISSING = object()
VREF_ATTR = "__vatrt_vref__"


class DurableStore:
    """liveslots' side of durable state: kinds, instances and durable refcounts.

    It knows liveslots only by what it is handed: the vat's `syscall` (for the
    ``vatstore*`` calls), `marshal` and `unmarshal` (which map objects to vrefs
    and back), `remember_durable(vref, obj)`, called with each durable instance
    made or rehydrated, and `durably_released(vref)`, called when durable state
    stops referring to import `vref`.
    """

    def __init__(
        self,
        syscall: SyscallFn,
        marshal: Callable[[Any, str], CapData],
        unmarshal: Callable[[CapData], Any],
        remember_durable: Callable[[str, Any], None],
        durably_released: Callable[[str], None],
    ) -> None:
        self._syscall = syscall
        self._marshal = marshal
        self._unmarshal = unmarshal
        self._remember_durable = remember_durable
        self._durably_released = durably_released
        self.defined: dict[int, type] = {}
        self._kinds: dict[str, int] | None = None

    # -- vatstore access ---------------------------------------------------------

    def get(self, key: str) -> str | None:
        value = self._syscall(VatstoreGet(key))
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        self._syscall(VatstoreSet(key, value))

    def delete(self, key: str) -> None:
        self._syscall(VatstoreDelete(key))

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = self._syscall(VatstoreGetKeys(prefix))
        return keys

    def read_value(self, key: str) -> Any:
        text = self.get(key)
        if text is None:
            return _MISSING
        return self._unmarshal(orjson.loads(text))

    def write_value(self, key: str, value: Any, where: str) -> None:
        capdata = self._marshal(value, where)
        for vref in capdata["slots"]:
            # imports, durable instances, and the root (which keeps its kref)
            if not (vref.startswith("o-") or vref.startswith("o+d") or vref == ROOT_VREF):
                raise TypeError(
                    f"{where} can hold only data, presences and durable objects: "
                    f"{_describe_slot(vref)} would not survive an upgrade"
                )
        old = self.get(key)
        self._count(capdata["slots"], +1)
        if old is not None:
            self._count(orjson.loads(old)["slots"], -1)
        self.set(key, orjson.dumps(capdata).decode())

    def delete_value(self, key: str) -> None:
        old = self.get(key)
        if old is not None:
            self._count(orjson.loads(old)["slots"], -1)
            self.delete(key)

    def _count(self, vrefs: list[str], delta: int) -> None:
        for vref in vrefs:
            if vref.startswith("o-"):
                key = f"rc.{vref}"
                n = int(self.get(key) or 0) + delta
                if n > 0:
                    self.set(key, str(n))
                else:
                    self.delete(key)
                    self._durably_released(vref)

    def holds(self, vref: str) -> bool:
        """Does durable storage refer to this import?"""
        return self.get(f"rc.{vref}") is not None

    # -- kinds -------------------------------------------------------------------

    def kinds(self) -> dict[str, int]:
        if self._kinds is None:
            text = self.get("vom.kinds")
            self._kinds = orjson.loads(text) if text else {}
        return self._kinds

    def define_kind(self, tag: str, cls: type) -> int:
        kinds = self.kinds()
        kind_id = kinds.get(tag)
        if kind_id is None:
            kind_id = len(kinds) + 1
            kinds[tag] = kind_id
            self.set("vom.kinds", orjson.dumps(kinds).decode())
        if kind_id in self.defined:
            raise TypeError(f"durable kind {tag!r} is defined twice in this incarnation")
        self.defined[kind_id] = cls
        return kind_id

    def undefined_kinds(self) -> list[str]:
        return sorted(tag for tag, kind_id in self.kinds().items() if kind_id not in self.defined)

    def new_instance(self, obj: Any, kind_id: int, state: dict[str, Any]) -> str:
        counter = f"vom.{kind_id}.next"
        n = int(self.get(counter) or 1)
        self.set(counter, str(n + 1))
        vref = f"o+d{kind_id}/{n}"
        object.__setattr__(obj, VREF_ATTR, vref)
        self.write_value(f"vom.{vref}", state, f"state of {type(obj).__name__}")
        self._remember_durable(vref, obj)
        return vref

    def rehydrate(self, vref: str) -> Any:
        """The instance for a durable vref, made anew from its stored state."""
        kind_id = int(vref[3:].split("/")[0])
        cls = self.defined.get(kind_id)
        if cls is None:
            tag = next((t for t, k in self.kinds().items() if k == kind_id), "?")
            raise TypeError(f"durable kind {tag!r} ({vref}) is not defined in this incarnation")
        obj: Any = object.__new__(cls)
        object.__setattr__(obj, VREF_ATTR, vref)
        self._remember_durable(vref, obj)
        return obj


def _describe_slot(vref: str) -> str:
    if vref.startswith("p"):
        return "a promise"
    return "an ephemeral Far object (use a durable kind)"


class DurableState(MutableMapping[str, Any]):
    """``self.state`` of a durable instance: every write goes to the vatstore."""

    def __init__(self, store: DurableStore, vref: str) -> None:
        self._store = store
        self._key = f"vom.{vref}"

    def _load(self) -> dict[str, Any]:
        value = self._store.read_value(self._key)
        if value is _MISSING:
            raise KeyError(f"durable state {self._key[4:]} is gone")
        return value  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        state = self._load()
        state[key] = value
        self._store.write_value(self._key, state, f"state[{key!r}]")

    def __delitem__(self, key: str) -> None:
        state = self._load()
        del state[key]
        self._store.write_value(self._key, state, "state")

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"DurableState({self._load()!r})"


def durable_kind(baggage: Baggage, tag: str) -> Callable[[type], type]:
    """Make a class a durable kind: its instances, their state and their krefs
    survive upgrades.

    The class defines ``init(*args)`` (a static method) returning the initial state
    dict; instances read and write ``self.state``. Each incarnation must define
    every kind its predecessor defined, inside ``build_root_object``.
    """
    if not isinstance(baggage, Baggage):
        raise TypeError("durable_kind() needs the vat's baggage as its first argument")
    store = baggage._store

    def decorate(cls: type) -> type:
        init = getattr(cls, "init", None)
        if not callable(init):
            raise TypeError(f"durable kind {tag!r}: {cls.__name__} needs a static init()")
        kind_id = store.define_kind(tag, cls)

        def __new__(klass: type, *args: Any, **kwargs: Any) -> Any:
            obj: Any = object.__new__(klass)
            state = init(*args, **kwargs)
            if not isinstance(state, dict):
                raise TypeError(f"{cls.__name__}.init() must return a dict")
            store.new_instance(obj, kind_id, state)
            return obj

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            pass

        def state(self: Any) -> DurableState:
            return DurableState(store, getattr(self, VREF_ATTR))

        cls.__new__ = __new__  # type: ignore[assignment]
        cls.__init__ = __init__  # type: ignore[misc]
        cls.state = property(state)  # type: ignore[attr-defined]
        setattr(cls, FAR_ATTR, tag)
        return cls

    return decorate


class Baggage:
    """The vat's durable MapStore: ``init``, ``get``, ``set``, ``has``, ``delete``,
    ``keys()`` and ``provide``."""

    def __init__(self, store: DurableStore) -> None:
        self._store = store

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"baggage keys must be str, not {type(key).__name__}")
        return _BAGGAGE + key

    def has(self, key: str) -> bool:
        return self._store.get(self._key(key)) is not None

    def get(self, key: str) -> Any:
        value = self._store.read_value(self._key(key))
        if value is _MISSING:
            raise KeyError(f"baggage has no key {key!r}")
        return value

    def init(self, key: str, value: Any) -> None:
        if self.has(key):
            raise KeyError(f"baggage already has key {key!r}")
        self._store.write_value(self._key(key), value, f"baggage[{key!r}]")

    def set(self, key: str, value: Any) -> None:
        if not self.has(key):
            raise KeyError(f"baggage has no key {key!r}; use init() first")
        self._store.write_value(self._key(key), value, f"baggage[{key!r}]")

    def delete(self, key: str) -> None:
        if not self.has(key):
            raise KeyError(f"baggage has no key {key!r}")
        self._store.delete_value(self._key(key))

    def keys(self) -> list[str]:
        return [k[len(_BAGGAGE) :] for k in self._store.keys(_BAGGAGE)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.has(key)

    def provide(self, key: str, make_default: Callable[[], Any]) -> Any:
        """The value under `key`, first storing ``make_default()`` if there is none."""
        value = self._store.read_value(self._key(key))
        if value is _MISSING:
            value = make_default()
            self._store.write_value(self._key(key), value, f"baggage[{key!r}]")
        return value


def make_baggage(store: DurableStore) -> Baggage:
    """The vat's baggage, on the durable store liveslots made for it."""
    return Baggage(store)


__all__ = ["Baggage", "DurableState", "durable_kind", "make_baggage"]
