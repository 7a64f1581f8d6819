"""Devices: kd refs in the kernel, d-N in vats, callNow, sends from devices, grants,
illegal device calls, and device refs retained in vatParameters across upgrades."""

from pathlib import Path
from typing import Any

import anyio
import pytest

import vatrt
from vatrt.errors import AuditError, BundleError, RejectedError
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

COUNTER_DEVICE = """
def build_device(tools, endowments):
    class Extra:
        def hello(self):
            return "hello from an extra node"

    class Counter:
        def add(self, n):
            state = tools.get_state() or {"count": 0, "obj": None}
            state["count"] += n
            tools.set_state(state)
            return state["count"]

        def count(self):
            return (tools.get_state() or {"count": 0})["count"]

        def remember(self, obj):
            state = tools.get_state() or {"count": 0, "obj": None}
            state["obj"] = obj
            tools.set_state(state)
            return obj

        def poke(self, text):
            tools.send_only(tools.get_state()["obj"], "poked", endowments.get("prefix", "") + text)
            return "queued"

        def extra(self):
            return extra

        def fail(self):
            raise ValueError("the device says no")

        def late_node(self):
            return tools.make_node("Late", Extra())

    extra = tools.make_node("Extra", Extra())
    return Counter()
"""

BOOTSTRAP = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    # Kept in baggage (device nodes too), so the bootstrap survives upgrade_all_vats.
    class Bootstrap:
        def bootstrap(self, vats, devices):
            baggage.init("vats", vats)
            baggage.init("devices", devices)
            return sorted(devices)
        def give(self, vat, method, *args):
            return E(baggage.get("vats")[vat]).use(baggage.get("devices")["counter"], method, *args)
        def device(self):
            return baggage.get("devices")["counter"]
        async def spawn(self, source):
            vats, devices = baggage.get("vats"), baggage.get("devices")
            bundle = await E(vats["vat_admin"]).install_bundle(source, "child.py")
            parameters = {"counter": devices["counter"], "peer": vats["user"]}
            created = await E(vats["vat_admin"]).create_vat(
                bundle, name="child", vat_parameters=parameters
            )
            baggage.init("bundle", bundle)
            baggage.init("node", created["admin_node"])
            return await E(created["root"]).from_parameters(1)
        async def upgrade_child(self):
            parameters = {"counter": baggage.get("devices")["counter"], "n": 2}
            return await E(baggage.get("node")).upgrade(
                baggage.get("bundle"), vat_parameters=parameters
            )
    return Far("Bootstrap", Bootstrap())
"""

USER = """
from vatrt.vat import D, DeviceNode, E, Far, RemoteError, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    log = []
    class Me:
        def poked(self, text):
            log.append(text)
    me = Far("Me", Me())
    class User:
        def use(self, node, method, *args):
            if method == "remember":
                return D(node).remember(me) is me
            if method == "extra":
                return D(D(node).extra()).hello()
            if method == "fail":
                try:
                    D(node).fail()
                except RemoteError as e:
                    return f"raised: {e}"
            if method == "send":
                try:
                    E(node).add(1)
                except TypeError as e:
                    return f"refused: {e}"
            return getattr(D(node), method)(*args)
        def log(self):
            return log
        def forge(self):
            return D(DeviceNode("d-77", "Counter")).add(1)
        def give_a_promise(self, node):
            p, resolve, reject = make_promise_kit()
            return D(node).add(p)
        def granted(self):
            return D(vat_powers.devices["counter"]).add(10)
        def from_parameters(self, n):
            return D(vat_parameters["counter"]).add(n)
    return Far("User", User())
