"""A device's keeper: every ``dN.*`` and ``device.*`` key, and the ``kdN.owner`` keys.

A device's c-list maps kernel refs to the device's own refs: ``d+N`` for its
nodes (``d+0`` the root; the kernel names each ``kdN``) and ``o-N`` for vat
objects it was given. Devices do no GC (as in SwingSet): a node's ``kdN`` has
no count, and an object a device imports is held by it, one count, for good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import dumps, loads

if TYPE_CHECKING:
    from .keeper import KernelKeeper


def device_names(kv: Any) -> list[str]:
    return loads(kv.get("device.names") or "[]")  # type: ignore[no-any-return]


def device_ids(kv: Any) -> list[str]:
    return [d for d in (kv.get(f"device.name.{n}") for n in device_names(kv)) if d is not None]


def device_owner(kv: Any, kd: str) -> str | None:
    """The device whose node `kd` is (None: no such node)."""
    return kv.get(f"{kd}.owner")  # type: ignore[no-any-return]


def device_held_krefs(kv: Any) -> list[str]:
    """Every object a device imports (each holds one count, for good)."""
    held: list[str] = []
    for device_id in device_ids(kv):
        cut = len(device_id) + 3
        held.extend(key[cut:] for key, _ in kv.items_with_prefix(f"{device_id}.c.ko"))
    return held


class DeviceKeeper:
    __slots__ = ("device_id", "keeper", "kv", "p")

    def __init__(self, device_id: str, keeper: KernelKeeper) -> None:
        self.device_id = device_id
        self.keeper = keeper
        self.kv = keeper.kv
        self.p = f"{device_id}."

    @staticmethod
    def add(keeper: KernelKeeper, name: str, bundle_id: str) -> DeviceKeeper:
        """Record a new device (first boot): its id, name, bundle and root node."""
        kv = keeper.kv
        device_id = f"d{keeper.next_id('device.nextID', 1)}"
        kv.set("device.names", dumps([*device_names(kv), name]))
        kv.set(f"device.name.{name}", device_id)
        device = DeviceKeeper(device_id, keeper)
        kv.set(f"{device.p}options", dumps({"name": name}))
        kv.set(f"{device.p}source", bundle_id)
        device.kref_of_node("d+0")
        return device

    def name(self) -> str:
        return str(loads(self.kv.get(f"{self.p}options") or "{}")["name"])

    def source(self) -> str:
        return self.kv.get(f"{self.p}source") or ""

    def root(self) -> str:
        return self.kv.get(f"{self.p}c.d+0") or ""

    # -- state ------------------------------------------------------------------

    def state(self) -> Any:
        """The device's state (capdata in its own refs), or None before it set any."""
        text = self.kv.get(f"{self.p}deviceState")
        return None if text is None else loads(text)

    def set_state(self, capdata: Any) -> None:
        self.kv.set(f"{self.p}deviceState", dumps(capdata))

    # -- c-list -----------------------------------------------------------------

    def kref_of(self, dref: str) -> str | None:
        return self.kv.get(f"{self.p}c.{dref}")

    def dref_of(self, kref: str) -> str | None:
        return self.kv.get(f"{self.p}c.{kref}")

    def _add(self, kref: str, dref: str) -> None:
        self.kv.set(f"{self.p}c.{kref}", dref)
        self.kv.set(f"{self.p}c.{dref}", kref)

    def kref_of_node(self, dref: str) -> str:
        """The ``kdN`` of one of the device's nodes (``d+N``), named on first export."""
        kd = self.kref_of(dref)
        if kd is None:
            kd = f"kd{self.keeper.next_id('kd.nextID', 30)}"
            self.kv.set(f"{kd}.owner", self.device_id)
            self._add(kd, dref)
        return kd

    def import_object(self, kref: str) -> str:
        """The device's ``o-N`` for a vat object; a new import holds one count, for good."""
        dref = self.dref_of(kref)
        if dref is None:
            dref = f"o-{self.keeper.next_id(f'{self.p}o.nextID', 50)}"
            self._add(kref, dref)
            self.keeper.refcounts.incref(kref)
        return dref
