"""The key-value store: crank buffers, prefix scans, and the SQLite block."""

import sqlite3

import pytest

from vatrt._store.memory import MemoryKVStore
from vatrt._store.sqlite import SQLiteKVStore


@pytest.fixture(params=["memory", "sqlite"])
def kv(request, tmp_path):
    store = MemoryKVStore() if request.param == "memory" else SQLiteKVStore(tmp_path / "kv.db")
    yield store
    store.close()


def test_reads_in_a_crank_see_its_writes_and_deletions(kv):
    kv.set("a", "1")
    kv.set("b", "2")
    kv.begin_crank()
    kv.set("a", "10")
    kv.delete("b")
    assert kv.get("a") == "10"
    assert kv.get("b") is None
    kv.commit_crank()
    assert (kv.get("a"), kv.get("b")) == ("10", None)


def test_an_aborted_crank_leaves_no_trace(kv):
    kv.set("a", "1")
    kv.begin_crank()
    kv.set("a", "2")
    kv.set("c", "3")
    kv.delete("a")
    kv.abort_crank()
    assert kv.get("a") == "1"
    assert kv.get("c") is None


def test_prefix_scans_merge_the_crank_buffer_and_sort(kv):
    for key in ("v1.c.ko3", "v1.c.ko1", "v2.c.ko1", "v10.c.ko1", "ko1.refCount"):
        kv.set(key, "x")
    kv.begin_crank()
    kv.set("v1.c.ko2", "y")
    kv.delete("v1.c.ko3")
    assert [k for k, _ in kv.items_with_prefix("v1.")] == ["v1.c.ko1", "v1.c.ko2"]
    assert [k for k, _ in kv.items_with_prefix("v1")] == ["v1.c.ko1", "v1.c.ko2", "v10.c.ko1"]
    assert [k for k, _ in kv.items_with_prefix("ko")] == ["ko1.refCount"]
    kv.commit_crank()


def test_commit_inside_a_crank_is_refused(kv):
    kv.begin_crank()
    with pytest.raises(RuntimeError, match="inside a crank"):
        kv.commit()
    kv.abort_crank()


def test_sqlite_keeps_only_committed_blocks(tmp_path):
    path = tmp_path / "kv.db"
    kv = SQLiteKVStore(path)
    kv.begin_crank()
    kv.set("kept", "1")
    kv.commit_crank()
    kv.commit()
    kv.begin_crank()
    kv.set("lost", "2")
    kv.commit_crank()
    kv.close()  # no commit: as after a crash
    reopened = SQLiteKVStore(path)
    assert reopened.get("kept") == "1"
    assert reopened.get("lost") is None
    reopened.close()
    rows = sqlite3.connect(path).execute("SELECT key, value FROM kvStore").fetchall()
    assert rows == [("kept", "1")]


def test_sqlite_transcripts_follow_their_cranks(tmp_path):
    kv = SQLiteKVStore(tmp_path / "kv.db")
    kv.begin_crank()
    kv.append_transcript("v1", 0, 0, "first")
    kv.commit_crank()
    kv.begin_crank()
    kv.append_transcript("v1", 0, 1, "aborted")
    kv.abort_crank()
    kv.begin_crank()
    kv.append_transcript("v1", 0, 1, "second")
    kv.commit_crank()
    kv.commit()
    assert kv.read_transcript("v1", 0) == ["first", "second"]
    kv.begin_crank()
    kv.delete_transcripts("v1")
    kv.commit_crank()
    kv.commit()
    assert kv.read_transcript("v1", 0) == []
    kv.close()
