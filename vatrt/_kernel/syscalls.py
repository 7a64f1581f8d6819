"""What a vat may ask of the kernel during a delivery, and the checks on each ask.

A syscall arrives as a record of `vatrt._protocol` (`Send`, `Resolve`, ...) in
vrefs; the handler, dispatching on its type, translates it through the vat's
c-list and applies it to kernel state inside the current crank. An illegal
syscall raises `IllegalSyscall` into the vat and is also recorded, so the crank
is rolled back and the vat terminated even if vat code swallows the exception.

Illegal is: a record of no known kind, a ref the vat has no right to, capdata no
receiver could decode (`capdata_check`), and any exception at all while the
syscall is applied (the rollback undoes whatever it had done so far).

A syscall is accepted only from the worker being delivered to, in the kernel's
thread, while its delivery runs (the "turn"). Any other (another vat's code
holding this vat's syscall function, a thread, a callback after the delivery)
is refused before it touches anything: `IllegalSyscall` to whoever called, and
the vat whose syscall function it is goes on the `out_of_turn` list, which the
crank loop empties by terminating each of them at the next crank boundary. The
one exception is a worker whose delivery the kernel withdrew (a cancelled run):
a worker in another process may still send what it had made before it knew, and
that is refused without being held against its vat.
"""

from __future__ import annotations

from collections.abc import Callable
from threading import get_ident
from typing import Any

from .._marshal import CapData
from .._protocol import (
    CallKernelHook,
    CallNow,
    DropImports,
    Exit,
    Resolve,
    RetireExports,
    RetireImports,
    Send,
    Subscribe,
    Syscall,
    VatstoreDelete,
    VatstoreGet,
    VatstoreGetKeys,
    VatstoreSet,
)
from .._refs import is_object
from .._worker.replaying import TranscriptCheck
from .capdata_check import check_capdata, check_methargs
from .ops import KernelOps
from .state.clist import IllegalSyscall
from .state.keeper import KernelKeeper
from .state.records import GCAction
from .state.refcounts import event_krefs


