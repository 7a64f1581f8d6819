"""Bounded replay: the kernel restarts a durable vat whose transcript grew long.

A vat's reopen (and each time the warehouse brings it back) replays every
delivery since its incarnation began, so a vat that lives long gets slow to
bring back without limit. A vat that opts in with ``restart_every = N`` (config,
or `create_vat`) is restarted by the kernel once its transcript is N deliveries
long: an upgrade to its own current bundle with its retained vatParameters (the
kernel-unilateral upgrade of SwingSet's retained-vatParameters design), which
starts a new incarnation and so a new transcript. Replay cost then stays below
N deliveries whatever the vat's age.

The contract (docs/vat-upgrade.md): an upgrade ends the incarnation, so every
ephemeral object, promise and Python variable the vat holds is gone. Only a vat
whose state is all durable (baggage, durable kinds) survives that unchanged, so
the bundle must declare so with a top-level ``VAT_STATE = "durable"``; the
kernel reads that declaration from the source (it runs no vat code for it) when
the vat is created and before each restart, and refuses ``restart_every`` for a
bundle without it. A restart that fails is rolled back like any upgrade (the vat
keeps running) and is tried again N deliveries later.
"""

from __future__ import annotations

import ast
import functools
from typing import TYPE_CHECKING, Any

from .._bundle_format import decode_package
from ..errors import ConfigError

if TYPE_CHECKING:
    from .state.bundles import BundleStore
    from .state.keeper import KernelKeeper
    from .upgrade import Upgrades

#: The top-level assignment a bundle makes to declare all its state durable.
DECLARATION = 'VAT_STATE = "durable"'

#: What the old incarnation's promises are rejected with (the upgrade message).
RESTART_MESSAGE = "bounded replay"


@functools.lru_cache(maxsize=64)
def declares_durable_state(source: str) -> bool:
    """Whether the bundle's main module assigns ``VAT_STATE = "durable"`` at its
    top level (a package's ``__init__.py``); read, never run."""
    modules = decode_package(source)
    text = modules.get("__init__.py", "") if modules is not None else source
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if "VAT_STATE" in targets and node.value.value == "durable":
                return True
    return False


def check_declared_durable(vat_name: str, bundle_name: str, source: str, where: str) -> None:
    """A config's vat with ``restart_every`` must run a bundle that declares its
    state durable (`source` is that bundle's): a `ConfigError` naming the key
    after `where` (``invalid config in FILE``) otherwise. The boot and ``vatrt
    check`` both ask (`config_checks.check_static_vats`)."""
    if not declares_durable_state(source):
        raise ConfigError(
            f"{where}: vats.{vat_name}.restart_every: bundle {bundle_name!r} does not declare "
            'its state durable (a top-level VAT_STATE = "durable")'
        )


def check_restart_every(value: Any, where: str) -> int | None:
    """`value` as a vat's ``restart_every``: None, or an int >= 2 (its transcript
    starts with ``startVat``, so 1 would restart it forever). A `ValueError` or
    `TypeError` naming `where` otherwise."""
    if value is None:
        return None
    if type(value) is not int:
        raise TypeError(f"{where}: restart_every must be an int >= 2, not {value!r}")
    if value < 2:
        raise ValueError(f"{where}: restart_every must be >= 2, not {value}")
    return value


class BoundedReplay:
    """Queues the restarts of vats whose transcript reached their ``restart_every``.

    `after_delivery` runs at the end of each recorded delivery. A due vat is
    restarted only at a quiet point: when it decides no unresolved promise (an
    upgrade would reject those); else it is tried again after its next delivery.
    The restart goes in at the head of the run-queue (a bring-out-your-dead, then
    the upgrade: `Upgrades.queue` with origin ``"restart"``), so it runs before
    the next message. A restart that failed is tried again `restart_every`
    deliveries later (``vN.restartRetryAt``, kept with the vat's state so that
    a reopened kernel keeps the same schedule)."""

    def __init__(self, keeper: KernelKeeper, upgrades: Upgrades, bundles: BundleStore) -> None:
        self.keeper = keeper
        self.upgrades = upgrades
        self.bundles = bundles
        self._every: dict[str, int | None] = {}  # vat -> its restart_every (cached)
        self.queued: set[str] = set()  # restarts on the run-queue, not yet run
        self._queued_in_crank: list[str] = []

    def after_delivery(self, vat_id: str) -> None:
        every = self._every.get(vat_id, 0)
        if every == 0:
            every = self._every[vat_id] = self.keeper.vat(vat_id).options().get("restartEvery")
        if every is None or vat_id in self.queued:
            return
        vat = self.keeper.vat(vat_id)
        length = vat.transcript_length()
        if length < every or length < vat.restart_retry_at() or self._decides_unresolved(vat_id):
            return
        parameters = vat.vat_parameters()
        source, _ = self.bundles.get(vat.source())
        if parameters is None or not declares_durable_state(source):
            return  # no retained parameters, or a userspace upgrade dropped the declaration
        first: list[dict[str, Any]] = []
        self.upgrades.queue(
            vat_id, vat.source(), parameters, RESTART_MESSAGE, origin="restart", first=first
        )
        self.keeper.push_events_first(first)
        self.queued.add(vat_id)
        self._queued_in_crank.append(vat_id)

    def _decides_unresolved(self, vat_id: str) -> bool:
        keeper = self.keeper
        for kref, _ in keeper.vat(vat_id).clist.entries():
            if kref[1] == "p" and keeper.decider_of(kref) == vat_id:
                return True
        return False

    def recall_queued(self) -> None:
        """At reopen: the restarts a previous run queued that have not run yet
        (they are on the stored run-queue), so none is queued twice."""
        self.queued = {
            event["vatID"]
            for event in self.keeper.run_queue_events()
            if event["type"] == "upgradeVat" and event.get("origin") == "restart"
        }

    def finished(self, vat_id: str, ok: bool) -> None:
        """Its restart ran: upgraded, or rolled back (then tried again once the
        vat's transcript has grown by its ``restart_every``)."""
        self.queued.discard(vat_id)
        vat = self.keeper.vat(vat_id)
        if ok or not vat.is_live():
            return
        every = self._every.get(vat_id) or vat.options().get("restartEvery")
        if every:
            vat.set_restart_retry_at(vat.transcript_length() + every)

    def crank_committed(self) -> None:
        self._queued_in_crank.clear()

    def crank_aborted(self) -> None:
        """The crank's queued restarts were undone with its run-queue."""
        for vat_id in self._queued_in_crank:
            self.queued.discard(vat_id)
        self._queued_in_crank.clear()
