"""The keeper's in-memory records and run-queue: crank undo, and write-back to the store."""

import orjson
import pytest

from vatrt import KernelPanic
from vatrt._kernel.promises import Promises
from vatrt._kernel.state.keeper import KernelKeeper
from vatrt._kernel.state.records import ObjectRecord
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
        # chunk 0 (positions 0-63) from its first live position (schema 4)
        "runQueue.0": '[1,{"type":"bringOutYourDead","vatID":"v2"}]',
    }
    # a keeper reading that store sees what the writer had in memory
    assert snapshot(KernelKeeper(kv), [ko, short_lived]) == snapshot(keeper, [ko, short_lived])


def test_a_long_run_queue_is_stored_in_chunks_and_read_back_across_them(kv):
    keeper = KernelKeeper(kv)
    for n in range(150):
        keeper.push_event({"type": "bringOutYourDead", "vatID": f"v{n}"})
    for _ in range(70):  # consumed: chunk 0 entirely, chunk 1 in part
        keeper.pop_event()
    keeper.push_events_first([{"type": "bringOutYourDead", "vatID": "first"}])
    keeper.flush()

    stored = {k: orjson.loads(v) for k, v in kv.items_with_prefix("runQueue.")}
    assert sorted(stored) == ["runQueue.1", "runQueue.2", "runQueue.head", "runQueue.tail"]
    assert (stored["runQueue.head"], stored["runQueue.tail"]) == (69, 150)
    assert stored["runQueue.1"][0] == 69
    assert len(stored["runQueue.1"]) == 1 + 128 - 69
    reopened = KernelKeeper(kv).run_queue_events()
    assert reopened == keeper.run_queue_events()
    assert [e["vatID"] for e in reopened][:2] == ["first", "v70"]
    assert len(reopened) == 81

    while keeper.pop_event() is not None:
        pass
    keeper.flush()
    assert dict(kv.items_with_prefix("runQueue.")) == {
        "runQueue.head": "150",
        "runQueue.tail": "150",
    }, "a chunk with no live event is deleted"


def test_prune_forgets_what_is_gone_and_keeps_what_lives_for_the_next_flush():
    def work(keeper, prune):
        ko = keeper.allocate_object("v1")
        keeper.refcounts.incref(ko)
        kp = keeper.allocate_promise("v1")
        table = keeper.clist_table("v1")
        keeper.clist_put("v1", table, ko, "R o+1")
        keeper.clist_put("v1", table, kp, "R p+1")
        keeper.flush()
        keeper.delete_promise(kp)
        keeper.clist_remove("v1", table, kp)
        keeper.clist_put("v1", table, "o+1", ko)  # live, not yet written
        keeper.push_event({"type": "bringOutYourDead", "vatID": "v1"})
        keeper.pop_event()
        return kp, keeper.prune() if prune else None

    pruned_kv, flushed_kv = MemoryKVStore(), MemoryKVStore()
    pruned = KernelKeeper(pruned_kv)
    kp, left = work(pruned, prune=True)
    stored = dict(pruned_kv.items_with_prefix(""))
    assert not [k for k in stored if k.startswith(f"{kp}.") or k.endswith(f".c.{kp}")]
    assert "v1.c.o+1" not in stored, "a live change waits for the flush"
    assert left == 1
    flushed = KernelKeeper(flushed_kv)
    work(flushed, prune=False)
    pruned.flush()
    flushed.flush()
    assert dict(pruned_kv.items_with_prefix("")) == dict(flushed_kv.items_with_prefix(""))


def test_events_put_before_position_zero_are_stored_in_chunks_below_zero(kv):
    keeper = KernelKeeper(kv)
    keeper.push_event({"type": "bringOutYourDead", "vatID": "later"})
    first = [{"type": "bringOutYourDead", "vatID": f"v{n}"} for n in range(70)]
    keeper.push_events_first(first)  # positions -70 .. -1: chunks -2 and -1
    keeper.flush()
    assert sorted(k for k, _ in kv.items_with_prefix("runQueue.")) == [
        "runQueue.-1",
        "runQueue.-2",
        "runQueue.0",
        "runQueue.head",
        "runQueue.tail",
    ]
    assert KernelKeeper(kv).run_queue_events() == [
        *first,
        {"type": "bringOutYourDead", "vatID": "later"},
    ]


def test_a_deleted_record_leaves_the_store_at_the_next_flush(kv):
    keeper = KernelKeeper(kv)
    kp = keeper.allocate_promise("v1")
    keeper.queue_message(kp, {"methargs": {"body": "[]", "slots": []}, "result": None})
    keeper.flush()
    assert orjson.loads(kv.get(f"{kp}.record"))["queue"]  # one key per promise (schema 3)
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


