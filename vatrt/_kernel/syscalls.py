"""What a vat may ask of the kernel during a delivery, and the checks on each ask.

A syscall arrives as a JSON-able list (``["send", target, msg]``, ...) in vrefs;
the handler translates it through the vat's c-list and applies it to kernel
state inside the current crank. An illegal syscall raises `IllegalSyscall` into
the vat and is also recorded, so the crank is rolled back and the vat terminated
even if vat code swallows the exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .._marshal import CapData
from .clist import IllegalSyscall
from .refcounts import event_krefs, is_object

if TYPE_CHECKING:
    from .kernel import Kernel


class Replay:
    """One delivery's recorded syscalls: each live syscall must match the next one,
    and gets the recorded result (kernel state is already past this delivery)."""

    def __init__(self, vat_name: str, position: int, syscalls: list[list[Any]]) -> None:
        self.vat_name = vat_name
        self.position = position
        self.expected = syscalls
        self.index = 0
        self.divergence: str | None = None

    def next(self, vso: list[Any]) -> Any:
        got = orjson.loads(orjson.dumps(vso))
        if self.index >= len(self.expected):
            return self._diverged(f"expected no more syscalls, got {got}")
        want, result = self.expected[self.index]
        self.index += 1
        if got != want:
            return self._diverged(f"expected {want}, got {got}")
        return result

    def finish(self) -> None:
        if self.divergence is None and self.index < len(self.expected):
            self.divergence = (
                f"vat {self.vat_name!r} diverged from its transcript at delivery "
                f"{self.position}: expected {self.expected[self.index][0]}, got no syscall"
            )

    def _diverged(self, detail: str) -> Any:
        if self.divergence is None:
            self.divergence = (
                f"vat {self.vat_name!r} diverged from its transcript at delivery "
                f"{self.position}: {detail}"
            )
        raise IllegalSyscall(self.divergence)


class SyscallHandler:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.kv = kernel.kv
        self.keeper = kernel.keeper
        self.refcounts = kernel.refcounts
        self._table: dict[str, Callable[..., Any]] = {
            "send": self._send,
            "subscribe": self._subscribe,
            "resolve": self._resolve,
            "exit": self._exit,
            "dropImports": self._drop_imports,
            "retireImports": self._retire_imports,
            "retireExports": self._retire_exports,
            "vatstoreGet": self._vatstore_get,
            "vatstoreSet": self._vatstore_set,
            "vatstoreDelete": self._vatstore_delete,
            "vatstoreGetKeys": self._vatstore_get_keys,
            "callKernelHook": self._call_kernel_hook,
        }
        # The syscalls of the delivery under way, when its transcript is kept.
        self.recording: list[list[Any]] | None = None
        # Vats being replayed from their transcripts: syscalls are checked, not run.
        self.replaying: dict[str, Replay] = {}

    def handle(self, vat_id: str, vso: list[Any]) -> Any:
        kernel = self.kernel
        replay = self.replaying.get(vat_id)
        if replay is not None:
            return replay.next(vso)
        if vat_id in kernel.illegal:
            raise IllegalSyscall(f"vat {vat_id} already made an illegal syscall in this delivery")
        try:
            handler = self._table.get(vso[0]) if vso else None
            if handler is None:
                raise IllegalSyscall(f"unknown syscall {vso[:1]!r}")
            result = handler(vat_id, *vso[1:])
        except IllegalSyscall as e:
            kernel.illegal[vat_id] = str(e)
            raise
        except (TypeError, KeyError, ValueError, IndexError) as e:
            why = f"malformed syscall {vso!r}: {type(e).__name__}: {e}"
            kernel.illegal[vat_id] = why
            raise IllegalSyscall(why) from None
        if kernel.slog.enabled:
            kernel.slog.write(
                {"type": "syscall", "vatID": vat_id, "syscall": vso, "result": result}
            )
        if self.recording is not None:
            self.recording.append([vso, result])
        return result

    # -- messages and promises -------------------------------------------------------

    def _send(self, vat_id: str, target_vref: str, msg: dict[str, Any]) -> None:
        clist = self.kernel.clist(vat_id)
        target = clist.to_kernel(target_vref)
        methargs = clist.capdata_to_kernel(msg["methargs"])
        result_vpid = msg["result"]
        result = None
        if result_vpid is not None:
            if not result_vpid.startswith("p+"):
                raise IllegalSyscall(f"result {result_vpid} of a send must be a new p+ vref")
            result = clist.to_kernel(result_vpid)
            if self.keeper.decider_of(result) != vat_id or (
                self.keeper.promise_state(result) != "unresolved"
            ):
                raise IllegalSyscall(f"vat {vat_id} does not decide result promise {result_vpid}")
            self.keeper.set_decider(result, None)  # decided by whoever receives the message
        event = {"type": "send", "target": target, "msg": {"methargs": methargs, "result": result}}
        self.refcounts.incref_all(event_krefs(event))
        self.keeper.push_event(event)

    def _subscribe(self, vat_id: str, vpid: str) -> None:
        if vpid[0] != "p":
            raise IllegalSyscall(f"subscribe to {vpid!r}, which is not a promise")
        kpid = self.kernel.clist(vat_id).to_kernel(vpid)
        if self.keeper.promise_state(kpid) == "unresolved":
            self.keeper.add_subscriber(kpid, vat_id)
        else:
            self.refcounts.incref(kpid)
            self.keeper.push_event({"type": "notify", "vatID": vat_id, "kpid": kpid})

    def _resolve(self, vat_id: str, resolutions: list[list[Any]]) -> None:
        clist = self.kernel.clist(vat_id)
        for vpid, rejected, data in resolutions:
            kpid = clist.kref_of(vpid)
            if kpid is None or vpid[0] != "p":
                raise IllegalSyscall(f"vat {vat_id} resolved {vpid!r}, which it does not have")
            if self.keeper.decider_of(kpid) != vat_id:
                raise IllegalSyscall(
                    f"vat {vat_id} resolved {vpid} ({kpid}) but does not decide it"
                )
            kdata = clist.capdata_to_kernel(data)
            self.kernel.resolve_promise(kpid, bool(rejected), kdata, resolver=vat_id)
            clist.delete(kpid)

    def _exit(self, vat_id: str, failure: bool, info: CapData) -> None:
        kdata = self.kernel.clist(vat_id).capdata_to_kernel(info)
        self.kernel.exits[vat_id] = (bool(failure), kdata)

    # -- garbage collection -------------------------------------------------------------

    def _drop_imports(self, vat_id: str, vrefs: list[str]) -> None:
        clist = self.kernel.clist(vat_id)
        for vref in vrefs:
            clist.drop_import(vref)

    def _retire_imports(self, vat_id: str, vrefs: list[str]) -> None:
        clist = self.kernel.clist(vat_id)
        for vref in vrefs:
            clist.retire_import(vref)

    def _retire_exports(self, vat_id: str, vrefs: list[str]) -> None:
        """The exporter forgot objects nobody reaches: importers that can still
        recognize them are told to retire them too."""
        kernel, keeper = self.kernel, self.keeper
        clist = kernel.clist(vat_id)
        actions = keeper.gc_actions()
        for vref in vrefs:
            kref = clist.kref_of(vref)
            if kref is None or not vref.startswith("o+") or not is_object(kref):
                raise IllegalSyscall(f"vat {vat_id} retired {vref!r}, which it does not export")
            if self.refcounts.get(kref)[0] != 0:
                raise IllegalSyscall(f"vat {vat_id} retired {vref} while it is still reachable")
            clist.delete(kref)  # an export's entry holds no count
            keeper.clear_owner(kref)
            for other in keeper.vat_ids():
                if other != vat_id and kernel.clist(other).entry_of(kref) is not None:
                    actions.append(f"{other} retireImport {kref}")
            self.refcounts.maybe_free.add(kref)
        keeper.set_gc_actions(actions)

    def _call_kernel_hook(self, vat_id: str, name: str, args: CapData) -> list[Any]:
        if not self.keeper.vat_options(vat_id).get("privileged"):
            raise IllegalSyscall(f"vat {vat_id} is not privileged to call kernel hooks")
        return self.kernel.hooks.call(vat_id, name, args)

    # -- vatstore -----------------------------------------------------------------------

    def _vatstore_key(self, vat_id: str, key: str) -> str:
        if not isinstance(key, str):
            raise IllegalSyscall(f"vatstore keys must be str, not {type(key).__name__}")
        return f"{vat_id}.vs.{key}"

    def _vatstore_get(self, vat_id: str, key: str) -> str | None:
        return self.kv.get(self._vatstore_key(vat_id, key))

    def _vatstore_set(self, vat_id: str, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise IllegalSyscall(f"vatstore values must be str, not {type(value).__name__}")
        self.kv.set(self._vatstore_key(vat_id, key), value)

    def _vatstore_delete(self, vat_id: str, key: str) -> None:
        self.kv.delete(self._vatstore_key(vat_id, key))

    def _vatstore_get_keys(self, vat_id: str, prefix: str) -> list[str]:
        full = self._vatstore_key(vat_id, prefix)
        cut = len(vat_id) + 4
        return [k[cut:] for k, _ in self.kv.items_with_prefix(full)]
