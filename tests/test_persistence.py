"""The SQLite store: reopen = replay, transcripts, schema migration, crank atomicity."""

import sqlite3

import orjson
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

COUNTER = """
from vatrt.vat import E, Far

VERSION = 1

def build_root_object(vat_powers, vat_parameters, baggage):
    ephemeral = {"seen": []}          # rebuilt on reopen only by replaying deliveries
    baggage.provide("total", lambda: 0)
    peers = {}

    class Counter:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def add(self, n):
            ephemeral["seen"].append(n)
            baggage.set("total", baggage.get("total") + n)
            return baggage.get("total")
        def seen(self):
            return list(ephemeral["seen"])
        def version(self):
            return VERSION
        async def relay(self, n):
            return await E(peers["other"]).add(n)
    return Far("Counter", Counter())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path / "cfg", {"counter": COUNTER, "other": COUNTER}, bootstrap="counter"
    )


async def test_reopening_a_store_continues_where_it_left_off(anyio_backend, config, tmp_path):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        for n in (1, 2, 3):
            await kernel.call("counter", "add", n)
        await kernel.call("counter", "relay", 10)
        before = kernel.dump()
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert kernel.dump() == before
        # ephemeral state came back by replaying the transcript
        assert await kernel.call("counter", "seen") == [1, 2, 3]
        assert await kernel.call("other", "seen") == [10]
        assert await kernel.call("counter", "add", 4) == 10
        kernel.audit()
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert await kernel.call("counter", "seen") == [1, 2, 3, 4]
        kernel.audit()


async def test_the_store_is_a_wal_sqlite_file_with_a_kvstore_table(anyio_backend, config, tmp_path):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        vat_id = kernel.vat_id("counter")
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = dict(db.execute("SELECT key, value FROM kvStore"))
    assert rows["kernel.schemaVersion"] == "4"
    assert orjson.loads(rows[f"{vat_id}.vatParameters"]) == {"body": "{}", "slots": []}
    transcript = db.execute(
        "SELECT item FROM transcript WHERE vatID = ? ORDER BY position", (vat_id,)
    ).fetchall()
    assert orjson.loads(transcript[0][0])["d"][0] == "startVat"


async def test_a_replay_that_differs_from_the_transcript_is_a_clear_divergence(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        await kernel.call("counter", "add", 5)
        vat_id = kernel.vat_id("counter")
    db = sqlite3.connect(store)
    position, text = db.execute(
        "SELECT position, item FROM transcript WHERE vatID = ? AND item LIKE '%vatstoreSet%' "
        "ORDER BY position DESC",
        (vat_id,),
    ).fetchone()
    tampered = text.replace('\\\\"5\\\\"', '\\\\"6\\\\"').replace('"body":"5"', '"body":"6"')
    assert tampered != text
    db.execute(
        "UPDATE transcript SET item = ? WHERE vatID = ? AND position = ?",
        (tampered, vat_id, position),
    )
    db.commit()
    db.close()
    with pytest.raises(
        vatrt.ReplayDivergence,
        match=rf"vat 'counter' diverged from its transcript at delivery {position}: expected .*got",
    ):
        async with vatrt.open_kernel(config, store=store):
            pass


async def test_an_upgrade_starts_a_new_transcript(anyio_backend, config, tmp_path):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        for n in range(5):
            await kernel.call("counter", "add", n)
        vat_id = kernel.vat_id("counter")
        await kernel.restart_vat("counter")
        await kernel.call("counter", "add", 100)
    db = sqlite3.connect(store)
    rows = db.execute(
        "SELECT incarnation, COUNT(*) FROM transcript WHERE vatID = ? GROUP BY incarnation",
        (vat_id,),
    ).fetchall()
    assert rows == [(1, 2)]  # startVat of incarnation 1, then add(100)
    db.close()
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert await kernel.call("counter", "seen") == [100]
        assert await kernel.call("counter", "add", 0) == 110
        kernel.audit()


async def test_a_store_from_schema_version_1_opens_without_retained_parameters(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        await kernel.call("counter", "add", 1)
        counter, other = kernel.vat_id("counter"), kernel.vat_id("other")
    # What a version-1 store is: no vatParameters records (their {} held no counts).
    db = sqlite3.connect(store)
    db.execute("DELETE FROM kvStore WHERE key LIKE '%.vatParameters'")
    db.execute("UPDATE kvStore SET value = '1' WHERE key = 'kernel.schemaVersion'")
    db.commit()
    db.close()
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert kernel.dump()["kernel.schemaVersion"] == "4"
        assert kernel.vat_parameters(counter) is None
        assert kernel.vat_parameters(other) is None
        report = await kernel.upgrade_all_vats()
        assert {n: o.status for n, o in report.items()} == dict.fromkeys(report, "ineligible")
        assert await kernel.call("counter", "seen") == [1]
        kernel.audit()


async def test_a_store_from_a_newer_vatrt_is_refused(anyio_backend, config, tmp_path):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
    db = sqlite3.connect(store)
    db.execute("UPDATE kvStore SET value = '99' WHERE key = 'kernel.schemaVersion'")
    db.commit()
    db.close()
    with pytest.raises(vatrt.StoreError, match="schema version 99"):
        async with vatrt.open_kernel(config, store=store):
            pass


async def test_a_vat_terminated_in_a_stored_kernel_stays_gone_after_reopen(anyio_backend, tmp_path):
    exiting = COUNTER.replace(
        "        def version(self):",
        "        def leave(self):\n            vat_powers.exit_vat('bye')\n        def version(self):",
    )
    config = make_config(tmp_path / "cfg", {"counter": COUNTER, "other": exiting})
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        other = kernel.vat_id("other")
        await kernel.call("other", "leave")
    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*) FROM transcript WHERE vatID = ?", (other,)).fetchone() == (
        0,
    )
    db.close()
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert kernel.vat_names() == ["vat_admin", "counter"]
        kernel.audit()
