"""Upgrading a vat: a new incarnation of new code, keeping durable state and krefs.

Everything about upgrade is here: queueing one (`Upgrades.queue`, for vat-admin
and for the kernel itself), the upgrade crank, its rollback, `restart_vat`,
`upgrade_all_vats` and their report.

An ``upgradeVat`` event is always preceded on the run-queue by a
bring-out-your-dead for the same vat (its own crank, committed: dropping what the
old incarnation no longer reaches is correct whatever the upgrade does). The
upgrade crank then, all inside one crank:

1. ends the old incarnation (`lifecycle.end_incarnation`): every promise it
   decided is rejected with a ``vatUpgraded`` record carrying the upgrade
   message; its ephemeral exports (``o+N``, not the root and not durable
   ``o+dN/M``) become ownerless, their messages reject with ``vat terminated``;
   its promise c-list entries are forgotten;
2. bumps the incarnation, records the bundle, starts a new transcript, and
   replaces the retained vatParameters (`VatKeeper.set_vat_parameters`: the new
   objects are counted before the old are released);
3. starts a new worker on the new code (a fresh module: ephemeral state is new)
   and delivers ``startVat`` with the parameters and the imports it inherits;
   its ``build_root_object`` runs against the old baggage.

**Rollback.** If the bundle does not load or ``startVat`` fails, the crank is
undone whole (`crank.Rollback`): code, incarnation, state, retained parameters
and refcounts as before, and the worker swap too (the kernel's `WorkerTable`
journals it with the crank), so the old worker keeps running; then a fresh
crank takes the event again and the requester hears ``vat-upgrade failure:
<cause>``. An exception or a cancellation in the middle (the host cancelling
`restart_vat`) undoes the crank the same way before it propagates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs

from .._crash import crash_point
from .._marshal import CapData, data_capdata
from .._suggest import did_you_mean
from ..errors import BundleError, UpgradeFailed, VatTerminated
from .crank import Rollback
from .lifecycle import end_incarnation
from .ops import KernelOps
from .state.bundles import BundleStore, is_bundle_id
from .state.keeper import KernelKeeper
from .state.refcounts import event_krefs


@attrs.frozen
class UpgradeOutcome:
    """What happened to one vat in `upgrade_all_vats` (or `restart_vat`).

    `status` is ``"upgraded"`` (with `incarnation_number`), ``"ineligible"`` (no
    retained vatParameters: the vat keeps running untouched) or ``"failed"`` (with
    `error`, the cause; the vat was rolled back and keeps running).
    """

    status: str
    incarnation_number: int | None = None
    error: str | None = None


def vat_upgraded_reason(upgrade_message: Any, incarnation: int) -> CapData:
    """What the old incarnation's unresolved promises are rejected with."""
    return data_capdata(
        {
            "name": "vatUpgraded",
            "upgrade_message": upgrade_message,
            "incarnation_number": incarnation,
        }
    )


