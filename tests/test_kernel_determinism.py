"""The same config and inputs give the same cranks and the same kernel state on
asyncio and on trio, and with local or subprocess workers."""

import io

import anyio
import orjson

import vatrt
from vatrt.testing import make_config

TRADER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    seed = (vat_parameters or {}).get("seed", 1)
    class Trader:
        def bootstrap(self, vats, devices):
            peers.update({k: v for k, v in vats.items() if k not in ("boot", "vat_admin")})
            return len(peers)
        async def trade(self, rounds):
            x, log = seed, []
            names = sorted(peers)
            for _ in range(rounds):
                x = (x * 1103515245 + 12345) % 2**31
                peer = peers[names[x % len(names)]]
                token = await E(peer).mint(x % 97)
                log.append(await E(token).value())
            return log
        def mint(self, v):
            class Token:
                def value(self):
                    return v
            return Far("Token", Token())
    return Far("Trader", Trader())
"""


def run_scenario(backend, directory, worker="local"):
    config = make_config(
        directory,
        {"boot": (TRADER, {"seed": 7}), "a": (TRADER, {"seed": 3}), "b": (TRADER, {"seed": 5})},
        bootstrap="boot",
        reap_interval=5,
    )
    slog = io.BytesIO()

    async def main():
        async with vatrt.open_kernel(config, slog=slog, worker=worker) as kernel:
            await kernel.run()
            log = await kernel.call("boot", "trade", 30)
            await kernel.call("boot", "trade", 10)
            await kernel.collect_garbage()
            kernel.audit()
            return log, kernel.dump(), kernel.stats().cranks

    log, dump, cranks = anyio.run(main, backend=backend)
    records = [orjson.loads(line) for line in slog.getvalue().splitlines()]
    for record in records:
        record.pop("time")
    return log, dump, cranks, records


def test_asyncio_and_trio_give_the_same_cranks_and_kernel_state(tmp_path):
    on_asyncio = run_scenario("asyncio", tmp_path)
    on_trio = run_scenario("trio", tmp_path)
    log, dump, cranks, records = on_asyncio
    assert len(log) == 30
    assert cranks > 100
    assert {r["type"] for r in records} >= {"crank-start", "deliver", "syscall", "crank-finish"}
    assert on_trio[0] == log
    assert on_trio[1] == dump
    assert on_trio[2] == cranks
    assert on_trio[3] == records


def test_running_twice_on_one_backend_gives_the_same_state(tmp_path):
    assert run_scenario("asyncio", tmp_path)[1] == run_scenario("asyncio", tmp_path)[1]


def test_local_and_subprocess_workers_give_the_same_cranks_kernel_state_and_slog(tmp_path):
    local = run_scenario("trio", tmp_path)
    for backend in ("asyncio", "trio"):
        assert run_scenario(backend, tmp_path, worker="subprocess") == local
