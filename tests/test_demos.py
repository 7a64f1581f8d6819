"""The upgrade demos in bundles/: what a person running them would check."""

import tomllib
from pathlib import Path

import pytest

import vatrt

BUNDLES = Path(__file__).resolve().parent.parent / "bundles"

pytestmark = pytest.mark.anyio


async def test_the_ledger_keeps_accounts_and_totals_across_its_upgrade(anyio_backend):
    async with vatrt.open_kernel(BUNDLES / "upgrade.toml") as kernel:
        await kernel.run()
        result = kernel.kp_resolution(kernel.bootstrap_kpid)
        assert result["upgrade"] == {"incarnation_number": 1}
        assert result["before_upgrade"]["version"] == 1
        assert result["after_upgrade"]["version"] == 2
        assert result["alice_balance"] == (10 - 1) + (10 - 1) + (10 - 2)
        assert result["bob_balance"] == 5  # v2's new rule: small deposits go free
        assert result["accounts"] == ["alice", "bob"]
        assert result["after_upgrade"]["fees_collected"] == 1 + 1 + 2
        assert result["after_upgrade"]["calls_this_incarnation"] == 2  # ephemeral: fresh
        await kernel.collect_garbage()
        kernel.audit()


def small_fleet(members=30, rounds=6):
    path = BUNDLES / "fleet.toml"
    raw = tomllib.loads(path.read_text())
    raw["vats"]["driver"]["parameters"].update(members=members, rounds=rounds)
    raw["base_dir"] = str(path.parent)
    return raw


async def run_fleet(upgrade_at):
    async with vatrt.open_kernel(small_fleet()) as kernel:
        if upgrade_at is not None:
            await kernel.run(max_cranks=upgrade_at)
            driver = kernel.vat_id("driver")
            assert f"{driver}.vs.baggage.rounds_done" in kernel.dump(), "the rounds have begun"
            report = await kernel.upgrade_all_vats(upgrade_message="mid-run")
            assert {o.status for o in report.values()} == {"upgraded"}
            assert len(report) == 30 + 2
        after_upgrade = await kernel.run()
        if upgrade_at is not None:
            assert after_upgrade > 50, "payments were still flowing when the upgrade came"
        books = await kernel.call("driver", "report")
        await kernel.collect_garbage()
        kernel.audit()
        return books


async def test_upgrading_the_whole_fleet_mid_run_loses_nothing(anyio_backend):
    plain = await run_fleet(upgrade_at=None)
    upgraded = await run_fleet(upgrade_at=300)
    assert upgraded["nothing_lost"] is True
    assert upgraded["rounds_done"] == 6
    assert upgraded["member_incarnations_run"] == [2]
    assert upgraded["driver_incarnations_run"] == 2
    assert plain["member_incarnations_run"] == [1]
    same = ("payments_bounced", "volume_sent", "volume_received", "total_balance")
    assert {k: upgraded[k] for k in same} == {k: plain[k] for k in same}


async def test_the_auction_economy_sells_every_day_and_conserves_money(anyio_backend):
    async with vatrt.open_kernel(BUNDLES / "auction.toml") as kernel:
        await kernel.run()
        result = kernel.kp_resolution(kernel.bootstrap_kpid)
        assert result["money_conserved"] is True
        assert result["money_in_circulation"] == result["money_at_start"] == 4 * 500
        assert result["market_closed"] == "day 5 23:00"
        assert kernel.now() == 4 * 86_400 + 23 * 3_600  # auto-advance stopped at the last wakeup
        sales = result["sales"]
        assert [sale[1] for sale in sales] == [
            f"d{d}-lot{k}" for d in range(1, 6) for k in (1, 2, 3)
        ]
        assert {sale[0][-5:] for sale in sales} == {"14:00"}  # every lot closed at its deadline
        assert sum(price for *_, price in sales) == result["balances"]["estate"]
        late = sum(b["late"] for b in result["bidders"].values())
        assert late == result["late_bids"] > 0  # bids at the deadline lost the tie to the close
        kernel.audit()


async def test_the_payments_demo_on_two_hosts_prints_what_it_prints_on_one_machine(
    anyio_backend,
):
    async def outcome(config):
        async with vatrt.open_kernel(config) as kernel:
            await kernel.run()
            kernel.audit()
            return kernel.kp_resolution(kernel.bootstrap_kpid), sorted(
                (name, kernel.worker_status(name).host) for name in kernel.vat_names()
            )

    here, where_here = await outcome(BUNDLES / "payments.toml")
    there, where_there = await outcome(BUNDLES / "payments-on-hosts.toml")
    assert there == here
    assert {host for _, host in where_here} == {None}
    assert dict(where_there)["bank"] == "left"
    assert {host for name, host in where_there if name.startswith("client")} == {"left", "right"}
