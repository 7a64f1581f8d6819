"""What a vat can do to the kernel or to other vats, and why it cannot hurt them.

- A malformed send, resolution or exit is the sender's fault: it is refused at
  the syscall (an illegal syscall: the crank is undone, the sender terminated),
  and the receiver never sees it.
- Any exception while a syscall is handled makes it illegal, and nothing of it
  survives, however far it got.
- A BaseException from vat code (KeyboardInterrupt, SystemExit, GeneratorExit)
  fails like any vat error; a real Ctrl-C stops the run at a crank boundary.
- Syscalls are accepted only from the vat being delivered to, during its
  delivery, in the kernel's thread.

The hostile vats reach liveslots' raw syscall function (`current.liveslots`),
which only a broken vat does. Every test ends with `kernel.audit()`.

The vats here run in local workers: the kernel's checks at the syscall are the
same whatever the worker, and several of these (a module global shared by
vats, a thread, a Ctrl-C raised by vat code) only mean something for vats that
share the kernel's process. The tests named "...in a subprocess..." run a sample
with the hostile vat in a subprocess worker.
"""

import builtins
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

import vatrt
from vatrt._protocol import Subscribe
from vatrt.testing import make_config

# Not `both_workers`: local workers only (see the docstring); the tests named
# "...in a subprocess..." put their hostile vat in a subprocess worker themselves.
pytestmark = pytest.mark.anyio


RECEIVER = """
from vatrt.vat import Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    seen = []
    class Receiver:
        def ping(self, *args, **kwargs):
            seen.append("ping")
            return "pong"
        def hold(self, *args):
            seen.append("hold")
        async def watch(self, p):
            seen.append("watch")
            try:
                seen.append(("fulfilled", await p))
            except RemoteError as e:
                seen.append(("rejected", str(e)))
        def seen(self):
            return seen
    return Far("Receiver", Receiver())
"""

# Malformed capdata, built in the vat: `ref` is a vref the sender may name.
FORGER = r"""
import builtins
from vatrt.vat import E, Far, make_promise_kit
from vatrt._liveslots.far import current   # only a broken vat does this
from vatrt._protocol import Exit, Msg, Resolution, Resolve, Send

def slot(i):
    return '{"@qclass":"slot","index":%d,"iface":"Receiver"}' % i

def bad_capdata(name, ref):
    return {
        "not a dict": ["ping", []],
        "a body that is not JSON": {"body": '["ping",[', "slots": []},
        "a body that is not a str": {"body": ["ping", []], "slots": []},
        "slots that are not a list": {"body": '["ping",[]]', "slots": ref},
        "a slot that is not a str": {"body": '["ping",[%s]]' % slot(0), "slots": [7]},
        "an unknown qclass": {"body": '["ping",[{"@qclass":"bogus"}]]', "slots": []},
        "a qclass spelt with an escape": {
            "body": '["ping",[{"\\u0040qclass":"bogus"}]]', "slots": []},
        "a qclass that is not a str": {"body": '["ping",[{"@qclass":[1]}]]', "slots": []},
        "bytes that are not hex": {
            "body": '["ping",[{"@qclass":"bytes","hex":"zz"}]]', "slots": []},
        "a bigint that is not digits": {
            "body": '["ping",[{"@qclass":"bigint","digits":"12x"}]]', "slots": []},
        "a tuple without items": {"body": '["ping",[{"@qclass":"tuple"}]]', "slots": []},
        "an error without a message": {
            "body": '["ping",[{"@qclass":"error","name":"E"}]]', "slots": []},
        "a slot index out of range": {"body": '["ping",[%s]]' % slot(1), "slots": [ref]},
        "a negative slot index": {"body": '["ping",[%s]]' % slot(-1), "slots": [ref]},
        "a slot index that is a bool": {
            "body": '["ping",[{"@qclass":"slot","index":true}]]', "slots": [ref]},
        "a slot the body never names": {"body": '["ping",[]]', "slots": [ref]},
        "a body nested 200 deep": {
            "body": '["ping",[' + "[" * 200 + "]" * 200 + "]]", "slots": []},
        "a method name that is not a str": {"body": "[7,[]]", "slots": []},
        "arguments that are not a list": {"body": '["ping",{"a":1}]', "slots": []},
        "a body that is not a list": {"body": '"ping"', "slots": []},
        "keyword arguments that are not a dict": {"body": '["ping",[],[1]]', "slots": []},
        "too many parts": {"body": '["ping",[],{},1]', "slots": []},
    }[name]

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    class Forger:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def forge_send(self, case):
            receiver = peers["receiver"]
            current.liveslots.syscall(Send(receiver.vref, Msg(bad_capdata(case, receiver.vref), None)))
            return "sent"
        def forge_resolve(self, case):
            p, resolve, reject = make_promise_kit()
            E.sendonly(peers["receiver"]).watch(p)
            data = bad_capdata(case, peers["receiver"].vref)
            current.liveslots.syscall(Resolve([Resolution(p.vref, False, data)]))
            return "resolved"
        def forge_exit(self, case):
            current.liveslots.syscall(Exit(False, bad_capdata(case, peers["receiver"].vref)))
            return "exiting"
        def good_send(self):
            E.sendonly(peers["receiver"]).ping()
            return "sent"
    return Far("Forger", Forger())
"""

