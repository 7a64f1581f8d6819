"""The README's example simulation: a bank and client vats paying each other.

Each test replays the economy here, in plain Python, from the config's own seeds
and parameters, and checks the vats came to exactly the same books.
"""

import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

import vatrt

CONFIG = Path(__file__).resolve().parent.parent / "bundles" / "payments.toml"

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]


def load_config(**bootstrap_parameters: Any) -> dict[str, Any]:
    """The payments config as a dict, with some bootstrap parameters replaced."""
    config = tomllib.loads(CONFIG.read_text())
    config["base_dir"] = str(CONFIG.parent)
    config["vats"]["bootstrap"]["parameters"].update(bootstrap_parameters)
    return config


def client_seeds(config: dict[str, Any]) -> dict[str, int]:
    """Each client's seed, in trading order: the config's clients, then the extra ones."""
    seeds = {
        name: vat["parameters"]["seed"]
        for name, vat in config["vats"].items()
        if name.startswith("client-")
    }
    params = config["vats"]["bootstrap"]["parameters"]
    first = max(int(name.removeprefix("client-")) for name in seeds) + 1
    for k in range(first, first + params["extra_clients"]):
        seeds[f"client-{k}"] = params["seed"] + 37 * k
    return seeds


def replay(config: dict[str, Any]) -> dict[str, Any]:
    """What the simulation must come to, computed without any vat."""
    params = config["vats"]["bootstrap"]["parameters"]
    currency = config["vats"]["bank"]["parameters"]["currency"]
    rng = client_seeds(config)
    names = list(rng)
    balances = dict.fromkeys(names, params["opening"])

    def draw(name: str) -> int:
        rng[name] = (rng[name] * 1103515245 + 12345) % 2**31
        return rng[name]

    payments = rejected = volume = 0
    first_rejection = None
    for round_number in range(1, params["rounds"] + 1):
        for payer in names:
            others = [n for n in names if n != payer]
            payee = others[draw(payer) % len(others)]
            amount = 1 + draw(payer) % params["max_amount"]
            if balances[payer] >= amount:
                balances[payer] -= amount
                balances[payee] += amount
                payments += 1
                volume += amount
            else:
                rejected += 1
                if first_rejection is None:
                    first_rejection = (
                        f"round {round_number}: {payer} has {balances[payer]} {currency}, "
                        f"cannot pay {amount} to {payee}"
                    )
    return {
        "clients": len(names),
        "rounds": params["rounds"],
        "payments": payments,
        "rejected": rejected,
        "first_rejection": first_rejection,
        "volume": volume,
        "currency": currency,
        "total_supply": params["opening"] * len(names),
        "supply_conserved": True,
        "books_match_clients": True,
        "balances": balances,
    }


async def run_simulation(config: Any = CONFIG) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a config to idle; return the bootstrap's result and each client's parameters."""
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        kpid = kernel.bootstrap_kpid
        assert kernel.kp_status(kpid) == "fulfilled"
        result = kernel.kp_resolution(kpid)
        parameters = {
            name: kernel.vat_parameters(kernel.vat_id(name)) for name in result["balances"]
        }
        kernel.audit()
        await kernel.collect_garbage()
        kernel.audit()
        return result, parameters


async def test_the_default_run_conserves_supply_and_matches_an_independent_replay(
    anyio_backend: str,
) -> None:
    result, _ = await run_simulation()
    assert result == replay(load_config())
    assert result["clients"] == 6
    assert result["total_supply"] == sum(result["balances"].values()) == 600
    assert result["payments"] + result["rejected"] == 6 * result["rounds"]
    assert all(balance >= 0 for balance in result["balances"].values())


async def test_payments_the_bank_refuses_for_lack_of_funds_are_counted_not_fatal(
    anyio_backend: str,
) -> None:
    result, _ = await run_simulation()
    assert result["rejected"] > 0, "the default run exercises rejected payments"
    # The bank's InsufficientFunds message reached the bootstrap through the client.
    assert "ZED, cannot pay" in result["first_rejection"]
    assert result["first_rejection"] == replay(load_config())["first_rejection"]


async def test_extra_clients_made_through_vat_admin_trade_like_configured_ones(
    anyio_backend: str,
) -> None:
    config = load_config(extra_clients=4, rounds=25)
    result, parameters = await run_simulation(config)
    assert result == replay(config)
    assert result["clients"] == 10
    assert result["total_supply"] == 1000
    assert list(result["balances"]) == [f"client-{k}" for k in range(1, 11)]
    assert parameters["client-7"] == {"name": "client-7", "seed": 1000 + 37 * 7}
    assert parameters == {
        name: {"name": name, "seed": seed} for name, seed in client_seeds(config).items()
    }


async def test_the_bank_rejects_a_facet_lookup_for_an_unknown_account(
    anyio_backend: str,
) -> None:
    async with vatrt.open_kernel(CONFIG) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="no account 'client-99'"):
            await kernel.call("bank", "deposit_facet", "client-99")
        report = await kernel.call("bank", "report")
        assert report["total_supply"] == 600
        kernel.audit()


def test_the_payments_simulation_is_the_same_on_asyncio_and_trio() -> None:
    async def books() -> tuple[dict[str, Any], dict[str, Any]]:
        async with vatrt.open_kernel(CONFIG) as kernel:
            await kernel.run()
            result = kernel.kp_resolution(kernel.bootstrap_kpid)
            kernel.audit()
            return result, kernel.dump()

    assert anyio.run(books, backend="asyncio") == anyio.run(books, backend="trio")
