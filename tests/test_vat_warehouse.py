"""The vat warehouse: at most `max_vats_online` vats loaded, the rest replayed on demand."""

import os
import time

import anyio
import pytest

import vatrt
from vatrt.config import load_config
from vatrt.errors import ConfigError
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

COUNTER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    ephemeral = {"seen": []}          # comes back after an eviction only by replay
    peers = {}

    class Counter:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def add(self, n):
            ephemeral["seen"].append(n)
            return sum(ephemeral["seen"])
        def seen(self):
            return list(ephemeral["seen"])
        async def relay(self, peer, n):
            return await E(peers[peer]).add(n)
        async def relay_all(self, n):
            total = 0
            for name in sorted(peers):
                if name.startswith("c"):
                    total += await E(peers[name]).add(n)
            return total
    return Far("Counter", Counter())
"""

NAMES = [f"c{i}" for i in range(6)]


def _running(pid):
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    if not os.path.isdir("/proc/self"):  # no /proc: ask the process table
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _wait_until_ended(pid, within_s=10.0):
    deadline = time.monotonic() + within_s
    while _running(pid):
        assert time.monotonic() < deadline, f"the evicted vat's process {pid} still runs"
        await anyio.sleep(0.05)


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path / "cfg", dict.fromkeys(["boot", *NAMES], COUNTER), bootstrap="boot")


async def _workload(kernel):
    await kernel.run()
    for round_ in range(3):
        for name in NAMES:
            await kernel.call(name, "add", round_)
        await kernel.call("boot", "relay_all", 10)
    await kernel.call("boot", "relay", "c5", 7)
    seen = {name: await kernel.call(name, "seen") for name in NAMES}
    await kernel.collect_garbage()
    return seen


@pytest.mark.parametrize("store", [False, True], ids=["memory", "sqlite"])
async def test_a_kernel_with_few_vats_online_ends_as_one_with_all_of_them(
    anyio_backend, config, tmp_path, store
):
    path = (tmp_path / "full.sqlite") if store else None
    async with vatrt.open_kernel(config, path) as kernel:
        expected_seen = await _workload(kernel)
        expected = kernel.dump()
        kernel.audit()
    path = (tmp_path / "small.sqlite") if store else None
    async with vatrt.open_kernel(config, path, max_vats_online=2) as kernel:
        seen = await _workload(kernel)
        assert seen == expected_seen
        assert seen["c5"] == [0, 10, 1, 10, 2, 10, 7]
        assert kernel.workers.online() <= 2
        assert kernel.workers.evictions > 0
        assert kernel.dump() == expected
        kernel.audit()


async def test_an_evicted_vat_is_offline_and_comes_back_with_its_state(
    anyio_backend, config, worker_kind
):
    async with vatrt.open_kernel(config, max_vats_online=1) as kernel:
        await kernel.run()
        assert await kernel.call("c1", "add", 5) == 5
        pid = kernel.worker_status("c1").pid
        assert await kernel.call("c2", "add", 1) == 1
        if worker_kind == "subprocess":
            await _wait_until_ended(pid)  # an evicted vat's child process is ended
        status = kernel.worker_status("c1")
        assert (status.online, status.pid, status.kind) == (False, 0, worker_kind)
        assert await kernel.call("c1", "add", 6) == 11  # replayed: its ephemeral list is back
        assert kernel.worker_status("c1").online
        assert not kernel.worker_status("c2").online
        kernel.audit()


async def test_a_reopened_store_loads_at_most_the_warehouse_and_replays_the_rest_later(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        for name in NAMES:
            await kernel.call(name, "add", 3)
        before = kernel.dump()
    async with vatrt.open_kernel(config, store, max_vats_online=3) as kernel:
        assert kernel.workers.online() == 3
        assert kernel.workers.offline() == len(NAMES) + 2 - 3
        assert kernel.dump() == before
        assert await kernel.call("c5", "add", 4) == 7
        assert kernel.workers.online() == 3
        kernel.audit()


async def test_terminating_or_upgrading_an_offline_vat_works_as_for_a_loaded_one(
    anyio_backend, config
):
    async with vatrt.open_kernel(config, max_vats_online=1) as kernel:
        await kernel.run()
        await kernel.call("c3", "add", 2)
        await kernel.call("c4", "add", 2)
        assert not kernel.worker_status("c3").online
        outcome = await kernel.restart_vat("c3")
        assert outcome.status == "upgraded"
        assert await kernel.call("c3", "seen") == []  # a new incarnation: ephemeral state is new
        kernel.audit()


async def test_max_vats_online_below_one_is_refused_naming_it(anyio_backend, config):
    with pytest.raises(ConfigError, match="max_vats_online"):
        async with vatrt.open_kernel(config, max_vats_online=0):
            pass
    with pytest.raises(ConfigError, match="max_vats_online must be >= 1"):
        load_config({"vats": {}, "max_vats_online": 0})
