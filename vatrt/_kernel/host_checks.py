"""Checks on what a host passes to the kernel, all made before anything changes.

A refused host call changes nothing: each host method checks every argument
here first, then acts. A value of the wrong type is a `TypeError`, a value out of
range a `ValueError`, a name the kernel does not know a `VatrtError` (a vat: a
`VatTerminated`), each naming the argument and what was given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .._marshal import data_capdata
from ..errors import VatrtError, VatTerminated
from .state.keeper import KernelKeeper

_KREF = re.compile(r"k[op](0|[1-9][0-9]*)")
_QCLASS = "@qclass"
_INT64 = 2**63


def _shown(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def check_str(value: Any, what: str) -> str:
    if type(value) is not str:
        raise TypeError(f"{what} must be a str, not {_shown(value)}")
    return value


def check_endowments(endowments: Any) -> dict[str, Any]:
    """`open_kernel`'s endowments: None, or a dict from device names (str) to
    whatever each device's ``build_device`` gets."""
    if endowments is None:
        return {}
    if type(endowments) is not dict:
        raise TypeError(f"endowments must be None or a dict, not {_shown(endowments)}")
    for key in endowments:
        if type(key) is not str:
            raise TypeError(f"endowments keys must be device names (str), not {_shown(key)}")
    return endowments


def check_time(value: Any, what: str) -> float:
    """A point or span of kernel time: a finite int or float >= 0."""
    if type(value) not in (int, float) or value != value or value in (float("inf"), float("-inf")):
        raise VatrtError(f"{what} must be a finite int or float, not {value!r}")
    if value < 0:
        raise VatrtError(f"{what} must be >= 0, not {value!r}")
    return value  # type: ignore[no-any-return]


def check_max_cranks(max_cranks: Any) -> int | None:
    """None (run until idle) or an int >= 0 (0 runs no crank)."""
    if max_cranks is None:
        return None
    if type(max_cranks) is not int:
        raise TypeError(f"max_cranks must be None or an int >= 0, not {_shown(max_cranks)}")
    if max_cranks < 0:
        raise ValueError(f"max_cranks must be None or an int >= 0, not {max_cranks}")
    return max_cranks


def check_arguments(args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any] | None]:
    """A method's positional arguments (a list or a tuple: a str is not split into
    letters) and keyword arguments (None, or a dict with str keys)."""
    if type(args) not in (list, tuple):
        raise TypeError(f"args must be a list or a tuple, not {_shown(args)}")
    if kwargs is None:
        return list(args), None
    if type(kwargs) is not dict:
        raise TypeError(f"kwargs must be None or a dict, not {_shown(kwargs)}")
    for key in kwargs:
        if type(key) is not str:
            raise TypeError(f"kwargs keys must be str, not {_shown(key)}")
    return list(args), kwargs or None


def check_kref(kref: Any, what: str = "kref") -> str:
    """A well-formed kref (``ko<N>`` or ``kp<N>``); whether it exists is the caller's."""
    text = check_str(kref, what)
    if not _KREF.fullmatch(text):
        raise VatrtError(f"malformed {what} {text!r}: a kref is ko<N> (object) or kp<N> (promise)")
    return text


def check_kpid(kpid: Any) -> str:
    text = check_kref(kpid, "kpid")
    if not text.startswith("kp"):
        raise VatrtError(f"{text} is not a promise: a kpid is kp<N>")
    return text


def check_vat_id(keeper: KernelKeeper, vat_id: Any) -> str:
    """The id of a live vat (``kernel.vat_id(name)`` gives it)."""
    text = check_str(vat_id, "vat_id")
    if not keeper.is_live_vat(text):
        live = ", ".join(f"{v} ({keeper.vat(v).name()})" for v in keeper.vat_ids()) or "none"
        raise VatTerminated(f"no live vat with id {text!r} (live vats: {live})")
    return text


def check_bundles(bundles: Any) -> dict[str, str]:
    """``upgrade_all_vats``'s bundles: None, or a mapping of vat name -> bundle (a
    config bundle name, a bundle file or a bundle ID), all str."""
    if bundles is None:
        return {}
    if not isinstance(bundles, Mapping):
        raise TypeError(f"bundles must be a mapping of vat name -> bundle, not {_shown(bundles)}")
    for name, spec in bundles.items():
        check_str(name, "a vat name in bundles")
        check_str(spec, f"bundles[{name!r}]")
    return dict(bundles)


def check_upgrade_message(value: Any) -> Any:
    """An upgrade message is plain JSON data (None, bool, int, float, str, list,
    dict with str keys): the upgrade event keeps it as it is, and the old
    incarnation's promises are rejected with it."""
    try:
        data_capdata(value)  # cycles, depth, what is not passable at all
    except TypeError as e:
        raise TypeError(f"upgrade_message: {e}") from None
    _plain_json(value, "upgrade_message")
    return value


def _plain_json(x: Any, where: str) -> None:
    t = type(x)
    if t in (str, bool) or x is None:
        return
    if t is int and -_INT64 <= x < _INT64:
        return
    if t is float and math.isfinite(x):
        return
    if t is list:
        for i, item in enumerate(x):
            _plain_json(item, f"{where}[{i}]")
        return
    if t is dict:
        if _QCLASS in x:
            raise TypeError(f"{where} must not have a {_QCLASS!r} key (it is marshal's own)")
        for key, item in x.items():
            _plain_json(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} must be plain JSON data (None, bool, a 64-bit int, a finite float, "
        f"str, list, dict with str keys), not {_shown(x)}"
    )
