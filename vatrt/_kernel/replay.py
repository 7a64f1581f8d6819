"""Reopening a store: migrating its schema and rebuilding vats by replay.

Each live vat gets a fresh worker for its current incarnation, and its
transcript is delivered again in order. Every syscall is checked against the
recorded one and answered from the record: kernel state is already past these
deliveries, so replay changes nothing in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError, ReplayDivergence
from .keeper import SCHEMA_VERSION, loads
from .syscalls import Replay

if TYPE_CHECKING:
    from .kernel import Kernel


def migrate(kernel: Kernel) -> None:
    """Bring an older store's schema up to this kernel's."""
    version = int(kernel.kv.get("kernel.schemaVersion") or 1)
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"this store has schema version {version}; this vatrt reads up to "
            f"{SCHEMA_VERSION}: upgrade vatrt"
        )
    if version < 2:
        # Schema 1 had no retained vatParameters: its vats keep none, and are
        # ineligible for kernel-unilateral upgrade (SPEC 5, rule 7).
        kernel.kv.set("kernel.schemaVersion", str(SCHEMA_VERSION))
        kernel.commit()


async def replay_vats(kernel: Kernel) -> None:
    """Rebuild every live vat by replaying its current incarnation's transcript.

    Syscalls are checked against the transcript and answered from it; a
    difference is a `ReplayDivergence` naming the vat, the delivery and what
    differed, and the kernel does not open."""
    kv = kernel.kv
    for vat_id in kernel.keeper.vat_ids():
        incarnation = int(kv.get(f"{vat_id}.incarnation") or 0)
        items = kv.read_transcript(vat_id, incarnation)
        if not items:
            continue  # its start is still queued: it starts when that runs
        name = kernel.keeper.vat_options(vat_id)["name"]
        worker = kernel.make_worker(vat_id, incarnation, kv.get(f"{vat_id}.source") or "")
        await kernel.start_worker(vat_id, worker)
        for position, text in enumerate(items):
            item = loads(text)
            replay = kernel.syscalls.replaying[vat_id] = Replay(name, position, item["s"])
            try:
                result = await worker.deliver(item["d"])
            finally:
                del kernel.syscalls.replaying[vat_id]
            replay.finish()
            if replay.divergence is None and result[0] != "ok":
                replay.divergence = (
                    f"vat {name!r} failed replaying delivery {position}: {result[1]}"
                )
            if replay.divergence is not None:
                raise ReplayDivergence(replay.divergence)
        kernel.slog.write({"type": "vat-replayed", "vatID": vat_id, "deliveries": len(items)})