MESSAGE_ONLY = {
    "a method name that is not a str",
    "arguments that are not a list",
    "a body that is not a list",
    "keyword arguments that are not a dict",
    "too many parts",
}
ANY_CAPDATA = [
    "not a dict",
    "a body that is not JSON",
    "a body that is not a str",
    "slots that are not a list",
    "a slot that is not a str",
    "an unknown qclass",
    "a qclass spelt with an escape",
    "a qclass that is not a str",
    "bytes that are not hex",
    "a bigint that is not digits",
    "a tuple without items",
    "an error without a message",
    "a slot index out of range",
    "a negative slot index",
    "a slot index that is a bool",
    "a slot the body never names",
    "a body nested 200 deep",
]


@pytest.fixture
def forger_config(tmp_path):
    return make_config(
        tmp_path / "cfg", {"forger": FORGER, "receiver": RECEIVER}, bootstrap="forger"
    )


async def assert_sender_died_and_receiver_saw_nothing(kernel, method, case):
    with pytest.raises(vatrt.RejectedError, match="vat terminated"):
        await kernel.call("forger", method, case)
    assert "forger" not in kernel.vat_names()
    assert await kernel.call("receiver", "seen") == []
    assert await kernel.call("receiver", "ping") == "pong"
    await kernel.collect_garbage()
    kernel.audit()


# -- 8. malformed sends are the sender's fault ------------------------------------------


@pytest.mark.parametrize("case", ANY_CAPDATA + sorted(MESSAGE_ONLY))
async def test_a_malformed_send_kills_its_sender_and_never_reaches_the_receiver(
    anyio_backend, forger_config, case
):
    async with vatrt.open_kernel(forger_config) as kernel:
        await kernel.run()
        await assert_sender_died_and_receiver_saw_nothing(kernel, "forge_send", case)


@pytest.mark.parametrize("case", ANY_CAPDATA)
async def test_a_malformed_resolution_kills_its_sender_and_never_reaches_the_receiver(
    anyio_backend, forger_config, case
):
    async with vatrt.open_kernel(forger_config) as kernel:
        await kernel.run()
        await assert_sender_died_and_receiver_saw_nothing(kernel, "forge_resolve", case)


@pytest.mark.parametrize("case", ANY_CAPDATA)
async def test_a_malformed_exit_kills_its_vat_and_the_kernel_goes_on(
    anyio_backend, forger_config, case
):
    async with vatrt.open_kernel(forger_config) as kernel:
        await kernel.run()
        await assert_sender_died_and_receiver_saw_nothing(kernel, "forge_exit", case)


