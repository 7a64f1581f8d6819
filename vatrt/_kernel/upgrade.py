"""Upgrading a vat: a new incarnation of new code, keeping durable state and krefs.

An ``upgradeVat`` event is always preceded on the run-queue by a
bring-out-your-dead for the same vat (its own crank, committed: dropping what the
old incarnation no longer reaches is correct whatever the upgrade does). The
upgrade crank then, all inside one savepoint:

1. loads the new code into a new worker (a fresh module: ephemeral state is new);
2. rejects every promise the old incarnation decided with a ``vatUpgraded``
   record carrying the upgrade message;
3. abandons the old incarnation's ephemeral exports (``o+N``, not the root and
   not durable ``o+dN/M``): they become ownerless, their messages reject with
   ``vat terminated``; forgets its promise c-list entries;
4. bumps the incarnation, records the bundle, and replaces the retained
   vatParameters (increment the new objects before decrementing the old);
5. delivers ``startVat`` to the new worker with the parameters and the imports it
   inherits; its ``build_root_object`` runs against the old baggage.

If anything fails, the crank is rolled back (code, incarnation, state, retained
parameters, refcounts all as before), the old worker keeps running, and the
requester hears ``vat-upgrade failure: <cause>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._crash import crash_point
from ..errors import BundleError, VatTerminated
from .bundles import is_bundle_id
from .crank import Rollback
from .keeper import dumps, loads
from .refcounts import event_krefs, is_object
from .termination import abandon_export
from .vat_admin_hooks import vat_upgraded_reason

if TYPE_CHECKING:
    from .kernel import Kernel

ROOT_VREF = "o+0"


def is_ephemeral_export(vref: str) -> bool:
    return vref.startswith("o+") and vref != ROOT_VREF and not vref.startswith("o+d")


async def upgrade_in_crank(kernel: Kernel, event: dict[str, Any]) -> Rollback | None:
    vat_id = event["vatID"]
    kv, keeper = kernel.kv, kernel.keeper
    if not keeper.is_live_vat(vat_id) or vat_id not in kernel.workers:
        kernel.refcounts.decref_all(event_krefs(event))
        kernel.report_upgrade(event, ok=False, detail=f"vat {vat_id} is gone")
        return None
    old_incarnation = int(kv.get(f"{vat_id}.incarnation") or 0)
    new_incarnation = old_incarnation + 1
    try:
        new_worker = kernel.make_worker(vat_id, new_incarnation, event["bundleID"])
    except BundleError as e:
        return _failed(kernel, str(e))

    # 2-3: settle what the old incarnation decided; abandon what dies with it.
    reason = vat_upgraded_reason(event["upgradeMessage"], old_incarnation)
    clist = kernel.clist(vat_id)
    inherited_imports = []
    for kref, entry in clist.entries():
        vref = entry[2:]
        if not is_object(kref):
            if keeper.decider_of(kref) == vat_id:
                kernel.resolve_promise(kref, True, reason, resolver=vat_id)
            clist.delete(kref)
        elif keeper.owner_of(kref) == vat_id:
            if is_ephemeral_export(vref):
                abandon_export(kernel, vat_id, kref)
        else:
            inherited_imports.append(vref)

    # 4: the new incarnation's records.
    kv.set(f"{vat_id}.incarnation", str(new_incarnation))
    kv.set(f"{vat_id}.source", event["bundleID"])
    # A new transcript: replay now starts from this incarnation's startVat.
    kv.set(f"{vat_id}.t.next", "0")
    kv.delete_transcripts(vat_id, below_incarnation=new_incarnation)
    new_params = event["vatParameters"]
    old_params = kv.get(f"{vat_id}.vatParameters")
    kernel.refcounts.incref_all(new_params["slots"])  # increment-before-decrement
    kv.set(f"{vat_id}.vatParameters", dumps(new_params))
    if old_params is not None:
        kernel.refcounts.decref_all(loads(old_params)["slots"])

    # 5: start the new incarnation; the old one keeps running until it succeeds.
    old_worker = kernel.workers[vat_id]
    await kernel.start_worker(vat_id, new_worker)
    vat_params = clist.capdata_to_vat(new_params)
    kernel.refcounts.decref_all(event_krefs(event))
    powers = kernel.powers_for(vat_id)
    fatal = await kernel.deliver(vat_id, ["startVat", vat_params, inherited_imports, powers])
    if fatal is not None:
        new_worker.stop()
        kernel.workers[vat_id] = old_worker
        return _failed(kernel, fatal[1])
    crash_point("mid-upgrade")
    old_worker.stop()
    kernel.slog.write({"type": "vat-upgraded", "vatID": vat_id, "incarnation": new_incarnation})
    kernel.report_upgrade(event, ok=True, detail=new_incarnation)
    return None


def _failed(kernel: Kernel, cause: str) -> Rollback:
    def recover(event: dict[str, Any]) -> None:
        kernel.refcounts.decref_all(event_krefs(event))
        kernel.report_upgrade(event, ok=False, detail=cause)

    return Rollback(f"vat-upgrade failure: {cause}", recover)


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


def resolve_bundle(kernel: Kernel, spec: str) -> str:
    """A bundle ID from a config bundle name, a file path or an installed ID."""
    if is_bundle_id(spec):
        if not kernel.bundles.has(spec):
            raise BundleError(f"no installed bundle {spec}")
        return spec
    named = kernel.bundles.by_name(spec)
    if named is not None:
        return named
    path = Path(spec)
    if path.suffix == ".py" or path.exists():
        return kernel.bundles.install_file(path)
    raise BundleError(f"{spec!r} is not a config bundle name, a bundle file or a bundle ID")


def queue_kernel_upgrades(
    kernel: Kernel, bundles: dict[str, str], upgrade_message: Any, only: str | None = None
) -> tuple[dict[str, UpgradeOutcome], dict[str, str]]:
    """Queue an upgrade of every live vat that retained its vatParameters, in vat
    creation order. Everything is checked before anything is queued."""
    kv, keeper = kernel.kv, kernel.keeper
    names = keeper.vat_names()
    unknown = sorted(set(bundles) - set(names))
    if unknown:
        raise VatTerminated(f"upgrade_all_vats: no live vat named {', '.join(unknown)}")
    targets = {name: resolve_bundle(kernel, spec) for name, spec in bundles.items()}
    outcomes: dict[str, UpgradeOutcome] = {}
    requests: dict[str, str] = {}
    first: list[dict[str, Any]] = []
    for name in names if only is None else [only]:
        vat_id = keeper.vat_id_of(name) or ""
        record = kv.get(f"{vat_id}.vatParameters")
        if record is None:
            outcomes[name] = UpgradeOutcome("ineligible", error="no retained vatParameters")
            continue
        bundle_id = targets.get(name) or kv.get(f"{vat_id}.source") or ""
        requests[name] = kernel.queue_upgrade(
            vat_id, bundle_id, loads(record), upgrade_message, origin="kernel", first=first
        )
    keeper.push_events_first(first)
    return outcomes, requests


def collect_outcome(kernel: Kernel, request_id: str) -> UpgradeOutcome:
    ok, detail = kernel.upgrade_outcomes.pop(request_id, (False, "the upgrade never ran"))
    if ok:
        return UpgradeOutcome("upgraded", incarnation_number=int(detail))
    return UpgradeOutcome("failed", error=f"vat-upgrade failure: {detail}")
