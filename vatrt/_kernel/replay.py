"""Reopening a store: migrating its schema and rebuilding vats by replay.

Each live vat gets a fresh worker for its current incarnation, and its
transcript is delivered again in order. Every syscall is checked against the
recorded one and answered from the record: kernel state is already past these
deliveries, so replay changes nothing in it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._protocol import Failed, ProtocolError, decode_transcript_entry
from .._worker.base import TranscriptReplayer, Worker
from .._worker.replaying import TranscriptCheck, failed, unreadable
from ..errors import ReplayDivergence, StoreError
from .interrupts import StopRequest
from .ops import KernelOps
from .state.keeper import KernelKeeper
from .state.migrations import promises_to_one_key, run_queue_to_chunks
from .state.schema import SCHEMA_VERSION
from .syscalls import SyscallHandler


def migrate(keeper: KernelKeeper, commit: Callable[[], None]) -> None:
    """Bring an older store's schema up to this kernel's; a newer one is a
    `StoreError` (the store is left as it is)."""
    version = keeper.schema_version()
    if version > SCHEMA_VERSION:
        raise StoreError(
            keeper.kv.location,
            f"it has schema version {version} and this vatrt reads up to "
            f"{SCHEMA_VERSION}: upgrade vatrt",
        )
    if version < SCHEMA_VERSION:
        # Schema 1 had no retained vatParameters: its vats keep none, and are
        # ineligible for kernel-unilateral upgrade (SPEC 5, rule 7). Schemas 1
        # and 2 kept each promise in up to six keys; 3 keeps one. Schemas 1 to 3
        # kept a key per run-queue event; 4 keeps them in chunks.
        if version < 3:
            promises_to_one_key(keeper.kv)
        run_queue_to_chunks(keeper.kv)
        keeper.set_schema_version(SCHEMA_VERSION)
        commit()


async def replay_vats(
    keeper: KernelKeeper,
    ops: KernelOps,
    syscalls: SyscallHandler,
    start_worker: Callable[[str, int, str], Awaitable[Worker]],
    interrupt: StopRequest | None = None,
    *,
    max_online: int | None = None,
    mark_offline: Callable[[str], None] | None = None,
) -> None:
    """Rebuild every live vat by replaying its current incarnation's transcript.

    Syscalls are checked against the transcript and answered from it; a
    difference is a `ReplayDivergence` naming the vat, the delivery and what
    differed, and the kernel does not open. A Ctrl-C (`interrupt`) stops it
    after the delivery it came in, with KeyboardInterrupt (replay writes nothing).

    With a vat warehouse (`max_online`), the first `max_online` vats are replayed
    now and the others are marked offline (`mark_offline`): each replays at its
    first delivery, so a reopen costs what the warehouse holds, not the kernel."""
    replayed = 0
    for vat_id in keeper.vat_ids():
        vat = keeper.vat(vat_id)
        if not vat.transcript_length():
            continue  # its start is still queued: it starts when that runs
        if max_online is not None and replayed >= max_online and mark_offline is not None:
            mark_offline(vat_id)
            continue
        worker = await start_worker(vat_id, vat.incarnation(), vat.source())
        await replay_vat(keeper, ops, syscalls, vat_id, worker, interrupt)
        replayed += 1
    _stop_if_asked(interrupt)


async def replay_vat(
    keeper: KernelKeeper,
    ops: KernelOps,
    syscalls: SyscallHandler,
    vat_id: str,
    worker: Worker,
    interrupt: StopRequest | None = None,
) -> None:
    """Replay vat `vat_id`'s current transcript into its fresh, started `worker`
    (at reopen, and when the warehouse brings an evicted vat back);
    `ReplayDivergence` if the vat does not do what it did."""
    vat = keeper.vat(vat_id)
    items = vat.transcript()
    name = vat.name()
    if isinstance(worker, TranscriptReplayer):
        divergence = await worker.replay_transcript(name, items, lambda: _stop_if_asked(interrupt))
    else:
        divergence = await _replay_one_by_one(vat_id, name, items, worker, syscalls, interrupt)
    if divergence is not None:
        raise ReplayDivergence(divergence)
    ops.slog.write({"type": "vat-replayed", "vatID": vat_id, "deliveries": len(items)})


async def _replay_one_by_one(
    vat_id: str,
    name: str,
    items: list[str],
    worker: Worker,
    syscalls: SyscallHandler,
    interrupt: StopRequest | None,
) -> str | None:
    """Each delivery through the worker, its syscalls checked by the kernel's
    handler against the transcript; the first divergence, or None."""
    for position, item in enumerate(items):
        _stop_if_asked(interrupt)
        try:
            entry = decode_transcript_entry(item)
        except ProtocolError as e:
            return unreadable(name, position, e)
        check = syscalls.replaying[vat_id] = TranscriptCheck(name, position, entry.syscalls)
        syscalls.begin_delivery(worker, None)
        try:
            result = await worker.deliver(entry.delivery)
        finally:
            syscalls.end_delivery()
            del syscalls.replaying[vat_id]
        check.finish()
        if check.divergence is not None:
            return check.divergence
        if isinstance(result, Failed):
            return failed(name, position, result.why)
    return None


def _stop_if_asked(interrupt: StopRequest | None) -> None:
    if interrupt is not None and interrupt.requested:
        raise KeyboardInterrupt("Ctrl-C: the kernel stopped replaying its vats")
