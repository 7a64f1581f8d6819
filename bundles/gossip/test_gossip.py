"""Tests of the gossip simulation, as its author writes them with vatrt's pytest plugin.

    pytest bundles/gossip          # each test on asyncio and on trio

Copy this file next to your own config: define `vat_config`, change parameters
with `vat_parameters` (or per kernel with `open_vat_kernel`), and every kernel
is audited when the test is done.
"""

from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parent.parent / "gossip.toml"


@pytest.fixture
def vat_config():
    return CONFIG


@pytest.fixture
def vat_parameters():
    return {"driver": {"rumours": 2}}


async def test_every_rumour_reaches_every_peer(vat_kernel):
    await vat_kernel.run()
    report = await vat_kernel.call("driver", "report")
    assert report["reached"] == {"rumour-0": 200, "rumour-1": 200}


async def test_a_peer_knows_only_its_own_neighbours(vat_kernel):
    await vat_kernel.run()
    assert await vat_kernel.call("peer-3", "neighbour_indices") == [22, 35, 48]


async def test_with_one_neighbour_each_a_rumour_goes_round_one_cycle(open_vat_kernel):
    async with open_vat_kernel(
        CONFIG, counts={"peer": 20}, parameters={"peer": {"fanout": 1}, "driver": {"rumours": 1}}
    ) as kernel:
        await kernel.run()
        report = await kernel.call("driver", "report")
        # peer i tells peer (7i + 1) mod 20: from peer 0 that cycle is 0, 1, 8, 17, 0.
        assert report == {"reached": {"rumour-0": 4}, "most_hops": {"rumour-0": 3}}