def abort(kv, keeper):
    kv.abort_crank()
    keeper.abort_crank()


def test_messages_queued_on_a_promise_by_an_aborted_crank_are_gone_and_the_rest_stay(kv):
    keeper = KernelKeeper(kv)
    kp = keeper.allocate_promise("v1")
    first = {"methargs": {"body": '["a",[]]', "slots": []}, "result": None}
    second = {"methargs": {"body": '["b",[]]', "slots": []}, "result": None}
    keeper.queue_message(kp, first)
    crank(kv, keeper)
    keeper.queue_message(kp, second)
    keeper.queue_message(kp, second)
    assert keeper.promise_queue(kp) == [first, second, second]
    abort(kv, keeper)
    assert keeper.promise_queue(kp) == [first]
    crank(kv, keeper)  # queued and then resolved in one aborted crank
    keeper.queue_message(kp, second)
    keeper.set_resolution(kp, False, {"body": "1", "slots": []})
    abort(kv, keeper)
    assert keeper.promise_state(kp) == "unresolved"
    assert keeper.promise_queue(kp) == [first]
    keeper.flush()
    assert KernelKeeper(kv).promise_queue(kp) == [first]


def test_a_run_queue_crank_that_pops_and_pushes_is_undone_exactly(kv):
    keeper = KernelKeeper(kv)
    events = [{"type": "bringOutYourDead", "vatID": f"v{n}"} for n in range(1, 5)]
    for event in events[:2]:
        keeper.push_event(event)
    crank(kv, keeper)
    assert keeper.pop_event() == events[0]
    keeper.push_event(events[2])
    keeper.push_event(events[3])
    assert keeper.pop_event() == events[1]
    abort(kv, keeper)
    assert keeper.run_queue_events() == events[:2]
    keeper.flush()
    assert KernelKeeper(kv).run_queue_events() == events[:2]


def test_importers_of_an_object_are_known_without_loading_other_vats_c_lists(kv):
    writer = KernelKeeper(kv)
    for n in range(1, 301):
        vat_id = writer.allocate_vat_id()
        writer.add_vat_name(f"idle{n}", vat_id)
        writer._records[f"ko{1000 + n}"] = ObjectRecord(vat_id)
        writer.vat(vat_id).clist.add(f"ko{1000 + n}", "o+1", counted=False)  # its own export
    exporter, importers = "v1", ["v7", "v150"]
    kref = "ko1001"  # v1's export, imported by two of the 300
    for vat_id in importers:
        writer.vat(vat_id).clist.add(kref, "o-50", counted=True)
    writer.flush()

    keeper = KernelKeeper(kv)
    assert keeper.importers_of(kref) == sorted(importers)
    assert keeper.importers_of("ko1002") == []
    assert keeper._clists == {}, "no c-list was loaded to answer"
    assert exporter not in keeper.importers_of(kref)  # an export is not an import
    crank(kv, keeper)
    keeper.vat("v9").clist.add(kref, "o-51", counted=False)
    keeper.vat("v7").clist.delete(kref)
    assert keeper.importers_of(kref) == ["v150", "v9"]
    abort(kv, keeper)
    assert keeper.importers_of(kref) == sorted(importers)


def test_a_refcount_going_below_zero_is_a_kernel_panic_naming_the_kref(kv):
    keeper = KernelKeeper(kv)
    ko = keeper.allocate_object("v1")
    kp = keeper.allocate_promise(None)
    for kref in (ko, kp):
        with pytest.raises(KernelPanic, match=rf"refcount of {kref} went below zero"):
            keeper.refcounts.decref(kref)


def test_a_send_into_a_forwarding_cycle_rejects_naming_the_cycle(kv):
    keeper = KernelKeeper(kv)
    kp1, kp2, kp3 = (keeper.allocate_promise(None) for _ in range(3))
    promises = Promises(keeper, has_worker=lambda vat_id: True)

    def forward(kpid, to):
        keeper.set_resolution(kpid, False, {"body": '{"@qclass":"slot","index":0}', "slots": [to]})

    forward(kp1, kp2)
    forward(kp2, kp3)
    forward(kp3, kp1)
    verdict, reason = promises.route(kp1)
    assert verdict == "reject"
    assert f"promise forwarding cycle: {kp1} -> {kp2} -> {kp3} -> {kp1}" in reason["body"]
    forward(kp3, kp3)  # a promise forwarded to itself
    assert "forwarding cycle" in promises.route(kp3)[1]["body"]
