"""The host's handle on a kernel: `Kernel`, the calls of SPEC section 3.

`Kernel` is `core.KernelCore` (the kernel's state and crank loop) plus the host
calls that take arguments, each checked by `host_checks` before anything
changes, and those built on them (`call`, `now`, `collect_garbage`). They are
here, in a module that stays plain Python in the compiled build
(docs/performance.md), so that a wrong argument meets that check, which names
it, rather than a compiled function's own type check ("str object expected; got
int").
"""

from __future__ import annotations

from typing import Any

from .._marshal import CapData
from .._worker.base import WorkerStatus
from ..errors import KernelPanic, RejectedError, VatrtError, VatTerminated
from . import host_checks
from .core import KernelCore
from .host_values import KernelRef, KernelStats
from .timer import Time
from .upgrade import UpgradeOutcome

_MAX_GC_ROUNDS = 50  # collect_garbage: each round follows the drops of the one before


class Kernel(KernelCore):
    """The host's handle on a running kernel (see SPEC section 3)."""

    async def run(self, max_cranks: int | None = None, *, until_time: Time | None = None) -> int:
        """Run cranks until the run-queue is empty, or until `max_cranks` ran;
        return how many ran. `max_cranks` is None (until idle) or an int >= 0: 0
        runs none (a `TypeError` for anything else, a bool included; a
        `ValueError` below 0).

        With a ``[timer]``: `until_time` moves time up to it, firing each wakeup on
        the way in order (docs/devices-and-time.md); auto-advance does so with no
        bound."""
        self._check_open("run")
        max_cranks = host_checks.check_max_cranks(max_cranks)
        if self.time is None:
            if until_time is not None:
                raise VatrtError("run(until_time=...) needs a [timer] in the config")
            return await self._run(max_cranks)
        if until_time is not None:
            until_time = host_checks.check_time(until_time, "until_time")
        return await self.time.run(max_cranks, until_time)

    async def advance_time(self, dt: Time) -> int:
        """Move virtual time `dt` on, running every wakeup due on the way (in time
        order), as ``run(until_time=now() + dt)``; returns the cranks run."""
        self._check_open("advance_time")
        if self.time is None or not self.time.clock.virtual:
            raise VatrtError("advance_time() needs [timer] source = 'virtual' in the config")
        dt = host_checks.check_time(dt, "dt")
        return await self.run(until_time=self.time.clock.now() + dt)

    def now(self) -> Time:
        """The kernel's time (virtual, or the wall clock); a `VatrtError` without [timer]."""
        self._check_open("now")
        if self.time is None:
            raise VatrtError("now() needs a [timer] in the config")
        return self.time.clock.now()

    async def restart_vat(
        self, name: str, bundle: str | None = None, upgrade_message: Any = "kernel restart"
    ) -> UpgradeOutcome:
        """Upgrade one vat, without userspace asking, to its current bundle (or
        `bundle`: a config bundle name, a file or a bundle ID) with its retained
        vatParameters. Same steps and rollback as a userspace upgrade; a failure
        raises `UpgradeFailed` after the vat was rolled back.

        `upgrade_message` is plain JSON data (`host_checks.check_upgrade_message`);
        every argument is checked before anything changes."""
        self._check_open("restart_vat")
        host_checks.check_str(name, "name")
        if bundle is not None:
            host_checks.check_str(bundle, "bundle")
        host_checks.check_upgrade_message(upgrade_message)
        self._raise_if_panicked()
        return await self.upgrades.restart_vat(name, bundle, upgrade_message)

    async def upgrade_all_vats(
        self, bundles: dict[str, str] | None = None, upgrade_message: Any = "kernel upgrade"
    ) -> dict[str, UpgradeOutcome]:
        """Restart every live vat with its retained vatParameters, vat-admin and the
        bootstrap vat included, each to ``bundles.get(name)`` or its current bundle.

        Each upgrade is its own crank: one vat's failure rolls back that vat alone
        and the others go on. Vats with no retained parameters are reported
        ``ineligible`` and keep running. Returns name -> `UpgradeOutcome`, in vat
        creation order.

        `bundles` is None or a mapping of str to str; `upgrade_message` is plain
        JSON data. A refused request (a bad argument, an unknown vat, a bundle
        that does not load) changes nothing, not even the bundles installed."""
        self._check_open("upgrade_all_vats")
        targets = host_checks.check_bundles(bundles)
        host_checks.check_upgrade_message(upgrade_message)
        self._raise_if_panicked()
        return await self.upgrades.upgrade_all(targets, upgrade_message)

    def panic(self, error: KernelPanic) -> None:
        """The kernel cannot go on: `run()` raises `error` from now on."""
        self._check_open("panic")
        if not isinstance(error, KernelPanic):
            raise TypeError(f"error must be a KernelPanic, not {type(error).__name__} {error!r}")
        self._panic(error)

    def vat_id(self, name: str) -> str:
        self._check_open("vat_id")
        host_checks.check_str(name, "name")
        return self._live_vat_id(name)

    def queue_to_vat_root(
        self,
        name: str,
        method: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> str:
        """Queue ``root.method(*args, **kwargs)`` to a vat; return the result's kpid,
        held for the host until `kp_resolution` reads it.

        `args` is a list or a tuple, `kwargs` None or a dict with str keys; they
        are checked and marshalled before anything is queued."""
        self._check_open("queue_to_vat_root")
        vat_id = self.vat_id(name)
        if not isinstance(method, str) or not method or method.startswith("_"):
            raise VatrtError(f"method name must be a public str, not {method!r}")
        positional, keywords = host_checks.check_arguments(args, kwargs)
        return self._queue_to_root(vat_id, f"{name}.{method}()", method, positional, keywords)

    async def call(self, name: str, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Send ``root.method(*args, **kwargs)`` to a vat, run until idle, return the
        result (`name` and `method` are positional-only, so any keyword passes).

        A rejection raises `RejectedError`. The result promise is released
        whatever happens: a settled answer, an error, or the call cancelled (the
        message then still runs at the next `run()`, its answer unread).
        """
        self._check_open("call")
        kpid = self.queue_to_vat_root(name, method, args, kwargs)
        try:
            await self.run()
        except BaseException:
            self._unpin(kpid)
            raise
        if self.kp_status(kpid) == "unresolved":
            self._unpin(kpid)
            raise VatrtError(
                f"{name}.{method}() did not settle: the run-queue is empty and {kpid} is unresolved"
            )
        return self.kp_result(kpid)

    def kp_result(self, kpid: str) -> Any:
        """A settled promise's value, or `RejectedError` (with ``.reason`` and
        ``.traceback``) if it was rejected: the one way to read a result that
        raises on failure, as `call` does. Releases the host's hold, as
        `kp_resolution` does; an unresolved promise raises `VatrtError` and stays held.
        """
        self._check_open("kp_result")
        _, state, data = self._follow(kpid)
        if state == "unresolved" or data is None:
            raise VatrtError(f"{kpid} is not resolved yet (run the kernel first)")
        value = self.kp_resolution(kpid)
        if state == "rejected":
            raise RejectedError(value)
        return value

    def kp_status(self, kpid: str) -> str:
        """``"unresolved"``, ``"fulfilled"`` or ``"rejected"``. A promise fulfilled to
        another promise (a vat returned one) has the status of the promise it was
        forwarded to: unresolved until the final answer is in."""
        self._check_open("kp_status")
        return self._follow(kpid)[1]

    def kp_resolution(self, kpid: str) -> Any:
        """The value (or rejection reason) of a settled promise, following forwarding
        to the final answer; releases the host's hold."""
        self._check_open("kp_resolution")
        _, state, data = self._follow(kpid)
        if state == "unresolved" or data is None:
            raise VatrtError(f"{kpid} is not resolved yet")
        value = self._host_unmarshal(data)
        # The hold is on `kpid` alone: the promises it was forwarded to are held
        # by its resolution, and go with it.
        self._unpin(kpid)
        return value

    def _follow(self, kpid: str) -> tuple[str, str, CapData | None]:
        host_checks.check_kpid(kpid)
        final, state, data = self.promises.follow(kpid)
        if state is None:
            raise VatrtError(
                f"unknown promise {final}: released (kp_resolution and kp_result read a "
                "resolution once and release the promise; ask kp_status before), "
                "or never existed"
            )
        return final, state, data

    async def collect_garbage(self) -> int:
        """Bring out the dead in every vat, and run until every drop and retire is
        done; returns the cranks run.

        One round may not be enough: a vat's drop reaches the exporter after the
        exporter's own bring-out-your-dead, and what the exporter then collects (a
        durable object) it reports at its next one. So rounds go on until one
        runs nothing but its bring-out-your-dead deliveries (at most
        `_MAX_GC_ROUNDS`)."""
        self._check_open("collect_garbage")
        self._raise_if_panicked()  # before queueing anything
        total = 0
        for _ in range(_MAX_GC_ROUNDS):
            vat_ids = self.keeper.vat_ids()
            for vat_id in vat_ids:
                self.keeper.push_event({"type": "bringOutYourDead", "vatID": vat_id})
            cranks = await self.run()
            total += cranks
            if cranks <= len(vat_ids):
                break
        return total

    @property
    def bootstrap_kpid(self) -> str | None:
        self._check_open("bootstrap_kpid")
        return self.keeper.bootstrap_result()

    def vat_parameters(self, vat_id: str) -> Any:
        """The retained vatParameters of a live vat (`vat_id` gives its id),
        unmarshalled; None for a vat that has none. An id that is no live vat's
        is a `VatTerminated`."""
        self._check_open("vat_parameters")
        host_checks.check_vat_id(self.keeper, vat_id)
        parameters = self.keeper.vat(vat_id).vat_parameters()
        return None if parameters is None else self._host_unmarshal(parameters)

    def refcount(self, kref: str) -> tuple[int, int]:
        """``(reachable, recognizable)`` of an object or promise; a kref that is
        malformed or that the kernel does not have is a `VatrtError` naming it."""
        self._check_open("refcount")
        host_checks.check_kref(kref)
        if self.keeper.record(kref) is None:
            raise VatrtError(f"unknown kref {kref} (collected, or never existed)")
        return self.refcounts.get(kref)

    def worker_status(self, name: str) -> WorkerStatus:
        """The kind, process id and restart count of a live vat's worker."""
        self._check_open("worker_status")
        vat_id = self.vat_id(name)
        worker = self.workers.get(vat_id)
        if worker is None and self.workers.is_offline(vat_id):
            restarts = self.keeper.vat(vat_id).worker_restarts()[0]
            return WorkerStatus(self._worker_kind(vat_id), 0, restarts, online=False)
        if worker is None:
            raise VatTerminated(f"vat {name!r} has not started yet (its start is queued)")
        return worker.status()


__all__ = ["Kernel", "KernelRef", "KernelStats"]
