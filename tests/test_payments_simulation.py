"""The README's example simulation: a bank and client vats trading through it."""

from pathlib import Path

import anyio
import pytest

import vatrt

CONFIG = Path(__file__).resolve().parent.parent / "bundles" / "payments.toml"

pytestmark = pytest.mark.anyio


async def run_simulation():
    async with vatrt.open_kernel(CONFIG) as kernel:
        await kernel.run()
        kpid = kernel.bootstrap_kpid
        assert kernel.kp_status(kpid) == "fulfilled"
        result = kernel.kp_resolution(kpid)
        await kernel.collect_garbage()
        kernel.audit()
        return result, kernel.dump()


async def test_the_payments_simulation_conserves_supply_and_agrees_with_the_books(anyio_backend):
    result, _ = await run_simulation()
    assert result["clients"] == 6
    assert result["supply_conserved"] is True
    assert result["books_match_clients"] is True
    assert sum(result["balances"].values()) == result["total_supply"] == 600
    attempts = result["payments"] + result["rejected (insufficient funds)"]
    assert attempts == result["clients"] * result["rounds"]
    assert result["rejected (insufficient funds)"] > 0, "the run exercises rejected payments"
    assert all(balance >= 0 for balance in result["balances"].values())


def test_the_payments_simulation_is_the_same_on_asyncio_and_trio():
    assert anyio.run(run_simulation, backend="asyncio") == anyio.run(run_simulation, backend="trio")
