"""liveslots: the vat side of the kernel boundary.

It turns deliveries (`Message`, `Notify`, GC deliveries: records of
`vatrt._protocol`) into method calls on the vat's objects, and the vat's sends
and resolutions into syscall records. It owns the vat's tables:

- exports: ``o+N`` -> the vat's Far object (held strongly while the kernel can
  reach it; after ``dropExports`` only weakly, so Python may collect it);
- imports: ``o-N`` -> a `Presence` (held weakly: when vat code lets go of a
  presence, the next bring-out-your-dead reports ``dropImports``/``retireImports``);
- promises: ``p+N`` / ``p-N`` -> `VatPromise`, forgotten once resolved.

It imports no anyio, no store and no kernel: the worker hands it a ``syscall``
function and calls `dispatch`; everything in between is plain deterministic
Python.
"""

from __future__ import annotations

import gc
import inspect
import types
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from .._marshal import CapData, RemoteError, decode, encode
from .._protocol import (
    OK,
    Answer,
    BringOutYourDead,
    CallKernelHook,
    CallNow,
    Delivery,
    DropExports,
    DropImports,
    Exit,
    Failed,
    Message,
    Msg,
    Notify,
    Resolution,
    Resolve,
    RetireExports,
    RetireImports,
    Send,
    StartVat,
    Subscribe,
    SyscallFn,
)
from .._refs import ROOT_VREF
from .._suggest import did_you_mean
from .._vat_traceback import vat_traceback
from .devices import DeviceNode
from .durable import VREF_ATTR, DurableStore
from .far import Presence, current, far_iface
from .promises import (
    DEFAULT_MAX_TURNS,
    FULFILLED,
    REJECTED,
    Microtasks,
    VatPromise,
    run_coroutine,
)
from .resolutions import collect_resolutions, names_a_promise


