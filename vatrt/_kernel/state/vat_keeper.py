"""A vat's keeper: every ``vN.*`` key of one vat, and nothing else writes them.

SwingSet's ``vatKeeper``. The vat's options, bundle, incarnation, root, reap
countdown, transcript position, vatstore and retained vatParameters are read
and written here (the countdown, the position and the import ids through the
keeper's in-memory counters, `KernelKeeper.counter`: written at flush); its
c-list through `clist.CList`, which this keeper makes.
`set_vat_parameters` is the one place the retained parameters' counts change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._marshal import CapData
from ..._refs import ROOT_VREF
from .clist import CList
from .reap_schedule import reap_interval
from .schema import dumps, loads

if TYPE_CHECKING:
    from .keeper import KernelKeeper


class KeyHolder:
    """One key that holds a kref with a count (a kernel-decided promise, an admin
    node): where it is kept, not what it means."""

    __slots__ = ("key", "kv")

    def __init__(self, kv: Any, key: str) -> None:
        self.kv = kv
        self.key = key

    def get(self) -> str | None:
        return self.kv.get(self.key)  # type: ignore[no-any-return]

    def set(self, kref: str) -> None:
        self.kv.set(self.key, kref)

    def take(self) -> str | None:
        """The kref held, and the key deleted (the caller releases the count)."""
        kref = self.kv.get(self.key)
        if kref is not None:
            self.kv.delete(self.key)
        return kref  # type: ignore[no-any-return]


# What a vat's record holds a count on (besides its retained parameters).
_HOLDS = ("root", "adminNode", "createResult", "done")


class VatKeeper:
    __slots__ = ("_clist", "_prefix", "keeper", "kv", "vat_id")

    def __init__(self, vat_id: str, keeper: KernelKeeper) -> None:
        self.vat_id = vat_id
        self.keeper = keeper
        self.kv = keeper.kv
        self._prefix = f"{vat_id}."
        self._clist: CList | None = None

    @property
    def clist(self) -> CList:
        """The vat's c-list (its table loaded on first use)."""
        clist = self._clist
        if clist is None:
            clist = self._clist = CList(self.vat_id, self.keeper, self._allocate_import_vref)
        return clist

    # -- the record -----------------------------------------------------------------

    def initialize(
        self, options: dict[str, Any], bundle_id: str, parameters: CapData | None
    ) -> str:
        """Write a new vat's record; return its root object's kref. `parameters`
        (krefs) are retained with a count on each object in them."""
        kv, p = self.kv, self._prefix
        kv.set(f"{p}options", dumps(options))
        kv.set(f"{p}source", bundle_id)
        kv.set(f"{p}incarnation", "0")
        self.keeper.set_counter(f"{p}reapCountdown", int(options["reapInterval"]), 0)
        if parameters is not None:
            kv.set(f"{p}vatParameters", dumps(parameters))
            self.keeper.refcounts.incref_all(parameters["slots"])
        root = self.keeper.allocate_object(self.vat_id)
        self.clist.add(root, ROOT_VREF, counted=False)
        kv.set(f"{p}root", root)
        # The vat record holds its root: hosts can always call it.
        self.keeper.refcounts.incref(root)
        return root

    def is_live(self) -> bool:
        return self.kv.get(f"{self._prefix}options") is not None

    def options(self) -> dict[str, Any]:
        return loads(self.kv.get(f"{self._prefix}options") or "{}")  # type: ignore[no-any-return]

    def name(self) -> str:
        return str(self.options()["name"])

    def source(self) -> str:
        """The bundle ID the current incarnation runs."""
        return self.kv.get(f"{self._prefix}source") or ""

    def incarnation(self) -> int:
        return int(self.kv.get(f"{self._prefix}incarnation") or 0)

    def root(self) -> str:
        return self.kv.get(f"{self._prefix}root") or ""

    def holder(self, what: str) -> KeyHolder:
        """``adminNode``, ``createResult`` or ``done``: a kref the record holds."""
        assert what in _HOLDS[1:], what
        return KeyHolder(self.kv, f"{self._prefix}{what}")

    def held_krefs(self) -> list[str]:
        """Every kref the vat's record holds a count on, parameters aside."""
        kv, p = self.kv, self._prefix
        return [kref for what in _HOLDS if (kref := kv.get(f"{p}{what}")) is not None]

    # -- incarnations -----------------------------------------------------------------

    def begin_incarnation(self, bundle_id: str) -> int:
        """Start the next incarnation running `bundle_id`, with a new transcript
        (replay starts from its startVat). Returns its number."""
        kv, p = self.kv, self._prefix
        incarnation = self.incarnation() + 1
        kv.set(f"{p}incarnation", str(incarnation))
        kv.set(f"{p}source", bundle_id)
        self.keeper.set_counter(f"{p}t.next", 0, 0)
        kv.delete_transcripts(self.vat_id, below_incarnation=incarnation)
        if kv.get(f"{p}restartRetryAt") is not None:  # a failed restart's, now moot
            kv.delete(f"{p}restartRetryAt")
        return incarnation

    def restart_retry_at(self) -> int:
        """Bounded replay: the transcript length before which a restart that
        failed is not tried again (0: none failed in this incarnation)."""
        return int(self.kv.get(f"{self._prefix}restartRetryAt") or 0)

    def set_restart_retry_at(self, length: int) -> None:
        self.kv.set(f"{self._prefix}restartRetryAt", str(length))

    # -- retained vatParameters -------------------------------------------------------

    def vat_parameters(self) -> CapData | None:
        """The retained vatParameters (krefs), or None for a vat from a store
        written before schema 2 (ineligible for kernel-unilateral upgrade)."""
        record = self.kv.get(f"{self._prefix}vatParameters")
        return None if record is None else loads(record)

    def set_vat_parameters(self, parameters: CapData) -> None:
        """Retain `parameters` in place of what was retained before."""
        refcounts = self.keeper.refcounts
        old = self.vat_parameters()
        # Increment before decrement: an object in both keeps a count throughout.
        refcounts.incref_all(parameters["slots"])
        self.kv.set(f"{self._prefix}vatParameters", dumps(parameters))
        if old is not None:
            refcounts.decref_all(old["slots"])

    # -- deliveries ---------------------------------------------------------------------

    def count_down_to_reap(self) -> bool:
        """One delivery done; True when it is time for bring-out-your-dead. The
        next countdown stretches with the kernel's size (`reap_schedule`)."""
        keeper = self.keeper
        key = f"{self._prefix}reapCountdown"
        left = keeper.counter(key, 1) - 1
        due = left <= 0
        if due:
            configured = int(self.options()["reapInterval"])
            left = reap_interval(configured, len(keeper.vat_names()))
        keeper.set_counter(key, left)
        return due

    def record_delivery(self, entry: str) -> None:
        """Append a delivery and its syscalls, encoded (`vatrt._protocol`'s
        `TranscriptEntry`: this keeper stores it, the kernel reads it), to the
        current incarnation's transcript."""
        kv = self.kv
        position = -1  # an in-memory store appends, and keeps no position key
        if kv.keeps_transcripts:
            position = self.keeper.bump(f"{self._prefix}t.next", 0)
        kv.append_transcript(self.vat_id, self.incarnation(), position, entry)

    def transcript(self) -> list[str]:
        """The current incarnation's transcript entries, in order, as recorded."""
        return list(self.kv.read_transcript(self.vat_id, self.incarnation()))

    def transcript_length(self) -> int:
        """How many deliveries the current incarnation's transcript holds (a store
        that keeps transcripts knows it from ``t.next``; in memory, it counts)."""
        if self.kv.keeps_transcripts:
            return self.keeper.counter(f"{self._prefix}t.next", 0)
        return int(self.kv.transcript_length(self.vat_id, self.incarnation()))

    # -- its worker -------------------------------------------------------------------

    def record_worker_restart(self, why: str) -> None:
        """The supervisor replaced the vat's worker process: count it, with the
        reason, so `vatrt inspect` can show a vat that keeps crashing."""
        key = f"{self._prefix}workerRestarts"
        record = loads(self.kv.get(key) or '{"count": 0}')
        self.kv.set(key, dumps({"count": record["count"] + 1, "last": why}))

    def worker_restarts(self) -> tuple[int, str | None]:
        """How many times the vat's worker was restarted, and why the last time."""
        record = loads(self.kv.get(f"{self._prefix}workerRestarts") or '{"count": 0}')
        return record["count"], record.get("last")

    # -- vatstore ---------------------------------------------------------------------

    def vatstore_get(self, key: str) -> str | None:
        return self.kv.get(f"{self._prefix}vs.{key}")

    def vatstore_set(self, key: str, value: str) -> None:
        self.kv.set(f"{self._prefix}vs.{key}", value)

    def vatstore_delete(self, key: str) -> None:
        self.kv.delete(f"{self._prefix}vs.{key}")

    def vatstore_keys(self, prefix: str) -> list[str]:
        full = f"{self._prefix}vs.{prefix}"
        cut = len(self._prefix) + 3
        return [k[cut:] for k, _ in self.kv.items_with_prefix(full)]

    # -- the end ----------------------------------------------------------------------

    def release_vat_parameters(self) -> None:
        old = self.vat_parameters()
        if old is not None:
            self.keeper.refcounts.decref_all(old["slots"])

    def delete_all(self) -> None:
        """Forget the vat: every ``vN.*`` key and its transcripts (its counts were
        released by the caller first)."""
        self.clist.delete_all()
        self.keeper.forget_counters(self._prefix)
        kv = self.kv
        for key, _ in kv.items_with_prefix(self._prefix):
            kv.delete(key)
        kv.delete_transcripts(self.vat_id)

    def _allocate_import_vref(self, kind: str) -> str:
        return f"{kind}-{self.keeper.bump(f'{self._prefix}{kind}.nextID', 50)}"
