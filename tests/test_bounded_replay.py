"""Bounded replay: a durable vat restarted by the kernel once its transcript is N long."""

import orjson
import pytest

import vatrt
from vatrt._cli_check import check_config
from vatrt.errors import ConfigError, RejectedError
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

DURABLE = """
from vatrt.vat import E, Far

VAT_STATE = "durable"

def build_root_object(vat_powers, vat_parameters, baggage):
    baggage.provide("total", lambda: 0)
    admin = getattr(vat_powers, "vat_admin", None)

    class Counter:
        def add(self, n):
            baggage.set("total", baggage.get("total") + n)
            return baggage.get("total")
        def total(self):
            return baggage.get("total")
        def start(self):
            return vat_parameters["start"]
        async def make(self, name, every):
            bundle = await E(admin).get_bundle("durable")
            await E(admin).create_vat(bundle, name=name, vat_parameters={"start": 1},
                                      restart_every=every)
            return name
        async def make_plain(self, name):
            bundle = await E(admin).get_bundle("plain")
            await E(admin).create_vat(bundle, name=name, restart_every=3)
    return Far("Counter", Counter())
"""

PLAIN = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Plain", object())
"""

# Durable, but its build_root_object refuses to start again once the total is 2 or more.
STUCK = DURABLE.replace(
    'baggage.provide("total", lambda: 0)',
    'baggage.provide("total", lambda: 0)\n'
    '    if baggage.get("total") >= 2:\n'
    '        raise RuntimeError("will not restart")',
)


def _config(tmp_path, every=4, bundle="durable"):
    cfg = make_config(
        tmp_path / "cfg", {"durable": DURABLE, "plain": PLAIN, "stuck": STUCK}, bootstrap=None
    )
    cfg["vats"] = {
        "counter": {
            "bundle": bundle,
            "parameters": {"start": 7},
            "restart_every": every,
            "vat_admin": True,
        },
        "other": {"bundle": "durable", "parameters": {"start": 0}},
    }
    return cfg


@pytest.mark.parametrize("store", [False, True], ids=["memory", "sqlite"])
async def test_a_vat_restarted_every_n_deliveries_keeps_its_durable_state_and_parameters(
    anyio_backend, tmp_path, store
):
    path = tmp_path / "k.sqlite" if store else None
    # A memory store keeps transcripts only with a warehouse; bounded replay needs them.
    async with vatrt.open_kernel(_config(tmp_path), path, max_vats_online=10) as kernel:
        await kernel.run()
        vat = kernel.keeper.vat(kernel.vat_id("counter"))
        for n in range(1, 31):
            assert await kernel.call("counter", "add", n) == n * (n + 1) // 2
            assert vat.transcript_length() < 4 + 2  # a restart follows reaching 4
        assert vat.incarnation() >= 7
        assert await kernel.call("counter", "start") == 7  # its retained vatParameters
        other = kernel.keeper.vat(kernel.vat_id("other"))
        for _ in range(10):
            await kernel.call("other", "add", 1)
        assert other.incarnation() == 0  # no restart_every: never restarted
        kernel.audit()
        before = kernel.dump()
    if store:
        async with vatrt.open_kernel(None, path) as kernel:
            assert kernel.dump() == before
            assert await kernel.call("counter", "total") == 465
            kernel.audit()


async def test_create_vat_takes_restart_every_for_a_durable_bundle(anyio_backend, tmp_path):
    async with vatrt.open_kernel(_config(tmp_path), tmp_path / "k.sqlite") as kernel:
        await kernel.run()
        await kernel.call("counter", "make", "made", 3)
        made = kernel.keeper.vat(kernel.vat_id("made"))
        for _ in range(9):
            await kernel.call("made", "add", 1)
        assert made.incarnation() >= 2
        assert await kernel.call("made", "total") == 9
        assert await kernel.call("made", "start") == 1
        kernel.audit()


async def test_create_vat_refuses_restart_every_for_a_bundle_not_declared_durable(
    anyio_backend, tmp_path
):
    async with vatrt.open_kernel(_config(tmp_path), tmp_path / "k.sqlite") as kernel:
        await kernel.run()
        with pytest.raises(RejectedError, match="declares its state durable"):
            await kernel.call("counter", "make_plain", "nope")
        with pytest.raises(RejectedError, match="restart_every must be >= 2"):
            await kernel.call("counter", "make", "nope", 1)
        assert "nope" not in kernel.vat_names()
        kernel.audit()


async def test_a_config_with_restart_every_on_a_bundle_not_declared_durable_is_refused(
    anyio_backend, tmp_path
):
    with pytest.raises(ConfigError, match=r"vats\.counter\.restart_every.*VAT_STATE"):
        async with vatrt.open_kernel(_config(tmp_path, bundle="plain")):
            pass
    with pytest.raises(ConfigError, match=r"vats\.counter\.restart_every must be >= 2"):
        async with vatrt.open_kernel(_config(tmp_path, every=1)):
            pass


async def test_vatrt_check_refuses_restart_every_on_a_bundle_not_declared_durable_as_boot_does(
    anyio_backend, tmp_path
):
    config = _config(tmp_path, bundle="plain")
    with pytest.raises(ConfigError) as checked:
        check_config(config)
    with pytest.raises(ConfigError) as booted:
        async with vatrt.open_kernel(config, tmp_path / "k.sqlite"):
            pass
    assert str(checked.value) == str(booted.value)
    assert "vats.counter.restart_every" in str(checked.value)
    check_config(_config(tmp_path))  # declared durable: good
    async with vatrt.open_kernel(_config(tmp_path), tmp_path / "k.sqlite") as kernel:
        await kernel.run()  # the refused boot left nothing: the store boots afresh
        assert await kernel.call("counter", "start") == 7
        kernel.audit()


async def test_a_restart_queued_when_the_kernel_closed_runs_once_after_reopening(
    anyio_backend, tmp_path
):
    config = _config(tmp_path, every=3)
    dumps = {}
    for stop in (False, True):
        store = tmp_path / f"stop-{stop}.sqlite"
        async with vatrt.open_kernel(config, store) as kernel:
            await kernel.run()
            kernel.queue_to_vat_root("counter", "add", [1])
            kernel.queue_to_vat_root("counter", "add", [1])
            # startVat and one add make 2; the second add makes 3 and queues the restart
            await kernel.run(max_cranks=2 if stop else None)
        async with vatrt.open_kernel(config, store) as kernel:
            await kernel.run()
            counter = kernel.keeper.vat(kernel.vat_id("counter"))
            assert counter.incarnation() == 1  # restarted once, not once more after reopening
            assert await kernel.call("counter", "total") == 2
            kernel.audit()
            dumps[stop] = kernel.dump()
    assert dumps[True] == dumps[False]


@pytest.mark.parametrize("store", [False, True], ids=["memory", "sqlite"])
async def test_a_restart_that_fails_is_tried_again_n_deliveries_later(
    anyio_backend, tmp_path, store
):
    slog = tmp_path / "k.slog"
    path = tmp_path / "k.sqlite" if store else None
    config = _config(tmp_path, every=3, bundle="stuck")
    async with vatrt.open_kernel(config, path, slog=slog, max_vats_online=10) as kernel:
        await kernel.run()
        counter = kernel.keeper.vat(kernel.vat_id("counter"))
        for n in range(1, 9):
            assert await kernel.call("counter", "add", 1) == n
        assert counter.incarnation() == 0
        kernel.audit()
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    restarts = [r for r in records if r["type"] == "vat-restart"]
    assert not any(r["ok"] for r in restarts)
    assert all("will not restart" in r["detail"] for r in restarts)
    # due at 3 deliveries (startVat and 2 adds), then each 3 deliveries after a
    # failure: after adds 2, 5 and 8, not after every add from the second on
    assert len(restarts) == 3
