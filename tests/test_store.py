"""The key-value store: crank buffers, prefix scans, and the SQLite block."""

import sqlite3

import pytest

from vatrt._store import memory
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
    kv.set("new", "3")
    kv.delete("b")
    assert kv.get("a") == "10"
    assert kv.get("new") == "3"
    assert kv.get("b") is None
    kv.abort_crank()


def test_commit_crank_applies_the_cranks_writes_and_deletions(kv):
    kv.set("a", "1")
    kv.set("b", "2")
    kv.begin_crank()
    kv.set("a", "10")
    kv.set("new", "3")
    kv.delete("b")
    kv.commit_crank()
    assert (kv.get("a"), kv.get("b"), kv.get("new")) == ("10", None, "3")
    kv.begin_crank()
    kv.set("a", "100")
    kv.abort_crank()
    assert kv.get("a") == "10"  # aborting the next crank does not undo a committed one


def test_abort_crank_discards_the_cranks_writes_and_deletions(kv):
    kv.set("a", "1")
    kv.set("b", "2")
    kv.begin_crank()
    kv.set("a", "2")
    kv.delete("a")
    kv.set("a", "3")
    kv.delete("b")
    kv.set("c", "4")
    kv.set("d", "5")
    kv.delete("d")
    kv.abort_crank()
    assert (kv.get("a"), kv.get("b"), kv.get("c"), kv.get("d")) == ("1", "2", None, None)
    assert kv.items_with_prefix("") == [("a", "1"), ("b", "2")]


def test_an_aborted_crank_leaves_a_vats_keys_as_they_were(kv):
    kv.set("v1.c.ko1", "o-50")
    kv.begin_crank()
    kv.set("v1.c.ko2", "o-51")
    kv.delete("v1.c.ko1")
    kv.abort_crank()
    assert kv.items_with_prefix("v1.") == [("v1.c.ko1", "o-50")]
    assert kv.items_with_prefix("v1.c.") == [("v1.c.ko1", "o-50")]


def test_a_vats_keys_scan_exactly_after_churning_past_the_lazy_index(kv, monkeypatch):
    monkeypatch.setattr(memory, "_REINDEX_AFTER", 3)
    for n in range(10):  # born and gone, some folded in at a crank's end, some not
        kv.begin_crank()
        kv.set(f"v1.c.kp{n}", "p-1")
        kv.set(f"v2.c.kp{n}", "p-1")
        if n % 3:
            kv.delete(f"v1.c.kp{n}")
        kv.commit_crank()
    kv.delete("v2.c.kp9")
    assert [k for k, _ in kv.items_with_prefix("v1.c.")] == [
        "v1.c.kp0",
        "v1.c.kp3",
        "v1.c.kp6",
        "v1.c.kp9",
    ]
    assert len(kv.items_with_prefix("v2.")) == 9
    for n in range(9):
        kv.delete(f"v2.c.kp{n}")
    assert kv.items_with_prefix("v2.") == []


def test_items_with_prefix_merges_the_crank_and_committed_data_sorted(kv):
    for key in ("v1.c.ko3", "v1.c.ko1", "v2.c.ko1", "v10.c.ko1", "ko1.refCount", "kp1.state"):
        kv.set(key, key.upper())
    kv.begin_crank()
    kv.set("v1.c.ko2", "y")
    kv.set("v1.c.ko1", "changed")
    kv.delete("v1.c.ko3")
    kv.set("ko0.owner", "v1")
    assert kv.items_with_prefix("v1.") == [("v1.c.ko1", "changed"), ("v1.c.ko2", "y")]
    assert [k for k, _ in kv.items_with_prefix("v1")] == ["v1.c.ko1", "v1.c.ko2", "v10.c.ko1"]
    assert kv.items_with_prefix("ko") == [("ko0.owner", "v1"), ("ko1.refCount", "KO1.REFCOUNT")]
    assert kv.items_with_prefix("nothing") == []
    kv.commit_crank()
    assert [k for k, _ in kv.items_with_prefix("v1.c.")] == ["v1.c.ko1", "v1.c.ko2"]


def test_deleting_a_missing_key_is_harmless(kv):
    kv.begin_crank()
    kv.delete("never")
    kv.commit_crank()
    assert kv.get("never") is None


def test_commit_inside_a_crank_raises(kv):
    kv.begin_crank()
    with pytest.raises(RuntimeError, match="inside a crank"):
        kv.commit()
    kv.abort_crank()
    kv.commit()  # fine once the crank is over


def test_a_crank_cannot_begin_inside_another(kv):
    kv.begin_crank()
    with pytest.raises(RuntimeError, match="begin_crank inside a crank"):
        kv.begin_crank()
    kv.abort_crank()


def test_a_memory_store_starts_from_its_initial_data():
    kv = MemoryKVStore({"v1.c.o+0": "ko1", "ko1.owner": "v1"})
    kv.begin_crank()
    kv.delete("v1.c.o+0")
    kv.abort_crank()
    assert kv.items_with_prefix("v1.") == [("v1.c.o+0", "ko1")]
    assert kv.get("ko1.owner") == "v1"


def test_sqlite_keeps_only_committed_blocks(tmp_path):
    path = tmp_path / "kv.db"
    kv = SQLiteKVStore(path)
    kv.begin_crank()
    kv.set("kept", "1")
    kv.set("gone", "x")
    kv.commit_crank()
    kv.begin_crank()
    kv.set("aborted", "y")
    kv.abort_crank()
    kv.commit()
    kv.begin_crank()
    kv.set("lost", "2")
    kv.commit_crank()
    kv.close()  # no commit: as after a crash
    reopened = SQLiteKVStore(path)
    assert reopened.get("kept") == "1"
    assert reopened.get("lost") is None
    assert reopened.get("aborted") is None
    reopened.begin_crank()
    reopened.delete("gone")
    reopened.commit_crank()
    reopened.commit()
    reopened.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, value FROM kvStore ORDER BY key").fetchall()
    assert rows == [("kept", "1")]


def test_sqlite_block_writes_net_changes_including_writes_between_cranks(tmp_path):
    path = tmp_path / "kv.db"
    kv = SQLiteKVStore(path)
    kv.set("host", "queued")  # between cranks, as a host's queue_to_vat_root writes
    kv.set("old", "1")
    kv.commit()
    statements = []
    kv._db.set_trace_callback(statements.append)
    kv.begin_crank()
    kv.set("born", "x")  # born and gone within the block: SQLite never hears of it
    kv.delete("old")
    kv.commit_crank()
    kv.set("between", "2")
    kv.begin_crank()
    kv.delete("born")
    kv.commit_crank()
    kv.commit()
    kv.close()
    assert not [s for s in statements if "born" in s]
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, value FROM kvStore ORDER BY key").fetchall()
    assert rows == [("between", "2"), ("host", "queued")]


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
    assert kv.read_transcript("v1", 0) == ["first", "second"]  # before the block commits
    kv.commit()
    assert kv.read_transcript("v1", 0) == ["first", "second"]
    kv.begin_crank()
    kv.delete_transcripts("v1")
    kv.commit_crank()
    kv.commit()
    assert kv.read_transcript("v1", 0) == []
    kv.close()
