"""The vat warehouse's limit: how many vats a kernel keeps loaded at once.

The mechanism (least-recently-used order, eviction, loading an offline vat back
by replay) lives in `workers.WorkerTable`; this module only decides the limit,
because it depends on the store: eviction needs each vat's transcript to bring
it back. A store that keeps transcripts (SQLite) has them, and gets
`DEFAULT_MAX_VATS_ONLINE` unless the config says otherwise. An in-memory store
records them only when the config sets ``max_vats_online`` (the controller opens
it so): recording costs every delivery an encoded entry, which a simulation
that fits in memory should not pay for nothing.
"""

from __future__ import annotations

from .._store.kvstore import KVStore
from ..config import DEFAULT_MAX_VATS_ONLINE, KernelConfig
from ..errors import ConfigError


def warehouse_limit(config: KernelConfig, kv: KVStore) -> int | None:
    """The kernel's ``max_vats_online``, or None for no limit."""
    limit = config.max_vats_online
    if limit is None:
        return DEFAULT_MAX_VATS_ONLINE if kv.records_transcripts else None
    if not kv.records_transcripts:
        raise ConfigError(
            f"max_vats_online = {limit} needs a store that records transcripts "
            f"(evicted vats come back by replay); {kv.location} does not"
        )
    return limit