class _FullCollections:
    """Counts full (generation 2) garbage collections in this process, whoever ran
    them, so a vat that had no delivery since the last one can skip its own."""

    count: ClassVar[int] = 0

    @classmethod
    def observe(cls, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            cls.count += 1


gc.callbacks.append(_FullCollections.observe)


def _public_methods(obj: Any) -> list[str]:
    """What a Far object answers to: its public callables (for a "did you mean")."""
    # getattr_static: looking must not run the vat's code (a property's getter).
    return [
        name
        for name in dir(obj)
        if not name.startswith("_") and callable(inspect.getattr_static(obj, name, None))
    ]


class VatFatal(Exception):
    """liveslots cannot go on with this vat: the delivery fails and the vat dies."""


class VatPowers:
    """The second-class powers a vat gets in ``build_root_object(vat_powers, ...)``."""

    def __init__(self, liveslots: LiveSlots, granted: dict[str, Any]) -> None:
        self._ls = liveslots
        self._granted = granted

    @property
    def vat_admin(self) -> Any:
        """The vat-admin service, where the config grants it (``vat_admin = true``)."""
        if "vat_admin" not in self._granted:
            raise AttributeError("vat_admin is not granted to this vat (config: vat_admin = true)")
        return self._granted["vat_admin"]

    def exit_vat(self, completion: Any = None) -> None:
        """End this vat successfully; `completion` is what ``done()`` resolves to."""
        self._ls.exit(False, completion)

    def exit_vat_with_failure(self, reason: Any) -> None:
        """End this vat as failed; ``done()`` rejects with `reason`."""
        self._ls.exit(True, reason)

    def call_kernel_hook(self, name: str, *args: Any) -> Any:
        """Privileged vats only (vat-admin): ask the kernel directly, synchronously."""
        return self._ls.call_kernel_hook(name, list(args))

    @property
    def devices(self) -> dict[str, Any]:
        """The device nodes the config grants this vat (``devices = ["timer"]``), by name."""
        return dict(self._granted.get("devices") or {})


class LiveSlots:
    """One incarnation of one vat, as seen from inside it."""

    def __init__(
        self,
        syscall: SyscallFn,
        build_root_object: Callable[..., Any],
        make_baggage: Callable[[DurableStore], Any] | None = None,
        *,
        max_turns: int = DEFAULT_MAX_TURNS,
        console: Callable[[str], None] | None = None,
    ) -> None:
        self.syscall = syscall
        # Where the vat's print() goes (`console.vat_print`); None: Python's print.
        self.console = console
        self.durable = DurableStore(
            syscall, self._marshal_to_store, self.unmarshal, self.durably_released
        )
        self.micro = Microtasks(max_turns)
        self._build_root_object = build_root_object
        self._make_baggage = make_baggage
        self.root: Any = None
        self._exports: dict[str, Any] = {}
        self._export_vref_of: dict[int, str] = {}  # id(obj) -> vref, valid while obj lives
        self._dropped_exports: dict[str, weakref.ref[Any]] = {}
        self._dead_exports: set[str] = set()
        self._imports: dict[str, weakref.ref[Presence]] = {}
        self._dead_imports: set[str] = set()
        # Imports durable state stopped referring to while no presence was alive.
        self._released_imports: set[str] = set()
        self._promises: dict[str, VatPromise] = {}
        # Device nodes seen: held for good (devices do no GC).
        self._devices: dict[str, DeviceNode] = {}
        # While a notify is unmarshalled: its batch, vpid -> promise (None: new here).
        self._notified: dict[str, VatPromise | None] | None = None
        self._next_export = 1
        self._next_promise = 1
        self.exited = False
        # The full-collection count when this vat's last delivery ended; None:
        # nothing of this vat can have become garbage since its last collection.
        self._dirty_since: int | None = None

    # -- deliveries ---------------------------------------------------------------

    def dispatch(self, delivery: Delivery) -> Answer:
        """Run one delivery to quiescence: `OK`, or `Failed` (why) if it is fatal.

        Whatever vat code raises is the vat's, BaseExceptions included: this is
        plain code with no await, so no cancellation of the host's can arrive in
        it, and while the kernel runs it holds Ctrl-C itself (a SIGINT handler
        that stops at the next crank boundary), so a KeyboardInterrupt here was
        raised by the vat. A method's exception rejects its result (`_invoke`);
        one that escapes to here fails the delivery."""
        current.liveslots = self
        try:
            if isinstance(delivery, Message):
                self._deliver_message(delivery.target, delivery.msg)
            elif isinstance(delivery, Notify):
                self._deliver_notify(delivery.resolutions)
            elif isinstance(delivery, DropExports):
                self._drop_exports(delivery.vrefs)
            elif isinstance(delivery, RetireExports):
                self._retire_exports(delivery.vrefs)
            elif isinstance(delivery, RetireImports):
                for vref in delivery.vrefs:
                    self._imports.pop(vref, None)
            elif isinstance(delivery, BringOutYourDead):
                self._bring_out_your_dead()
            elif isinstance(delivery, StartVat):
                self._start_vat(delivery)
            else:
                raise VatFatal(f"unknown delivery {delivery!r}")
            self.micro.run_until_quiescent()
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: see above
            self.micro.queue.clear()
            why = f"{type(exc).__name__}: {exc}"
            # The bundle's frames go with it, on the lines after (`split_traceback`).
            raised = exc.__cause__ if isinstance(exc, VatFatal) and exc.__cause__ else exc
            tb = vat_traceback(raised)
            return Failed(why if tb is None else f"{why}\n{tb}")
        finally:
            current.liveslots = None
            if not isinstance(delivery, BringOutYourDead):
                self._dirty_since = _FullCollections.count
        return OK

    def _start_vat(self, start: StartVat) -> None:
        """Build the root object. The inherited imports are those an earlier
        incarnation left in the c-list: those no durable state refers to are dropped
        at once, since nothing in this incarnation can reach them."""
        parameters = self.unmarshal(start.parameters)
        baggage = self._make_baggage(self.durable) if self._make_baggage else None
        outcome = VatPromise(self.micro)
        granted = self.unmarshal(start.powers) if start.powers else {}
        built = self._build_root_object(VatPowers(self, granted), parameters, baggage)
        if isinstance(built, types.CoroutineType):
            run_coroutine(built, outcome)
        else:
            outcome.resolve(built)
        self.micro.run_until_quiescent()
        if not outcome.settled:
            raise VatFatal(
                "build_root_object did not finish: it awaited a promise that cannot "
                "resolve while the vat is starting"
            )
        if outcome.rejected:
            reason = outcome.value
            raise VatFatal(f"build_root_object raised {type(reason).__name__}: {reason}") from (
                reason if isinstance(reason, BaseException) else None
            )
        root = outcome.value
        if far_iface(root) is None:
            raise VatFatal(f"build_root_object must return a Far object, not {type(root).__name__}")
        undefined = self.durable.undefined_kinds()
        if undefined:
            raise VatFatal(
                f"durable kind(s) {', '.join(map(repr, undefined))} defined by the previous "
                "incarnation were not re-defined"
            )
        self.root = root
        self._exports[ROOT_VREF] = root
        self._export_vref_of[id(root)] = ROOT_VREF
        unreachable = [
            vref
            for vref in sorted(start.inherited_imports)
            if vref not in self._imports and not self.durable.holds(vref)
        ]
        if unreachable:
            self.syscall(DropImports(unreachable))
            self.syscall(RetireImports(unreachable))

    def _deliver_message(self, target: str, msg: Msg) -> None:
        method, args, *rest = self.unmarshal(msg.methargs)
        kwargs: dict[str, Any] = rest[0] if rest else {}
        result_vpid = msg.result
        result: VatPromise | None = None
        if result_vpid is not None:
            result = self._promises.get(result_vpid)
            if result is None:
                result = VatPromise(self.micro)
                result.vref = result_vpid
                self._promises[result_vpid] = result
            result.decided_here = True
            result.then(self._resolve_to_kernel)
        if target[0] == "p":
            promise = self._promises.get(target)
            if promise is None:
                raise VatFatal(f"message to unknown promise {target}")
            self.send(
                promise, method, args, want_result=result is not None, result=result, kwargs=kwargs
            )
            return
        obj = self._export_of(target)
        self._invoke(obj, method, args, result, kwargs)

    def _deliver_notify(self, resolutions: list[Resolution]) -> None:
        """Settle a batch: a promise and the settled promises its data reaches (the
        kernel sends them together). Their data may name one another, even promises
        new to this vat: those are made here and settled by the batch, never
        subscribed to."""
        if len(resolutions) == 1 and not names_a_promise(resolutions[0].data["slots"]):
            resolution = resolutions[0]  # the usual case, kept cheap
            promise = self._promises.pop(resolution.vpid, None)
            if promise is not None:
                promise.vref = None
                value = self.unmarshal(resolution.data)
                promise._settle(REJECTED if resolution.rejected else FULFILLED, value)
            return
        batch = self._notified = {r.vpid: self._promises.pop(r.vpid, None) for r in resolutions}
        try:
            values = [self.unmarshal(resolution.data) for resolution in resolutions]
        finally:
            self._notified = None
        for resolution, value in zip(resolutions, values, strict=True):
            promise = batch[resolution.vpid]
            if promise is None:
                continue
            promise.vref = None
            promise._settle(REJECTED if resolution.rejected else FULFILLED, value)

    def _invoke(
        self,
        obj: Any,
        method: str,
        args: list[Any],
        result: VatPromise | None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        fn = None if method.startswith("_") else getattr(obj, method, None)
        if fn is None or not callable(fn):
            hint = did_you_mean(method, _public_methods(obj)) if isinstance(method, str) else ""
            error = TypeError(f"{far_iface(obj) or 'object'} has no method {method!r}{hint}")
            if result is not None:
                result.reject(error)
            return
        try:
            value = fn(*args, **kwargs) if kwargs else fn(*args)
        except MemoryError:
            raise  # the vat may be half-way through anything: the delivery is fatal
        except BaseException as exc:  # even KeyboardInterrupt: see `dispatch`
            if result is not None:
                result.reject(exc)
            return
        if isinstance(value, types.CoroutineType):
            run_coroutine(value, result if result is not None else VatPromise(self.micro))
        elif result is not None:
            if (
                type(value) is VatPromise
                and value.vref is not None
                and not value.decided_here
                and result.vref is not None
                and result.decided_here
            ):
                self._forward_to_kernel(result, value)
            else:
                result.resolve(value)

    def _forward_to_kernel(self, result: VatPromise, target: VatPromise) -> None:
        """Resolve a result to another vat's (or the kernel's) promise at once, so the
        caller waits on that promise directly, not on this vat: it stays valid even
        if this vat is upgraded before it settles."""
        vpid = result.vref
        assert vpid is not None
        self.syscall(Resolve([Resolution(vpid, False, self.marshal(target))]))
        self._promises.pop(vpid, None)
        result.vref = None
        result.resolve(target)

    # -- sends, from vat code -------------------------------------------------------

    def send(
        self,
        target: Any,
        method: str,
        args: list[Any],
        *,
        want_result: bool,
        result: VatPromise | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> VatPromise | None:
        """An eventual send from vat code (``E(target).method(*args, **kwargs)``)."""
        if type(target) is Presence:
            return self._send_to_kernel(target.vref, method, args, want_result, result, kwargs)
        if type(target) is DeviceNode:
            raise TypeError(f"cannot send {method!r} to {target!r}: call a device with D()")
        if type(target) is VatPromise:
            if target.settled:
                if target.rejected:
                    return self._settled_result(result, want_result, REJECTED, target.value)
                return self.send(
                    target.value,
                    method,
                    args,
                    want_result=want_result,
                    result=result,
                    kwargs=kwargs,
                )
            if target.vref is not None and not target.decided_here:
                # Pipelining: the kernel routes it to the promise's decider.
                return self._send_to_kernel(target.vref, method, args, want_result, result, kwargs)
            if result is None:
                result = VatPromise(self.micro)
            forwarded = result

            def forward(settled: VatPromise) -> None:
                self.send(settled, method, args, want_result=True, result=forwarded, kwargs=kwargs)

            target.then(forward)
            return result if want_result else None
        if far_iface(target) is not None:
            if result is None:
                result = VatPromise(self.micro)
            local = result
            self.micro.queue.append(
                (lambda _: self._invoke(target, method, args, local, kwargs), local)
            )
            return result if want_result else None
        error = TypeError(f"cannot send {method!r} to {type(target).__name__}: not an object")
        return self._settled_result(result, want_result, REJECTED, error)

    def _settled_result(
        self, result: VatPromise | None, want_result: bool, state: int, value: Any
    ) -> VatPromise | None:
        if result is None:
            if not want_result:
                return None
            result = VatPromise(self.micro)
        result._settle(state, value)
        return result

    def _send_to_kernel(
        self,
        target_vref: str,
        method: str,
        args: list[Any],
        want_result: bool,
        result: VatPromise | None,
        kwargs: dict[str, Any] | None = None,
    ) -> VatPromise | None:
        if type(method) is not str:
            raise TypeError(f"method name must be a str, not {type(method).__name__}")
        methargs = encode_methargs(method, args, kwargs, self._to_slot)
        vpid = None
        if want_result or result is not None:
            answer = VatPromise(self.micro)
            vpid = answer.vref = self._allocate_promise_vref()
            answer.decided_here = False
            self._promises[vpid] = answer
        self.syscall(Send(target_vref, Msg(methargs, vpid)))
        if vpid is None:
            return None
        self.syscall(Subscribe(vpid))
        if result is not None:
            result.resolve(answer)
            return result
        return answer

    def _resolve_to_kernel(self, promise: VatPromise) -> None:
        vpid = promise.vref
        if vpid is None or not promise.decided_here:
            return
        batch = collect_resolutions(vpid, promise, self.marshal, self._promises.get)
        self.syscall(Resolve([resolution for _, resolution in batch]))
        for settled, resolution in batch:
            self._promises.pop(resolution.vpid, None)
            settled.vref = None

    def call_kernel_hook(self, name: str, args: list[Any]) -> Any:
        answer = self.syscall(CallKernelHook(name, self.marshal(args, f"{name}() arguments")))
        if answer[0] == "error":
            raise RemoteError(answer[1], name=answer[2] if len(answer) > 2 else "Error")
        return self.unmarshal(answer[1])

    def call_now(self, node: DeviceNode, method: str, args: list[Any]) -> Any:
        """``D(node).method(*args)``: the device's answer, unmarshalled."""
        if type(method) is not str:
            raise TypeError(f"method name must be a str, not {type(method).__name__}")
        args_capdata = self.marshal(args, f"{method}() arguments")
        answer = self.syscall(CallNow(node.vref, method, args_capdata))
        if answer[0] == "error":
            raise RemoteError(answer[1], name=answer[2] if len(answer) > 2 else "Error")
        return self.unmarshal(answer[1])

    def exit(self, failure: bool, value: Any) -> None:
        if self.exited:
            return
        self.exited = True
        self.syscall(Exit(failure, self.marshal(value)))

    # -- marshalling ------------------------------------------------------------------

    def marshal(self, value: Any, path: str = "") -> CapData:
        return encode(value, self._to_slot, path)

    def unmarshal(self, capdata: CapData) -> Any:
        return decode(capdata, self._from_slot)

    def _marshal_to_store(self, value: Any, path: str) -> CapData:
        return encode(value, self._to_store_slot, path)

    def _to_store_slot(self, value: Any) -> tuple[str, str] | None:
        """Slots of a value written to durable state: nothing is exported by it.
        What cannot be stored gets a slot of its kind (``p``, ``o+``), which the
        store refuses with a message naming it."""
        t = type(value)
        if t is Presence or t is DeviceNode:
            return value.vref, value.iface
        if t is VatPromise:
            return "p", ""
        iface = far_iface(value)
        if iface is None:
            return None
        durable_vref = getattr(value, VREF_ATTR, None)
        if durable_vref is not None:
            return durable_vref, iface
        return (ROOT_VREF if value is self.root else "o+"), iface

    def _to_slot(self, value: Any) -> tuple[str, str] | None:
        t = type(value)
        if t is Presence or t is DeviceNode:
            return value.vref, value.iface
        if t is VatPromise:
            return self._promise_vref(value), ""
        iface = far_iface(value)
        if iface is None:
            return None
        durable_vref = getattr(value, VREF_ATTR, None)
        if durable_vref is not None:
            self.durable.exported(durable_vref)
            return durable_vref, iface
        vref = self._export_vref_of.get(id(value))
        if vref is not None:
            if self._exports.get(vref) is value:
                return vref, iface
            dropped = self._dropped_exports.get(vref)
            if dropped is not None and dropped() is value:
                # Re-exported after the kernel dropped it: hold it strongly again.
                del self._dropped_exports[vref]
                self._exports[vref] = value
                return vref, iface
        vref = f"o+{self._next_export}"
        self._next_export += 1
        self._exports[vref] = value
        self._export_vref_of[id(value)] = vref
        return vref, iface

    def _promise_vref(self, promise: VatPromise) -> str:
        if promise.vref is not None:
            return promise.vref
        vpid = promise.vref = self._allocate_promise_vref()
        promise.decided_here = True
        self._promises[vpid] = promise
        promise.then(self._resolve_to_kernel)
        return vpid

    def _allocate_promise_vref(self) -> str:
        vpid = f"p+{self._next_promise}"
        self._next_promise += 1
        return vpid

    def _from_slot(self, vref: str, iface: str) -> Any:
        kind = vref[:2]
        if kind == "o-":
            ref = self._imports.get(vref)
            presence = ref() if ref is not None else None
            if presence is None:
                presence = Presence(vref, iface)
                self._imports[vref] = weakref.ref(presence, self._import_died(vref))
                self._dead_imports.discard(vref)
            return presence
        if kind == "o+":
            return self._export_of(vref)
        if kind == "d-":
            node = self._devices.get(vref)
            if node is None:
                node = self._devices[vref] = DeviceNode(vref, iface)
            return node
        promise = self._promises.get(vref)
        if promise is None:
            notified = self._notified
            if notified is not None and vref in notified:  # settled by this notify
                promise = notified[vref]
                if promise is None:
                    promise = notified[vref] = VatPromise(self.micro)
                    promise.decided_here = False
                return promise
            promise = VatPromise(self.micro)
            promise.vref = vref
            promise.decided_here = False
            self._promises[vref] = promise
            self.syscall(Subscribe(vref))
        return promise

    def _import_died(self, vref: str) -> Callable[[weakref.ref[Presence]], None]:
        def died(ref: weakref.ref[Presence]) -> None:
            if self._imports.get(vref) is ref:
                self._dead_imports.add(vref)

        return died

    def durably_released(self, vref: str) -> None:
        """Durable state no longer refers to import `vref`: if no presence for it is
        alive, the next bring-out-your-dead reports it dropped."""
        if vref not in self._imports:
            self._released_imports.add(vref)

    def _export_of(self, vref: str) -> Any:
        obj = self._exports.get(vref)
        if obj is not None:
            return obj
        if vref.startswith("o+d"):
            return self.durable.instance(vref)
        dropped = self._dropped_exports.get(vref)
        obj = dropped() if dropped is not None else None
        if obj is None:
            raise VatFatal(f"kernel referenced unknown export {vref}")
        return obj

    # -- garbage collection ---------------------------------------------------------

    def _drop_exports(self, vrefs: list[str]) -> None:
        for vref in vrefs:
            if vref == ROOT_VREF:
                continue  # the root lives as long as the incarnation
            if vref.startswith("o+d"):
                self.durable.dropped(vref)
                continue
            obj = self._exports.pop(vref, None)
            if obj is None:
                continue
            try:
                self._dropped_exports[vref] = weakref.ref(obj, self._export_died(vref))
            except TypeError:
                self._exports[vref] = obj  # not weakly referenceable: keep it for good

    def _export_died(self, vref: str) -> Callable[[weakref.ref[Any]], None]:
        def died(ref: weakref.ref[Any]) -> None:
            if self._dropped_exports.get(vref) is ref:
                self._dead_exports.add(vref)

        return died

    def _retire_exports(self, vrefs: list[str]) -> None:
        for vref in vrefs:
            if vref == ROOT_VREF:
                continue
            if vref.startswith("o+d"):
                self.durable.retired(vref)
                continue
            obj = self._exports.pop(vref, None)
            ref = self._dropped_exports.pop(vref, None)
            if obj is None and ref is not None:
                obj = ref()
            if obj is not None and self._export_vref_of.get(id(obj)) == vref:
                del self._export_vref_of[id(obj)]
            self._dead_exports.discard(vref)

    def _bring_out_your_dead(self) -> None:
        """Find what Python collected and tell the kernel.

        A full ``gc.collect()`` makes the answer independent of when the automatic
        collector last ran (which depends on allocations by the event loop, so on
        the backend): after it, exactly the unreachable presences are dead. Only
        this vat's deliveries can make its presences garbage, so if a full
        collection already ran since its last delivery, the answer is known and
        the (heap-sized) collection is skipped: upgrading every vat then costs one
        collection, not one per vat.
        """
        if self._dirty_since is not None and _FullCollections.count == self._dirty_since:
            gc.collect()
        self._dirty_since = None
        # Durable instances first: deleting one releases the imports its state held.
        retired_durables = self.durable.collect()
        dead_imports = sorted(self._dead_imports)
        self._dead_imports.clear()
        dead_imports = [v for v in dead_imports if self._is_dead_import(v)]
        for vref in dead_imports:
            del self._imports[vref]
        released, self._released_imports = self._released_imports, set()
        dead_imports = sorted(set(dead_imports) | {v for v in released if v not in self._imports})
        # An import that durable state still refers to stays imported.
        dead_imports = [v for v in dead_imports if not self.durable.holds(v)]
        if dead_imports:
            self.syscall(DropImports(dead_imports))
            self.syscall(RetireImports(dead_imports))
        dead_exports = sorted(self._dead_exports)
        self._dead_exports.clear()
        for vref in dead_exports:
            del self._dropped_exports[vref]
        if dead_exports or retired_durables:
            self.syscall(RetireExports(sorted(dead_exports + retired_durables)))

    def _is_dead_import(self, vref: str) -> bool:
        ref = self._imports.get(vref)
        return ref is not None and ref() is None


def encode_methargs(
    method: str, args: list[Any], kwargs: dict[str, Any] | None, to_slot: Any
) -> CapData:
    """``[method, args]``, or ``[method, args, kwargs]`` when there are keyword
    arguments, as capdata; a non-passable argument is named by where it is."""
    name = orjson.dumps(method).decode()
    if not kwargs:
        marshalled = encode(args, to_slot, "args")
        return {"body": f"[{name},{marshalled['body']}]", "slots": marshalled["slots"]}
    marshalled = encode([args, kwargs], to_slot, "(args, kwargs)")
    return {"body": f"[{name},{marshalled['body'][1:]}", "slots": marshalled["slots"]}
