"""Durable state: baggage and durable kinds, kept in the vatstore (``vN.vs.*``).

Everything here outlives the incarnation that wrote it: the next incarnation of
the vat reads the same vatstore keys back. Vatstore layout (inside the vat's own
namespace)::

    baggage.<key> = JSON capdata        a baggage entry
    vom.kinds = JSON {tag: kind_id}     every durable kind ever defined, and
                                        "@gc": 1 when instances are collected
    vom.<kind_id>.next = N              next instance number of that kind
    vom.o+d<kind_id>/<n> = JSON capdata the state dict of one durable instance
    vom.es.<o+d vref> = "r" | "s"       the kernel holds that instance: reachable,
                                        or (after dropExports) only recognizable
    rc.<vref> = N                       durable references to an import (o-N) or
                                        to a durable instance (o+dK/n): liveslots
                                        never drops what storage holds

Only durable values may be stored: data, presences, durable instances and the
vat's own root object (it keeps its kref across upgrades). An
ephemeral ``Far`` object or a promise dies with its incarnation, so storing one is
a `TypeError` at the write, not a dangling reference after an upgrade.

Durable instances are collected as SwingSet's virtual objects are: once no
durable state refers to one (``rc``), the kernel no longer holds it reachable
(``vom.es``) and no Python object of this incarnation stands for it, the next
bring-out-your-dead deletes its state (releasing what that state referred to)
and retires it if the kernel still recognizes it. A vatstore written before
collection existed (``vom.kinds`` without ``"@gc"``) keeps its instances for
good: its transcripts replay with the syscalls they were made with.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import orjson

from .._marshal import CapData
from .._protocol import SyscallFn, VatstoreDelete, VatstoreGet, VatstoreGetKeys, VatstoreSet
from .._refs import ROOT_VREF
from .far import FAR_ATTR

_BAGGAGE = "baggage."
_COLLECTING = "@gc"  # in vom.kinds: this vatstore collects its instances
_MISSING = object()
VREF_ATTR = "__vatrt_vref__"


class DurableStore:
    """liveslots' side of durable state: kinds, instances, durable refcounts and
    the collection of instances nothing holds.

    It knows liveslots only by what it is handed: the vat's `syscall` (for the
    ``vatstore*`` calls), `marshal` and `unmarshal` (which map values to vrefs and
    back for storage) and `import_released(vref)`, called when durable state stops
    referring to import `vref`. It keeps the Python object of each instance this
    incarnation made or rehydrated, weakly, so that one vref has one object.
    """

    def __init__(
        self,
        syscall: SyscallFn,
        marshal: Callable[[Any, str], CapData],
        unmarshal: Callable[[CapData], Any],
        import_released: Callable[[str], None],
    ) -> None:
        self._syscall = syscall
        self._marshal = marshal
        self._unmarshal = unmarshal
        self._import_released = import_released
        self.defined: dict[int, type] = {}
        self._kinds: dict[str, int] | None = None
        self._collecting = True  # False for a vatstore from before collection
        self._objects: dict[str, weakref.ref[Any]] = {}
        self._strong: dict[str, Any] = {}  # instances Python cannot refer to weakly
        self._reachable: set[str] = set()  # known to be vom.es "r" in this incarnation
        self._candidates: set[str] = set()  # may have become collectable
        self._pending: dict[int, list[Any]] = {}  # rehydrated before their kind was defined

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
            # imports, durable instances, the root (which keeps its kref), device nodes
            if not (
                vref.startswith("o-")
                or vref.startswith("o+d")
                or vref == ROOT_VREF
                or vref.startswith("d-")
            ):
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
            instance = vref.startswith("o+d")
            if instance and self._kinds is None:
                self.kinds()  # learn whether this vatstore counts instances
            if vref.startswith("o-") or (instance and self._collecting):
                key = f"rc.{vref}"
                n = int(self.get(key) or 0) + delta
                if n > 0:
                    self.set(key, str(n))
                else:
                    self.delete(key)
                    if instance:
                        self._candidates.add(vref)
                    else:
                        self._import_released(vref)

    def holds(self, vref: str) -> bool:
        """Does durable storage refer to this import (or instance)?"""
        return self.get(f"rc.{vref}") is not None

    # -- instances: one Python object per vref, collected when nothing holds it ----

    def instance(self, vref: str) -> Any:
        """The Python object for durable `vref`: the one alive, or one rehydrated."""
        ref = self._objects.get(vref)
        obj = ref() if ref is not None else self._strong.get(vref)
        return obj if obj is not None else self.rehydrate(vref)

    def _remember(self, vref: str, obj: Any) -> None:
        try:
            self._objects[vref] = weakref.ref(obj, self._object_died(vref))
        except TypeError:  # a kind with __slots__ and no __weakref__: kept for good
            self._strong[vref] = obj

    def _object_died(self, vref: str) -> Callable[[weakref.ref[Any]], None]:
        def died(ref: weakref.ref[Any]) -> None:
            if self._objects.get(vref) is ref:
                del self._objects[vref]
                self._candidates.add(vref)

        return died

    def exported(self, vref: str) -> None:
        """`vref` goes to the kernel: it holds the instance reachable from now on."""
        if vref in self._reachable or vref == ROOT_VREF or not self._collecting:
            return
        if self.get(f"vom.es.{vref}") != "r":
            self.set(f"vom.es.{vref}", "r")
        self._reachable.add(vref)

    def dropped(self, vref: str) -> None:
        """The kernel's dropExports: it only recognizes the instance now."""
        if self._collecting and self.get(f"vom.es.{vref}") is not None:
            self.set(f"vom.es.{vref}", "s")
            self._reachable.discard(vref)
            self._candidates.add(vref)

    def retired(self, vref: str) -> None:
        """The kernel's retireExports: it has forgotten the instance."""
        if self._collecting and self.get(f"vom.es.{vref}") is not None:
            self.delete(f"vom.es.{vref}")
            self._reachable.discard(vref)
            self._candidates.add(vref)

    def collect(self) -> list[str]:
        """Delete every instance nothing holds; return those the kernel must be told
        to retire (it still recognized them). Deleting one releases what its state
        referred to, which may make others collectable: run to a fixpoint."""
        retire: list[str] = []
        if not self._collecting:
            self._candidates.clear()
        while self._candidates:
            for vref in sorted(self._candidates):
                self._candidates.discard(vref)
                ref = self._objects.get(vref)
                if (ref is not None and ref() is not None) or vref in self._strong:
                    continue
                status = self.get(f"vom.es.{vref}")
                if status == "r" or self.holds(vref) or self.get(f"vom.{vref}") is None:
                    continue
                self.delete_value(f"vom.{vref}")
                if status is not None:
                    self.delete(f"vom.es.{vref}")
                    retire.append(vref)
        return sorted(retire)

    # -- kinds -------------------------------------------------------------------

    def kinds(self) -> dict[str, int]:
        if self._kinds is None:
            text = self.get("vom.kinds")
            kinds = orjson.loads(text) if text else {_COLLECTING: 1}
            self._collecting = kinds.pop(_COLLECTING, None) is not None
            self._kinds = kinds
        return self._kinds

    def define_kind(self, tag: str, cls: type) -> int:
        kinds = self.kinds()
        kind_id = kinds.get(tag)
        if kind_id is None:
            kind_id = len(kinds) + 1
            kinds[tag] = kind_id
            stored = {_COLLECTING: 1, **kinds} if self._collecting else kinds
            self.set("vom.kinds", orjson.dumps(stored).decode())
        if kind_id in self.defined:
            raise TypeError(f"durable kind {tag!r} is defined twice in this incarnation")
        self.defined[kind_id] = cls
        for obj in self._pending.pop(kind_id, []):
            try:
                obj.__class__ = cls
            except TypeError as e:
                raise TypeError(
                    f"durable kind {tag!r}: {cls.__name__} cannot take over the instances "
                    f"read from baggage before it was defined ({e}); define the kind with "
                    "@durable_kind before reading baggage"
                ) from None
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
        self._remember(vref, obj)
        self._candidates.add(vref)  # made and dropped in one delivery: nothing holds it
        return vref

    def rehydrate(self, vref: str) -> Any:
        """The instance for a durable vref, made anew from its stored state.

        Read before its kind is defined in this incarnation (baggage read first in
        ``build_root_object``), it is a stand-in of the kind's tag that becomes an
        instance of the class when ``@durable_kind`` defines it; using it before
        then is an AttributeError that says so."""
        kind_id = int(vref[3:].split("/")[0])
        cls = self.defined.get(kind_id)
        if cls is None:
            tag = next((t for t, k in self.kinds().items() if k == kind_id), None)
            if tag is None:
                raise TypeError(f"{vref} is of no durable kind this vat ever defined")
            cls = type(tag, (_NotYetDefined,), {FAR_ATTR: tag})
            obj: Any = object.__new__(cls)
            self._pending.setdefault(kind_id, []).append(obj)
        else:
            obj = object.__new__(cls)
        object.__setattr__(obj, VREF_ATTR, vref)
        self._remember(vref, obj)
        return obj


class _NotYetDefined:
    """A durable instance read before its kind was defined in this incarnation."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        tag = getattr(type(self), FAR_ATTR)
        raise AttributeError(
            f"durable kind {tag!r} is not defined yet in this incarnation: "
            f"define it with @durable_kind before using its instances (.{name})"
        )


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
