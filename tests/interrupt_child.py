"""The child process of the Ctrl-C test in test_hostile_vats (not a test module).

    python tests/interrupt_child.py STORE CONFIG_DIR

Opens a kernel in STORE and runs a rally between two vats that goes on until
told to stop. It prints ``rally <kpid>`` before the run, a vat prints
``running`` from inside it (the 50th hit; the kernel shows it as ``pong: running``), and when ``run()`` raises
KeyboardInterrupt it prints ``KeyboardInterrupt from run()`` and raises it on.
"""

import os
import sys

import anyio

import vatrt
from vatrt.testing import make_config

PLAYER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    state = {"stop": False, "hits": 0}
    class Player:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        async def rally(self):
            count = 0
            while not state["stop"]:
                count = await E(peers["pong"]).hit()
            return count
        def stop(self):
            state["stop"] = True
        def hit(self):
            state["hits"] += 1
            if state["hits"] == 50:
                print("running", flush=True)
            return state["hits"]
        def hits(self):
            return state["hits"]
    return Far("Player", Player())
"""


def config(directory: str) -> dict:
    return make_config(directory, {"ping": PLAYER, "pong": PLAYER}, bootstrap="ping")


async def main(store: str, directory: str) -> None:
    async with vatrt.open_kernel(config(directory), store=store) as kernel:
        await kernel.run()
        kpid = kernel.queue_to_vat_root("ping", "rally")
        print(f"rally {kpid}", flush=True)
        try:
            await kernel.run()
        except KeyboardInterrupt:
            print("KeyboardInterrupt from run()", flush=True)
            raise


if __name__ == "__main__":
    backend = os.environ.get("VATRT_TEST_BACKEND", "asyncio")
    anyio.run(main, sys.argv[1], sys.argv[2], backend=backend)
