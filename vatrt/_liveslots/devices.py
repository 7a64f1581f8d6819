"""Device nodes as vat code sees them, and ``D(node).method(*args)``.

A device is kernel-side code (SwingSet's devices): a vat reaches one through a
device node (``d-N`` in its c-list) it was given, in its vatParameters, in a
message or in `vat_powers.devices`, and calls it synchronously with `D`: the
answer comes back within the syscall, in the same delivery. Devices do no
garbage collection, so liveslots holds every device node it has seen for the
life of the incarnation (nothing is ever reported dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .far import running_liveslots


class DeviceNode:
    """A reference to a device node; call it with ``D(node).method(*args)``.

    Device nodes pass in messages and vatParameters like presences, and may be
    kept in baggage (they keep their ``d-N`` across upgrades). Sending to one with
    `E` is a `TypeError`: devices are called, never sent to."""

    __slots__ = ("iface", "vref")

    def __init__(self, vref: str, iface: str) -> None:
        self.vref = vref
        self.iface = iface

    def __repr__(self) -> str:
        return f"<DeviceNode {self.iface or 'Device'} {self.vref}>"


class _DeviceCaller:
    __slots__ = ("_node",)

    def __init__(self, node: Any) -> None:
        if type(node) is not DeviceNode:
            raise TypeError(f"D() needs a device node, not {type(node).__name__}")
        self._node = node

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(f"D() cannot call {method!r}: underscore methods are private")
        node = self._node

        def call(*args: Any) -> Any:
            return running_liveslots("D()").call_now(node, method, list(args))

        call.__name__ = method
        return call


def D(node: Any) -> Any:
    """``D(device_node).method(*args)`` calls a device now and returns its answer
    (data, a presence or a device node); an error the device raised is raised
    here as `RemoteError`. A vat calling a device node it was not given makes an
    illegal syscall: the kernel terminates it."""
    return _DeviceCaller(node)
