"""The key-value store interface the kernel keeps all of its state in.

A crank's writes become the block's on `commit_crank`; `abort_crank` undoes
them (a failed delivery leaves no trace). `commit` makes the block durable: a
no-op in memory, a transaction commit in SQLite. The
kernel never sees which implementation it has, so a persistent store slots in
behind this interface without touching the kernel.
"""

from __future__ import annotations

from typing import Protocol


class KVStore(Protocol):
    #: Whether vats' transcripts are kept (a store that can be reopened).
    keeps_transcripts: bool
    #: Whether deliveries are recorded in transcripts at all: a store that keeps
    #: them, or an in-memory one asked to for a vat warehouse (evicted vats replay).
    records_transcripts: bool
    #: Where the store lives, for errors: its file, or ``"<memory>"``.
    location: str

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def items_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Every (key, value) whose key starts with `prefix`, sorted by key."""
        ...

    def begin_crank(self) -> None: ...

    def commit_crank(self) -> None: ...

    def abort_crank(self) -> None: ...

    def commit(self) -> None:
        """End a block: make every committed crank durable."""
        ...

    def close(self) -> None: ...

    def append_transcript(self, vat_id: str, incarnation: int, position: int, item: str) -> None:
        """Record one delivery of an incarnation (a no-op where nothing is replayed)."""
        ...

    def read_transcript(self, vat_id: str, incarnation: int) -> list[str]: ...

    def transcript_length(self, vat_id: str, incarnation: int) -> int:
        """How many entries `read_transcript` would return."""
        ...

    def delete_transcripts(self, vat_id: str, below_incarnation: int | None = None) -> None: ...
