"""Bringing an older store's keys up to the current schema (`schema`).

Each step rewrites keys in place, between cranks, before anything is loaded
from them; the caller records the new schema version and commits, so a store
is migrated whole or (after a crash) not at all.
"""

from __future__ import annotations

from typing import Any

from ..._store.kvstore import KVStore
from .records import PromiseRecord
from .schema import RUN_QUEUE_CHUNK, dumps, loads

_OLD_PROMISE_FIELDS = ("state", "decider", "subscribers", "queue", "data", "refCount")


def promises_to_one_key(kv: KVStore) -> int:
    """Schema 1 and 2 kept a promise in up to six keys (``kpN.state``, ...);
    schema 3 keeps one, ``kpN.record``. Returns how many promises were rewritten."""
    fields: dict[str, dict[str, str]] = {}
    for key, value in kv.items_with_prefix("kp"):
        kref, _, field = key.partition(".")
        if field in _OLD_PROMISE_FIELDS:
            fields.setdefault(kref, {})[field] = value
    for kref, old in fields.items():
        record = PromiseRecord(old.get("decider"))
        record.state = old.get("state") or "unresolved"
        record.subscribers = old["subscribers"].split(",") if old.get("subscribers") else []
        record.queue = loads(old["queue"]) if old.get("queue") else []
        record.data = loads(old["data"]) if old.get("data") else None
        record.refcount = int(old.get("refCount") or 0)
        for field in old:
            kv.delete(f"{kref}.{field}")
        kv.set(f"{kref}.record", record.encode())
    return len(fields)


def run_queue_to_chunks(kv: KVStore) -> int:
    """Schemas 1 to 3 kept each run-queue event in a key of its own
    (``runQueue.<n>``); schema 4 keeps them in chunks of `RUN_QUEUE_CHUNK`
    (``runQueue.<k>`` = ``[first position, event, ...]``, see `KernelKeeper`).
    Returns how many events were rewritten."""
    head, tail = int(kv.get("runQueue.head") or 0), int(kv.get("runQueue.tail") or 0)
    chunks: dict[int, list[Any]] = {}
    for n in range(head, tail):
        key = f"runQueue.{n}"
        text = kv.get(key)  # never missing in a sound store; kept as null, as it loaded
        if text is not None:
            kv.delete(key)
        chunks.setdefault(n // RUN_QUEUE_CHUNK, []).append(loads(text or "null"))
    for k, events in chunks.items():
        kv.set(f"runQueue.{k}", dumps([max(head, k * RUN_QUEUE_CHUNK), *events]))
    return tail - head if head < tail else 0
