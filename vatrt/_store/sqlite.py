"""The SQLite kernel store: the kvStore table, transcripts, crank atomicity, blocks.

Layout (readable with any SQLite tool)::

    kvStore (key TEXT PRIMARY KEY, value TEXT)         every key of the kernel schema
    transcript (vatID TEXT, incarnation INTEGER, position INTEGER, item TEXT,
                PRIMARY KEY (vatID, incarnation, position))

One writer connection, WAL, ``synchronous=FULL``. A block is one explicit
transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): `commit()` ends it, at the end
of each ``run()`` and every ``commit_every`` cranks. Inside it, each committed
crank is written in a savepoint (never a savepoint outside a transaction: that
would autocommit). A crank that aborts never reaches SQLite at all: its writes
live in the crank buffer until `commit_crank`.

Reads never touch SQLite: the whole kvStore is mirrored in memory (it is loaded
at open), so the kernel reads at dictionary speed and SQLite only sees each
crank's net writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .._crash import crash_point
from .memory import MemoryKVStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kvStore (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS transcript (
    vatID TEXT NOT NULL,
    incarnation INTEGER NOT NULL,
    position INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (vatID, incarnation, position)
);
"""


class SQLiteKVStore(MemoryKVStore):
    keeps_transcripts = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # isolation_level=None: we issue BEGIN/SAVEPOINT/COMMIT ourselves.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        super().__init__(dict(self._db.execute("SELECT key, value FROM kvStore")))
        self._in_transaction = False
        self._crank_transcript: list[tuple[str, int, int, str]] = []
        self._crank_transcript_deletes: list[tuple[str, int]] = []
        self._outside_writes: dict[str, str | None] = {}

    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    # Writes outside a crank (boot, a host queueing a message) join the block.

    def set(self, key: str, value: str) -> None:
        super().set(key, value)
        if not self._in_crank:
            self._outside_writes[key] = value

    def delete(self, key: str) -> None:
        super().delete(key)
        if not self._in_crank:
            self._outside_writes[key] = None

    def append_transcript(self, vat_id: str, incarnation: int, position: int, item: str) -> None:
        """Record one delivery; written with its crank, dropped if the crank aborts."""
        if self._in_crank:
            self._crank_transcript.append((vat_id, incarnation, position, item))
        else:
            self._begin()
            self._db.execute(
                "INSERT INTO transcript VALUES (?, ?, ?, ?)", (vat_id, incarnation, position, item)
            )

    def read_transcript(self, vat_id: str, incarnation: int) -> list[str]:
        self._flush_outside()
        rows = self._db.execute(
            "SELECT item FROM transcript WHERE vatID = ? AND incarnation = ? ORDER BY position",
            (vat_id, incarnation),
        )
        return [item for (item,) in rows]

    def delete_transcripts(self, vat_id: str, below_incarnation: int | None = None) -> None:
        """Forget a vat's transcripts (all, or those of incarnations before one),
        with the crank that decided it."""
        below = 2**62 if below_incarnation is None else below_incarnation
        if self._in_crank:
            self._crank_transcript_deletes.append((vat_id, below))
        else:
            self._begin()
            self._delete_transcripts([(vat_id, below)])

    def _delete_transcripts(self, deletes: list[tuple[str, int]]) -> None:
        self._db.executemany("DELETE FROM transcript WHERE vatID = ? AND incarnation < ?", deletes)

    def _write(self, writes: dict[str, str | None]) -> None:
        upserts = [(k, v) for k, v in writes.items() if v is not None]
        deletes = [(k,) for k, v in writes.items() if v is None]
        db = self._db
        if upserts:
            db.executemany(
                "INSERT INTO kvStore (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                upserts,
            )
        if deletes:
            db.executemany("DELETE FROM kvStore WHERE key = ?", deletes)

    def _flush_outside(self) -> None:
        if self._outside_writes:
            self._begin()
            self._write(self._outside_writes)
            self._outside_writes.clear()

    def commit_crank(self) -> None:
        writes = self._crank
        transcript = self._crank_transcript
        deletes = self._crank_transcript_deletes
        self._flush_outside()
        if writes or transcript or deletes:
            self._begin()
            db = self._db
            db.execute("SAVEPOINT crank")
            try:
                self._write(writes)
                crash_point("between-state-and-transcript")
                if transcript:
                    db.executemany("INSERT INTO transcript VALUES (?, ?, ?, ?)", transcript)
                if deletes:  # after the inserts: a vat's last delivery goes with it
                    self._delete_transcripts(deletes)
            except BaseException:
                db.execute("ROLLBACK TO SAVEPOINT crank")
                db.execute("RELEASE SAVEPOINT crank")
                raise
            db.execute("RELEASE SAVEPOINT crank")
        self._crank_transcript = []
        self._crank_transcript_deletes = []
        super().commit_crank()

    def abort_crank(self) -> None:
        self._crank_transcript = []
        self._crank_transcript_deletes = []
        super().abort_crank()

    def commit(self) -> None:
        super().commit()
        self._flush_outside()
        if self._in_transaction:
            self._db.execute("COMMIT")
            self._in_transaction = False

    def close(self) -> None:
        """Close without committing: an uncommitted block is lost, as after a crash."""
        if self._in_transaction:
            self._db.execute("ROLLBACK")
            self._in_transaction = False
        self._db.close()
