"""The kernel's core: one crank at a time, every reference counted.

`run()` takes one event at a time (GC actions first, then the run-queue) and
processes its crank to the end inside a store savepoint. A crank that a vat
breaks (an illegal syscall, an error escaping liveslots) is rolled back whole;
then, in a fresh crank, the event is taken again, the vat is terminated and the
event is treated as undeliverable. The kernel never imports liveslots: it
talks to vats through workers, in deliveries and syscalls.

The host's calls that take arguments (`run`, `call`, `vat_id`, `panic`, ...)
and those built on them are `kernel.Kernel`'s, a subclass in plain Python: the compiled build
(docs/performance.md) compiles this module with mypyc, whose functions check
their arguments' types themselves, and a host's wrong argument must meet the
kernel's own check (`host_checks`), which names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any

import anyio
from anyio.abc import TaskGroup
from mypy_extensions import mypyc_attr

from .._crash import crash_point
from .._marshal import CapData, data_capdata, decode, encode, error_capdata
from .._protocol import (
    Answer,
    BringOutYourDead,
    Delivery,
    DropExports,
    Failed,
    Message,
    Msg,
    Notify,
    Ok,
    Resolution,
    RetireExports,
    RetireImports,
    StartVat,
    Syscall,
    TranscriptEntry,
)
from .._protocol import encode as encode_record
from .._refs import is_object
from .._store.kvstore import KVStore
from .._suggest import did_you_mean
from .._vat_traceback import split_traceback
from .._worker.base import HostStatus, Worker, WorkerFactory, WorkerSpec
from .._worker.parking import Parker
from ..config import KernelConfig, resolve_bundle_path
from ..errors import (
    AuditError,
    KernelClosed,
    KernelPanic,
    VatrtError,
    VatStartFailed,
    VatTerminated,
)
from .bounded_replay import BoundedReplay
from .config_checks import check_static_vats
from .crank import CrankInFlight, Rollback, RunState
from .device_boot import TIMER, add_devices, timer_vat_path
from .devices import Devices, LoadDevice
from .gc_actions import take_gc_action
from .host_values import KernelRef, KernelStats
from .interrupts import stop_on_sigint
from .lifecycle import add_vat, terminate_vat
from .ops import Fatal, KernelOps
from .promises import VAT_TERMINATED, Promises
from .replay import migrate, replay_vat, replay_vats
from .shipped import vat_admin_bundle_path
from .slog import Slog
from .state.bundles import BundleStore
from .state.keeper import KernelKeeper
from .state.refcounts import event_krefs, message_krefs
from .state.schema import SCHEMA_VERSION
from .syscalls import SyscallHandler
from .timer import Clock, TimeDriver, timer_settings
from .upgrade import Upgrades
from .vat_admin_hooks import VatAdminHooks
from .vat_console import VatConsole
from .warehouse import warehouse_limit
from .workers import WorkerTable

# What `KernelCore._prepare` returns for events whose crank awaits more than a delivery.
_NEEDS_AWAIT: Any = object()
# Changes an in-memory kernel's keeper holds before it prunes what is gone (at
# least: past it, twice what the last prune left live).
_MEMORY_PRUNE_AFTER = 100_000
_BRING_OUT_YOUR_DEAD = BringOutYourDead()
# A GC event's kind -> its delivery.
_GC_DELIVERIES: dict[str, type[DropExports | RetireExports | RetireImports]] = {
    "dropExports": DropExports,
    "retireExports": RetireExports,
    "retireImports": RetireImports,
}


@mypyc_attr(allow_interpreted_subclasses=True)
class KernelCore:
    """The state of a running kernel and its crank loop; `kernel.Kernel` adds the
    host's calls that take arguments (see SPEC section 3)."""

    def __init__(
        self,
        kv: KVStore,
        config: KernelConfig,
        task_group: TaskGroup,
        worker_factory: WorkerFactory,
        slog: IO[bytes] | None = None,
        endowments: dict[str, Any] | None = None,
        load_device: LoadDevice | None = None,
        config_source: str = "<dict>",
    ) -> None:
        self.kv = kv
        self.config = config
        # What the config's errors name it by: its file, or "<dict>" (`config_source`).
        self.config_source = config_source
        self.keeper = keeper = KernelKeeper(kv)
        self.refcounts = keeper.refcounts
        self._worker_factory = worker_factory
        self.bundles = BundleStore(keeper, worker_factory.validate_bundle)
        self.slog = Slog(slog)
        self.console = VatConsole(self.slog)  # what vats print
        self.workers = WorkerTable(task_group, warehouse_limit(config, kv))
        self.promises = Promises(keeper, self.workers.has)
        self._lock = anyio.Lock()
        self._panic_error: KernelPanic | None = None
        self._closed = False  # `open_kernel` exited: every host method refuses
        # A first boot starting its static vats (`_start_static_vats`): why each
        # start that failed failed, and no commit until they all started.
        self._start_failures: dict[str, str] | None = None
        self._boot_block_open = False
        self._prune_after = _MEMORY_PRUNE_AFTER  # see `commit`
        # The operations the helpers below may call (they never see the kernel).
        ops = KernelOps(
            resolve=self.promises.resolve,
            has_worker=self.workers.has,
            stop_worker=self.workers.stop,
            start_incarnation=self._start_incarnation,
            panic=self._panic,
            vat_ended=lambda vat_id, failure, reason: self.hooks.vat_ended(vat_id, failure, reason),
            upgrade_finished=lambda request_id, ok, detail: self.hooks.upgrade_finished(
                request_id, ok, detail
            ),
            slog=self.slog,
        )
        self._ops = ops
        self.upgrades = Upgrades(
            keeper,
            ops,
            self.bundles,
            lock=self._lock,
            commit=self.commit,
            run_until=lambda done: self._run(None, until=done),
        )
        self.hooks = VatAdminHooks(
            keeper,
            self.promises,
            self.bundles,
            self.upgrades.queue,
            default_reap_interval=config.reap_interval,
            default_worker=config.default_worker or "local",
            hosts=frozenset(config.hosts),
        )
        self.devices = Devices(keeper, self.bundles.get, load_device)
        self.syscalls = SyscallHandler(keeper, ops, self.hooks.call, self.devices.call_now)
        self._endowments = dict(endowments or {})
        # Time (docs/devices-and-time.md): only a config with [timer] has a clock.
        self.time: TimeDriver | None = None
        timer = timer_settings(kv, config.timer)
        if timer is not None:
            clock = Clock(kv, timer.source, timer.start)
            self._endowments.setdefault(TIMER, {"clock": clock})
            self.time = TimeDriver(
                clock,
                self.devices.roots,
                self._run_timed,
                self.slog,
                auto_advance=timer.auto_advance,
            )
        self.bounded_replay = BoundedReplay(keeper, self.upgrades, self.bundles)
        self.upgrades.restart_finished = self.bounded_replay.finished
        self.deliveries = 0
        # When a list, every crank's duration (seconds) is appended: `vatrt bench`.
        self.crank_times: list[float] | None = None
        # The run whose baton is out, and where it comes back (see `_pass_baton`).
        self._baton_run = RunState(None, None, None)
        self._baton_back = Parker()

    # -- boot ------------------------------------------------------------------------

    async def boot(self) -> None:
        """First boot: install config bundles, record static vats, queue their start
        and the bootstrap message. Nothing is written unless all of it is valid."""
        self._check_open("boot")
        keeper = self.keeper
        if keeper.is_initialized():
            migrate(keeper, self.commit)
            self.devices.start_all(self._endowments)
            with stop_on_sigint() as interrupt:  # a Ctrl-C lands between deliveries
                self.console.replaying = True
                try:
                    await replay_vats(
                        keeper,
                        self._ops,
                        self.syscalls,
                        self._start_worker,
                        interrupt,
                        max_online=self.workers.max_online,
                        mark_offline=self.workers.mark_offline,
                    )
                finally:
                    self.console.replaying = False
            self.bounded_replay.recall_queued()
            return
        cfg = self.config
        vat_admin_bundle = self.bundles.install_file(vat_admin_bundle_path())
        bundle_ids = {}
        for name in cfg.bundles:
            bundle_ids[name] = self.bundles.install_file(resolve_bundle_path(cfg, name))
        parameters = check_static_vats(
            cfg, self.config_source, lambda bundle: self.bundles.get(bundle_ids[bundle])[0]
        )
        keeper.set_schema_version(SCHEMA_VERSION)
        for name, bundle_id in bundle_ids.items():
            self.bundles.name(name, bundle_id)
        device_krefs = add_devices(cfg, self.bundles, self.devices)
        self.devices.start_all(self._endowments)
        admin_options = {
            "name": "vat_admin",
            "critical": True,
            "reapInterval": cfg.reap_interval,
            "dynamic": False,
            "privileged": True,
        }
        add_vat(keeper, "vat_admin", vat_admin_bundle, admin_options, data_capdata({}))
        for name, vat in cfg.vats.items():
            options = {
                "name": name,
                "critical": vat.critical,
                "reapInterval": vat.reap_interval or cfg.reap_interval,
                "dynamic": False,
                "vatAdmin": vat.vat_admin,
                **({"devices": vat.devices} if vat.devices else {}),
            }
            if vat.restart_every is not None:
                options["restartEvery"] = vat.restart_every
            add_vat(keeper, name, bundle_ids[vat.bundle], options, parameters[name])
        if cfg.timer is not None:
            timer_options = {"name": TIMER, "critical": False, "reapInterval": cfg.reap_interval}
            device = {"device": KernelRef(device_krefs[TIMER], "TimerDevice")}
            timer_parameters = encode(device, _kernel_ref_slot)
            timer_bundle = self.bundles.install_file(timer_vat_path())
            timer_options["dynamic"] = False
            add_vat(keeper, TIMER, timer_bundle, timer_options, timer_parameters)
        if cfg.bootstrap is not None:
            roots = {
                name: KernelRef(keeper.vat(self._live_vat_id(name)).root(), name)
                for name in keeper.vat_names()
            }
            devices = {name: KernelRef(kd, name) for name, kd in device_krefs.items()}
            bootstrap = self._live_vat_id(cfg.bootstrap)
            args: list[Any] = [roots, devices]
            what = f"{cfg.bootstrap}.bootstrap()"
            kpid = self._queue_to_root(bootstrap, what, "bootstrap", args, None)
            keeper.set_bootstrap_result(kpid)
        keeper.mark_initialized()
        await self._start_static_vats()
        self.commit()

    async def _start_static_vats(self) -> None:
        """Run a first boot's ``startVat`` cranks now, so that a static vat that
        cannot start fails `open_kernel` with `VatStartFailed`, naming it and why
        (not a later call with "no live vat named ..."). Those cranks go in the
        boot's block, committed only once every static vat has started: a failed
        boot leaves the store as it found it, and the fixed config boots it."""
        keeper = self.keeper
        names = {self._live_vat_id(name): name for name in keeper.vat_names()}

        waiting = list(names)  # in creation order, as their starts are queued
        started = 0

        def all_started() -> bool:  # after every crank: amortized O(1), not O(vats)
            nonlocal started
            while started < len(waiting) and (
                self.workers.has(v := waiting[started]) or not keeper.is_live_vat(v)
            ):
                started += 1
            return started == len(waiting)

        failures = self._start_failures = {}
        self._boot_block_open = True
        try:
            await self._run(None, until=all_started)
        except KernelPanic as panic:  # a critical vat's start failed
            if not failures:
                raise
            vat_id, why = next(iter(failures.items()))
            raise VatStartFailed(names[vat_id], why) from panic
        finally:
            self._start_failures = None
            self._boot_block_open = False
        for vat_id, name in names.items():
            if not keeper.is_live_vat(vat_id):
                raise VatStartFailed(name, failures.get(vat_id, "it exited while starting"))

    def _powers_for(self, vat_id: str) -> CapData:
        """The capdata of the powers a vat's config grants (vat-admin), in its vrefs."""
        vat = self.keeper.vat(vat_id)
        options = vat.options()
        powers: dict[str, Any] = {}
        if options.get("vatAdmin"):
            admin_root = self.keeper.vat(self._live_vat_id("vat_admin")).root()
            powers["vat_admin"] = KernelRef(admin_root, "VatAdmin")
        if options.get("devices"):
            nodes = self.devices.names()
            powers["devices"] = {n: KernelRef(nodes[n], n) for n in options["devices"]}
        if not powers:
            return data_capdata({})
        return vat.clist.capdata_to_vat(encode(powers, _kernel_ref_slot))

    async def _start_worker(self, vat_id: str, incarnation: int, bundle_id: str) -> Worker:
        """Make and start a worker for one incarnation of a vat (`BundleError` if the
        bundle does not load); in a crank, undone with it (`WorkerTable`)."""
        worker = self._make_worker(vat_id, incarnation, bundle_id)
        await self.workers.start(vat_id, worker)
        self.slog.write(
            {"type": "vat-start", "vatID": vat_id, "name": self.keeper.vat(vat_id).name()}
        )
        return worker

    async def _load_offline_vat(self, vat_id: str) -> None:
        """The warehouse brings an evicted vat back: a fresh worker for its current
        incarnation, its transcript replayed (`WorkerTable.load`)."""
        vat = self.keeper.vat(vat_id)
        worker = self._make_worker(vat_id, vat.incarnation(), vat.source())
        await self.workers.load(vat_id, worker)
        try:
            await replay_vat(self.keeper, self._ops, self.syscalls, vat_id, worker)
        except BaseException:
            self.workers.unload(vat_id)
            raise
        self.slog.write({"type": "vat-loaded", "vatID": vat_id})

    def _make_worker(self, vat_id: str, incarnation: int, bundle_id: str) -> Worker:
        vat = self.keeper.vat(vat_id)
        source, filename = self.bundles.get(bundle_id)
        name = vat.name()
        options = vat.options()
        configured = self.config.vats.get(name) if not options.get("dynamic") else None
        spec = WorkerSpec(
            vat_id,
            name,
            incarnation,
            source,
            filename,
            worker=options.get("worker") or (configured.worker if configured else None),
            limits=options.get("limits") or (configured.limits if configured else None),
            restart=options.get("restart") or (configured.restart if configured else None),
            max_turns=(configured.max_turns if configured else None) or self.config.max_turns,
            host=options.get("host") or (configured.host if configured else None),
        )
        handle = self.syscalls.handle

        def syscall(vso: Syscall) -> Any:
            # `worker` is this function's own worker: only its deliveries may call it.
            return handle(vat_id, worker, vso)

        slog, vat = self.slog, self.keeper.vat(vat_id)

        def note(record: dict[str, Any]) -> None:
            if record["type"] == "console":  # the vat printed
                self.console.show(vat_id, spec.name, record)
                return
            slog.write(record)
            if record["type"] == "worker-restart":
                vat.record_worker_restart(record["after"])

        worker = self._worker_factory.make(spec, syscall, note)
        return worker

    async def _start_incarnation(
        self,
        vat_id: str,
        incarnation: int,
        bundle_id: str,
        parameters: CapData | None,
        inherited_imports: list[str],
    ) -> Fatal | None:
        """Start a worker for the incarnation and deliver its ``startVat``."""
        await self._start_worker(vat_id, incarnation, bundle_id)
        clist = self.keeper.vat(vat_id).clist
        vat_params = clist.capdata_to_vat(parameters) if parameters is not None else None
        delivery = StartVat(
            vat_params if vat_params is not None else data_capdata(None),
            inherited_imports,
            self._powers_for(vat_id),
        )
        return await self._deliver(vat_id, delivery)

    # -- the crank loop -----------------------------------------------------------------

    async def _run(
        self,
        max_cranks: int | None,
        until: Callable[[], bool] | None = None,
        idle: Callable[[], bool] | None = None,
    ) -> int:
        self._raise_if_panicked()
        with stop_on_sigint() as interrupt:
            run = RunState(max_cranks, until, self.crank_times, interrupt)
            run.idle = idle
            async with self._lock:
                try:
                    crank = self._advance(run, None, None)
                    while crank is not None:
                        if crank.awaits:
                            try:
                                outcome = await self._process_async(crank)
                            except BaseException:
                                self._crank_failed()
                                raise
                            crank = self._advance(run, crank, outcome)
                        else:
                            crank = await self._pass_baton(run, crank)
                finally:
                    self.commit()
        if interrupt.requested:
            raise KeyboardInterrupt("Ctrl-C: the kernel stopped at a crank boundary")
        self._raise_if_panicked()
        return run.ran

    async def _run_timed(self, max_cranks: int | None, idle: Callable[[], bool]) -> int:
        """`_run`, with `idle` asked for more work whenever the run-queue empties."""
        return await self._run(max_cranks, idle=idle)

    def _raise_if_panicked(self) -> None:
        if self._panic_error is not None:
            raise self._panic_error

    def _take_event(self) -> dict[str, Any] | None:
        return take_gc_action(self.keeper, self.workers.has) or self.keeper.pop_event()

    def _take_offender(self) -> dict[str, Any] | None:
        """A vat whose syscall function was called out of turn is terminated first,
        in a crank of its own (it stays listed until that crank commits)."""
        offenders = self.syscalls.out_of_turn
        while offenders:
            vat_id, why = min(offenders.items())
            if self.keeper.vat(vat_id).is_live():
                reason = error_capdata(why, "VatFatalError")
                return {"type": "terminateVat", "vatID": vat_id, "reason": reason}
            del offenders[vat_id]
        return None

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
                if run.idle is not None and run.idle():
                    continue  # time moved on: what was due is queued
                return None
            if crank.awaits or crank.vat_id is not None:
                return crank
            self._end(run, crank, None)
        return None

    def _begin(self) -> CrankInFlight | None:
        self._begin_crank()
        event = self._take_offender() or self._take_event()
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
                try:
                    crank.worker = self.workers[vat_id]
                except KeyError:
                    if not self.workers.is_offline(vat_id):
                        raise
                    crank.awaits = True  # the warehouse loads it first: the kernel's task
                    crank.load = vat_id, delivery
                else:
                    crank.vat_id, crank.delivery = vat_id, delivery
                    crank.recording = self._delivery_begins(vat_id, crank.worker, delivery)
        except BaseException:
            self._crank_failed()
            raise
        return crank

    def _end(self, run: RunState, crank: CrankInFlight, answer: Any) -> None:
        try:
            if crank.vat_id is not None:
                assert crank.delivery is not None
                outcome: Any = self._delivery_ends(
                    crank.vat_id, crank.delivery, answer, crank.recording
                )
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
        self._commit_crank()
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
        self.syscalls.forget_delivery()

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

    def _carry_on(self, answer: Answer) -> None:
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

    # A crank's undo has three layers, each kept where its state lives: the
    # store's log (keys written to the store), the keeper's journal (the records,
    # c-lists and run-queue it holds in memory above the store) and the worker
    # table's (workers started, swapped or stopped: tasks and processes, not
    # state). They begin, commit and abort together, here and only here.

    def _begin_crank(self) -> None:
        self.kv.begin_crank()
        self.keeper.begin_crank()
        self.workers.begin_crank()

    def _commit_crank(self) -> None:
        self.kv.commit_crank()
        self.keeper.commit_crank()
        self.workers.commit_crank()
        self.bounded_replay.crank_committed()

    def _abort_crank(self) -> None:
        self.kv.abort_crank()
        self.keeper.abort_crank()
        self.workers.abort_crank()
        self.bounded_replay.crank_aborted()

    def commit(self) -> None:
        """End the store's block: what the keeper holds in memory goes in with it.

        An in-memory store is never reopened, so there the keeper writes back only
        for `dump` and `audit`; when its changes pile up it forgets those that are
        gone (`KernelKeeper.prune`), to bound their memory.
        """
        self._check_open("commit")
        if self._boot_block_open:
            return  # a first boot commits once, when its static vats have started
        keeper = self.keeper
        if self.kv.keeps_transcripts:
            keeper.flush()
        elif keeper.unflushed() > self._prune_after:
            self._prune_after = max(_MEMORY_PRUNE_AFTER, 2 * keeper.prune())
        self.kv.commit()

    def _vat_fatal(self, vat_id: str, why: str) -> Rollback:
        """A vat broke its delivery: undo the crank, then terminate the vat."""

        message, tb = split_traceback(why)  # the bundle's frames, if its code raised

        def recover(event: dict[str, Any]) -> None:
            reason = error_capdata(message, "VatFatalError", tb)
            terminate_vat(self.keeper, self._ops, vat_id, failure=True, reason=reason)
            # The sender of the fatal message learns why, not only that the vat is gone.
            undeliverable = error_capdata(f"vat terminated: {message}", "VatTerminated", tb)
            self._undeliverable(event, undeliverable)

        # The slog's crank-finish says why, with the traceback if bundle code raised.
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
            return (vat_id, _BRING_OUT_YOUR_DEAD) if self.workers.has(vat_id) else None
        if kind == "gc":
            return event["vatID"], _GC_DELIVERIES[event["kind"]](event["vrefs"])
        if kind in ("startVat", "upgradeVat"):
            return _NEEDS_AWAIT
        if kind == "terminateVat":
            self.refcounts.decref_all(event_krefs(event))
            terminate_vat(
                self.keeper, self._ops, event["vatID"], failure=True, reason=event["reason"]
            )
            return None
        raise KernelPanic(f"unknown run-queue event {kind!r}")

    async def _process_async(self, crank: CrankInFlight) -> Fatal | Rollback | None:
        if crank.load is not None:
            vat_id, delivery = crank.load
            await self._load_offline_vat(vat_id)
            return await self._deliver(vat_id, delivery)
        event = crank.event
        if event["type"] == "startVat":
            return await self._process_start_vat(event)
        return await self.upgrades.in_crank(event)

    def _undeliverable(self, event: dict[str, Any], reason: CapData = VAT_TERMINATED) -> None:
        """The event's vat died processing it: release it, rejecting a send's result."""
        if event["type"] == "send" and event["msg"]["result"] is not None:
            self.promises.resolve(event["msg"]["result"], True, reason)
        self.refcounts.decref_all(event_krefs(event))

    # -- deliveries ---------------------------------------------------------------------

    async def _deliver(self, vat_id: str, delivery: Delivery) -> Fatal | None:
        """Deliver from the kernel's task (starting a vat, an upgrade): the vat's
        verdict, ``(vat, why)`` if the delivery was fatal."""
        worker = self.workers[vat_id]
        recording = self._delivery_begins(vat_id, worker, delivery)
        try:
            result = await worker.deliver(delivery)
        except BaseException:
            self.syscalls.end_delivery(withdrawn=True)
            raise
        return self._delivery_ends(vat_id, delivery, result, recording)

    def _delivery_begins(
        self, vat_id: str, worker: Worker, delivery: Delivery
    ) -> list[tuple[Syscall, Any]] | None:
        if self.slog.enabled:
            self.slog.write({"type": "deliver", "vatID": vat_id, "delivery": delivery})
        recording: list[tuple[Syscall, Any]] | None = [] if self.kv.records_transcripts else None
        self.syscalls.begin_delivery(worker, recording)
        return recording

    def _delivery_ends(
        self,
        vat_id: str,
        delivery: Delivery,
        result: Answer,
        recording: list[tuple[Syscall, Any]] | None,
    ) -> Fatal | None:
        self.syscalls.end_delivery()
        self.deliveries += 1
        if self.slog.enabled:
            self.slog.write({"type": "deliver-result", "vatID": vat_id, "result": result})
        why, exit_request = self.syscalls.verdict(vat_id)
        if why is None and type(result) is not Ok:
            why = result.why if type(result) is Failed else f"not an answer: {result!r}"
        if why is not None:
            return vat_id, why
        vat = self.keeper.vat(vat_id)
        if recording is not None:
            vat.record_delivery(encode_record(TranscriptEntry(delivery, recording)).decode())
            if exit_request is None:
                self.bounded_replay.after_delivery(vat_id)
        if exit_request is not None:
            failure, info = exit_request
            terminate_vat(self.keeper, self._ops, vat_id, failure=failure, reason=info)
            return None
        if type(delivery) in (Message, Notify) and vat.count_down_to_reap():
            self.keeper.push_event({"type": "bringOutYourDead", "vatID": vat_id})
        return None

    async def _process_start_vat(self, event: dict[str, Any]) -> Fatal | None:
        vat_id = event["vatID"]
        vat = self.keeper.vat(vat_id)
        if not vat.is_live():
            self.refcounts.decref_all(event_krefs(event))
            return None
        self.refcounts.decref_all(event_krefs(event))
        fatal = await self._start_incarnation(vat_id, 0, vat.source(), event["vatParameters"], [])
        if fatal is None and vat.options().get("dynamic"):
            self.hooks.vat_started(vat_id)
        if fatal is not None and self._start_failures is not None:
            self._start_failures[vat_id] = fatal[1]  # the first boot reports it
        return fatal

    def _prepare_send(self, event: dict[str, Any]) -> tuple[str, Message] | None:
        msg = event["msg"]
        route = self.promises.route(event["target"])
        if route[0] == "reject":
            if msg["result"] is not None:
                self.promises.resolve(msg["result"], True, route[1])
            self.refcounts.decref_all(event_krefs(event))
            return None
        if route[0] == "queue":
            self.refcounts.incref_all(message_krefs(msg))
            self.keeper.queue_message(route[1], msg)
            self.refcounts.decref_all(event_krefs(event))
            return None
        _, vat_id, target = route
        clist = self.keeper.vat(vat_id).clist
        target_vref = clist.vref_of(target)
        if target_vref is None:
            raise KernelPanic(f"{target} routed to {vat_id}, which has no c-list entry for it")
        result = msg["result"]
        vpid = None
        if result is not None:
            vpid = clist.to_vat(result)
            self.keeper.set_decider(result, vat_id)
        delivery = Message(target_vref, Msg(clist.capdata_to_vat(msg["methargs"]), vpid))
        self.refcounts.decref_all(event_krefs(event))
        return vat_id, delivery

    def _prepare_notify(self, event: dict[str, Any]) -> tuple[str, Notify] | None:
        vat_id, kpid = event["vatID"], event["kpid"]
        clist = self.keeper.vat(vat_id).clist
        vpid = clist.vref_of(kpid) if self.workers.has(vat_id) else None
        if vpid is None:
            self.refcounts.decref_all(event_krefs(event))
            return None
        keeper = self.keeper
        # With the promises its data reaches that are settled too, so the vat never
        # subscribes to a settled promise (promises resolved to each other: forever).
        kpids = self.promises.settled_with(kpid)
        resolutions = [
            Resolution(
                clist.to_vat(each),
                keeper.promise_state(each) == "rejected",
                clist.capdata_to_vat(keeper.promise_data(each)),
            )
            for each in kpids
        ]
        for each in kpids:
            clist.delete(each)  # the vat forgets a promise once it hears its resolution
        self.refcounts.decref_all(event_krefs(event))
        return vat_id, Notify(resolutions)

    def _panic(self, error: KernelPanic) -> None:
        """The kernel cannot go on: `run()` raises `error` from now on."""
        self._panic_error = error

    # -- host API -----------------------------------------------------------------------------

    def _host_marshal(self, value: Any, path: str) -> CapData:
        def to_slot(x: Any) -> tuple[str, str] | None:
            if type(x) is KernelRef:
                if x.kref[:2] == "kd" and self.devices.is_live(x.kref):
                    return x.kref, x.iface
                if self.keeper.record(x.kref) is None:
                    raise VatrtError(f"{x.kref} in {path} no longer exists in this kernel")
                return x.kref, x.iface
            return None

        return encode(value, to_slot, path)

    def _host_unmarshal(self, capdata: CapData) -> Any:
        return decode(capdata, lambda kref, iface: KernelRef(kref, iface))

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise KernelClosed(
                f"kernel is closed: {method}() was called after its open_kernel() context exited"
            )

    def _live_vat_id(self, name: str) -> str:
        """The id of the live vat `name`, or a `VatTerminated` listing the live ones."""
        vat_id = self.keeper.vat_id_of(name)
        if vat_id is None:
            names = self.keeper.vat_names()
            live = ", ".join(names) or "none"
            hint = did_you_mean(name, names)
            raise VatTerminated(f"no live vat named {name!r}{hint} (live vats: {live})")
        return vat_id

    def _queue_to_root(
        self,
        vat_id: str,
        what: str,
        method: str,
        positional: list[Any],
        keywords: dict[str, Any] | None,
    ) -> str:
        """Queue ``root.method(*positional, **keywords)`` to vat `vat_id` (checked
        arguments; `what` names the call in a marshalling error); return the
        result's kpid, held for the host."""
        body = [method, positional, keywords] if keywords else [method, positional]
        methargs = self._host_marshal(body, f"{what} arguments")
        root = self.keeper.vat(vat_id).root()
        kpid = self.keeper.allocate_promise(None)
        self.keeper.pin(kpid)
        event = {"type": "send", "target": root, "msg": {"methargs": methargs, "result": kpid}}
        self.refcounts.incref_all(event_krefs(event))
        self.keeper.push_event(event)
        return kpid

    def vat_names(self) -> list[str]:
        self._check_open("vat_names")
        return self.keeper.vat_names()

    def _unpin(self, kpid: str) -> None:
        if self.keeper.unpin(kpid):
            self.refcounts.process_maybe_free()

    def audit(self) -> None:
        """Recount every refcount from its holders; raise `AuditError` on any mismatch."""
        self._check_open("audit")
        expected, stored = self.refcounts.recount()
        pending = {action.kref for action in self.keeper.gc_actions()}
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
        for kd in sorted(self.refcounts.device_refs_seen, key=_kref_order):
            if not self.devices.is_live(kd):
                problems.append(f"{kd} is held but names no live device")
        if problems:
            raise AuditError(problems)

    def dump(self) -> dict[str, str]:
        self._check_open("dump")
        self.keeper.flush()
        return dict(self.kv.items_with_prefix(""))

    def stats(self) -> KernelStats:
        self._check_open("stats")
        return KernelStats(
            cranks=self.keeper.counter("kernel.crankNumber"),
            deliveries=self.deliveries,
            vats=len(self.keeper.vat_names()),
            run_queue_length=self.keeper.run_queue_length(),
        )

    def _worker_kind(self, vat_id: str) -> str:
        options = self.keeper.vat(vat_id).options()
        configured = self.config.vats.get(options["name"]) if not options.get("dynamic") else None
        kind = options.get("worker") or (configured.worker if configured else None)
        return str(kind or self.config.default_worker or "local")

    def hosts(self) -> list[HostStatus]:
        """The config's vat hosts: connected or not, where, how often they connected."""
        self._check_open("hosts")
        status = getattr(self._worker_factory, "host_status", None)
        return list(status()) if status is not None else []

    def host_listener(self) -> tuple[str, int] | None:
        """The address the kernel's hosts dial (None: no hosts, or not listening yet)."""
        self._check_open("host_listener")
        hub = getattr(self._worker_factory, "hub", None)
        return None if hub is None else hub.address

    def _close(self) -> None:
        """`open_kernel` is exiting: stop every worker; from now on every host
        method raises `KernelClosed`."""
        self._closed = True
        self.workers.stop_all()


def _kernel_ref_slot(x: Any) -> tuple[str, str] | None:
    return (x.kref, x.iface) if type(x) is KernelRef else None


def _kref_order(kref: str) -> tuple[str, int]:
    return kref[:2], int(kref[2:])


__all__ = ["KernelCore"]
