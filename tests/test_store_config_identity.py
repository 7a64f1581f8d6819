"""A store remembers the config it was booted from and refuses another one."""

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import vatrt
from vatrt.cli import main
from vatrt.testing import make_config

COUNTER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    state = {"n": (vat_parameters or {}).get("start", 0)}
    def bump():
        state["n"] += 1
        return state["n"]
    return Far("Counter", bump=bump, bootstrap=lambda vats, devices: "booted")
"""


def auction(directory: Path, start: int = 0) -> dict:
    return make_config(
        directory,
        {"auctioneer": (COUNTER, {"start": start}), "bidder": COUNTER},
        bootstrap="auctioneer",
    )


def gossip(directory: Path) -> dict:
    return make_config(directory, {f"node{i}": COUNTER for i in range(8)}, bootstrap="node0")


async def dump_of(store: Path) -> dict:
    async with vatrt.open_kernel(None, store) as kernel:
        return kernel.dump()


async def test_reopening_a_store_with_another_config_is_refused_naming_both_and_changes_nothing(
    anyio_backend, tmp_path
):
    store = tmp_path / "auction.sqlite"
    async with vatrt.open_kernel(auction(tmp_path / "a"), store) as kernel:
        await kernel.run()
        assert await kernel.call("auctioneer", "bump") == 1
        kernel.audit()
    before = await dump_of(store)
    with pytest.raises(vatrt.ConfigError) as caught:
        async with vatrt.open_kernel(gossip(tmp_path / "g"), store):
            pass
    message = str(caught.value)
    assert f"store {str(store)!r} was booted from another config" in message
    assert "vats: auctioneer, bidder; this config's: node0, node1, node2, node3, node4" in message
    assert "(8 in all)" in message
    assert "--resume-stored" in message
    assert "check_config=False" in message
    assert await dump_of(store) == before


async def test_the_same_vats_with_other_parameters_are_another_config(anyio_backend, tmp_path):
    store = tmp_path / "auction.sqlite"
    async with vatrt.open_kernel(auction(tmp_path / "a"), store) as kernel:
        await kernel.run()
        kernel.audit()
    with pytest.raises(
        vatrt.ConfigError, match=re.escape("the same vats (auctioneer, bidder) declared otherwise")
    ):
        async with vatrt.open_kernel(auction(tmp_path / "a", start=100), store):
            pass


async def test_the_same_config_moved_to_another_folder_reopens_and_goes_on(anyio_backend, tmp_path):
    store = tmp_path / "auction.sqlite"
    async with vatrt.open_kernel(auction(tmp_path / "a"), store) as kernel:
        await kernel.run()
        assert await kernel.call("auctioneer", "bump") == 1
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    async with vatrt.open_kernel(auction(tmp_path / "moved"), store) as kernel:
        assert await kernel.call("auctioneer", "bump") == 2
        kernel.audit()


async def test_worker_options_a_reopen_applies_are_not_another_config(anyio_backend, tmp_path):
    store = tmp_path / "auction.sqlite"
    config = auction(tmp_path / "a")
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
    retuned = {**config, "max_turns": 5000, "commit_every": 10, "default_worker": "local"}
    async with vatrt.open_kernel(retuned, store) as kernel:
        assert await kernel.call("bidder", "bump") == 1
        kernel.audit()


async def test_a_changed_restart_every_is_another_config_and_a_warehouse_limit_is_not(
    anyio_backend, tmp_path
):
    # restart_every is kept in the vat's options at boot: a reopen would ignore a new one
    durable = 'VAT_STATE = "durable"\n' + COUNTER
    config = make_config(tmp_path / "a", {"auctioneer": durable}, bootstrap="auctioneer")
    store = tmp_path / "auction.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        assert await kernel.call("auctioneer", "bump") == 1
        kernel.audit()
    before = await dump_of(store)
    bounded = {**config, "vats": {"auctioneer": {"bundle": "auctioneer", "restart_every": 3}}}
    with pytest.raises(
        vatrt.ConfigError, match=re.escape("the same vats (auctioneer) declared otherwise")
    ):
        async with vatrt.open_kernel(bounded, store):
            pass
    assert await dump_of(store) == before
    async with vatrt.open_kernel({**config, "max_vats_online": 1}, store) as kernel:
        assert await kernel.call("auctioneer", "bump") == 2
        kernel.audit()


async def test_check_config_false_runs_what_the_store_holds(anyio_backend, tmp_path):
    store = tmp_path / "auction.sqlite"
    async with vatrt.open_kernel(auction(tmp_path / "a"), store) as kernel:
        await kernel.run()
        assert await kernel.call("auctioneer", "bump") == 1
    async with vatrt.open_kernel(gossip(tmp_path / "g"), store, check_config=False) as kernel:
        assert kernel.vat_names() == ["vat_admin", "auctioneer", "bidder"]
        assert await kernel.call("auctioneer", "bump") == 2
        kernel.audit()


async def test_a_store_booted_before_identities_were_kept_is_not_checked(anyio_backend, tmp_path):
    store = tmp_path / "old.sqlite"
    async with vatrt.open_kernel(auction(tmp_path / "a"), store) as kernel:
        await kernel.run()
        kernel.kv.delete("kernel.config")  # as a store written before kept none
        kernel.commit()
    async with vatrt.open_kernel(gossip(tmp_path / "g"), store) as kernel:
        assert "auctioneer" in kernel.vat_names()
        kernel.audit()


def write_toml(directory: Path, vats: list[str]) -> Path:
    directory.mkdir()
    (directory / "counter.py").write_text(COUNTER)
    config = directory / "sim.toml"
    config.write_text(
        f'bootstrap = "{vats[0]}"\n[bundles]\ncounter = "counter.py"\n'
        + "".join(f'[vats.{v}]\nbundle = "counter"\n' for v in vats)
    )
    return config


def test_vatrt_run_refuses_another_config_with_exit_2_and_resume_stored_runs_the_stored_one(
    tmp_path,
):
    auction_toml = write_toml(tmp_path / "auction", ["auctioneer", "bidder"])
    gossip_toml = write_toml(tmp_path / "gossip", ["node0", "node1"])
    store = tmp_path / "auction.sqlite"
    runner = CliRunner()
    first = runner.invoke(main, ["run", str(auction_toml), "--store", str(store)])
    assert first.exit_code == 0, first.output
    refused = runner.invoke(main, ["run", str(gossip_toml), "--store", str(store)])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert f"was booted from another config: {auction_toml}, not {gossip_toml}" in said
    assert "--resume-stored" in said
    resumed = runner.invoke(
        main,
        [
            "run",
            str(gossip_toml),
            "--store",
            str(store),
            "--resume-stored",
            "--report",
            "auctioneer.bump",
        ],
    )
    assert resumed.exit_code == 0, resumed.output
    assert "auctioneer.bump()" in resumed.output
