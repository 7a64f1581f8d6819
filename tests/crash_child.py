"""The child process of the crash-safety tests (not a test module).

    python tests/crash_child.py STORE CONFIG_DIR CALLS [UPGRADE_EVERY]

Opens (or reopens) the kernel in STORE, then makes numbered calls: each one adds
its number to a durable list in the "ledger" vat and, once ``kernel.call`` has
returned (so the call's block is committed), prints ``ack <n>``. Every
UPGRADE_EVERY calls it restarts one vat and then upgrades all of them, so kills
land mid-upgrade too. It continues from the last number the ledger holds.
"""

import os
import sys

import anyio

import vatrt
from vatrt.testing import make_config

LEDGER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    baggage.provide("entries", list)
    seen = []          # ephemeral, rebuilt by replay

    class Ledger:
        def bootstrap(self, vats, devices):
            baggage.init("mirror", vats["mirror"])
        async def add(self, n):
            entries = baggage.get("entries")
            entries.append(n)
            baggage.set("entries", entries)
            seen.append(n)
            await E(baggage.get("mirror")).add(n)   # a second vat, a second crank
            return len(entries)
        def entries(self):
            return baggage.get("entries")
    return Far("Ledger", Ledger())
"""

MIRROR = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    baggage.provide("entries", list)
    class Mirror:
        def add(self, n):
            entries = baggage.get("entries")
            entries.append(n)
            baggage.set("entries", entries)
        def entries(self):
            return baggage.get("entries")
    return Far("Mirror", Mirror())
"""


def config(directory: str) -> dict:
    return make_config(
        directory, {"ledger": LEDGER, "mirror": MIRROR}, bootstrap="ledger", commit_every=7
    )


async def main(store: str, directory: str, calls: int, upgrade_every: int) -> None:
    worker = os.environ.get("VATRT_TEST_WORKER", "local")
    async with vatrt.open_kernel(config(directory), store=store, worker=worker) as kernel:
        await kernel.run()
        done = len(await kernel.call("ledger", "entries"))
        print(f"start {done}", flush=True)
        for n in range(done, done + calls):
            await kernel.call("ledger", "add", n)
            print(f"ack {n}", flush=True)
            if upgrade_every and (n + 1) % upgrade_every == 0:
                await kernel.restart_vat("mirror", upgrade_message=f"at {n}")
                await kernel.upgrade_all_vats(upgrade_message=f"all at {n}")
                print(f"upgraded {n}", flush=True)


if __name__ == "__main__":
    store, directory, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    upgrade_every = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    backend = os.environ.get("VATRT_TEST_BACKEND", "asyncio")
    anyio.run(main, store, directory, calls, upgrade_every, backend=backend)
