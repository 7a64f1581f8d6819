"""An in-memory kernel forgets what is gone between dumps (`KernelKeeper.prune`)
instead of copying its live state into the store: what it ends with is the same."""

import pytest

import vatrt
import vatrt._kernel.core as kernel_core
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

TRADER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    kept = []

    class Token:
        pass

    class Trader:
        def bootstrap(self, vats, devices):
            peers.update(vats)

        async def trade(self, peer, rounds):
            total = 0
            for i in range(rounds):
                tokens = [Far("Token", Token()) for _ in range(3)]
                total += await E(peers[peer]).take(tokens, i)
            return total

        def take(self, tokens, i):
            if i % 2:
                kept.append(tokens[0])  # one of three stays imported, the rest are dropped
            return len(kept)

    return Far("Trader", Trader())
"""


async def _run_to_end(config, prune_after, monkeypatch):
    monkeypatch.setattr(kernel_core, "_MEMORY_PRUNE_AFTER", prune_after)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        answer = await kernel.call("alice", "trade", "bob", 40)
        await kernel.collect_garbage()
        kernel.audit()
        return answer, kernel.dump()


async def test_an_in_memory_kernel_that_prunes_often_ends_as_one_that_never_does(
    anyio_backend, tmp_path, monkeypatch
):
    config = make_config(
        tmp_path, {"alice": TRADER, "bob": TRADER}, bootstrap="alice", commit_every=1
    )
    never = await _run_to_end(config, 10**9, monkeypatch)
    often = await _run_to_end(config, 5, monkeypatch)
    assert often == never
    answer, dump = often
    assert answer == sum((i + 1) // 2 for i in range(40))  # bob keeps one token in two messages
    assert sum(1 for k in dump if k.startswith("ko") and k.endswith(".refCount")) > 20
