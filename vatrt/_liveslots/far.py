"""`Far`, presences and `E`: how vat code names objects and sends to them.

`E(target).method(*args)` needs the liveslots instance of the vat that is
running. Only one delivery runs at a time in a kernel (one crank at a time), so
the running vat's liveslots is a module-level slot that `dispatch` sets and
clears around every delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .promises import VatPromise

if TYPE_CHECKING:
    from .liveslots import LiveSlots

FAR_ATTR = "__vatrt_iface__"


class _Current:
    liveslots: LiveSlots | None = None


current = _Current()


def running_liveslots(what: str) -> LiveSlots:
    ls = current.liveslots
    if ls is None:
        raise RuntimeError(f"{what} can only be used by vat code during a delivery")
    return ls


class _FarRecord:
    """The object `Far(iface, **functions)` builds: its attributes are the functions."""

    def __repr__(self) -> str:
        return f"<Far {getattr(self, FAR_ATTR, '?')}>"


def Far(iface: str, obj: Any = None, /, **functions: Callable[..., Any]) -> Any:
    """Mark `obj` as a remotable that other vats may call (its public methods).

    ``Far("Counter", counter)`` marks an existing object; ``Far("Counter",
    increment=inc, read=read)`` builds one from functions.
    """
    if not isinstance(iface, str):
        raise TypeError(f"Far() interface name must be a str, not {type(iface).__name__}")
    if obj is None:
        obj = _FarRecord()
        for name, fn in functions.items():
            if not callable(fn):
                raise TypeError(f"Far({iface!r}): {name} is not callable")
            setattr(obj, name, fn)
    elif functions:
        raise TypeError("Far() takes either an object or functions, not both")
    elif type(obj) in (dict, list, tuple, str, bytes, int, float, bool):
        raise TypeError(f"Far() needs an object with methods, not {type(obj).__name__}")
    try:
        setattr(obj, FAR_ATTR, iface)
    except (AttributeError, TypeError):
        raise TypeError(
            f"Far() cannot mark a {type(obj).__name__}: it does not accept attributes"
        ) from None
    return obj


def far_iface(obj: Any) -> str | None:
    iface = getattr(obj, FAR_ATTR, None)
    return iface if isinstance(iface, str) else None


class Presence:
    """A reference to another vat's object. Call it with ``E(presence).method()``."""

    __slots__ = ("__weakref__", "iface", "vref")

    def __init__(self, vref: str, iface: str) -> None:
        self.vref = vref
        self.iface = iface

    def __repr__(self) -> str:
        return f"<Presence {self.iface or 'Object'} {self.vref}>"


class _Sender:
    __slots__ = ("_only", "_target")

    def __init__(self, target: Any, only: bool) -> None:
        self._target = target
        self._only = only

    def __getattr__(self, method: str) -> Callable[..., VatPromise | None]:
        if method.startswith("_"):
            raise AttributeError(f"E() cannot send {method!r}: underscore methods are private")
        target, only = self._target, self._only

        def send(*args: Any, **kwargs: Any) -> VatPromise | None:
            ls = running_liveslots("E()")
            return ls.send(target, method, list(args), want_result=not only, kwargs=kwargs)

        send.__name__ = method
        return send


class _E:
    """``E(target).method(*args)`` sends eventually and returns a promise for the result.

    `target` may be a presence, a local Far object or a promise (pipelining: a send
    to a promise goes to whoever decides it, without waiting for the resolution).
    ``E.sendonly(target).method(*args)`` sends with no result promise.
    """

    def __call__(self, target: Any) -> Any:
        return _Sender(target, only=False)

    def sendonly(self, target: Any) -> Any:
        return _Sender(target, only=True)


E = _E()


def make_promise_kit() -> tuple[VatPromise, Callable[[Any], None], Callable[[Any], None]]:
    """A new local promise and the two functions that settle it: (promise, resolve, reject)."""
    ls = running_liveslots("make_promise_kit()")
    p = VatPromise(ls.micro)
    return p, p.resolve, p.reject
