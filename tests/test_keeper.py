"""The keeper's in-memory records and run-queue: crank undo, and write-back to the store."""

import pytest

from vatrt._kernel.state.keeper import KernelKeeper
from vatrt._store.memory import MemoryKVStore
from vatrt._store.sqlite import SQLiteKVStore


@pytest.fixture(params=["memory", "sqlite"])
def kv(request, tmp_path):
    store = MemoryKVStore() if request.param == "memory" else SQLiteKVStore(tmp_path / "kv.db")
    yield store
    store.close()


def snapshot(keeper, krefs):
    """What a user of the keeper can observe of `krefs` and the run-queue."""
    state = {}
    for kref in krefs:
        record = keeper.record(kref)
        if record is None:
            state[kref] = None
        elif kref.startswith("ko"):
            state[kref] = (record.owner, record.reachable, record.recognizable)
        else:
            state[kref] = (
                record.state,
                record.decider,
                record.subscribers,
                record.queue,
                record.data,
                record.refcount,
            )
    return state, keeper.run_queue_events()


def crank(kv, keeper):
    kv.begin_crank()
    keeper.begin_crank()


def test_an_aborted_crank_puts_records_and_the_run_queue_back(kv):
    keeper = KernelKeeper(kv)
    counts = keeper.refcounts
    crank(kv, keeper)
    ko = keeper.allocate_object("v1")
    kp = keeper.allocate_promise("v1")
    counts.incref(ko)
    counts.incref(kp)
    keeper.add_subscriber(kp, "v2")
    keeper.push_event({"type": "notify", "vatID": "v2", "kpid": kp})
    keeper.push_event({"type": "bringOutYourDead", "vatID": "v1"})
    kv.commit_crank()
    keeper.commit_crank()
    before = snapshot(keeper, [ko, kp, "kp41"])

    crank(kv, keeper)
    assert keeper.pop_event() == {"type": "notify", "vatID": "v2", "kpid": kp}
    counts.decref(ko)
    keeper.clear_owner(ko)
    keeper.set_resolution(kp, False, {"body": "1", "slots": []})
    keeper.delete_promise(kp)
    fresh = keeper.allocate_promise(None)
    keeper.push_event({"type": "notify", "vatID": "v1", "kpid": fresh})
    keeper.push_events_first([{"type": "bringOutYourDead", "vatID": "v3"}])
    kv.abort_crank()
    keeper.abort_crank()

    assert snapshot(keeper, [ko, kp, fresh]) == before
    assert keeper.allocate_promise(None) == fresh  # the aborted crank's id is free again


def test_flush_writes_what_survives_and_nothing_born_and_gone_since(kv):
    keeper = KernelKeeper(kv)
    counts = keeper.refcounts
    ko = keeper.allocate_object("v1")
    counts.incref(ko)
    short_lived = keeper.allocate_promise("v1")
    keeper.delete_promise(short_lived)
    keeper.push_event({"type": "bringOutYourDead", "vatID": "v1"})
    keeper.push_event({"type": "bringOutYourDead", "vatID": "v2"})
    keeper.pop_event()
    keeper.flush()

    stored = dict(kv.items_with_prefix(""))
    assert {k: v for k, v in stored.items() if k.startswith(("ko", "kp", "runQueue"))} == {
        "ko.nextID": "21",
        "kp.nextID": "41",
        f"{ko}.owner": "v1",
        f"{ko}.refCount": "1,1",
        "runQueue.head": "1",
        "runQueue.tail": "2",
        "runQueue.1": '{"type":"bringOutYourDead","vatID":"v2"}',
    }
    # a keeper reading that store sees what the writer had in memory
    assert snapshot(KernelKeeper(kv), [ko, short_lived]) == snapshot(keeper, [ko, short_lived])


def test_a_deleted_record_leaves_the_store_at_the_next_flush(kv):
    keeper = KernelKeeper(kv)
    kp = keeper.allocate_promise("v1")
    keeper.queue_message(kp, {"methargs": {"body": "[]", "slots": []}, "result": None})
    keeper.flush()
    assert kv.get(f"{kp}.queue") is not None
    keeper.delete_promise(kp)
    assert keeper.record(kp) is None
    keeper.flush()
    assert [k for k, _ in kv.items_with_prefix(kp)] == []


def test_a_reopened_store_gives_back_the_flushed_records_and_run_queue(tmp_path):
    kv = SQLiteKVStore(tmp_path / "kv.db")
    keeper = KernelKeeper(kv)
    kp = keeper.allocate_promise("v1")
    keeper.add_subscriber(kp, "v3")
    keeper.add_subscriber(kp, "v2")
    keeper.push_events_first([{"type": "bringOutYourDead", "vatID": "v9"}])
    keeper.push_event({"type": "bringOutYourDead", "vatID": "v1"})
    keeper.flush()
    kv.commit()
    kv.close()

    reopened = KernelKeeper(SQLiteKVStore(tmp_path / "kv.db"))
    assert reopened.subscribers(kp) == ["v2", "v3"]
    assert reopened.decider_of(kp) == "v1"
    assert [e["vatID"] for e in reopened.run_queue_events()] == ["v9", "v1"]
    reopened.kv.close()


def test_c_list_entries_are_undone_with_their_crank_and_written_at_flush(kv):
    keeper = KernelKeeper(kv)
    table = keeper.clist_table("v1")
    keeper.clist_put("v1", table, "ko20", "R o-50")
    keeper.clist_put("v1", table, "o-50", "ko20")
    keeper.flush()
    crank(kv, keeper)
    keeper.clist_put("v1", table, "ko20", "_ o-50")  # dropped
    keeper.clist_put("v1", table, "kp40", "R p-51")  # a promise born...
    keeper.clist_put("v1", table, "p-51", "kp40")
    keeper.clist_remove("v1", table, "o-50")
    kv.abort_crank()
    keeper.abort_crank()
    assert table == {"ko20": "R o-50", "o-50": "ko20"}

    keeper.clist_put("v1", table, "kp41", "R p-52")  # ...and one born and gone
    keeper.clist_remove("v1", table, "kp41")
    keeper.clist_put("v1", table, "ko20", "_ o-50")
    keeper.flush()
    assert kv.items_with_prefix("v1.c.") == [("v1.c.ko20", "_ o-50"), ("v1.c.o-50", "ko20")]
    assert KernelKeeper(kv).clist_table("v1") == table