@pytest.mark.parametrize(
    ("method", "case"),
    [
        ("forge_send", "a body that is not JSON"),
        ("forge_send", "a body that is not a str"),
        ("forge_send", "a method name that is not a str"),
        ("forge_resolve", "a negative slot index"),
        ("forge_exit", "an unknown qclass"),
    ],
)
async def test_a_malformed_syscall_from_a_vat_in_a_subprocess_kills_only_that_vat(
    anyio_backend, forger_config, method, case
):
    forger_config["vats"]["forger"]["worker"] = "subprocess"
    async with vatrt.open_kernel(forger_config) as kernel:
        await kernel.run()
        await assert_sender_died_and_receiver_saw_nothing(kernel, method, case)


async def test_a_well_formed_send_still_goes_through(anyio_backend, forger_config):
    async with vatrt.open_kernel(forger_config) as kernel:
        await kernel.run()
        assert await kernel.call("forger", "good_send") == "sent"
        assert await kernel.call("receiver", "seen") == ["ping"]
        kernel.audit()


# A dynamic vat's exit info goes on to vat-admin, inside a notice: malformed, it
# used to be decoded by the kernel at termination and end the run.
DRIVER = """
from vatrt.vat import E, Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    async def outcome(promise):
        try:
            return {"ok": await promise}
        except RemoteError as e:
            return {"error": f"{e.name}: {e}"}
    class Driver:
        def bootstrap(self, vats, devices):
            s["admin"] = vats["vat_admin"]
            s["receiver"] = vats["receiver"]
        async def install(self, source):
            r = await outcome(E(s["admin"]).install_bundle(source, "installed.py"))
            s["bundle"] = r.get("ok")
            return r
        async def create(self, name, bundle_name=None):
            bundle = s["bundle"] if bundle_name is None else await E(s["admin"]).get_bundle(bundle_name)
            r = await outcome(E(s["admin"]).create_vat(bundle, name=name))
            if "ok" in r:
                s[name] = r["ok"]
                return {"ok": True}
            return r
        async def ask(self, name, method, *args):
            return await outcome(getattr(E(s[name]["root"]), method)(*args))
        async def done(self, name):
            return await outcome(E(s[name]["admin_node"]).done())
        async def upgrade(self, name):
            return await outcome(E(s[name]["admin_node"]).upgrade(s["bundle"], vat_parameters={}))
    return Far("Driver", Driver())
"""

DYNAMIC_FORGER = r"""
from vatrt.vat import Far
from vatrt._liveslots.far import current
from vatrt._protocol import Exit

def build_root_object(vat_powers, vat_parameters, baggage):
    class Forger:
        def forge_exit(self, body):
            current.liveslots.syscall(Exit(False, {"body": body, "slots": []}))
            return "exiting"
    return Far("Forger", Forger())
"""


@pytest.fixture
def driver_config(tmp_path):
    return make_config(
        tmp_path / "cfg",
        {"driver": DRIVER, "receiver": RECEIVER},
        bootstrap="driver",
    )


@pytest.mark.parametrize("body", ['{"@qclass":"bogus"}', "[", '"\\ud800"'])
async def test_a_dynamic_vats_malformed_exit_is_its_own_failure_not_vat_admins(
    anyio_backend, driver_config, body
):
    async with vatrt.open_kernel(driver_config) as kernel:
        await kernel.run()
        assert "ok" in await kernel.call("driver", "install", DYNAMIC_FORGER)
        assert await kernel.call("driver", "create", "bob") == {"ok": True}
        answer = await kernel.call("driver", "ask", "bob", "forge_exit", body)
        assert "vat terminated" in answer["error"]
        done = await kernel.call("driver", "done", "bob")
        assert "malformed capdata" in done["error"]
        assert "bob" not in kernel.vat_names()
        assert "vat_admin" in kernel.vat_names()
        assert await kernel.call("receiver", "ping") == "pong"
        kernel.audit()


# -- 9. any exception while a syscall is handled is illegal; nothing of it stays ---------

