"""Garbage collection across vats: drops, retires, and counts that stay exact."""

import gc

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

HOLDER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    held = {}

    class Holder:
        def bootstrap(self, vats, devices):
            held["maker"] = vats["maker"]

        async def take(self, key):
            held[key] = await E(held["maker"]).make(key)

        def forget(self, key):
            del held[key]

        async def use(self, key):
            return await E(held[key]).name()

        async def take_in_a_cycle(self, key):
            cycle = {"thing": await E(held["maker"]).make(key)}
            cycle["self"] = cycle  # only a cycle collection can free this
            held[key] = cycle

        def give(self, key):
            return held[key]

    return Far("Holder", Holder())
"""

MAKER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Thing:
        def __init__(self, name):
            self._name = name
        def name(self):
            return self._name

    class Maker:
        def make(self, name):
            return Far("Thing", Thing(name))
    return Far("Maker", Maker())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path, {"holder": HOLDER, "other": HOLDER, "maker": MAKER}, bootstrap="holder"
    )


def objects_owned_by(kernel, vat_id):
    return sorted(
        k[: -len(".owner")]
        for k, v in kernel.dump().items()
        if k.endswith(".owner") and v == vat_id
    )


async def export_made_by_call(kernel, vat_id, *call):
    """``kernel.call(*call)``, and the one object `vat_id` exported because of it."""
    before = set(objects_owned_by(kernel, vat_id))
    await kernel.call(*call)
    [made] = set(objects_owned_by(kernel, vat_id)) - before
    return made


async def test_a_dropped_presence_frees_the_object_in_its_exporter(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        maker = kernel.vat_id("maker")
        thing = await export_made_by_call(kernel, maker, "holder", "take", "a")
        assert kernel.refcount(thing) == (1, 1)
        await kernel.collect_garbage()
        assert kernel.refcount(thing) == (1, 1), "still held by the holder vat"
        assert await kernel.call("holder", "use", "a") == "a"

        await kernel.call("holder", "forget", "a")
        await kernel.collect_garbage()
        dump = kernel.dump()
        assert not [k for k in dump if k.startswith(f"{thing}.")], "koN.* keys are deleted"
        assert f"{maker}.c.{thing}" not in dump
        assert not [k for k, v in dump.items() if v == thing], "no c-list still names it"
        kernel.audit()


async def test_a_handle_returned_to_the_host_holds_no_count_once_read(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("holder", "take", "a")
        ref = kernel.queue_to_vat_root("holder", "give", ["a"])
        await kernel.run()
        handle = kernel.kp_resolution(ref)
        # the host's result is released: only the holder's import counts
        assert kernel.refcount(handle.kref) == (1, 1)
        kernel.audit()


SHARER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    held = {}
    class Sharer:
        def bootstrap(self, vats, devices):
            held.update(vats)
        async def share(self):
            thing = await E(held["maker"]).make("shared")
            await E(held["keeper"]).keep(thing)
            held["thing"] = thing
        def forget(self):
            held.pop("thing", None)
    return Far("Sharer", Sharer())
"""

KEEPER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    kept = []
    class Keeper:
        def keep(self, thing):
            kept.append(thing)
        def release(self):
            kept.clear()
    return Far("Keeper", Keeper())
"""


async def test_an_object_lives_until_its_last_importer_drops_it(anyio_backend, tmp_path):
    config = make_config(
        tmp_path, {"sharer": SHARER, "keeper": KEEPER, "maker": MAKER}, bootstrap="sharer"
    )
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        maker = kernel.vat_id("maker")
        thing = await export_made_by_call(kernel, maker, "sharer", "share")
        assert kernel.refcount(thing) == (2, 2)
        await kernel.call("sharer", "forget")
        await kernel.collect_garbage()
        assert kernel.refcount(thing) == (1, 1)
        kernel.audit()
        await kernel.call("keeper", "release")
        await kernel.collect_garbage()
        assert thing not in objects_owned_by(kernel, maker)
        kernel.audit()


async def test_automatic_reaping_keeps_counts_exact(anyio_backend, tmp_path):
    config = make_config(
        tmp_path,
        {"holder": HOLDER, "maker": MAKER},
        bootstrap="holder",
        reap_interval=1,
    )
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        for i in range(5):
            await kernel.call("holder", "take", f"t{i}")
            await kernel.call("holder", "forget", f"t{i}")
        await kernel.run()
        maker = kernel.vat_id("maker")
        assert objects_owned_by(kernel, maker) == [kernel.dump()[f"{maker}.root"]]
        kernel.audit()


async def test_dead_presences_are_found_after_a_full_collection_ran_elsewhere(
    anyio_backend, tmp_path
):
    """A vat skips its own gc.collect() only if a full collection ran after its last
    delivery; collections that ran before (or during) it must not count."""
    import gc

    config = make_config(
        tmp_path, {"sharer": SHARER, "keeper": KEEPER, "maker": MAKER}, bootstrap="sharer"
    )
    async with vatrt.open_kernel(config) as kernel:
        gc.collect()
        await kernel.run()
        gc.collect()
        maker = kernel.vat_id("maker")
        thing = await export_made_by_call(kernel, maker, "sharer", "share")
        await kernel.call("sharer", "forget")
        await kernel.collect_garbage()
        assert kernel.refcount(thing) == (1, 1)
        kernel.audit()


async def test_a_presence_freed_only_by_a_cycle_collection_is_still_dropped(anyio_backend, config):
    """The host's heap is frozen while kernels run; vats' garbage must still be found."""
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        maker = kernel.vat_id("maker")
        thing = await export_made_by_call(kernel, maker, "holder", "take_in_a_cycle", "c")
        await kernel.collect_garbage()
        assert kernel.refcount(thing) == (1, 1), "the cycle still holds it"

        await kernel.call("holder", "forget", "c")
        await kernel.collect_garbage()
        assert thing not in objects_owned_by(kernel, maker)
        assert f"{thing}.refCount" not in kernel.dump()
        kernel.audit()


async def test_the_host_heap_and_gc_thresholds_are_lent_while_a_kernel_runs_and_given_back(
    anyio_backend, config
):
    assert gc.get_freeze_count() == 0
    hosts_thresholds = gc.get_threshold()
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] >= 1000, "the collector's own full collections are rare"
        assert gc.get_threshold()[0] >= 10_000, "and its young ones"
        assert gc.get_threshold()[1] >= 100, "and its middle ones"
        async with vatrt.open_kernel(config) as inner:
            await inner.run()
            inner.audit()
        assert gc.get_freeze_count() > 0, "the outer kernel is still open"
        kernel.audit()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == hosts_thresholds


async def test_a_host_that_turned_automatic_collection_off_keeps_it_off_while_a_kernel_runs(
    anyio_backend, config
):
    saved = gc.get_threshold()
    gc.set_threshold(0)
    try:
        async with vatrt.open_kernel(config) as kernel:
            await kernel.run()
            assert gc.get_threshold()[0] == 0
            await kernel.collect_garbage()  # bring-out-your-dead still collects
            kernel.audit()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)
