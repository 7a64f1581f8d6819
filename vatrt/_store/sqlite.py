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

Failures are `StoreError`s naming the file and SQLite's cause: every
``sqlite3.Error`` out of this module is turned into one (at open, at commit, in a
transcript read, at close). A block whose commit fails is rolled back whole (the
file keeps the last commit) and stays pending in memory, so a later commit can
write it once the cause is gone.

One process per store: the store holds an exclusive ``flock`` on a sidecar file
``<store>.lock`` (holding the owner's pid) from open to close, taken before
SQLite touches the file. A second opener, in another process or this one, is
refused at once with a `StoreError` naming the holder; the kernel dying (even by
``kill -9``) releases it. SQLite's ``locking_mode=EXCLUSIVE`` was measured as the
alternative: it refuses only after the busy timeout, says only "database is
locked" (no pid), and also shuts out read-only SQLite tools; see
docs/persistence.md.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from .._crash import crash_point
from ..errors import StoreError
from .memory import MemoryKVStore

if sys.platform != "win32":
    import fcntl

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kvStore (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS transcript (
    vatID TEXT NOT NULL,
    incarnation INTEGER NOT NULL,
    position INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (vatID, incarnation, position)
) WITHOUT ROWID""",
)
_TABLES = {"kvStore", "transcript"}

# What a user should read first for SQLite's result codes (its own words follow).
_HINTS = {
    "SQLITE_NOTADB": "not a SQLite database (or its header is destroyed)",
    "SQLITE_CORRUPT": "the file is corrupt or truncated",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "the file (or its folder) is read-only",
    "SQLITE_CANTOPEN": "the file cannot be opened",
    "SQLITE_IOERR": "an I/O error",
    "SQLITE_PERM": "permission denied",
}

_ALL_INCARNATIONS = 2**62


class SQLiteKVStore(MemoryKVStore):
    keeps_transcripts = True
    records_transcripts = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._lock_fd: int | None = _lock(self.path)  # before SQLite reads or writes a byte
        self._db: sqlite3.Connection | None = None
        try:
            # isolation_level=None: we issue BEGIN and COMMIT ourselves.
            self._db = db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            _prepare(db, self.path)
            initial = dict(db.execute("SELECT key, value FROM kvStore"))
        except sqlite3.Error as e:
            self._release()
            raise self._error("cannot open it", e) from e
        except BaseException:
            self._release()
            raise
        super().__init__(initial)
        # The block: net writes of committed cranks (None = delete), not yet in SQLite.
        self._block: dict[str, str | None] = {}
        # Keys of the block that SQLite does not have: deleting one again needs no SQL
        # (a promise, a run-queue entry or a c-list entry born and gone in one block).
        self._block_new: set[str] = set()
        # Transcript rows and deletions of the block; a crank's go at the end, and
        # an aborted crank's are cut off at where it began.
        self._block_transcript: list[tuple[str, int, int, str]] = []
        self._block_transcript_deletes: list[tuple[str, int]] = []
        self._crank_began_at = (0, 0)
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

    # A write in a crank goes in the undo log (folded into the block when the crank
    # commits); between cranks (the keeper's write-back before a commit, mostly)
    # no crank can undo it, so it goes straight into the block. One frame either
    # way: these run ~5 times per crank.

    def set(self, key: str, value: str) -> None:
        data = self._data
        old = data.get(key)
        if self._in_crank:
            undo = self._undo
            if key not in undo:
                undo[key] = old
        else:
            block = self._block
            if old is None and key not in block:
                self._block_new.add(key)
            block[key] = value
        data[key] = value
        if old is None and key[0] == "v":
            self._unindexed.append(key)

    def delete(self, key: str) -> None:
        old = self._data.pop(key, None)
        if old is None:
            return
        if self._in_crank:
            undo = self._undo
            if key not in undo:
                undo[key] = old
        else:
            self._block[key] = None
        if key[0] == "v":
            self._unindexed.append(key)

    def append_transcript(self, vat_id: str, incarnation: int, position: int, item: str) -> None:
        """Record one delivery; it is kept with its crank, dropped if the crank aborts."""
        self._block_transcript.append((vat_id, incarnation, position, item))

    def delete_transcripts(self, vat_id: str, below_incarnation: int | None = None) -> None:
        """Forget a vat's transcripts (all, or those of incarnations before one)."""
        below = _ALL_INCARNATIONS if below_incarnation is None else below_incarnation
        self._block_transcript_deletes.append((vat_id, below))

    def begin_crank(self) -> None:
        if self._undo:  # writes made between cranks
            self._fold()
        self._crank_began_at = (len(self._block_transcript), len(self._block_transcript_deletes))
        super().begin_crank()

    def commit_crank(self) -> None:
        if self._undo:
            self._fold()
        super().commit_crank()
        self._logging = True

    def abort_crank(self) -> None:
        rows, deletes = self._crank_began_at
        del self._block_transcript[rows:]
        del self._block_transcript_deletes[deletes:]
        super().abort_crank()  # puts back what the crank wrote, unlogged: the block never had it
        self._logging = True

    def commit(self) -> None:
        """Write the block's net writes in one transaction and make them durable."""
        super().commit()
        self._fold()
        block, rows, deletes = self._block, self._block_transcript, self._block_transcript_deletes
        if not (block or rows or deletes):
            return
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
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
            db.execute("COMMIT")
        except BaseException as e:
            # SQLite rolls some failures back itself (a full disk does): a ROLLBACK
            # then fails with "no transaction is active" and must not hide the cause.
            _rollback(db, e)
            if isinstance(e, sqlite3.Error):
                raise self._error(
                    "cannot commit (the block was rolled back; the file keeps the last commit)",
                    e,
                ) from e
            raise
        self._block = {}
        self._block_new = set()
        self._block_transcript = []
        self._block_transcript_deletes = []

    # -- reads ----------------------------------------------------------------------

    def read_transcript(self, vat_id: str, incarnation: int) -> list[str]:
        try:
            rows = (
                self._connection()
                .execute(
                    "SELECT position, item FROM transcript WHERE vatID = ? AND incarnation = ?",
                    (vat_id, incarnation),
                )
                .fetchall()
            )
        except sqlite3.Error as e:
            raise self._error(f"cannot read the transcript of {vat_id}", e) from e
        # The block's rows, not those of a crank under way (as if still apart).
        block = self._block_transcript
        if self._in_crank:
            block = block[: self._crank_began_at[0]]
        pending = [(p, i) for v, n, p, i in block if (v, n) == (vat_id, incarnation)]
        return [item for _, item in sorted(rows + pending)]

    def transcript_length(self, vat_id: str, incarnation: int) -> int:
        return len(self.read_transcript(vat_id, incarnation))

    def close(self) -> None:
        """Close without committing: an uncommitted block is lost, as after a crash.

        Releases the store's lock; closing twice is harmless."""
        try:
            if self._db is not None:
                self._db.close()
        except sqlite3.Error as e:
            raise self._error("cannot close it", e) from e
        finally:
            self._release()

    def __del__(self) -> None:
        # A store dropped unclosed (an open that failed after it) must not keep
        # its file locked for the rest of the process.
        if hasattr(self, "_lock_fd"):  # not when the lock itself was refused
            self._release()

    # -- errors and the lock ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(str(self.path), "is closed")
        return self._db

    def _error(self, doing: str, error: sqlite3.Error) -> StoreError:
        hint = _HINTS.get(getattr(error, "sqlite_errorname", ""), "")
        cause = f"{hint} ({error})" if hint else str(error)
        return StoreError(str(self.path), f"{doing}: {cause}")

    def _release(self) -> None:
        """Close the connection (if open) and drop the lock, raising nothing."""
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases its flock


def _lock_path(path: Path) -> Path:
    real = Path(os.path.realpath(path))  # SQLite follows symlinks to the file too
    return real.with_name(real.name + ".lock")


def _lock(path: Path) -> int | None:
    """Take the store's exclusive lock, or refuse: one process per store."""
    if sys.platform == "win32":
        return None  # no flock: one process per store is not enforced on Windows
    lock_path = _lock_path(path)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StoreError(str(path), f"cannot create its lock file {str(lock_path)!r}: {e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if not isinstance(e, BlockingIOError):
            raise StoreError(str(path), f"cannot lock {str(lock_path)!r}: {e}") from e
        if holder == str(os.getpid()):
            raise StoreError(
                str(path), "is already open in this process (close that kernel first)"
            ) from None
        raise StoreError(
            str(path), f"is open in another process (pid {holder}); one process per store"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # the pid is only for the message of a refused opener
    return fd


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """Check the file is a vatrt store (or empty), create the tables, probe writability.

    A read-only file opens without complaint and would fail at the first commit,
    with the kernel's work lost: one page write, rolled back, finds it now.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if tables and "kvStore" not in tables:
            raise StoreError(
                str(path), "is a SQLite database but not a vatrt store (it has no kvStore table)"
            )
        for statement in _SCHEMA:
            db.execute(statement)
        ((version,),) = db.execute("PRAGMA user_version").fetchall()
        db.execute(f"PRAGMA user_version = {int(version)}")  # the write probe
        db.execute("ROLLBACK" if tables >= _TABLES else "COMMIT")
    except BaseException as e:
        _rollback(db, e)
        raise


def _rollback(db: sqlite3.Connection, cause: BaseException) -> None:
    """Roll back an open transaction after `cause`, never hiding it."""
    if not db.in_transaction:
        return  # SQLite already did
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error as e:
        cause.add_note(f"and the rollback failed: {e}")
