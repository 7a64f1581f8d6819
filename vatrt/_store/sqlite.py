"""The SQLite kernel store: the kvStore table, transcripts, crank atomicity, blocks.

Layout (readable with any SQLite tool)::

    kvStore (key TEXT PRIMARY KEY, value TEXT)         every key of the kernel schema
    transcript (vatID TEXT, incarnation INTEGER, position INTEGER, item TEXT,
                PRIMARY KEY (vatID, incarnation, position))

Both are ``WITHOUT ROWID`` tables (rows stored in their key's b-tree: an upsert
or delete touches one b-tree, not a table and an index; ~25% less SQLite time
per block, measured). Stores made before that keep their rowid tables, which
read and write the same.

One writer connection, WAL, ``synchronous=FULL``. Atomicity has two levels:

- a **crank** is atomic in memory (an undo log puts back what an aborted crank
  touched), and an aborted crank never reaches SQLite at all;
- a **block** (``commit_every`` cranks, and the end of every ``run()``) is one
  explicit SQLite transaction: ``BEGIN IMMEDIATE``, the block's *net* writes,
  ``COMMIT``. A key written by many cranks of the block is written once; a
  run-queue entry queued and consumed within the block is never written.

A crash therefore loses at most the uncommitted block and never leaves half a
crank. (SwingSet writes each crank inside a savepoint of the block's transaction;
measured here, that costs a third of the kernel's speed for no extra safety, since
an aborted crank is undone before it reaches SQLite.)

Reads never touch SQLite: the whole kvStore is mirrored in memory (loaded at
open), so the kernel reads at dictionary speed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .._crash import crash_point
from .memory import MemoryKVStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kvStore (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transcript (
    vatID TEXT NOT NULL,
    incarnation INTEGER NOT NULL,
    position INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (vatID, incarnation, position)
) WITHOUT ROWID;
"""

_ALL_INCARNATIONS = 2**62


class SQLiteKVStore(MemoryKVStore):
    keeps_transcripts = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # isolation_level=None: we issue BEGIN and COMMIT ourselves.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        super().__init__(dict(self._db.execute("SELECT key, value FROM kvStore")))
        # The block: net writes of committed cranks (None = delete), not yet in SQLite.
        self._block: dict[str, str | None] = {}
        # Keys of the block that SQLite does not have: deleting one again needs no SQL
        # (a promise, a run-queue entry or a c-list entry born and gone in one block).
        self._block_new: set[str] = set()
        self._block_transcript: list[tuple[str, int, int, str]] = []
        self._block_transcript_deletes: list[tuple[str, int]] = []
        self._crank_transcript: list[tuple[str, int, int, str]] = []
        self._crank_transcript_deletes: list[tuple[str, int]] = []
        self._logging = True

    # -- writes: log (memory) -> block (memory) -> SQLite at commit ----------------
    #
    # Every write goes in the undo log, in a crank or not. Between cranks (the
    # host queueing a message, boot, an upgrade request) the log is folded into the
    # block when the next crank begins or the block commits; a crank's log is
    # folded when it commits and undone when it aborts.

    def _fold(self) -> None:
        data, block, new = self._data, self._block, self._block_new
        for key, old in self._undo.items():  # every key the log saw: its value now
            if old is None and key not in block:
                new.add(key)  # absent before the block first touched it: not in SQLite
            block[key] = data.get(key)
        self._undo = {}

    def append_transcript(self, vat_id: str, incarnation: int, position: int, item: str) -> None:
        """Record one delivery; it is kept with its crank, dropped if the crank aborts."""
        row = (vat_id, incarnation, position, item)
        (self._crank_transcript if self._in_crank else self._block_transcript).append(row)

    def delete_transcripts(self, vat_id: str, below_incarnation: int | None = None) -> None:
        """Forget a vat's transcripts (all, or those of incarnations before one)."""
        below = _ALL_INCARNATIONS if below_incarnation is None else below_incarnation
        target = (
            self._crank_transcript_deletes if self._in_crank else self._block_transcript_deletes
        )
        target.append((vat_id, below))

    def begin_crank(self) -> None:
        if self._undo:  # writes made between cranks
            self._fold()
        super().begin_crank()

    def commit_crank(self) -> None:
        self._fold()
        self._block_transcript += self._crank_transcript
        self._block_transcript_deletes += self._crank_transcript_deletes
        self._crank_transcript = []
        self._crank_transcript_deletes = []
        super().commit_crank()
        self._logging = True

    def abort_crank(self) -> None:
        self._crank_transcript = []
        self._crank_transcript_deletes = []
        super().abort_crank()  # puts back what the crank wrote, unlogged: the block never had it
        self._logging = True

    def commit(self) -> None:
        """Write the block's net writes in one transaction and make them durable."""
        super().commit()
        self._fold()
        block, rows, deletes = self._block, self._block_transcript, self._block_transcript_deletes
        if not (block or rows or deletes):
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            upserts = [(k, v) for k, v in block.items() if v is not None]
            new = self._block_new
            removed = [(k,) for k, v in block.items() if v is None and k not in new]
            if upserts:
                db.executemany(
                    "INSERT INTO kvStore (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    upserts,
                )
            if removed:
                db.executemany("DELETE FROM kvStore WHERE key = ?", removed)
            crash_point("between-state-and-transcript")
            if rows:
                db.executemany("INSERT INTO transcript VALUES (?, ?, ?, ?)", rows)
            if deletes:  # after the inserts: a vat's last delivery goes with it
                db.executemany(
                    "DELETE FROM transcript WHERE vatID = ? AND incarnation < ?", deletes
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._block = {}
        self._block_new = set()
        self._block_transcript = []
        self._block_transcript_deletes = []

    # -- reads ----------------------------------------------------------------------

    def read_transcript(self, vat_id: str, incarnation: int) -> list[str]:
        rows = self._db.execute(
            "SELECT position, item FROM transcript WHERE vatID = ? AND incarnation = ?",
            (vat_id, incarnation),
        ).fetchall()
        pending = [
            (p, i) for v, n, p, i in self._block_transcript if (v, n) == (vat_id, incarnation)
        ]
        return [item for _, item in sorted(rows + pending)]

    def close(self) -> None:
        """Close without committing: an uncommitted block is lost, as after a crash."""
        self._db.close()
