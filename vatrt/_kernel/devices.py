"""Devices: kernel-side code that vats call synchronously (SwingSet's devices).

A device bundle defines ``build_device(tools, endowments)`` and returns its root
node, an object whose public methods vats call with ``D(node).method(*args)``
(a ``callNow`` syscall: the answer, data or a device/object ref, comes back
within the syscall). `endowments` are what the host gives it at `open_kernel`
(for the shipped timer, the kernel's clock): the device's only way out of the
kernel. Everything a device must remember it keeps with `DeviceTools.set_state`,
in the kernel's store, so a reopened kernel rebuilds it as it was; replay never
calls devices, since a vat's transcript keeps each ``callNow`` result.

Devices do no GC: nodes have no refcount, and vat objects a device is given are
held by it for good. A device reaches vats only by `DeviceTools.send_only`: a
message queued on the run-queue like any other, delivered in a later crank.

Device code runs in the kernel's process and the kernel trusts it: it is the
host's code, not a vat's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._marshal import CapData, decode, encode
from .._protocol import CallNow
from ..errors import BundleError
from .capdata_check import check_capdata
from .state.clist import IllegalSyscall
from .state.device_keeper import DeviceKeeper, device_ids, device_owner
from .state.keeper import KernelKeeper
from .state.refcounts import event_krefs

#: ``(source, filename, module_name) -> build_device``: loads a device bundle as
#: fresh modules. The controller hands the kernel liveslots' bundle loader (the
#: kernel imports no liveslots); it raises with the file and the Python error.
LoadDevice = Callable[[str, str, str], Callable[..., Any]]


class DeviceError(Exception):
    """A device cannot do what it was asked (answered to the caller as an error)."""


class ObjectRef:
    """A vat object as a device holds it: pass it to `DeviceTools.send_only`, keep
    it in state, return it from a method."""

    __slots__ = ("iface", "vref")

    def __init__(self, vref: str, iface: str) -> None:
        self.vref = vref
        self.iface = iface

    def __repr__(self) -> str:
        return f"<ObjectRef {self.iface or 'Object'} {self.vref}>"


class DeviceTools:
    """What ``build_device`` gets: state, sends to vats, and more nodes."""

    def __init__(self, devices: Devices, device: DeviceKeeper) -> None:
        self._devices = devices
        self._device = device
        self._nodes: dict[str, Any] = {}  # d+N -> node object
        self._node_ids: dict[int, str] = {}  # id(node) -> d+N
        self._ifaces: dict[str, str] = {}  # d+N -> its interface name
        self._objects: dict[str, ObjectRef] = {}
        self._building = True  # nodes are made only while build_device runs

    @property
    def name(self) -> str:
        return self._device.name()

    def get_state(self) -> Any:
        """What `set_state` last kept (None before it ever did)."""
        capdata = self._device.state()
        return None if capdata is None else self.unmarshal(capdata)

    def set_state(self, value: Any) -> None:
        """Keep `value` (data, `ObjectRef`s, nodes) in the kernel's store."""
        self._device.set_state(self.marshal(value, "device state"))

    def make_node(self, iface: str, node: Any) -> Any:
        """Make `node` (an object with public methods) a device node vats can be
        given (as ``d+1``, ``d+2``, ... in the order made). Make every node in
        ``build_device``, so a reopened kernel gives each the same ref."""
        if not self._building:
            raise RuntimeError("make_node() is for build_device: make every node there")
        dref = f"d+{len(self._nodes)}"
        self._nodes[dref] = node
        self._node_ids[id(node)] = dref
        self._ifaces[dref] = iface
        return node

    def send_only(self, target: ObjectRef, method: str, *args: Any) -> None:
        """Queue ``target.method(*args)`` to a vat object, with no result."""
        self._devices.send_only(self._device, self, target, method, list(args))

    # -- marshalling, in the device's own refs ---------------------------------------

    def marshal(self, value: Any, path: str = "") -> CapData:
        return encode(value, self._to_slot, path)

    def unmarshal(self, capdata: CapData) -> Any:
        return decode(capdata, self._from_slot)

    def _to_slot(self, value: Any) -> tuple[str, str] | None:
        if type(value) is ObjectRef:
            return value.vref, value.iface
        dref = self._node_ids.get(id(value))
        if dref is not None and self._nodes.get(dref) is value:
            return dref, self._ifaces.get(dref, "")
        return None

    def _from_slot(self, dref: str, iface: str) -> Any:
        if dref.startswith("d+"):
            node = self._nodes.get(dref)
            if node is None:
                raise DeviceError(f"device {self.name!r} has no node {dref}")
            return node
        ref = self._objects.get(dref)
        if ref is None:
            ref = self._objects[dref] = ObjectRef(dref, iface)
        return ref