"""


def config_with_device(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config = make_config(tmp_path, {"bootstrap": BOOTSTRAP, "user": USER}, bootstrap="bootstrap")
    (tmp_path / "counter_device.py").write_text(COUNTER_DEVICE)
    config["devices"] = {"counter": {"bundle": "counter_device.py"}}
    config.update(extra)
    return config


async def test_the_bootstrap_gets_devices_and_a_vat_calls_one_it_was_sent(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        await kernel.run()
        assert kernel.kp_resolution(kernel.bootstrap_kpid) == ["counter"]
        assert await kernel.call("bootstrap", "give", "user", "add", 2) == 2
        assert await kernel.call("bootstrap", "give", "user", "add", 3) == 5
        device_ref = await kernel.call("bootstrap", "device")
        assert device_ref.kref.startswith("kd")
        user = kernel.vat_id("user")
        assert kernel.dump()[f"{user}.c.{device_ref.kref}"] == "R d-50"
        kernel.audit()


async def test_call_now_returns_object_and_device_refs(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        await kernel.run()
        assert await kernel.call("bootstrap", "give", "user", "remember") is True
        hello = await kernel.call("bootstrap", "give", "user", "extra")
        assert hello == "hello from an extra node"
        kernel.audit()


async def test_a_device_sends_to_a_vat_in_a_later_crank(anyio_backend, tmp_path):
    config = config_with_device(tmp_path)
    endowments = {"counter": {"prefix": "device: "}}
    async with vatrt.open_kernel(config, endowments=endowments) as kernel:
        await kernel.call("bootstrap", "give", "user", "remember")
        assert await kernel.call("bootstrap", "give", "user", "poke", "hi") == "queued"
        assert await kernel.call("user", "log") == ["device: hi"]
        kernel.audit()


async def test_a_device_error_is_raised_in_the_calling_vat_which_lives_on(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        answer = await kernel.call("bootstrap", "give", "user", "fail")
        assert answer.startswith("raised: device 'counter' fail(): ValueError: the device says no")
        assert await kernel.call("bootstrap", "give", "user", "add", 1) == 1
        kernel.audit()


async def test_sending_to_a_device_node_is_refused_at_the_send(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        answer = await kernel.call("bootstrap", "give", "user", "send")
        assert answer.startswith("refused: cannot send 'add'")
        kernel.audit()


async def test_calling_a_device_not_given_is_an_illegal_syscall_that_terminates_the_vat(
    anyio_backend, tmp_path
):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        with pytest.raises(RejectedError, match="which it was not given"):
            await kernel.call("user", "forge")
        assert "user" not in kernel.vat_names()
        kernel.audit()


async def test_the_config_grants_a_device_and_the_grant_survives_an_upgrade(
    anyio_backend, tmp_path
):
    config = config_with_device(tmp_path)
    config["vats"]["user"]["devices"] = ["counter"]
    async with vatrt.open_kernel(config) as kernel:
        assert await kernel.call("user", "granted") == 10
        await kernel.restart_vat("user")
        assert await kernel.call("user", "granted") == 20
        kernel.audit()


async def test_a_device_ref_in_a_message_to_the_host_and_back(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        node = await kernel.call("bootstrap", "device")
        assert await kernel.call("user", "use", node, "add", 4) == 4
        kernel.audit()


async def test_device_state_and_call_now_results_survive_a_reopen_with_replay(
    anyio_backend, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    config = config_with_device(tmp_path)
    async with vatrt.open_kernel(config, store) as kernel:
        assert await kernel.call("bootstrap", "give", "user", "add", 2) == 2
        assert await kernel.call("bootstrap", "give", "user", "add", 3) == 5
    async with vatrt.open_kernel(None, store) as kernel:
        # replay answered the vat's callNow from its transcript: the device ran once each
        assert await kernel.call("bootstrap", "give", "user", "count") == 5
        assert await kernel.call("bootstrap", "give", "user", "add", 1) == 6
        kernel.audit()


async def test_device_refs_in_vat_parameters_are_retained_across_upgrades(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        assert await kernel.call("bootstrap", "spawn", USER) == 1
        child = kernel.vat_id("child")
        retained = kernel.vat_parameters(child)
        assert retained["counter"].kref.startswith("kd")
        peer_kref = retained["peer"].kref
        kernel.audit()
        await kernel.restart_vat("child")
        assert await kernel.call("child", "from_parameters", 1) == 2
        report = await kernel.upgrade_all_vats()
        assert report["child"].status == "upgraded"
        assert await kernel.call("child", "from_parameters", 1) == 3
        assert kernel.vat_parameters(child)["counter"] == retained["counter"]
        assert kernel.vat_parameters(child)["peer"].kref == peer_kref
        assert kernel.refcount(peer_kref)[0] >= 1  # the retained object keeps its count
        kernel.audit()
        # a userspace upgrade with new parameters naming the device
        assert await kernel.call("bootstrap", "upgrade_child") == {"incarnation_number": 3}
        assert await kernel.call("child", "from_parameters", 1) == 4
        assert set(kernel.vat_parameters(child)) == {"counter", "n"}
        kernel.audit()


async def test_audit_finds_a_retained_device_ref_that_names_no_device(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        await kernel.call("bootstrap", "spawn", USER)
        child = kernel.vat_id("child")
        kernel.audit()
        key = f"{child}.vatParameters"
        record = kernel.kv.get(key)
        assert record is not None
        assert '"kd' in record
        kernel.kv.set(key, record.replace('"kd3', '"kd9'))
        with pytest.raises(AuditError, match=r"kd9\d* is held but names no live device"):
            kernel.audit()
        kernel.kv.set(key, record)
        kernel.audit()


async def test_giving_a_device_a_promise_is_an_illegal_syscall(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        node = await kernel.call("bootstrap", "device")
        with pytest.raises(RejectedError, match="devices take no promises"):
            await kernel.call("user", "give_a_promise", node)
        assert "user" not in kernel.vat_names()
        kernel.audit()


async def test_a_device_bundle_without_build_device_fails_the_boot_naming_it(
    anyio_backend, tmp_path
):
    config = config_with_device(tmp_path)
    (tmp_path / "counter_device.py").write_text("def build_root_object(*args):\n    pass\n")
    with pytest.raises(BundleError, match=r"device 'counter'.*does not define build_device\(\)"):
        async with vatrt.open_kernel(config):
            pass
    config["devices"]["counter"]["bundle"] = "missing.py"
    with pytest.raises(BundleError, match=r"device 'counter': cannot read bundle .*missing\.py"):
        async with vatrt.open_kernel(config):
            pass


async def test_a_device_makes_its_nodes_in_build_device_only(anyio_backend, tmp_path):
    async with vatrt.open_kernel(config_with_device(tmp_path)) as kernel:
        with pytest.raises(RejectedError, match=r"make_node\(\) is for build_device"):
            await kernel.call("bootstrap", "give", "user", "late_node")
        assert await kernel.call("bootstrap", "give", "user", "add", 1) == 1
        kernel.audit()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_vat_on_a_vat_host_calls_a_device_within_its_crank(backend, tmp_path):
    config = config_with_device(tmp_path)
    config["hosts"] = {"h1": {"launcher": "local"}}
    config["vats"]["user"]["host"] = "h1"

    async def main() -> None:
        async with vatrt.open_kernel(config) as kernel:
            assert await kernel.call("bootstrap", "give", "user", "add", 2) == 2
            assert await kernel.call("bootstrap", "give", "user", "extra") == (
                "hello from an extra node"
            )
            assert kernel.worker_status("user").host == "h1"
            kernel.audit()

    anyio.run(main, backend=backend)