MIDWAY = r"""
import builtins
from vatrt.vat import E, Far, make_promise_kit
from vatrt._liveslots.far import current
from vatrt._protocol import Msg, Resolution, Resolve, Send

def raising(exception):
    class Forged(str):
        # A vref whose hash raises: the kernel fails on it wherever it looks it up.
        def __hash__(self):
            raise exception("forged vref")
    return Forged

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    kept = {}
    class Thing:
        def poke(self):
            return "poked"
    class Midway:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def raise_in_the_kernel(self, exception_name):
            forged = raising(getattr(builtins, exception_name))("o-1")
            try:
                current.liveslots.syscall(Send(forged, Msg({"body": '["ping",[]]', "slots": []}, None)))
            except Exception as e:
                return f"swallowed {type(e).__name__}"
        def fail_on_the_third_slot(self):
            ls = current.liveslots
            promise, _, _ = make_promise_kit()
            slots = [ls.marshal(Far("Thing", Thing()))["slots"][0], ls.marshal(promise)["slots"][0], "o-999"]
            body = '["hold",[%s]]' % ",".join(
                '{"@qclass":"slot","index":%d,"iface":""}' % i for i in range(3))
            try:
                ls.syscall(Send(peers["receiver"].vref, Msg({"body": body, "slots": slots}, None)))
            except Exception:
                pass
            try:
                E.sendonly(peers["receiver"]).ping()  # refused too: the vat is already illegal
            except Exception:
                pass
            return "swallowed"
        def share(self):
            kept["first"], kept["resolve"], _ = make_promise_kit()
            kept["second"], _, _ = make_promise_kit()
            E.sendonly(peers["receiver"]).watch(kept["first"])
            E.sendonly(peers["receiver"]).watch(kept["second"])
        def fail_on_the_second_resolution(self):
            first = Resolution(kept["first"].vref, False, {"body": '"one"', "slots": []})
            forged = raising(RuntimeError)(kept["second"].vref)
            second = Resolution(forged, False, {"body": '"two"', "slots": []})
            try:
                current.liveslots.syscall(Resolve([first, second]))
            except Exception:
                return "swallowed"
    return Far("Midway", Midway())
"""


@pytest.fixture
def midway_config(tmp_path):
    return make_config(
        tmp_path / "cfg", {"midway": MIDWAY, "receiver": RECEIVER}, bootstrap="midway"
    )