class Devices:
    """Every device of one kernel: built at boot, called by vats, polled for time."""

    def __init__(
        self,
        keeper: KernelKeeper,
        read_bundle: Callable[[str], tuple[str, str]],
        load: LoadDevice | None,
    ) -> None:
        self.keeper = keeper
        self._read_bundle = read_bundle  # bundle id -> (source, filename)
        self._load = load
        self._built: dict[str, tuple[DeviceTools, Any]] = {}  # dN -> (tools, root node)

    # -- boot -------------------------------------------------------------------------

    def add(self, name: str, bundle_id: str) -> str:
        """Record a new device at the first boot; its root node's kref."""
        return DeviceKeeper.add(self.keeper, name, bundle_id).root()

    def start_all(self, endowments: dict[str, Any]) -> None:
        """Build every recorded device (first boot and reopen alike)."""
        for device_id in device_ids(self.keeper.kv):
            device = DeviceKeeper(device_id, self.keeper)
            name = device.name()
            source, filename = self._read_bundle(device.source())
            if self._load is None:
                raise BundleError(f"device {name!r}: this kernel was given no device loader")
            try:
                build = self._load(source, filename, f"vatrt_device_{device_id}")
            except Exception as e:  # the loader's BundleLoadError: names the file and why
                raise BundleError(f"device {name!r}: {e}") from None
            tools = DeviceTools(self, device)
            tools.make_node(name, _Placeholder())  # d+0 is the root, set below
            try:
                root = build(tools, endowments.get(name, {}))
            except Exception as e:
                raise BundleError(
                    f"device {name!r}: build_device raised {type(e).__name__}: {e}"
                ) from None
            tools._building = False
            tools._nodes.pop("d+0")
            tools._nodes["d+0"] = root
            tools._node_ids[id(root)] = "d+0"
            self._built[device_id] = (tools, root)

    def names(self) -> dict[str, str]:
        """Device name -> its root node's kref, in config order."""
        return {
            (device := DeviceKeeper(d, self.keeper)).name(): device.root()
            for d in device_ids(self.keeper.kv)
        }

    def is_live(self, kd: str) -> bool:
        owner = device_owner(self.keeper.kv, kd)
        return owner is not None and owner in self._built

    def roots(self) -> list[Any]:
        """The built root nodes, in device order (the time driver polls them)."""
        return [root for _, root in self._built.values()]

    # -- callNow ------------------------------------------------------------------------

    def call_now(self, vat_id: str, call: CallNow) -> list[Any]:
        """A vat's ``callNow``: ``["ok", capdata]`` or ``["error", why, name]``.
        A target the vat was not given, a promise in the arguments or capdata no
        one could decode is an illegal syscall."""
        clist = self.keeper.vat(vat_id).clist
        target = call.target
        if type(target) is not str or not target.startswith("d-"):
            raise IllegalSyscall(f"vat {vat_id} called {target!r} with callNow: not a device node")
        kd = clist.kref_of(target)
        if kd is None:
            raise IllegalSyscall(
                f"vat {vat_id} called device node {target}, which it was not given"
            )
        try:
            check_capdata(call.args)
        except ValueError as e:
            why = f"vat {vat_id} called a device with malformed capdata: {e}"
            raise IllegalSyscall(why) from None
        if any(slot[0] == "p" for slot in call.args["slots"]):
            raise IllegalSyscall(f"vat {vat_id} gave a device a promise: devices take no promises")
        if type(call.method) is not str or call.method.startswith("_"):
            raise IllegalSyscall(f"vat {vat_id} called a device with method {call.method!r}")
        kargs = clist.capdata_to_kernel(call.args)
        try:
            result = self.invoke(kd, call.method, kargs)
        except DeviceError as e:
            return ["error", str(e), "DeviceError"]
        return ["ok", clist.capdata_to_vat(result)]

    def invoke(self, kd: str, method: str, kargs: CapData) -> CapData:
        """Call `method` on device node `kd` with arguments in krefs; the result in
        krefs. What the device raises is a `DeviceError` naming it."""
        owner = device_owner(self.keeper.kv, kd)
        built = self._built.get(owner) if owner is not None else None
        if owner is None or built is None:
            raise DeviceError(f"{kd} is no live device's node")
        tools, _ = built
        device = tools._device
        dref = device.dref_of(kd)
        node = tools._nodes.get(dref) if dref is not None else None
        fn = getattr(node, method, None) if node is not None else None
        if fn is None or not callable(fn):
            raise DeviceError(f"device {device.name()!r} has no method {method!r}")
        args = tools.unmarshal(self._to_device(device, kargs))
        try:
            value = fn(*args)
        except Exception as e:
            why = f"device {device.name()!r} {method}(): {type(e).__name__}: {e}"
            raise DeviceError(why) from e
        try:
            capdata = tools.marshal(value, f"{method}() result")
        except TypeError as e:
            raise DeviceError(f"device {device.name()!r} {method}(): {e}") from None
        return self._to_kernel(device, capdata)

    # -- sends from devices -------------------------------------------------------------

    def send_only(
        self, device: DeviceKeeper, tools: DeviceTools, target: Any, method: str, args: list[Any]
    ) -> None:
        if type(target) is not ObjectRef:
            raise TypeError(f"send_only() needs an ObjectRef, not {type(target).__name__}")
        if type(method) is not str or not method or method.startswith("_"):
            raise TypeError(f"send_only() needs a public method name, not {method!r}")
        kref = device.kref_of(target.vref)
        if kref is None:
            raise DeviceError(f"device {device.name()!r} has no object {target.vref}")
        methargs = self._to_kernel(device, tools.marshal([method, args], f"{method}() arguments"))
        event = {"type": "send", "target": kref, "msg": {"methargs": methargs, "result": None}}
        self.keeper.refcounts.incref_all(event_krefs(event))
        self.keeper.push_event(event)

    # -- translation ---------------------------------------------------------------------

    def _to_device(self, device: DeviceKeeper, capdata: CapData) -> CapData:
        slots = []
        for kref in capdata["slots"]:
            if kref[1] == "o":
                slots.append(device.import_object(kref))
            elif kref[1] == "d" and device_owner(self.keeper.kv, kref) == device.device_id:
                slots.append(device.dref_of(kref) or "")
            elif kref[1] == "d":
                raise DeviceError(f"device {device.name()!r} cannot be given another device's node")
            else:
                raise DeviceError(f"device {device.name()!r} cannot be given a promise")
        return {"body": capdata["body"], "slots": slots}

    def _to_kernel(self, device: DeviceKeeper, capdata: CapData) -> CapData:
        slots = []
        for dref in capdata["slots"]:
            if dref.startswith("d+"):
                slots.append(device.kref_of_node(dref))
                continue
            kref = device.kref_of(dref)
            if kref is None:
                raise DeviceError(f"device {device.name()!r} used {dref}, which it does not have")
            slots.append(kref)
        return {"body": capdata["body"], "slots": slots}


class _Placeholder:
    """Holds ``d+0`` while ``build_device`` runs, so the nodes it makes are d+1..."""