class SyscallHandler:
    """Applies one vat's syscalls to kernel state, inside the crank of its delivery.

    What a delivery's syscalls decide beyond state (an illegal syscall, an exit
    request) is kept here until the kernel reads it with `verdict` when the
    delivery ends."""

    def __init__(
        self,
        keeper: KernelKeeper,
        ops: KernelOps,
        call_kernel_hook: Callable[[str, str, CapData], list[Any]],
        call_device: Callable[[str, CallNow], list[Any]] | None = None,
    ) -> None:
        self.keeper = keeper
        self.ops = ops
        self.refcounts = keeper.refcounts
        self._kernel_hook = call_kernel_hook
        self._table: dict[type, Callable[[str, Any], Any]] = {
            Send: self._send,
            Subscribe: self._subscribe,
            Resolve: self._resolve,
            Exit: self._exit,
            DropImports: self._drop_imports,
            RetireImports: self._retire_imports,
            RetireExports: self._retire_exports,
            VatstoreGet: self._vatstore_get,
            VatstoreSet: self._vatstore_set,
            VatstoreDelete: self._vatstore_delete,
            VatstoreGetKeys: self._vatstore_get_keys,
            CallKernelHook: self._call_kernel_hook,
        }
        if call_device is not None:
            self._table[CallNow] = call_device  # devices.Devices.call_now
        # The syscalls of the delivery under way and their results, when its
        # transcript is kept.
        self.recording: list[tuple[Syscall, Any]] | None = None
        # Vats being replayed from their transcripts: syscalls are checked, not run.
        self.replaying: dict[str, TranscriptCheck] = {}
        # In a delivery: vats whose syscalls were illegal (why), and exit requests.
        self._illegal: dict[str, str] = {}
        self._exits: dict[str, tuple[bool, CapData]] = {}
        # The worker whose delivery is under way, and the thread it runs in.
        self._turn: Any = None
        self._turn_thread = 0
        # The worker whose delivery the kernel withdrew (its crank undone): what
        # it still sends is refused, and not held against its vat.
        self._withdrawn: Any = None
        # Vats whose syscall function was called out of turn -> why; the crank loop
        # terminates them. Another thread may add to it (a dict write is atomic).
        self.out_of_turn: dict[str, str] = {}
        # With a slog: the kernel's side of the syscall being handled (the krefs a
        # send or resolve became), put in its slog record so a reader can tell who
        # sent the message a later crank delivers (docs/slog.md).
        self.slog_kernel_form: dict[str, Any] | None = None

    def begin_delivery(self, worker: Any, recording: list[tuple[Syscall, Any]] | None) -> None:
        """`worker`'s delivery begins: its syscalls are accepted until it ends."""
        self._turn, self._turn_thread = worker, get_ident()
        if worker is self._withdrawn:
            self._withdrawn = None
        self.recording = recording
        self.slog_kernel_form = None  # (a syscall that raised left its own)

    def end_delivery(self, *, withdrawn: bool = False) -> None:
        """The delivery ended, or (`withdrawn`) the kernel took it back: a worker
        in another process may still send syscalls it had made before it knew."""
        if withdrawn and self._turn is not None:
            self._withdrawn = self._turn
        self._turn = None
        self.recording = None

    def verdict(self, vat_id: str) -> tuple[str | None, tuple[bool, CapData] | None]:
        """What vat `vat_id`'s delivery, now over, asked beyond state: why it was
        illegal (or None), and its exit request (failure, info) or None."""
        return self._illegal.pop(vat_id, None), self._exits.pop(vat_id, None)

    def forget_delivery(self) -> None:
        """A crank was undone: nothing its deliveries asked stands."""
        self._illegal.clear()
        self._exits.clear()
        self.end_delivery(withdrawn=True)

    def handle(self, vat_id: str, worker: Any, vso: Syscall) -> Any:
        """A syscall from `worker` (vat `vat_id`'s): its result, or `IllegalSyscall`."""
        if worker is not self._turn or get_ident() != self._turn_thread:
            self._refuse(vat_id, worker, vso)
        replay = self.replaying.get(vat_id)
        if replay is not None:
            return replay.next(vso)
        illegal = self._illegal
        if vat_id in illegal:
            raise IllegalSyscall(f"vat {vat_id} already made an illegal syscall in this delivery")
        try:
            handler = self._table.get(type(vso))
            if handler is None:
                raise IllegalSyscall(f"unknown syscall {_shown(vso)}")
            result = handler(vat_id, vso)
        except IllegalSyscall as refused:
            illegal[vat_id] = str(refused)
            raise
        except BaseException as e:  # whatever it is (this is plain code: no host
            # cancellation or held Ctrl-C lands here), the crank is undone, the vat dies.
            # (Not also named `refused`: compiled, one name has one type.)
            why = f"malformed syscall {_shown(vso)}: {type(e).__name__}: {e}"
            illegal[vat_id] = why
            raise IllegalSyscall(why) from None
        slog = self.ops.slog
        if slog.enabled:
            record = {"type": "syscall", "vatID": vat_id, "syscall": vso, "result": result}
            if self.slog_kernel_form is not None:
                record["kernel"], self.slog_kernel_form = self.slog_kernel_form, None
            slog.write(record)
        if self.recording is not None:
            self.recording.append((vso, result))
        return result

    def _refuse(self, vat_id: str, worker: Any, vso: Syscall) -> None:
        """Out of turn: touch nothing, mark the vat for termination, raise."""
        if worker is self._withdrawn:
            raise IllegalSyscall(f"vat {vat_id}'s delivery was withdrawn: syscall refused")
        if self._turn is None:
            when = "while no delivery was under way"
        elif get_ident() != self._turn_thread:
            when = "from a thread other than the kernel's"
        else:
            when = "during a delivery to another vat (or incarnation)"
        why = f"vat {vat_id}'s syscall function was called {when}: {type(vso).__name__} refused"
        self.out_of_turn.setdefault(vat_id, why)
        raise IllegalSyscall(why)

    # -- messages and promises -------------------------------------------------------

    def _send(self, vat_id: str, send: Send) -> None:
        msg = send.msg
        try:
            check_methargs(msg.methargs)
        except ValueError as e:
            raise IllegalSyscall(f"vat {vat_id} sent a malformed message: {e}") from None
        clist = self.keeper.vat(vat_id).clist
        target = clist.to_kernel(send.target)
        methargs = clist.capdata_to_kernel(msg.methargs)
        result_vpid = msg.result
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
        if self.ops.slog.enabled:
            self.slog_kernel_form = {"target": target, "result": result}

    def _subscribe(self, vat_id: str, subscribe: Subscribe) -> None:
        vpid = subscribe.vpid
        if vpid[0] != "p":
            raise IllegalSyscall(f"subscribe to {vpid!r}, which is not a promise")
        kpid = self.keeper.vat(vat_id).clist.to_kernel(vpid)
        if self.keeper.promise_state(kpid) == "unresolved":
            self.keeper.add_subscriber(kpid, vat_id)
        else:
            self.refcounts.incref(kpid)
            self.keeper.push_event({"type": "notify", "vatID": vat_id, "kpid": kpid})

    def _resolve(self, vat_id: str, resolve: Resolve) -> None:
        """Settle a batch. Its promises may refer to one another (a cycle comes in
        one batch, see liveslots' `collect_resolutions`), so every resolution is
        translated while all of them are still in the c-list, and then settled."""
        clist = self.keeper.vat(vat_id).clist
        settled: dict[str, tuple[bool, CapData]] = {}
        for resolution in resolve.resolutions:
            vpid, rejected, data = resolution.vpid, resolution.rejected, resolution.data
            kpid = clist.kref_of(vpid)
            if kpid is None or vpid[0] != "p":
                raise IllegalSyscall(f"vat {vat_id} resolved {vpid!r}, which it does not have")
            if self.keeper.decider_of(kpid) != vat_id or kpid in settled:
                raise IllegalSyscall(
                    f"vat {vat_id} resolved {vpid} ({kpid}) but does not decide it"
                )
            _check(vat_id, "resolved a promise with", data)
            settled[kpid] = (bool(rejected), clist.capdata_to_kernel(data))
        if self.ops.slog.enabled:
            self.slog_kernel_form = {"kpids": list(settled)}
        for kpid, (rejected, kdata) in settled.items():
            self.ops.resolve(kpid, rejected, kdata, vat_id)
        for kpid in settled:
            clist.delete(kpid)

    def _exit(self, vat_id: str, exit: Exit) -> None:
        _check(vat_id, "exited with", exit.info)
        kdata = self.keeper.vat(vat_id).clist.capdata_to_kernel(exit.info)
        self._exits[vat_id] = (bool(exit.failure), kdata)

    # -- garbage collection -------------------------------------------------------------

    def _drop_imports(self, vat_id: str, drop: DropImports) -> None:
        clist = self.keeper.vat(vat_id).clist
        for vref in drop.vrefs:
            clist.drop_import(vref)

    def _retire_imports(self, vat_id: str, retire: RetireImports) -> None:
        clist = self.keeper.vat(vat_id).clist
        for vref in retire.vrefs:
            clist.retire_import(vref)

    def _retire_exports(self, vat_id: str, retire: RetireExports) -> None:
        """The exporter forgot objects nobody reaches: importers that can still
        recognize them are told to retire them too."""
        keeper = self.keeper
        clist = keeper.vat(vat_id).clist
        actions = []
        for vref in retire.vrefs:
            kref = clist.kref_of(vref)
            if kref is None or not vref.startswith("o+") or not is_object(kref):
                raise IllegalSyscall(f"vat {vat_id} retired {vref!r}, which it does not export")
            if self.refcounts.get(kref)[0] != 0:
                raise IllegalSyscall(f"vat {vat_id} retired {vref} while it is still reachable")
            clist.delete(kref)  # an export's entry holds no count
            keeper.clear_owner(kref)
            for other in keeper.importers_of(kref):
                actions.append(GCAction(other, "retireImport", kref))
            self.refcounts.maybe_free.add(kref)
        keeper.add_gc_actions(actions)

    def _call_kernel_hook(self, vat_id: str, call: CallKernelHook) -> list[Any]:
        if not self.keeper.vat(vat_id).options().get("privileged"):
            raise IllegalSyscall(f"vat {vat_id} is not privileged to call kernel hooks")
        return self._kernel_hook(vat_id, call.name, call.args)

    # -- vatstore -----------------------------------------------------------------------

    # A record built in-process is not type-checked (only the codec checks what it
    # decodes): vat code may hand a vatstore call anything, so the kernel checks.

    def _vatstore_get(self, vat_id: str, get: VatstoreGet) -> str | None:
        return self.keeper.vat(vat_id).vatstore_get(_vatstore_key(get.key))

    def _vatstore_set(self, vat_id: str, put: VatstoreSet) -> None:
        value = put.value
        if not isinstance(value, str):
            raise IllegalSyscall(f"vatstore values must be str, not {type(value).__name__}")
        self.keeper.vat(vat_id).vatstore_set(_vatstore_key(put.key), value)

    def _vatstore_delete(self, vat_id: str, delete: VatstoreDelete) -> None:
        self.keeper.vat(vat_id).vatstore_delete(_vatstore_key(delete.key))

    def _vatstore_get_keys(self, vat_id: str, get_keys: VatstoreGetKeys) -> list[str]:
        return self.keeper.vat(vat_id).vatstore_keys(_vatstore_key(get_keys.prefix))


def _check(vat_id: str, doing: str, capdata: Any) -> None:
    try:
        check_capdata(capdata)
    except ValueError as e:
        raise IllegalSyscall(f"vat {vat_id} {doing} malformed capdata: {e}") from None


def _shown(vso: Any) -> str:
    """A syscall in an error message: its repr, cut short (vat code made it)."""
    try:
        text = repr(vso)
    except Exception:
        return f"<{type(vso).__name__}>"
    return text if len(text) <= 300 else f"{text[:300]}..."


def _vatstore_key(key: Any) -> str:
    if not isinstance(key, str):
        raise IllegalSyscall(f"vatstore keys must be str, not {type(key).__name__}")
    return key
