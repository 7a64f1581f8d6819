"""Bring-out-your-dead's schedule stretches with the kernel's size (reap_schedule)."""

import pytest

import vatrt
from vatrt._kernel.state.reap_schedule import VATS_PER_STRETCH, reap_interval
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

HOLDER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    held = {}

    class Holder:
        def bootstrap(self, vats, devices):
            held["maker"] = vats["maker"]

        async def take_in_a_cycle(self, key):
            cycle = {"thing": await E(held["maker"]).make(key)}
            cycle["self"] = cycle  # only a cycle collection can free this
            held[key] = cycle

        def forget(self, key):
            del held[key]

        def noop(self):
            return None

    return Far("Holder", Holder())
"""

MAKER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Maker:
        def make(self, name):
            return Far("Thing", object.__new__(type("Thing", (), {})))
    return Far("Maker", Maker())
"""


def objects_owned_by(kernel, vat_id):
    dump = kernel.dump()
    return sorted(
        k[: -len(".owner")] for k, v in dump.items() if k.endswith(".owner") and v == vat_id
    )


async def countdowns_over(kernel, vat_id, deliveries):
    seen = []
    for _ in range(deliveries):
        await kernel.call("holder", "noop")
        seen.append(int(kernel.dump()[f"{vat_id}.reapCountdown"]))
    return seen


def test_the_interval_is_as_configured_below_the_stretch_and_grows_with_the_vats():
    assert reap_interval(1000, VATS_PER_STRETCH - 1) == 1000
    assert reap_interval(1000, 2 * VATS_PER_STRETCH) == 2000
    assert reap_interval(7, 10_000) == 7 * (10_000 // VATS_PER_STRETCH)


async def test_a_big_kernel_reaps_a_vat_less_often_and_still_frees_what_it_dropped(
    anyio_backend, tmp_path
):
    """In a kernel of N vats the interval is stretched N // VATS_PER_STRETCH
    times (a full collection costs in proportion to N); the reap, when it comes,
    drops what the vat let go, even what only a cycle collection frees."""
    vats = {"holder": HOLDER, "maker": MAKER}
    vats.update({f"idle{i}": MAKER for i in range(2 * VATS_PER_STRETCH - 2)})
    config = make_config(tmp_path, vats, bootstrap="holder", reap_interval=2)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        holder, maker = kernel.vat_id("holder"), kernel.vat_id("maker")
        root = kernel.dump()[f"{maker}.root"]
        await kernel.call("holder", "take_in_a_cycle", "a")
        await kernel.call("holder", "forget", "a")
        assert len(objects_owned_by(kernel, maker)) == 2
        countdowns = await countdowns_over(kernel, holder, 10)
        assert max(countdowns) == 4  # reapInterval 2, stretched twice by 40 vats
        assert countdowns.count(4) >= 2
        assert objects_owned_by(kernel, maker) == [root]
        kernel.audit()


async def test_a_small_kernel_reaps_every_configured_interval(anyio_backend, tmp_path):
    config = make_config(
        tmp_path, {"holder": HOLDER, "maker": MAKER}, bootstrap="holder", reap_interval=3
    )
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        countdowns = await countdowns_over(kernel, kernel.vat_id("holder"), 7)
        assert max(countdowns) == 3
        assert countdowns.count(3) >= 2
        kernel.audit()