class Upgrades:
    """Queues upgrades, runs their cranks and reports how each went.

    `run_until(done)` runs cranks (under the kernel's lock) until `done()`;
    `lock` and `commit` are the kernel's, for queueing kernel-initiated upgrades
    between two runs."""

    def __init__(
        self,
        keeper: KernelKeeper,
        ops: KernelOps,
        bundles: BundleStore,
        *,
        lock: anyio.Lock,
        commit: Callable[[], None],
        run_until: Callable[[Callable[[], bool]], Awaitable[int]],
    ) -> None:
        self.keeper = keeper
        self.ops = ops
        self.bundles = bundles
        self._lock = lock
        self._commit = commit
        self._run_until = run_until
        # Outcomes of kernel-initiated upgrades, by request id, until read.
        self._outcomes: dict[str, tuple[bool, Any]] = {}
        # Told when a bounded-replay restart (origin "restart") ran: its vat, and
        # whether it upgraded.
        self.restart_finished: Callable[[str, bool], None] = lambda vat_id, ok: None

    # -- queueing ----------------------------------------------------------------------

    def queue(
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

        A userspace upgrade (`origin` ``"admin"``) waits its turn on the
        run-queue. A kernel-initiated one is collected in `first` by the caller
        and goes in at the head: it happens now, between two cranks, and the work
        already queued is then delivered to the new incarnations."""
        keeper = self.keeper
        request_id = keeper.allocate_upgrade_id()
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
        keeper.refcounts.incref_all(event_krefs(event))
        if first is not None:
            first.extend([boyd, event])
        else:
            keeper.push_event(boyd)
            keeper.push_event(event)
        return request_id

    # -- the crank ---------------------------------------------------------------------

    async def in_crank(self, event: dict[str, Any]) -> Rollback | None:
        keeper, ops = self.keeper, self.ops
        vat_id = event["vatID"]
        vat = keeper.vat(vat_id)
        if not vat.is_live() or not ops.has_worker(vat_id):
            keeper.refcounts.decref_all(event_krefs(event))
            self._report(event, ok=False, detail=f"vat {vat_id} is gone")
            return None
        reason = vat_upgraded_reason(event["upgradeMessage"], vat.incarnation())
        inherited_imports = end_incarnation(keeper, ops, vat_id, reason, terminating=False)
        incarnation = vat.begin_incarnation(event["bundleID"])
        parameters = event["vatParameters"]
        vat.set_vat_parameters(parameters)
        keeper.refcounts.decref_all(event_krefs(event))
        try:
            fatal = await ops.start_incarnation(
                vat_id, incarnation, event["bundleID"], parameters, inherited_imports
            )
        except BundleError as e:
            return self._failed(str(e))
        if fatal is not None:
            return self._failed(fatal[1])
        crash_point("mid-upgrade")
        ops.slog.write({"type": "vat-upgraded", "vatID": vat_id, "incarnation": incarnation})
        self._report(event, ok=True, detail=incarnation)
        return None

    def _failed(self, cause: str) -> Rollback:
        def recover(event: dict[str, Any]) -> None:
            self.keeper.refcounts.decref_all(event_krefs(event))
            self._report(event, ok=False, detail=cause)

        return Rollback(f"vat-upgrade failure: {cause}", recover)

    def _report(self, event: dict[str, Any], *, ok: bool, detail: Any) -> None:
        request_id = event["requestID"]
        if event["origin"] == "admin":
            self.ops.upgrade_finished(request_id, ok, detail)
        elif event["origin"] == "restart":  # bounded replay: nobody waits for it
            self.ops.slog.write(
                {"type": "vat-restart", "vatID": event["vatID"], "ok": ok, "detail": detail}
            )
            self.restart_finished(event["vatID"], ok)
        else:
            self._outcomes[request_id] = (ok, detail)
            crash_point("mid-upgrade-all")

    # -- kernel-initiated ----------------------------------------------------------------

    async def restart_vat(
        self, name: str, bundle: str | None, upgrade_message: Any
    ) -> UpgradeOutcome:
        if self.keeper.vat_id_of(name) is None:
            names = self.keeper.vat_names()
            live = ", ".join(names) or "none"
            hint = did_you_mean(name, names)
            raise VatTerminated(f"no live vat named {name!r}{hint} (live vats: {live})")
        bundles = {name: bundle} if bundle is not None else {}
        outcome = (await self.upgrade_all(bundles, upgrade_message, only=name))[name]
        if outcome.status == "ineligible":
            raise UpgradeFailed(f"vat {name!r} is ineligible: it has no retained vatParameters")
        if outcome.status == "failed":
            raise UpgradeFailed(outcome.error or "vat-upgrade failure")
        return outcome

    async def upgrade_all(
        self, bundles: dict[str, str], upgrade_message: Any, only: str | None = None
    ) -> dict[str, UpgradeOutcome]:
        async with self._lock:
            outcomes, requests = self._queue_kernel_upgrades(bundles, upgrade_message, only)
            self._commit()
        # Run until every queued upgrade is done: work queued before them runs
        # first; whatever the simulation queues after keeps waiting for run().
        pending = set(requests.values())
        await self._run_until(lambda: pending <= self._outcomes.keys())
        for name, request_id in requests.items():
            ok, detail = self._outcomes.pop(request_id, (False, "the upgrade never ran"))
            if ok:
                outcomes[name] = UpgradeOutcome("upgraded", incarnation_number=int(detail))
            else:
                outcomes[name] = UpgradeOutcome("failed", error=f"vat-upgrade failure: {detail}")
        return {name: outcomes[name] for name in [*requests, *outcomes] if name in outcomes}

    def _queue_kernel_upgrades(
        self, bundles: dict[str, str], upgrade_message: Any, only: str | None
    ) -> tuple[dict[str, UpgradeOutcome], dict[str, str]]:
        """Queue an upgrade of every live vat that retained its vatParameters, in vat
        creation order. Everything is checked before anything is queued, and a
        bundle file is kept only once every one of them loads."""
        keeper = self.keeper
        names = keeper.vat_names()
        unknown = sorted(set(bundles) - set(names))
        if unknown:
            hints = "".join(did_you_mean(n, names) for n in unknown)
            raise VatTerminated(f"upgrade_all_vats: no live vat named {', '.join(unknown)}{hints}")
        resolved = {name: self._resolve_bundle(spec) for name, spec in bundles.items()}
        targets = {
            name: spec if isinstance(spec, str) else self.bundles.keep(*spec)
            for name, spec in resolved.items()
        }
        outcomes: dict[str, UpgradeOutcome] = {}
        requests: dict[str, str] = {}
        first: list[dict[str, Any]] = []
        for name in names if only is None else [only]:
            vat = keeper.vat(keeper.vat_id_of(name) or "")
            parameters = vat.vat_parameters()
            if parameters is None:
                outcomes[name] = UpgradeOutcome("ineligible", error="no retained vatParameters")
                continue
            bundle_id = targets.get(name) or vat.source()
            requests[name] = self.queue(
                vat.vat_id, bundle_id, parameters, upgrade_message, origin="kernel", first=first
            )
        keeper.push_events_first(first)
        return outcomes, requests

    def _resolve_bundle(self, spec: str) -> str | tuple[str, str]:
        """A bundle ID from a config bundle name or an installed ID, or a checked
        bundle file's ``(source, filename)``, not kept yet."""
        bundles = self.bundles
        if is_bundle_id(spec):
            if not bundles.has(spec):
                raise BundleError(f"no installed bundle {spec}")
            return spec
        named = bundles.by_name(spec)
        if named is not None:
            return named
        path = Path(spec)
        if path.suffix == ".py" or path.exists():
            return bundles.check_file(path)
        hint = did_you_mean(spec, bundles.names())
        raise BundleError(
            f"{spec!r} is not a config bundle name, a bundle file or a bundle ID{hint}"
        )


__all__ = ["UpgradeOutcome", "Upgrades", "vat_upgraded_reason"]
