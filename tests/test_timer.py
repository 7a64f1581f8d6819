"""The timer device and timer service: wakeups in order, delays, repeaters,
cancellation, virtual time (advance_time, run(until_time=...), auto-advance),
durability across upgrades and a reopen, and determinism across backends."""

import io
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

import vatrt
from vatrt.config import load_config
from vatrt.errors import ConfigError, RejectedError, VatrtError
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

SIM = """
from vatrt.vat import E, Far, durable_kind

def build_root_object(vat_powers, vat_parameters, baggage):
    def note(entry):
        baggage.set("log", [*baggage.get("log"), entry])

    baggage.provide("log", lambda: [])

    @durable_kind(baggage, "Handler")
    class Handler:
        @staticmethod
        def init(name):
            return {"name": name}
        def wake(self, when):
            note([self.state["name"], when])

    def timer():
        return baggage.get("timer")

    class Sim:
        def bootstrap(self, vats, devices):
            baggage.init("timer", vats["timer"])
            return sorted(devices)
        def now(self):
            return E(timer()).get_current_timestamp()
        def wake_at(self, when, name, token=None):
            return E(timer()).wake_at(when, Handler(name), token)
        async def delay(self, dt, token=None):
            when = await E(timer()).delay(dt, token)
            note(["delay", when])
            return when
        async def repeat(self, delay, interval, name):
            repeater = await E(timer()).make_repeater(delay, interval)
            baggage.init(f"repeater.{name}", repeater)
            return await E(repeater).schedule(Handler(name))
        def stop(self, name):
            return E(baggage.get(f"repeater.{name}")).cancel()
        def cancel(self, token):
            return E(timer()).cancel(token)
        def log(self):
            return baggage.get("log")
    return Far("Sim", Sim())
"""


def timer_config(tmp_path: Path, **timer: Any) -> dict[str, Any]:
    config = make_config(tmp_path, {"sim": SIM}, bootstrap="sim")
    config["timer"] = {"source": "virtual", **timer}
    return config


