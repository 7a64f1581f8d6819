"""The kernel: one crank at a time, every reference counted.

`run()` takes one event at a time (GC actions first, then the run-queue) and
processes its crank to the end inside a store savepoint. A crank that a vat
breaks (an illegal syscall, an error escaping liveslots) is rolled back whole;
then, in a fresh crank, the event is taken again, the vat is terminated and the
event is treated as undeliverable. The kernel never imports liveslots: it
talks to vats through workers, in deliveries and syscalls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any

import anyio
import attrs
from anyio.abc import TaskGroup

from .._crash import crash_point
from .._marshal import RETAIN, CapData, data_capdata, decode, encode, error_capdata
from .._store.kvstore import KVStore
from .._worker.base import Worker
from .._worker.local import make_local_worker, validate_bundle
from .._worker.parking import Parker
from ..config import KernelConfig, resolve_bundle_path
from ..errors import (
    AuditError,
    ConfigError,
    KernelPanic,
    RejectedError,
    UpgradeFailed,
    VatrtError,
    VatTerminated,
)
from .bundles import BundleStore
from .clist import CList
from .crank import CrankInFlight, Rollback, RunState
from .gc_actions import take_gc_action
from .keeper import SCHEMA_VERSION, KernelKeeper, dumps, loads
from .refcounts import RefCounts, event_krefs, is_object, message_krefs
from .replay import migrate, replay_vats
from .shipped import vat_admin_bundle_path
from .slog import Slog
from .syscalls import SyscallHandler
from .termination import VAT_TERMINATED, terminate_vat
from .upgrade import (
    UpgradeOutcome,
    collect_outcome,
    queue_kernel_upgrades,
    upgrade_in_crank,
)
from .vat_admin_hooks import HookError, VatAdminHooks

ROOT_VREF = "o+0"
# What `Kernel._prepare` returns for events whose crank awaits more than a delivery.
_NEEDS_AWAIT: Any = object()
# Records and run-queue entries an in-memory kernel's keeper may hold unwritten.
_MEMORY_FLUSH_AFTER = 100_000


@attrs.frozen
class KernelRef:
    """An object or promise reference as the host sees it: pass it back in arguments."""

    kref: str
    iface: str = ""

    def __repr__(self) -> str:
        return f"<{self.iface or 'ref'} {self.kref}>"


@attrs.frozen
class KernelStats:
    cranks: int
    deliveries: int
    vats: int
    run_queue_length: int


class Kernel:
    """The host's handle on a running kernel (see SPEC section 3)."""

    def __init__(
        self,
        kv: KVStore,
        config: KernelConfig,
        task_group: TaskGroup,
        slog: IO[bytes] | None = None,
    ) -> None:
        self.kv = kv
        self.config = config
        self.keeper = KernelKeeper(kv)
        self.refcounts = RefCounts(self.keeper)
        self.bundles = BundleStore(self.keeper, validate_bundle)
        self.slog = Slog(slog)
        self._task_group = task_group
        self.workers: dict[str, Worker] = {}
        self.hooks = VatAdminHooks(self)
        # Outcomes of kernel-initiated upgrades, by request id, until read.
        self.upgrade_outcomes: dict[str, tuple[bool, Any]] = {}
        self.clists: dict[str, CList] = {}
        self._lock = anyio.Lock()
        self._panic_error: KernelPanic | None = None
        self.syscalls = SyscallHandler(self)
        self.deliveries = 0
        # When a list, every crank's duration (seconds) is appended: `vatrt bench`.
        self.crank_times: list[float] | None = None
        # Set during a delivery: vats whose syscalls were illegal, and exit requests.
        self.illegal: dict[str, str] = {}
        self.exits: dict[str, tuple[bool, CapData]] = {}
        # The run whose baton is out, and where it comes back (see `_pass_baton`).
        self._baton_run = RunState(None, None, None)
        self._baton_back = Parker()

    # -- boot ------------------------------------------------------------------------

    async def boot(self) -> None:
        """First boot: install config bundles, record static vats, queue their start
        and the bootstrap message. Nothing is written unless all of it is valid."""
        if self.kv.get("kernel.initialized") is not None:
            migrate(self)
            await replay_vats(self)
            return
        cfg = self.config
        vat_admin_bundle = self.bundles.install_file(vat_admin_bundle_path())
        bundle_ids = {}
        for name in cfg.bundles:
            bundle_ids[name] = self.bundles.install_file(resolve_bundle_path(cfg, name))
        parameters = {}
        for name, vat in cfg.vats.items():
            try:
                parameters[name] = data_capdata(vat.parameters or {})
            except TypeError as e:
                raise ConfigError(f"vats.{name}.parameters: {e}") from None
        kv = self.kv
        kv.set("kernel.schemaVersion", str(SCHEMA_VERSION))
        for name, bundle_id in bundle_ids.items():
            self.bundles.name(name, bundle_id)
        admin_options = {
            "name": "vat_admin",
            "critical": True,
            "reapInterval": cfg.reap_interval,
            "dynamic": False,
            "privileged": True,
        }
        self.add_vat("vat_admin", vat_admin_bundle, admin_options, data_capdata({}))
        for name, vat in cfg.vats.items():
            options = {
                "name": name,
                "critical": vat.critical,
                "reapInterval": vat.reap_interval or cfg.reap_interval,
                "dynamic": False,
                "vatAdmin": vat.vat_admin,
            }
            self.add_vat(name, bundle_ids[vat.bundle], options, parameters[name])
        if cfg.bootstrap is not None:
            roots = {
                name: KernelRef(kv.get(f"{self.keeper.vat_id_of(name)}.root") or "", name)
                for name in ["vat_admin", *cfg.vats]
            }
            kpid = self.queue_to_vat_root(cfg.bootstrap, "bootstrap", [roots, {}])
            kv.set("kernel.bootstrapResult", kpid)
        kv.set("kernel.initialized", "1")
        self.commit()

    def add_vat(
        self, name: str, bundle_id: str, options: dict[str, Any], parameters: CapData | None
    ) -> str:
        """Record a new vat and queue its start. `parameters` (kernel krefs) are
        retained in ``vN.vatParameters`` with a count on each object in them, and the
        queued start event holds counts of its own until it is delivered."""
        keeper, kv = self.keeper, self.kv
        vat_id = keeper.allocate_vat_id()
        kv.set(f"{vat_id}.options", dumps(options))
        kv.set(f"{vat_id}.source", bundle_id)
        kv.set(f"{vat_id}.incarnation", "0")
        kv.set(f"{vat_id}.reapCountdown", str(options["reapInterval"]))
        if parameters is not None:
            kv.set(f"{vat_id}.vatParameters", dumps(parameters))
            self.refcounts.incref_all(parameters["slots"])
        root = keeper.allocate_object(vat_id)
        self.clist(vat_id).add(root, ROOT_VREF, counted=False)
        kv.set(f"{vat_id}.root", root)
        self.refcounts.incref(root)  # the vat record holds its root: hosts can always call it
        keeper.add_vat(name, vat_id)
        event = {"type": "startVat", "vatID": vat_id, "vatParameters": parameters}
        self.refcounts.incref_all(event_krefs(event))
        keeper.push_event(event)
        return vat_id

    def clist(self, vat_id: str) -> CList:
        clist = self.clists.get(vat_id)
        if clist is None:
            clist = self.clists[vat_id] = CList(vat_id, self.keeper, self.refcounts)
        return clist

    def powers_for(self, vat_id: str) -> CapData:
        """The capdata of the powers a vat's config grants (vat-admin), in its vrefs."""
        if not self.keeper.vat_options(vat_id).get("vatAdmin"):
            return data_capdata({})
        admin_root = self.kv.get(f"{self.keeper.vat_id_of('vat_admin')}.root") or ""
        granted = encode({"vat_admin": KernelRef(admin_root, "VatAdmin")}, _kernel_ref_slot)
        return self.clist(vat_id).capdata_to_vat(granted)

    def make_worker(self, vat_id: str, incarnation: int, bundle_id: str) -> Any:
        """A worker for one incarnation of a vat, its code loaded but not started."""
        options = self.keeper.vat_options(vat_id)
        source, filename = self.bundles.get(bundle_id)

        def syscall(vso: list[Any]) -> Any:
            return self.syscalls.handle(vat_id, vso)

        return make_local_worker(vat_id, options["name"], incarnation, source, filename, syscall)

    async def start_worker(self, vat_id: str, worker: Any) -> None:
        await worker.start(self._task_group)
        self.workers[vat_id] = worker
        name = self.keeper.vat_options(vat_id)["name"]
        self.slog.write({"type": "vat-start", "vatID": vat_id, "name": name})

    # -- the crank loop -----------------------------------------------------------------

    async def run(self, max_cranks: int | None = None) -> int:
        """Run cranks until the run-queue is empty (or `max_cranks` ran); return how many."""
        return await self._run(max_cranks)

    async def _run(self, max_cranks: int | None, until: Callable[[], bool] | None = None) -> int:
        self._raise_if_panicked()
        run = RunState(max_cranks, until, self.crank_times)
        async with self._lock:
            try:
                crank = self._advance(run, None, None)
                while crank is not None:
                    if crank.awaits:
                        try:
                            outcome = await self._process_async(crank.event)
                        except BaseException:
                            self._crank_failed()
                            raise
                        crank = self._advance(run, crank, outcome)
                    else:
                        crank = await self._pass_baton(run, crank)
            finally:
                self.commit()
        self._raise_if_panicked()
        return run.ran

    def _raise_if_panicked(self) -> None:
        if self._panic_error is not None:
            raise self._panic_error

    def _take_event(self) -> dict[str, Any] | None:
        return take_gc_action(self) or self.keeper.pop_event()

    # A crank is plain code around at most one await: `_begin` takes an event and
    # prepares its delivery, the delivery runs in the vat's task, `_end` settles the
    # outcome. `_advance` chains them; it runs in whichever task has the baton.

    def _advance(
        self, run: RunState, crank: CrankInFlight | None, answer: Any
    ) -> CrankInFlight | None:
        """End `crank` (its delivery answered `answer`, or an awaited event gave
        that outcome), then begin cranks until one needs a vat or the kernel's task;
        return it, or None when the run is over."""
        if crank is not None:
            self._end(run, crank, answer)
        while not (run.over() or self._panic_error is not None):
            crank = self._begin()
            if crank is None:
                return None
            if crank.awaits or crank.vat_id is not None:
                return crank
            self._end(run, crank, None)
        return None

    def _begin(self) -> CrankInFlight | None:
        self._begin_crank()
        event = self._take_event()
        if event is None:
            self._abort_crank()
            return None
        crank = CrankInFlight(event, self.keeper.bump("kernel.crankNumber"))
        if self.crank_times is not None:
            crank.started = time.perf_counter()
        if self.slog.enabled:
            self.slog.write({"type": "crank-start", "crankNum": crank.number, "event": event})
        try:
            prepared = self._prepare(event)
            if prepared is _NEEDS_AWAIT:
                crank.awaits = True
            elif prepared is not None:
                vat_id, delivery = prepared
                crank.worker = self.workers[vat_id]
                crank.vat_id, crank.delivery = vat_id, delivery
                crank.recording = self._delivery_begins(vat_id, delivery)
        except BaseException:
            self._crank_failed()
            raise
        return crank

    def _end(self, run: RunState, crank: CrankInFlight, answer: Any) -> None:
        try:
            if crank.vat_id is not None:
                assert crank.delivery is not None
                outcome = self._delivery_ends(crank.vat_id, crank.delivery, answer, crank.recording)
            else:
                outcome = answer
            rollback = self._vat_fatal(*outcome) if isinstance(outcome, tuple) else outcome
            if rollback is not None:
                self._abort_crank()
                self.refcounts.maybe_free.clear()
                self._begin_crank()
                self.keeper.bump("kernel.crankNumber")
                event = self._take_event()
                assert event is not None
                rollback.recover(event)
            self.refcounts.process_maybe_free()
        except BaseException:
            self._crank_failed()
            raise
        crash_point("mid-crank")
        self.kv.commit_crank()
        self.keeper.commit_crank()
        if self.slog.enabled:
            why = rollback.why if rollback is not None else None
            self.slog.write({"type": "crank-finish", "crankNum": crank.number, "rolledBack": why})
        run.ran += 1
        if run.times is not None:
            run.times.append(time.perf_counter() - crank.started)
        if run.ran % self.config.commit_every == 0:
            self.commit()

    def _crank_failed(self) -> None:
        """An exception escaped a crank: undo it whole before it propagates."""
        self._abort_crank()
        self.refcounts.maybe_free.clear()
        self.illegal.clear()
        self.exits.clear()
        self.syscalls.recording = None

    # -- baton passing ------------------------------------------------------------------

    async def _pass_baton(self, run: RunState, crank: CrankInFlight) -> CrankInFlight | None:
        """Hand `crank`'s delivery, and the kernel's work after it, to its vat's task;
        park until the run is over or a crank needs this task. One task switch per
        crank, none when consecutive cranks go to the same vat."""
        run.passing(crank)
        self._baton_run = run
        self._hand_over(run, crank)
        try:
            while run.crank is not None:
                await self._baton_back.park()
        except BaseException:  # cancelled: whatever crank is open is undone
            if run.crank is not None:
                run.crank.worker.take_back()
                run.crank = None
                self._crank_failed()
            elif run.next is not None:
                run.next = None
                self._crank_failed()
            raise
        if run.error is not None:
            raise run.error
        return run.next

    def _carry_on(self, answer: list[Any]) -> None:
        """In the vat's task that just delivered: the kernel's work up to the next
        delivery, which goes to its vat with the baton; or the baton goes back."""
        run = self._baton_run
        try:
            following = self._advance(run, run.crank, answer)
        except BaseException as e:
            run.crank, run.error = None, e
            self._baton_back.unpark()
            return
        if following is None or following.awaits:
            run.crank, run.next = None, following
            self._baton_back.unpark()
            return
        try:
            self._hand_over(run, following)
        except BaseException as e:
            run.error = e
            self._baton_back.unpark()

    def _hand_over(self, run: RunState, crank: CrankInFlight) -> None:
        """Give `crank`'s delivery to its vat's task; if that fails, the crank is undone."""
        run.crank = crank
        try:
            crank.worker.hand_over(crank.delivery, self._carry_on)
        except BaseException:
            run.crank = None
            self._crank_failed()
            raise

    def _begin_crank(self) -> None:
        self.kv.begin_crank()
        self.keeper.begin_crank()

    def _abort_crank(self) -> None:
        self.kv.abort_crank()
        self.keeper.abort_crank()

    def commit(self) -> None:
        """End the store's block: what the keeper holds in memory goes in with it.

        An in-memory store is never reopened, so there the keeper writes back only
        when its changes pile up (to bound their memory), and for `dump` and `audit`.
        """
        keeper = self.keeper
        if self.kv.keeps_transcripts or keeper.unflushed() > _MEMORY_FLUSH_AFTER:
            keeper.flush()
        self.kv.commit()

    def _vat_fatal(self, vat_id: str, why: str) -> Rollback:
        """A vat broke its delivery: undo the crank, then terminate the vat."""

        def recover(event: dict[str, Any]) -> None:
            terminate_vat(self, vat_id, failure=True, reason=error_capdata(why, "VatFatalError"))
            self._undeliverable(event)

        return Rollback(f"vat {vat_id} fatal: {why}", recover)

    def _prepare(self, event: dict[str, Any]) -> Any:
        """The kernel's part of a crank before any delivery, in plain (not async)
        code: ``(vat, delivery)`` to deliver, None if the event needed no delivery,
        or `_NEEDS_AWAIT` for the events that start a worker (`_process_async`).
        Cranks await only the delivery itself, so a crank costs one shallow
        suspension, not one through every layer of event handling."""
        kind = event["type"]
        if kind == "send":
            return self._prepare_send(event)
        if kind == "notify":
            return self._prepare_notify(event)
        if kind == "bringOutYourDead":
            vat_id = event["vatID"]
            return (vat_id, ["bringOutYourDead"]) if vat_id in self.workers else None
        if kind == "gc":
            return event["vatID"], [event["kind"], event["vrefs"]]
        if kind in ("startVat", "upgradeVat"):
            return _NEEDS_AWAIT
        if kind == "terminateVat":
            self.refcounts.decref_all(event_krefs(event))
            terminate_vat(self, event["vatID"], failure=True, reason=event["reason"])
            return None
        raise KernelPanic(f"unknown run-queue event {kind!r}")

    async def _process_async(self, event: dict[str, Any]) -> tuple[str, str] | Rollback | None:
        if event["type"] == "startVat":
            return await self._process_start_vat(event)
        return await upgrade_in_crank(self, event)

    def _undeliverable(self, event: dict[str, Any]) -> None:
        """The event's vat died processing it: release it, rejecting a send's result."""
        if event["type"] == "send" and event["msg"]["result"] is not None:
            self.resolve_promise(event["msg"]["result"], True, VAT_TERMINATED)
        self.refcounts.decref_all(event_krefs(event))

    # -- deliveries ---------------------------------------------------------------------

    async def deliver(self, vat_id: str, delivery: list[Any]) -> tuple[str, str] | None:
        """Deliver from the kernel's task (starting a vat, an upgrade): the vat's
        verdict, ``(vat, why)`` if the delivery was fatal."""
        worker = self.workers[vat_id]
        recording = self._delivery_begins(vat_id, delivery)
        try:
            result = await worker.deliver(delivery)
        except BaseException:
            self.syscalls.recording = None
            raise
        return self._delivery_ends(vat_id, delivery, result, recording)

    def _delivery_begins(self, vat_id: str, delivery: list[Any]) -> list[list[Any]] | None:
        if self.slog.enabled:
            self.slog.write({"type": "deliver", "vatID": vat_id, "delivery": delivery})
        recording = self.syscalls.recording = [] if self.kv.keeps_transcripts else None
        return recording

    def _delivery_ends(
        self,
        vat_id: str,
        delivery: list[Any],
        result: list[Any],
        recording: list[list[Any]] | None,
    ) -> tuple[str, str] | None:
        self.syscalls.recording = None
        self.deliveries += 1
        why = self.illegal.pop(vat_id, None)
        if why is None and result[0] != "ok":
            why = result[1]
        if why is not None:
            self.exits.pop(vat_id, None)
            return vat_id, why
        if recording is not None:
            self._record(vat_id, delivery, recording)
        exit_request = self.exits.pop(vat_id, None)
        if exit_request is not None:
            failure, info = exit_request
            terminate_vat(self, vat_id, failure=failure, reason=info)
            return None
        if delivery[0] in ("message", "notify"):
            self._count_down_to_reap(vat_id)
        return None

    def _record(self, vat_id: str, delivery: list[Any], syscalls: list[list[Any]]) -> None:
        """Append a delivery and its syscalls to the vat's current transcript."""
        kv = self.kv
        key = f"{vat_id}.t.next"
        position = int(kv.get(key) or 0)
        kv.set(key, str(position + 1))
        incarnation = int(kv.get(f"{vat_id}.incarnation") or 0)
        item = dumps({"d": delivery, "s": syscalls})
        kv.append_transcript(vat_id, incarnation, position, item)

    def _count_down_to_reap(self, vat_id: str) -> None:
        key = f"{vat_id}.reapCountdown"
        left = int(self.kv.get(key) or 1) - 1
        if left <= 0:
            left = int(self.keeper.vat_options(vat_id)["reapInterval"])
            self.keeper.push_event({"type": "bringOutYourDead", "vatID": vat_id})
        self.kv.set(key, str(left))

    async def _process_start_vat(self, event: dict[str, Any]) -> tuple[str, str] | None:
        vat_id = event["vatID"]
        params = event["vatParameters"]
        if not self.keeper.is_live_vat(vat_id):
            self.refcounts.decref_all(event_krefs(event))
            return None
        worker = self.make_worker(vat_id, 0, self.kv.get(f"{vat_id}.source") or "")
        await self.start_worker(vat_id, worker)
        clist = self.clist(vat_id)
        vat_params = clist.capdata_to_vat(params) if params is not None else data_capdata(None)
        self.refcounts.decref_all(event_krefs(event))
        powers = self.powers_for(vat_id)
        fatal = await self.deliver(vat_id, ["startVat", vat_params, [], powers])
        if fatal is None and self.keeper.vat_options(vat_id).get("dynamic"):
            self.hooks.vat_started(vat_id)
        return fatal

    def _prepare_send(self, event: dict[str, Any]) -> tuple[str, list[Any]] | None:
        msg = event["msg"]
        route = self._route(event["target"])
        if route[0] == "reject":
            if msg["result"] is not None:
                self.resolve_promise(msg["result"], True, route[1])
            self.refcounts.decref_all(event_krefs(event))
            return None
        if route[0] == "queue":
            kpid = route[1]
            self.refcounts.incref_all(message_krefs(msg))
            queue = self.keeper.promise_queue(kpid)
            queue.append(msg)
            self.keeper.set_promise_queue(kpid, queue)
            self.refcounts.decref_all(event_krefs(event))
            return None
        _, vat_id, target = route
        clist = self.clist(vat_id)
        target_vref = clist.vref_of(target)
        if target_vref is None:
            raise KernelPanic(f"{target} routed to {vat_id}, which has no c-list entry for it")
        result = msg["result"]
        vpid = None
        if result is not None:
            vpid = clist.to_vat(result)
            self.keeper.set_decider(result, vat_id)
        delivery = [
            "message",
            target_vref,
            {"methargs": clist.capdata_to_vat(msg["methargs"]), "result": vpid},
        ]
        self.refcounts.decref_all(event_krefs(event))
        return vat_id, delivery

    def _route(self, target: str) -> tuple[Any, ...]:
        """Where a send to `target` goes: ("deliver", vat, kref), ("queue", kpid) or
        ("reject", capdata)."""
        keeper = self.keeper
        kref = target
        while True:
            if is_object(kref):
                owner = keeper.owner_of(kref)
                if owner is None or owner not in self.workers:
                    return ("reject", VAT_TERMINATED)
                return ("deliver", owner, kref)
            state = keeper.promise_state(kref)
            if state == "unresolved":
                decider = keeper.decider_of(kref)
                if decider is not None and decider in self.workers:
                    return ("deliver", decider, kref)  # pipelining
                return ("queue", kref)
            if state is None:
                raise KernelPanic(f"send to unknown promise {kref}")
            data = keeper.promise_data(kref)
            if state == "rejected":
                return ("reject", data)
            presence = _sole_slot(data)  # an object, or a promise it was forwarded to
            if presence is None:
                return (
                    "reject",
                    error_capdata("cannot send to a non-object resolution", "TypeError"),
                )
            kref = presence

    def _prepare_notify(self, event: dict[str, Any]) -> tuple[str, list[Any]] | None:
        vat_id, kpid = event["vatID"], event["kpid"]
        clist = self.clist(vat_id)
        vpid = clist.vref_of(kpid) if vat_id in self.workers else None
        if vpid is None:
            self.refcounts.decref_all(event_krefs(event))
            return None
        state = self.keeper.promise_state(kpid)
        data = clist.capdata_to_vat(self.keeper.promise_data(kpid))
        clist.delete(kpid)  # the vat forgets a promise once it hears its resolution
        self.refcounts.decref_all(event_krefs(event))
        return vat_id, ["notify", [[vpid, state == "rejected", data]]]

    # -- promises -----------------------------------------------------------------------

    def resolve_promise(
        self, kpid: str, rejected: bool, data: CapData, resolver: str | None = None
    ) -> None:
        """Settle `kpid` (data in krefs): notify subscribers, re-send queued messages."""
        keeper = self.keeper
        subscribers = keeper.subscribers(kpid)
        queue = keeper.promise_queue(kpid)
        self.refcounts.incref_all(data["slots"])
        keeper.set_resolution(kpid, rejected, data)
        for vat_id in subscribers:
            if vat_id != resolver and vat_id in self.workers:
                self.refcounts.incref(kpid)
                keeper.push_event({"type": "notify", "vatID": vat_id, "kpid": kpid})
        for msg in queue:
            # The message's own counts move from the promise queue to the event.
            self.refcounts.incref(kpid)
            keeper.push_event({"type": "send", "target": kpid, "msg": msg})

    # -- GC actions -------------------------------------------------------------------------

    # -- termination ----------------------------------------------------------------------

    def forget_clist(self, vat_id: str) -> None:
        self.clists.pop(vat_id, None)

    def panic(self, error: KernelPanic) -> None:
        """The kernel cannot go on: `run()` raises `error` from now on."""
        self._panic_error = error

    def kernel_promise(self, key: str) -> str:
        """A promise the kernel itself decides, held under `key` until settled. No
        vat decides it, so no vat's upgrade or death can break it."""
        kpid = self.kv.get(key)
        if kpid is None:
            kpid = self.keeper.allocate_promise(None)
            self.kv.set(key, kpid)
            self.refcounts.incref(kpid)
        return kpid

    def settle_kernel_promise(self, key: str, rejected: bool, data: CapData) -> None:
        kpid = self.kv.get(key)
        if kpid is None:
            return
        self.kv.delete(key)
        self.resolve_promise(kpid, rejected, data)
        self.refcounts.decref(kpid)

    # -- upgrade -------------------------------------------------------------------------

    def retained_parameters_for(self, vat_id: str, parameters: Any, marshal: Any) -> CapData:
        """The vatParameters capdata an upgrade will use: `RETAIN` means the record."""
        if parameters is RETAIN:
            record = self.kv.get(f"{vat_id}.vatParameters")
            if record is None:
                raise HookError(
                    f"vat {vat_id} has no retained vatParameters (created before schema 2)",
                    "ValueError",
                )
            return loads(record)  # type: ignore[no-any-return]
        return marshal(parameters)  # type: ignore[no-any-return]

    def queue_upgrade(
        self,
        vat_id: str,
        bundle_id: str,
        parameters: CapData,
        upgrade_message: Any,
        *,
        origin: str,
        first: list[dict[str, Any]] | None = None,
    ) -> str:
        """Queue a bring-out-your-dead and then the upgrade of `vat_id`; the event
        holds counts on the parameters' objects until it is processed.

        A userspace upgrade waits its turn on the run-queue. A kernel-initiated one
        is collected in `first` by the caller and goes in at the head: it happens
        now, between two cranks, and the work already queued is then delivered to
        the new incarnations."""
        keeper = self.keeper
        n = int(self.kv.get("kernel.upgrade.nextID") or 1)
        self.kv.set("kernel.upgrade.nextID", str(n + 1))
        request_id = f"up{n}"
        boyd = {"type": "bringOutYourDead", "vatID": vat_id}
        event = {
            "type": "upgradeVat",
            "vatID": vat_id,
            "bundleID": bundle_id,
            "vatParameters": parameters,
            "upgradeMessage": upgrade_message,
            "requestID": request_id,
            "origin": origin,
        }
        self.refcounts.incref_all(event_krefs(event))
        if first is not None:
            first.extend([boyd, event])
        else:
            keeper.push_event(boyd)
            keeper.push_event(event)
        return request_id

    def report_upgrade(self, event: dict[str, Any], *, ok: bool, detail: Any) -> None:
        request_id = event["requestID"]
        if event["origin"] == "admin":
            self.hooks.upgrade_finished(request_id, ok, detail)
        else:
            self.upgrade_outcomes[request_id] = (ok, detail)
            crash_point("mid-upgrade-all")

    async def restart_vat(
        self, name: str, bundle: str | None = None, upgrade_message: Any = "kernel restart"
    ) -> UpgradeOutcome:
        """Upgrade one vat, without userspace asking, to its current bundle (or
        `bundle`: a config bundle name, a file or a bundle ID) with its retained
        vatParameters. Same steps and rollback as a userspace upgrade; a failure
        raises `UpgradeFailed` after the vat was rolled back."""
        self.vat_id(name)
        bundles = {name: bundle} if bundle is not None else {}
        report = await self._kernel_upgrade(bundles, upgrade_message, only=name)
        outcome = report[name]
        if outcome.status == "ineligible":
            raise UpgradeFailed(f"vat {name!r} is ineligible: it has no retained vatParameters")
        if outcome.status == "failed":
            raise UpgradeFailed(outcome.error or "vat-upgrade failure")
        return outcome

    async def upgrade_all_vats(
        self, bundles: dict[str, str] | None = None, upgrade_message: Any = "kernel upgrade"
    ) -> dict[str, UpgradeOutcome]:
        """Restart every live vat with its retained vatParameters, vat-admin and the
        bootstrap vat included, each to ``bundles.get(name)`` or its current bundle.

        Each upgrade is its own crank: one vat's failure rolls back that vat alone
        and the others go on. Vats with no retained parameters are reported
        ``ineligible`` and keep running. Returns name -> `UpgradeOutcome`, in vat
        creation order."""
        return await self._kernel_upgrade(bundles or {}, upgrade_message)

    async def _kernel_upgrade(
        self, bundles: dict[str, str], upgrade_message: Any, only: str | None = None
    ) -> dict[str, UpgradeOutcome]:
        self._raise_if_panicked()
        async with self._lock:
            outcomes, requests = queue_kernel_upgrades(self, bundles, upgrade_message, only)
            self.commit()
        # Run until every queued upgrade is done: work queued before them runs
        # first; whatever the simulation queues after keeps waiting for run().
        pending = set(requests.values())
        await self._run(None, until=lambda: pending <= self.upgrade_outcomes.keys())
        for name, request_id in requests.items():
            outcomes[name] = collect_outcome(self, request_id)
        return {name: outcomes[name] for name in [*requests, *outcomes] if name in outcomes}

    # -- host API -----------------------------------------------------------------------------

    def _host_marshal(self, value: Any, path: str) -> CapData:
        def to_slot(x: Any) -> tuple[str, str] | None:
            if type(x) is KernelRef:
                if self.keeper.record(x.kref) is None:
                    raise VatrtError(f"{x.kref} in {path} no longer exists in this kernel")
                return x.kref, x.iface
            return None

        return encode(value, to_slot, path)

    def _host_unmarshal(self, capdata: CapData) -> Any:
        return decode(capdata, lambda kref, iface: KernelRef(kref, iface))

    def vat_id(self, name: str) -> str:
        vat_id = self.keeper.vat_id_of(name)
        if vat_id is None:
            live = ", ".join(self.keeper.vat_names()) or "none"
            raise VatTerminated(f"no live vat named {name!r} (live vats: {live})")
        return vat_id

    def vat_names(self) -> list[str]:
        return self.keeper.vat_names()

    def queue_to_vat_root(
        self,
        name: str,
        method: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> str:
        """Queue ``root.method(*args)`` to a vat; return the result's kpid, held for
        the host until `kp_resolution` reads it."""
        vat_id = self.vat_id(name)
        if not isinstance(method, str) or not method or method.startswith("_"):
            raise VatrtError(f"method name must be a public str, not {method!r}")
        body = [method, list(args), kwargs] if kwargs else [method, list(args)]
        methargs = self._host_marshal(body, f"{name}.{method}() arguments")
        root = self.kv.get(f"{vat_id}.root") or ""
        kpid = self.keeper.allocate_promise(None)
        self.kv.set(f"host.pin.{kpid}", "1")
        self.refcounts.incref(kpid)
        event = {"type": "send", "target": root, "msg": {"methargs": methargs, "result": kpid}}
        self.refcounts.incref_all(event_krefs(event))
        self.keeper.push_event(event)
        return kpid

    async def call(self, name: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send ``root.method(*args)`` to a vat, run until idle, return the result.

        A rejection raises `RejectedError`; the result promise is released either way.
        """
        kpid = self.queue_to_vat_root(name, method, args, kwargs)
        await self.run()
        status = self.kp_status(kpid)
        if status == "unresolved":
            self._unpin(kpid)
            raise VatrtError(
                f"{name}.{method}() did not settle: the run-queue is empty and {kpid} is unresolved"
            )
        value = self.kp_resolution(kpid)
        if status == "rejected":
            raise RejectedError(value)
        return value

    def kp_status(self, kpid: str) -> str:
        state = self.keeper.promise_state(kpid)
        if state is None:
            raise VatrtError(f"unknown promise {kpid} (released, or never existed)")
        return state

    def kp_resolution(self, kpid: str) -> Any:
        """The value (or rejection reason) of a settled promise; releases the host's hold."""
        state = self.kp_status(kpid)
        if state == "unresolved":
            raise VatrtError(f"{kpid} is not resolved yet")
        value = self._host_unmarshal(self.keeper.promise_data(kpid))
        self._unpin(kpid)
        return value

    def _unpin(self, kpid: str) -> None:
        if self.keeper.is_pinned(kpid):
            self.kv.delete(f"host.pin.{kpid}")
            self.refcounts.decref(kpid)
            self.refcounts.process_maybe_free()

    @property
    def bootstrap_kpid(self) -> str | None:
        return self.kv.get("kernel.bootstrapResult")

    async def collect_garbage(self) -> int:
        """Bring out the dead in every vat, and run until every drop and retire is done."""
        for vat_id in self.keeper.vat_ids():
            self.keeper.push_event({"type": "bringOutYourDead", "vatID": vat_id})
        return await self.run()

    def vat_parameters(self, vat_id: str) -> Any:
        record = self.kv.get(f"{vat_id}.vatParameters")
        return None if record is None else self._host_unmarshal(loads(record))

    def refcount(self, kref: str) -> tuple[int, int]:
        return self.refcounts.get(kref)

    def audit(self) -> None:
        """Recount every refcount from its holders; raise `AuditError` on any mismatch."""
        expected, stored = self.refcounts.recount()
        pending = {action.split(" ")[2] for action in self.keeper.gc_actions()}
        problems = []
        for kref in sorted(expected, key=_kref_order):
            want, have = expected[kref], stored.get(kref)
            if have is None:
                problems.append(f"{kref} is referenced {want} but does not exist")
            elif want != have:
                problems.append(f"{kref} refCount is {have}, recount gives {want}")
            elif (want[1] == 0 and kref not in pending and is_object(kref)) or (
                want[0] == 0 and not is_object(kref)
            ):
                problems.append(f"{kref} is unreferenced but was never collected")
        if problems:
            raise AuditError(problems)

    def dump(self) -> dict[str, str]:
        self.keeper.flush()
        return dict(self.kv.items_with_prefix(""))

    def stats(self) -> KernelStats:
        return KernelStats(
            cranks=self.keeper.counter("kernel.crankNumber"),
            deliveries=self.deliveries,
            vats=len(self.keeper.vat_names()),
            run_queue_length=self.keeper.run_queue_length(),
        )

    def stop_workers(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()


def _kernel_ref_slot(x: Any) -> tuple[str, str] | None:
    return (x.kref, x.iface) if type(x) is KernelRef else None


def _sole_slot(data: CapData) -> str | None:
    """The kref a resolution *is*, when it is exactly one object or promise."""
    slots = data["slots"]
    if len(slots) != 1:
        return None
    body = loads(data["body"])
    if isinstance(body, dict) and body.get("@qclass") == "slot" and body.get("index") == 0:
        return str(slots[0])
    return None


def _kref_order(kref: str) -> tuple[str, int]:
    return kref[:2], int(kref[2:])


__all__ = ["Kernel", "KernelRef", "KernelStats"]
