"""The host's heap is frozen while kernels run, and given back when the last one closes.

Freezing keeps the host's objects out of each bring-out-your-dead's full
collection; these tests check what a host would notice: that it gets its heap
back, and that vats' garbage (even garbage only a cycle collection finds) is
still found while the freeze is on.
"""

import gc

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

HOLDER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    held = {}

    class Holder:
        def bootstrap(self, vats, devices):
            held["maker"] = vats["maker"]

        async def take_in_a_cycle(self):
            thing = await E(held["maker"]).make()
            cycle = {"thing": thing}
            cycle["self"] = cycle  # only a cycle collection can free this
            held["cycle"] = cycle

        def forget(self):
            del held["cycle"]

    return Far("Holder", Holder())
"""

MAKER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Thing:
        pass

    class Maker:
        def make(self):
            return Far("Thing", Thing())
    return Far("Maker", Maker())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"holder": HOLDER, "maker": MAKER}, bootstrap="holder")


def things_of(kernel, vat_id):
    dump = kernel.dump()
    return sorted(
        k[: -len(".owner")] for k, v in dump.items() if k.endswith(".owner") and v == vat_id
    )


async def test_the_host_heap_is_frozen_while_a_kernel_runs_and_given_back_after(
    anyio_backend, config
):
    assert gc.get_freeze_count() == 0
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert gc.get_freeze_count() > 0
        async with vatrt.open_kernel(config) as inner:
            await inner.run()
            inner.audit()
        assert gc.get_freeze_count() > 0, "the outer kernel is still open"
        kernel.audit()
    assert gc.get_freeze_count() == 0


async def test_a_presence_freed_only_by_a_cycle_collection_is_still_dropped(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        maker = kernel.vat_id("maker")
        before = things_of(kernel, maker)
        await kernel.call("holder", "take_in_a_cycle")
        [thing] = [k for k in things_of(kernel, maker) if k not in before]
        await kernel.collect_garbage()
        assert kernel.refcount(thing) == (1, 1), "the cycle still holds it"

        await kernel.call("holder", "forget")
        await kernel.collect_garbage()
        assert thing not in things_of(kernel, maker)
        assert f"{thing}.refCount" not in kernel.dump()
        kernel.audit()