async def test_the_bootstrap_gets_the_timer_device_and_service(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        await kernel.run()
        assert kernel.kp_resolution(kernel.bootstrap_kpid) == ["timer"]
        assert "timer" in kernel.vat_names()
        assert kernel.now() == 0
        assert await kernel.call("sim", "now") == 0
        timer = kernel.vat_id("timer")
        assert kernel.vat_parameters(timer)["device"].kref.startswith("kd")
        kernel.audit()


async def test_wakeups_fire_in_time_order_and_ties_in_the_order_asked(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        for when, name in [(10, "a"), (5, "b"), (10, "c"), (5, "d"), (7.5, "e")]:
            assert await kernel.call("sim", "wake_at", when, name) == when
        await kernel.advance_time(6)
        assert await kernel.call("sim", "log") == [["b", 5], ["d", 5]]
        assert kernel.now() == 6
        await kernel.run(until_time=20)
        assert await kernel.call("sim", "log") == [
            ["b", 5], ["d", 5], ["e", 7.5], ["a", 10], ["c", 10]
        ]  # fmt: skip
        assert kernel.now() == 20
        assert await kernel.call("sim", "now") == 20
        kernel.audit()


async def test_a_delay_resolves_once_its_time_has_passed(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        await kernel.run()
        kpid = kernel.queue_to_vat_root("sim", "delay", [5])
        await kernel.advance_time(4)
        assert kernel.kp_status(kpid) == "unresolved"
        await kernel.advance_time(1)
        assert kernel.kp_resolution(kpid) == 5
        kernel.audit()


async def test_a_repeater_wakes_every_interval_until_cancelled(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        assert await kernel.call("sim", "repeat", 10, 5, "r") == 10
        await kernel.run(until_time=27)
        assert await kernel.call("sim", "log") == [["r", 10], ["r", 15], ["r", 20], ["r", 25]]
        await kernel.call("sim", "stop", "r")
        await kernel.run(until_time=100)
        assert len(await kernel.call("sim", "log")) == 4
        kernel.audit()


async def test_a_cancellation_token_cancels_its_wakeups_and_rejects_its_delays(
    anyio_backend, tmp_path
):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        await kernel.call("sim", "wake_at", 5, "kept")
        await kernel.call("sim", "wake_at", 6, "gone", "t1")
        await kernel.call("sim", "wake_at", 7, "gone too", "t1")
        kpid = kernel.queue_to_vat_root("sim", "delay", [8, "t1"])
        await kernel.run()
        assert await kernel.call("sim", "cancel", "t1") == 3
        assert kernel.kp_status(kpid) == "rejected"
        assert "delay cancelled" in str(kernel.kp_resolution(kpid))
        await kernel.run(until_time=10)
        assert await kernel.call("sim", "log") == [["kept", 5]]
        kernel.audit()


async def test_auto_advance_jumps_to_each_next_wakeup_when_the_queue_is_empty(
    anyio_backend, tmp_path
):
    async with vatrt.open_kernel(timer_config(tmp_path, auto_advance=True)) as kernel:
        kernel.queue_to_vat_root("sim", "wake_at", [86_400 * 365, "a year on"])
        kernel.queue_to_vat_root("sim", "wake_at", [3_600, "an hour on"])
        await kernel.run()
        assert kernel.now() == 86_400 * 365
        assert await kernel.call("sim", "log") == [["an hour on", 3_600], ["a year on", 31_536_000]]
        # a wakeup asked for in the past fires at once, with the time it asked for
        await kernel.call("sim", "wake_at", 10, "late")
        assert (await kernel.call("sim", "log"))[-1] == ["late", 10]
        kernel.audit()


async def test_without_auto_advance_time_stands_still(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        await kernel.call("sim", "wake_at", 5, "a")
        await kernel.run()
        assert kernel.now() == 0
        assert await kernel.call("sim", "log") == []
        await kernel.call("sim", "wake_at", 0, "due now")  # due: fires without time moving
        assert await kernel.call("sim", "log") == [["due now", 0]]
        await kernel.run(until_time=3)
        assert kernel.now() == 3
        assert await kernel.call("sim", "log") == [["due now", 0]]
        kernel.audit()


async def test_wakeups_survive_the_services_and_the_handler_vats_upgrades(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        await kernel.call("sim", "wake_at", 10, "a")
        await kernel.call("sim", "repeat", 5, 5, "r")
        await kernel.restart_vat("timer")
        await kernel.run(until_time=5)
        await kernel.restart_vat("sim")
        report = await kernel.upgrade_all_vats()
        assert report["timer"].status == "upgraded"
        assert report["sim"].status == "upgraded"
        await kernel.run(until_time=15)
        assert await kernel.call("sim", "log") == [["r", 5], ["a", 10], ["r", 10], ["r", 15]]
        kernel.audit()


async def test_wakeups_and_time_survive_a_reopen_with_replay(anyio_backend, tmp_path):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(timer_config(tmp_path), store) as kernel:
        await kernel.call("sim", "wake_at", 10, "a")
        await kernel.call("sim", "repeat", 3, 4, "r")
        await kernel.run(until_time=7)
        assert await kernel.call("sim", "log") == [["r", 3], ["r", 7]]
    async with vatrt.open_kernel(None, store) as kernel:
        assert kernel.now() == 7
        await kernel.run(until_time=12)
        assert await kernel.call("sim", "log") == [["r", 3], ["r", 7], ["a", 10], ["r", 11]]
        assert await kernel.call("sim", "now") == 12
        kernel.audit()


async def test_time_arguments_are_checked(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        with pytest.raises(RejectedError, match="when must be a finite int or float"):
            await kernel.call("sim", "wake_at", "soon", "a")
        with pytest.raises(RejectedError, match="interval must be > 0"):
            await kernel.call("sim", "repeat", 1, 0, "r")
        with pytest.raises(VatrtError, match="dt must be a finite int or float"):
            await kernel.advance_time(float("nan"))
        with pytest.raises(VatrtError, match="until_time must be"):
            await kernel.run(until_time="later")
        kernel.audit()


async def test_run_until_time_needs_a_timer(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"sim": SIM})
    async with vatrt.open_kernel(config) as kernel:
        with pytest.raises(VatrtError, match=r"needs a \[timer\]"):
            await kernel.run(until_time=5)
        kernel.audit()


def test_a_timer_config_is_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"timer\.source must be 'virtual' or 'wall'"):
        load_config(timer_config(tmp_path, source="sundial"))
    with pytest.raises(ConfigError, match=r"auto_advance needs timer\.source = 'virtual'"):
        load_config(timer_config(tmp_path, source="wall", auto_advance=True))
    with pytest.raises(ConfigError, match=r"timer\.start must be a finite number >= 0"):
        load_config(timer_config(tmp_path, start=-1))
    config = timer_config(tmp_path)
    config["vats"]["sim"]["devices"] = ["clock"]
    with pytest.raises(
        ConfigError, match=r"vats\.sim\.devices names 'clock', which is not a device"
    ):
        load_config(config)


def run_simulation(backend: str, directory: Path, worker: str) -> tuple[Any, dict[str, str], Any]:
    config = timer_config(directory)
    slog = io.BytesIO()

    async def main() -> tuple[Any, dict[str, str]]:
        async with vatrt.open_kernel(config, slog=slog, worker=worker) as kernel:
            for when, name in [(9, "a"), (3, "b"), (9, "c")]:
                await kernel.call("sim", "wake_at", when, name)
            await kernel.call("sim", "repeat", 2, 3, "r")
            await kernel.advance_time(5)
            await kernel.run(until_time=20)
            kernel.audit()
            return await kernel.call("sim", "log"), kernel.dump()

    log, dump = anyio.run(main, backend=backend)
    advances = [
        record
        for record in map(orjson.loads, slog.getvalue().splitlines())
        if record["type"] == "time-advance"
    ]
    return log, dump, advances


def test_virtual_time_gives_the_same_cranks_and_state_on_asyncio_and_trio(tmp_path, worker_kind):
    on_asyncio = run_simulation("asyncio", tmp_path / "a", worker_kind)
    on_trio = run_simulation("trio", tmp_path / "t", worker_kind)
    assert on_asyncio[0] == on_trio[0]
    assert on_asyncio[0][:3] == [["r", 2], ["b", 3], ["r", 5]]

    def comparable(dump: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in dump.items() if not k.startswith("bundle.")}

    assert comparable(on_asyncio[1]) == comparable(on_trio[1])
    moves = [(r["from"], r["to"]) for r in on_asyncio[2]]
    assert moves == [(r["from"], r["to"]) for r in on_trio[2]]
    assert moves[:3] == [(0, 2), (2, 3), (3, 5)]


async def test_wall_time_fires_wakeups_as_real_time_reaches_them(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path, source="wall")) as kernel:
        start = kernel.now()
        await kernel.call("sim", "wake_at", start + 0.05, "soon")
        await kernel.call("sim", "wake_at", start + 3600, "in an hour")
        await kernel.run(until_time=start + 0.1)
        assert kernel.now() >= start + 0.1
        assert await kernel.call("sim", "log") == [["soon", start + 0.05]]
        with pytest.raises(VatrtError, match="advance_time\\(\\) needs"):
            await kernel.advance_time(1)
        kernel.audit()


async def test_a_delay_pending_when_the_service_upgrades_rejects_with_vat_upgraded(
    anyio_backend, tmp_path
):
    async with vatrt.open_kernel(timer_config(tmp_path)) as kernel:
        await kernel.run()
        kpid = kernel.queue_to_vat_root("sim", "delay", [5])
        await kernel.call("sim", "wake_at", 5, "durable")
        await kernel.restart_vat("timer")
        await kernel.run(until_time=10)
        assert kernel.kp_status(kpid) == "rejected"
        assert kernel.kp_resolution(kpid)["name"] == "vatUpgraded"
        assert await kernel.call("sim", "log") == [["durable", 5]]
        kernel.audit()


async def test_virtual_time_starts_where_the_config_says(anyio_backend, tmp_path):
    async with vatrt.open_kernel(timer_config(tmp_path, start=1_000)) as kernel:
        assert kernel.now() == 1_000
        await kernel.call("sim", "wake_at", 1_500, "a")
        await kernel.advance_time(500)
        assert await kernel.call("sim", "log") == [["a", 1_500]]
        kernel.audit()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_timer_serves_a_vat_on_a_vat_host(backend, tmp_path):
    config = timer_config(tmp_path)
    config["hosts"] = {"h1": {"launcher": "local"}}
    config["vats"]["sim"]["host"] = "h1"

    async def main() -> None:
        async with vatrt.open_kernel(config) as kernel:
            await kernel.call("sim", "wake_at", 5, "far away")
            await kernel.run(until_time=6)
            assert kernel.worker_status("sim").host == "h1"
            assert await kernel.call("sim", "log") == [["far away", 5]]
            kernel.audit()

    anyio.run(main, backend=backend)
