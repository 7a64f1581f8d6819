"""Schemas 3 (one key per promise record) and 4 (the run-queue in chunks): older
stores migrate on open."""

import sqlite3

import orjson
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

# Leaves promises alive in the store: one with queued sends, one with subscribers.
VAT = """
from vatrt.vat import E, Far, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    kits = []

    class Holder:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def hold(self):
            promise, resolve, _ = make_promise_kit()
            kits.append(resolve)
            return promise
        async def wait_on_other(self):
            p = E(peers["other"]).hold()
            E(p).anything(1)       # queued on the unresolved promise
            return await p
        def release(self, value):
            for resolve in kits:
                resolve(value)
            return len(kits)
    return Far("Holder", Holder())
"""


def _old_keys(record_key: str, text: str) -> dict[str, str]:
    """A ``kpN.record`` written as schemas 1 and 2 kept it: up to six keys."""
    kref = record_key.split(".")[0]
    value = orjson.loads(text)
    keys = {f"{kref}.state": value["state"], f"{kref}.refCount": str(value["refCount"])}
    if "decider" in value:
        keys[f"{kref}.decider"] = value["decider"]
    if value.get("subscribers"):
        keys[f"{kref}.subscribers"] = ",".join(value["subscribers"])
    if value.get("queue"):
        keys[f"{kref}.queue"] = orjson.dumps(value["queue"]).decode()
    if "data" in value:
        keys[f"{kref}.data"] = orjson.dumps(value["data"]).decode()
    return keys


def _rewrite_as_old_store(store, deleted, written, version):
    """Make `store` what an older vatrt wrote: `deleted` keys gone, `written`
    keys in, and its schema version `version`."""
    db = sqlite3.connect(store)
    db.executemany("DELETE FROM kvStore WHERE key = ?", [(k,) for k in deleted])
    db.executemany("INSERT INTO kvStore VALUES (?, ?)", written.items())
    db.execute("UPDATE kvStore SET value = ? WHERE key = 'kernel.schemaVersion'", (version,))
    db.commit()
    db.close()


@pytest.mark.parametrize("old_version", ["1", "2"])
async def test_a_store_with_promises_in_several_keys_opens_with_one_key_each(
    anyio_backend, tmp_path, old_version
):
    config = make_config(tmp_path / "cfg", {"holder": VAT, "other": VAT}, bootstrap="holder")
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        waiting = kernel.queue_to_vat_root("holder", "wait_on_other")
        await kernel.run()
        before = kernel.dump()
    records = {k: v for k, v in before.items() if k.endswith(".record")}
    assert any("subscribers" in orjson.loads(v) for v in records.values())
    old = {k: v for key, text in records.items() for k, v in _old_keys(key, text).items()}
    _rewrite_as_old_store(store, list(records), old, old_version)
    async with vatrt.open_kernel(None, store) as kernel:
        after = kernel.dump()
        assert after["kernel.schemaVersion"] == "4"
        migrated = {k: v for k, v in after.items() if k.startswith("kp")}
        assert {k: orjson.loads(v) for k, v in migrated.items() if k.endswith(".record")} == {
            k: orjson.loads(v) for k, v in records.items()
        }
        assert not [k for k in migrated if not k.endswith(".record") and k != "kp.nextID"]
        kernel.audit()
        assert await kernel.call("other", "release", 5) == 1
        assert kernel.kp_resolution(waiting) == 5
        kernel.audit()
    async with vatrt.open_kernel(None, store) as kernel:  # migrated once, reopens as 4
        assert kernel.dump()["kernel.schemaVersion"] == "4"
        kernel.audit()


@pytest.mark.parametrize("old_version", ["1", "3"])
async def test_a_store_with_a_key_per_queued_event_opens_with_its_run_queue_in_chunks(
    anyio_backend, tmp_path, old_version
):
    config = make_config(tmp_path / "cfg", {"holder": VAT, "other": VAT}, bootstrap="holder")
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        queued = [kernel.queue_to_vat_root("other", "release", [n]) for n in range(100)]
        before = kernel.dump()
    head, tail = int(before["runQueue.head"]), int(before["runQueue.tail"])
    assert tail - head == 100
    chunks = {k: orjson.loads(v) for k, v in before.items() if k[9:].lstrip("-").isdigit()}
    events = [e for k in sorted(chunks, key=lambda k: int(k[9:])) for e in chunks[k][1:]]
    assert len(chunks) >= 2
    assert len(events) == 100
    # as schemas 1 to 3 kept them: a key per event
    old = {f"runQueue.{head + i}": orjson.dumps(e).decode() for i, e in enumerate(events)}
    _rewrite_as_old_store(store, list(chunks), old, old_version)
    async with vatrt.open_kernel(None, store) as kernel:
        after = kernel.dump()
        assert after["kernel.schemaVersion"] == "4"
        assert {k: v for k, v in after.items() if k.startswith("runQueue.")} == {
            k: v for k, v in before.items() if k.startswith("runQueue.")
        }
        kernel.audit()
        await kernel.run()
        assert [kernel.kp_resolution(kp) for kp in queued] == [0] * 100  # no kits held
        assert kernel.dump()["runQueue.head"] == kernel.dump()["runQueue.tail"]
        kernel.audit()