@pytest.mark.parametrize(
    "exception",
    [
        "RuntimeError",
        "ZeroDivisionError",
        "LookupError",
        "AssertionError",
        "OSError",
        "KeyboardInterrupt",
    ],
)
async def test_any_exception_while_a_syscall_is_handled_makes_it_illegal(
    anyio_backend, midway_config, exception
):
    async with vatrt.open_kernel(midway_config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("midway", "raise_in_the_kernel", exception)
        assert "midway" not in kernel.vat_names()
        assert await kernel.call("receiver", "seen") == []
        kernel.audit()


def kernel_keys(kernel):
    return {k for k in kernel.dump() if k.startswith(("ko", "kp"))}


async def test_a_send_that_fails_on_its_third_slot_leaves_nothing_of_the_first_two(
    anyio_backend, midway_config
):
    async with vatrt.open_kernel(midway_config) as kernel:
        await kernel.run()
        midway = kernel.vat_id("midway")
        before = kernel_keys(kernel)
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("midway", "fail_on_the_third_slot")
        await kernel.collect_garbage()
        assert await kernel.call("receiver", "seen") == []
        after = kernel_keys(kernel)
        assert after <= before, f"left by the failed syscall: {sorted(after - before)}"
        assert not [k for k in kernel.dump() if k.startswith(f"{midway}.")]
        kernel.audit()


async def test_a_resolve_that_fails_on_its_second_promise_does_not_settle_the_first(
    anyio_backend, midway_config
):
    async with vatrt.open_kernel(midway_config) as kernel:
        await kernel.run()
        await kernel.call("midway", "share")
        with pytest.raises(vatrt.RejectedError, match="vat terminated"):
            await kernel.call("midway", "fail_on_the_second_resolution")
        seen = await kernel.call("receiver", "seen")
        assert seen[:2] == ["watch", "watch"]
        outcomes = sorted(seen[2:])
        assert len(outcomes) == 2
        assert all(o[0] == "rejected" and "vat terminated" in o[1] for o in outcomes), outcomes
        kernel.audit()


# -- 10. BaseException from vat code never reaches the host ---------------------------

RAISER = """
import builtins
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    def make(name, arg):
        return getattr(builtins, name)(arg)
    class Raiser:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def plain(self, name):
            raise make(name, "from a method")
        async def before_await(self, name):
            raise make(name, "before an await")
        async def after_await(self, name):
            await E(peers["receiver"]).ping()
            raise make(name, "after an await")
        def alive(self):
            return "alive"
    return Far("Raiser", Raiser())
"""

BASE_EXCEPTIONS = ["KeyboardInterrupt", "SystemExit", "GeneratorExit"]


@pytest.mark.parametrize("name", BASE_EXCEPTIONS)
@pytest.mark.parametrize("method", ["plain", "before_await", "after_await"])
async def test_a_base_exception_in_a_method_rejects_its_result_and_the_vat_goes_on(
    anyio_backend, tmp_path, name, method
):
    config = make_config(tmp_path, {"raiser": RAISER, "receiver": RECEIVER}, bootstrap="raiser")
    async with vatrt.open_kernel(config, store=tmp_path / "kernel.sqlite") as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as raised:
            await kernel.call("raiser", method, name)
        assert raised.value.reason.name == name
        assert await kernel.call("raiser", "alive") == "alive"
        kernel.audit()
    # Nothing that repeats it was kept: the store reopens, replays, and goes on.
    async with vatrt.open_kernel(None, store=tmp_path / "kernel.sqlite") as kernel:
        await kernel.run()
        assert await kernel.call("raiser", "alive") == "alive"
        with pytest.raises(vatrt.RejectedError):
            await kernel.call("raiser", method, name)
        kernel.audit()


@pytest.mark.parametrize("name", BASE_EXCEPTIONS)
async def test_a_base_exception_in_a_method_of_a_vat_in_a_subprocess_rejects_its_result(
    anyio_backend, tmp_path, name
):
    config = make_config(tmp_path, {"raiser": RAISER, "receiver": RECEIVER}, bootstrap="raiser")
    config["vats"]["raiser"]["worker"] = "subprocess"
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        for method in ["plain", "after_await"]:
            with pytest.raises(vatrt.RejectedError) as raised:
                await kernel.call("raiser", method, name)
            assert raised.value.reason.name == name
        assert await kernel.call("raiser", "alive") == "alive"
        kernel.audit()


def failing_start(name, how):
    body = f"raise {name}('in build_root_object')"
    if how == "async":
        return f"async def build_root_object(vat_powers, vat_parameters, baggage):\n    {body}\n"
    return f"def build_root_object(vat_powers, vat_parameters, baggage):\n    {body}\n"


async def static_start_outcome(directory, source):
    """How a kernel with a static vat running `source` boots: the error it raises
    or the vats that are left."""
    config = make_config(directory, {"receiver": RECEIVER, "bad": source})
    try:
        async with vatrt.open_kernel(config) as kernel:
            await kernel.run()
            kernel.audit()
            return kernel.vat_names()
    except vatrt.VatrtError as e:
        return type(e)


@pytest.mark.parametrize("name", BASE_EXCEPTIONS)
async def test_a_base_exception_in_build_root_object_at_boot_fails_like_any_error(
    anyio_backend, tmp_path, name
):
    ordinary = await static_start_outcome(
        tmp_path / "ordinary", failing_start("RuntimeError", "plain")
    )
    assert await static_start_outcome(tmp_path / "base", failing_start(name, "plain")) == ordinary
    assert await static_start_outcome(tmp_path / "async", failing_start(name, "async")) == ordinary


@pytest.mark.parametrize("name", BASE_EXCEPTIONS)
@pytest.mark.parametrize("how", ["plain", "async"])
async def test_a_base_exception_in_build_root_object_fails_create_vat(
    anyio_backend, driver_config, name, how
):
    async with vatrt.open_kernel(driver_config) as kernel:
        await kernel.run()
        assert "ok" in await kernel.call("driver", "install", failing_start(name, how))
        outcome = await kernel.call("driver", "create", "bob")
        assert name in outcome["error"]
        assert "bob" not in kernel.vat_names()
        assert await kernel.call("receiver", "ping") == "pong"
        kernel.audit()


UPGRADABLE = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("V1", answer=lambda: "v1")
"""


@pytest.mark.parametrize("name", BASE_EXCEPTIONS)
async def test_a_base_exception_in_build_root_object_fails_the_upgrade_and_rolls_it_back(
    anyio_backend, tmp_path, name
):
    config = make_config(tmp_path, {"victim": UPGRADABLE, "receiver": RECEIVER})
    (tmp_path / "v2.py").write_text(failing_start(name, "plain"))
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.UpgradeFailed, match=name):
            await kernel.restart_vat("victim", bundle=str(tmp_path / "v2.py"))
        assert await kernel.call("victim", "answer") == "v1"
        kernel.audit()


@pytest.mark.parametrize("name", BASE_EXCEPTIONS)
async def test_a_base_exception_at_a_bundles_import_is_a_bundle_error_for_vat_admin(
    anyio_backend, driver_config, name
):
    async with vatrt.open_kernel(driver_config) as kernel:
        await kernel.run()
        outcome = await kernel.call("driver", "install", f"raise {name}('at import')\n")
        assert outcome["error"].startswith("BundleError")
        assert name in outcome["error"]
        assert await kernel.call("receiver", "ping") == "pong"
        kernel.audit()


# -- 10. a real Ctrl-C: the run stops at a crank boundary ------------------------------

RALLY = """
import builtins, signal
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
            return state["hits"]
        def hits(self):
            return state["hits"]
        def press_ctrl_c_when_replayed(self):
            if getattr(builtins, "_vatrt_test_replaying", False):
                signal.raise_signal(signal.SIGINT)
            return "pressed"
        def press_ctrl_c(self):
            signal.raise_signal(signal.SIGINT)
            handler = signal.getsignal(signal.SIGINT)
            return ("finished", getattr(handler, "name", None) or handler.__name__)
    return Far("Player", Player())
"""


@pytest.fixture
def rally_config(tmp_path):
    return make_config(tmp_path / "cfg", {"ping": RALLY, "pong": RALLY}, bootstrap="ping")


async def test_a_ctrl_c_during_a_delivery_finishes_that_crank_and_stops_the_run(
    anyio_backend, rally_config
):
    host_handler = signal.getsignal(signal.SIGINT)
    async with vatrt.open_kernel(rally_config) as kernel:
        await kernel.run()
        pressed = kernel.queue_to_vat_root("ping", "press_ctrl_c")
        after = kernel.queue_to_vat_root("pong", "hits")
        with pytest.raises(KeyboardInterrupt):
            await kernel.run()
        assert signal.getsignal(signal.SIGINT) is host_handler
        # The vat was not mistaken for the one that raised: its method finished,
        # with the kernel's handler in place; nothing after it ran.
        assert kernel.kp_status(pressed) == "fulfilled"
        assert kernel.kp_resolution(pressed) == ("finished", "_on_sigint")
        assert kernel.kp_status(after) == "unresolved"
        assert await kernel.run() > 0
        assert kernel.kp_resolution(after) == 0
        kernel.audit()


async def test_a_ctrl_c_from_another_thread_loses_and_repeats_no_crank(anyio_backend, rally_config):
    async with vatrt.open_kernel(rally_config) as kernel:
        await kernel.run()
        rally = kernel.queue_to_vat_root("ping", "rally")
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with anyio.fail_after(60), pytest.raises(KeyboardInterrupt):
                await kernel.run()
        finally:
            timer.cancel()
        kernel.audit()
        assert kernel.kp_status(rally) == "unresolved"
        kernel.queue_to_vat_root("ping", "stop")
        await kernel.run()
        # Every hit pong counted is one ping saw answered: none lost, none twice.
        count = kernel.kp_resolution(rally)
        assert count > 0
        assert await kernel.call("pong", "hits") == count
        kernel.audit()


async def test_a_ctrl_c_while_a_store_is_replayed_stops_open_kernel_and_writes_nothing(
    anyio_backend, rally_config, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(rally_config, store=store) as kernel:
        await kernel.run()
        assert await kernel.call("pong", "press_ctrl_c_when_replayed") == "pressed"
    host_handler = signal.getsignal(signal.SIGINT)
    builtins._vatrt_test_replaying = True  # the vat presses Ctrl-C as it is replayed
    try:
        with pytest.raises(KeyboardInterrupt, match="stopped replaying"):
            async with vatrt.open_kernel(None, store=store):
                pass
    finally:
        del builtins._vatrt_test_replaying
    assert signal.getsignal(signal.SIGINT) is host_handler
    async with vatrt.open_kernel(None, store=store) as kernel:
        assert await kernel.call("pong", "hits") == 0
        kernel.audit()


async def test_a_host_that_ignores_ctrl_c_keeps_ignoring_it(anyio_backend, rally_config):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        async with vatrt.open_kernel(rally_config) as kernel:
            await kernel.run()
            assert await kernel.call("ping", "press_ctrl_c") == ("finished", "SIG_IGN")
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            kernel.audit()
    finally:
        signal.signal(signal.SIGINT, previous)


CHILD = Path(__file__).resolve().parent / "interrupt_child.py"
sys.path.insert(0, str(CHILD.parent))
from interrupt_child import config as child_config  # noqa: E402


def start_child(store, directory, backend):
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(store), str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VATRT_TEST_BACKEND": backend},
    )


async def test_a_real_ctrl_c_stops_a_kernel_in_another_process_and_its_store_reopens(
    anyio_backend, tmp_path
):
    store, directory = tmp_path / "kernel.sqlite", tmp_path / "cfg"
    child = start_child(store, directory, anyio_backend)
    assert child.stdout is not None
    rally = child.stdout.readline().split()  # ["rally", kpid]: the run has begun
    assert rally[0] == "rally", child.communicate()
    assert child.stdout.readline() == "pong: running\n"  # from inside the run: a vat printed it
    child.send_signal(signal.SIGINT)
    try:
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert "KeyboardInterrupt from run()" in out, err
    assert child.returncode == -signal.SIGINT, err
    assert err.rstrip().splitlines()[-1].endswith("the kernel stopped at a crank boundary"), err
    async with vatrt.open_kernel(child_config(str(directory)), store=store) as kernel:
        kernel.audit()
        assert kernel.kp_status(rally[1]) == "unresolved"
        kernel.queue_to_vat_root("ping", "stop")
        await kernel.run()
        # The rally went on where it stopped; every hit was answered exactly once.
        count = kernel.kp_resolution(rally[1])
        assert count >= 50
        assert await kernel.call("pong", "hits") == count
        kernel.audit()


# -- 11. syscalls only from the vat being delivered to, during its delivery -----------

LEAKER = """
import builtins, threading
from vatrt.vat import E, Far
from vatrt._liveslots.far import current
from vatrt._protocol import Msg, Send

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    class Leaker:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def leak(self):
            # A module global shared by every vat: builtins.
            receiver = peers["receiver"].vref
            syscall = current.liveslots.syscall
            def send_ping():
                syscall(Send(receiver, Msg({"body": '["ping",[]]', "slots": []}, None)))
            builtins._vatrt_test_leaked = send_ping
            return "leaked"
        def from_a_thread_now(self):
            syscall = current.liveslots.syscall
            receiver = peers["receiver"].vref
            errors = []
            def send_ping():
                try:
                    syscall(Send(receiver, Msg({"body": '["ping",[]]', "slots": []}, None)))
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {e}")
            thread = threading.Thread(target=send_ping)
            thread.start()
            thread.join()
            return errors
        def alive(self):
            return "alive"
    return Far("Leaker", Leaker())
"""

USER = """
import builtins
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class User:
        def use(self):
            try:
                builtins._vatrt_test_leaked()
            except Exception as e:
                return f"{type(e).__name__}: {e}"
            return "accepted"
        def alive(self):
            return "alive"
    return Far("User", User())
"""


@pytest.fixture
def leak_config(tmp_path):
    yield make_config(
        tmp_path / "cfg",
        {"leaker": LEAKER, "user": USER, "receiver": RECEIVER},
        bootstrap="leaker",
    )
    builtins.__dict__.pop("_vatrt_test_leaked", None)


async def test_a_syscall_made_with_another_vats_syscall_function_is_refused_and_its_owner_dies(
    anyio_backend, leak_config
):
    async with vatrt.open_kernel(leak_config) as kernel:
        await kernel.run()
        assert await kernel.call("leaker", "leak") == "leaked"
        answer = await kernel.call("user", "use")
        assert answer.startswith("IllegalSyscall")
        assert "during a delivery to another vat" in answer
        assert "leaker" not in kernel.vat_names()
        assert await kernel.call("user", "alive") == "alive"
        assert await kernel.call("receiver", "seen") == []
        kernel.audit()


async def test_a_syscall_from_a_thread_after_the_delivery_is_refused_and_its_vat_dies(
    anyio_backend, leak_config
):
    async with vatrt.open_kernel(leak_config) as kernel:
        await kernel.run()
        assert await kernel.call("leaker", "leak") == "leaked"
        errors = []

        def call_it():
            try:
                builtins._vatrt_test_leaked()
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")

        thread = threading.Thread(target=call_it)
        thread.start()
        thread.join()
        assert len(errors) == 1
        assert errors[0].startswith("IllegalSyscall")
        assert "while no delivery was under way" in errors[0]
        assert "leaker" in kernel.vat_names()  # until the next crank boundary
        assert await kernel.call("receiver", "seen") == []
        assert "leaker" not in kernel.vat_names()
        kernel.audit()


async def test_a_syscall_from_another_thread_during_the_vats_own_delivery_is_refused(
    anyio_backend, leak_config
):
    async with vatrt.open_kernel(leak_config) as kernel:
        await kernel.run()
        [error] = await kernel.call("leaker", "from_a_thread_now")
        assert error.startswith("IllegalSyscall")
        assert "from a thread other than the kernel's" in error
        assert "leaker" not in kernel.vat_names()
        assert await kernel.call("receiver", "seen") == []
        kernel.audit()


async def test_a_syscall_from_the_hosts_code_between_deliveries_is_refused(
    anyio_backend, leak_config
):
    async with vatrt.open_kernel(leak_config) as kernel:
        await kernel.run()
        await kernel.call("leaker", "leak")
        with pytest.raises(Exception, match="while no delivery was under way"):
            builtins._vatrt_test_leaked()
        await kernel.run()
        assert "leaker" not in kernel.vat_names()
        assert await kernel.call("receiver", "seen") == []
        kernel.audit()


async def test_a_syscall_sent_after_the_kernel_withdrew_the_delivery_is_refused_unblamed(
    anyio_backend, leak_config
):
    """A worker in another process can send a syscall it made before it knew that
    the kernel took its delivery back (a cancelled run): refused, vat not blamed."""
    async with vatrt.open_kernel(leak_config) as kernel:
        await kernel.run()
        vat_id = kernel.vat_id("leaker")
        worker = kernel.workers[vat_id]
        kernel.syscalls.begin_delivery(worker, None)
        kernel.syscalls.forget_delivery()  # what a cancelled run does
        with pytest.raises(Exception, match="delivery was withdrawn"):
            kernel.syscalls.handle(vat_id, worker, Subscribe("p-1"))
        await kernel.run()
        assert await kernel.call("leaker", "alive") == "alive"
        kernel.audit()
