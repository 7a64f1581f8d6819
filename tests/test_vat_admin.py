"""vat-admin: dynamic vats, retained vatParameters and their refcounts (SPEC 5),
upgrade with durable state, termination. Every test ends with `kernel.audit()`."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

# The bootstrap vat drives vat-admin for the host. Results that are presences come
# back to the host as handles; methods take names to keep the host side simple.
DRIVER = """
from vatrt.vat import E, Far, RETAIN, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {"vats": {}, "nodes": {}, "roots": {}, "bundles": {}, "things": {}}

    async def outcome(promise):
        try:
            return {"ok": await promise}
        except RemoteError as e:
            return {"error": f"{e.name}: {e}", "reason": e.reason}

    class Driver:
        def bootstrap(self, vats, devices):
            s["vats"].update(vats)
            s["admin"] = vats["vat_admin"]

        async def install(self, key, source):
            r = await outcome(E(s["admin"]).install_bundle(source, f"{key}.py"))
            if "ok" in r:
                s["bundles"][key] = r["ok"]
            return r

        async def make_thing(self, key):
            s["things"][key] = await E(s["vats"]["maker"]).make(key)
            return s["things"][key]

        def forget_thing(self, key):
            del s["things"][key]

        async def create(self, name, bundle_key, params=None, **options):
            params = self._fill(params)
            r = await outcome(E(s["admin"]).create_vat(
                s["bundles"].get(bundle_key, bundle_key), name=name, vat_parameters=params, **options))
            if "ok" in r:
                s["roots"][name] = r["ok"]["root"]
                s["nodes"][name] = r["ok"]["admin_node"]
                return {"ok": True}
            return r

        def _fill(self, params):
            # {"$thing": key} in parameters stands for the thing made under that key
            if isinstance(params, dict):
                if set(params) == {"$thing"}:
                    return s["things"][params["$thing"]]
                if set(params) == {"$promise"}:
                    return E(s["vats"]["maker"]).make("never-used")
                if params == {"$retain": True}:
                    return RETAIN
                return {k: self._fill(v) for k, v in params.items()}
            if isinstance(params, list):
                return [self._fill(v) for v in params]
            return params

        async def upgrade(self, name, bundle_key, params=None, message=None, retain=False, omit=False):
            node = s["nodes"][name]
            bundle = s["bundles"][bundle_key]
            if omit:
                return await outcome(E(node).upgrade(bundle, upgrade_message=message))
            params = RETAIN if retain else self._fill(params)
            return await outcome(E(node).upgrade(bundle, vat_parameters=params, upgrade_message=message))

        async def ask(self, name, method, *args):
            return await outcome(getattr(E(s["roots"][name]), method)(*args))

        def start_asking(self, name, method, *args):
            s.setdefault("asked", []).append(getattr(E(s["roots"][name]), method)(*args))

        async def asked(self):
            return [await outcome(p) for p in s.pop("asked")]

        async def keep_from(self, name, method, key):
            s["things"][key] = await getattr(E(s["roots"][name]), method)()

        async def ask_thing(self, key, method):
            return await outcome(getattr(E(s["things"][key]), method)())

        async def terminate(self, name, reason):
            return await outcome(E(s["nodes"][name]).terminate_with_failure(reason))

        async def done(self, name):
            return await outcome(E(s["nodes"][name]).done())

        def start_done(self, name):
            s["done"] = E(s["nodes"][name]).done()

        async def finish_done(self):
            return await outcome(s.pop("done"))

        def forget_vat(self, name):
            s["roots"].pop(name, None)

    return Far("Driver", Driver())
"""

MAKER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Thing:
        def __init__(self, name):
            self.name = name
        def hello(self):
            return f"hello from {self.name}"
    class Maker:
        def make(self, name):
            return Far("Thing", Thing(name))
    return Far("Maker", Maker())
"""

# A dynamic vat with durable and ephemeral state, whose version is a parameter.
COUNTER_V1 = """
from vatrt.vat import E, Far, durable_kind, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    params = vat_parameters or {}
    ephemeral = {"calls": 0, "hang": None}

    @durable_kind(baggage, "Purse")
    class Purse:
        @staticmethod
        def init(balance):
            return {"balance": balance}
        def deposit(self, n):
            self.state["balance"] += n
            return self.state["balance"]
        def balance(self):
            return self.state["balance"]

    baggage.provide("count", lambda: 0)
    if not baggage.has("purse"):
        baggage.init("purse", Purse(100))

    class Counter:
        def incr(self):
            ephemeral["calls"] += 1
            baggage.set("count", baggage.get("count") + 1)
            return baggage.get("count")
        def calls(self):
            return ephemeral["calls"]
        def version(self):
            return VERSION
        def params(self):
            return params
        def purse(self):
            return baggage.get("purse")
        def ephemeral_thing(self):
            return Far("Ephemeral", type("Eph", (), {"ping": lambda self: "pong"})())
        def hang(self):
            p, resolve, reject = make_promise_kit()
            ephemeral["hang"] = resolve
            return p
        async def greet_param(self):
            return await E(params["thing"]).hello()
        def exit(self, completion):
            vat_powers.exit_vat(completion)
        def fail(self, reason):
            vat_powers.exit_vat_with_failure(reason)
    return Far("Counter", Counter())

VERSION = 1
"""
COUNTER_V2 = COUNTER_V1.replace("VERSION = 1", "VERSION = 2")
NO_PURSE = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Forgetful", type("F", (), {"version": lambda self: 3})())
"""
RAISES = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    raise RuntimeError("refusing to start")
"""


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path,
        {"driver": DRIVER, "maker": MAKER, "static": (MAKER, {"n": 1})},
        bootstrap="driver",
    )


async def booted(kernel):
    await kernel.run()
    sources = [("v1", COUNTER_V1), ("v2", COUNTER_V2), ("nopurse", NO_PURSE), ("plain", MAKER)]
    for key, source in sources:
        assert "ok" in await kernel.call("driver", "install", key, source)
    return kernel


def keys_of(kernel, kref):
    return [k for k in kernel.dump() if k.startswith(f"{kref}.")]


def refcounts(kernel):
    return {k: v for k, v in kernel.dump().items() if k.endswith(".refCount")}


async def test_create_vat_returns_a_root_that_answers_and_an_admin_node(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        assert await kernel.call("driver", "create", "bob", "v1", {"n": 1}) == {"ok": True}
        assert "bob" in kernel.vat_names()
        assert await kernel.call("driver", "ask", "bob", "incr") == {"ok": 1}
        assert await kernel.call("driver", "ask", "bob", "params") == {"ok": {"n": 1}}
        assert kernel.vat_parameters(kernel.vat_id("bob")) == {"n": 1}
        kernel.audit()


async def test_static_vats_retain_their_config_parameters_or_an_empty_dict(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        assert kernel.vat_parameters(kernel.vat_id("static")) == {"n": 1}
        assert kernel.vat_parameters(kernel.vat_id("maker")) == {}
        kernel.audit()


async def test_an_object_held_only_by_retained_parameters_survives_gc(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        thing = await kernel.call("driver", "make_thing", "t")
        params = {"thing": {"$thing": "t"}}
        # "plain" ignores its parameters, so bob does not hold the thing itself
        assert await kernel.call("driver", "create", "bob", "plain", params) == {"ok": True}
        await kernel.call("driver", "forget_thing", "t")
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (1, 1)
        assert kernel.vat_parameters(kernel.vat_id("bob")) == {"thing": thing}
        kernel.audit()


async def test_a_vat_that_keeps_its_parameters_holds_them_too(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        thing = await kernel.call("driver", "make_thing", "t")
        await kernel.call("driver", "create", "bob", "v1", {"thing": {"$thing": "t"}})
        await kernel.call("driver", "forget_thing", "t")
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (2, 2)  # bob's import + the retained record
        assert await kernel.call("driver", "ask", "bob", "greet_param") == {"ok": "hello from t"}
        kernel.audit()


async def test_upgrade_with_the_same_object_keeps_its_refcount(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        thing = await kernel.call("driver", "make_thing", "t")
        params = {"thing": {"$thing": "t"}}
        await kernel.call("driver", "create", "bob", "plain", params)
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (2, 2)  # the driver's import + the record
        up = await kernel.call("driver", "upgrade", "bob", "plain", params, "same again")
        assert up == {"ok": {"incarnation_number": 1}}
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (2, 2)
        await kernel.call("driver", "forget_thing", "t")
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (1, 1)
        kernel.audit()


async def test_upgrade_without_the_object_frees_it(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        thing = await kernel.call("driver", "make_thing", "t")
        await kernel.call("driver", "create", "bob", "plain", {"thing": {"$thing": "t"}})
        await kernel.call("driver", "forget_thing", "t")
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (1, 1)
        up = await kernel.call("driver", "upgrade", "bob", "plain", {"n": 2}, "drop it")
        assert up == {"ok": {"incarnation_number": 1}}
        await kernel.collect_garbage()
        assert keys_of(kernel, thing.kref) == []
        assert kernel.vat_parameters(kernel.vat_id("bob")) == {"n": 2}
        kernel.audit()


async def test_termination_releases_retained_parameters(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        thing = await kernel.call("driver", "make_thing", "t")
        await kernel.call("driver", "create", "bob", "v1", {"thing": {"$thing": "t"}})
        await kernel.call("driver", "forget_thing", "t")
        await kernel.collect_garbage()
        assert kernel.refcount(thing.kref) == (2, 2)
        bob = kernel.vat_id("bob")
        result = await kernel.call("driver", "terminate", "bob", "enough")
        assert result == {"ok": None}
        await kernel.collect_garbage()
        assert keys_of(kernel, thing.kref) == []
        assert not [k for k in kernel.dump() if k.startswith(f"{bob}.")]
        done = await kernel.call("driver", "done", "bob")
        assert done == {"error": "Rejection: rejected: 'enough'", "reason": "enough"}
        kernel.audit()


async def test_a_failed_upgrade_leaves_the_record_and_every_refcount_as_before(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "make_thing", "t")
        await kernel.call("driver", "create", "bob", "v1", {"thing": {"$thing": "t"}})
        await kernel.call("driver", "ask", "bob", "incr")
        assert "ok" in await kernel.call("driver", "install", "raises", RAISES)
        await kernel.collect_garbage()
        bob = kernel.vat_id("bob")
        counts, record = refcounts(kernel), kernel.dump()[f"{bob}.vatParameters"]
        state = {k: v for k, v in kernel.dump().items() if k.startswith(f"{bob}.")}
        up = await kernel.call("driver", "upgrade", "bob", "raises", {"n": 9}, "doomed")
        assert up["error"].startswith("UpgradeFailed: vat-upgrade failure: ")
        assert "refusing to start" in up["error"]
        await kernel.collect_garbage()
        assert refcounts(kernel) == counts
        assert kernel.dump()[f"{bob}.vatParameters"] == record
        after = {k: v for k, v in kernel.dump().items() if k.startswith(f"{bob}.")}
        assert after == state
        # the old incarnation is still there, ephemeral state and all
        assert await kernel.call("driver", "ask", "bob", "calls") == {"ok": 1}
        kernel.audit()


async def test_an_upgrade_that_forgets_a_durable_kind_is_rolled_back(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1")
        up = await kernel.call("driver", "upgrade", "bob", "nopurse", None, "forgetful")
        assert "durable kind(s) 'Purse'" in up["error"]
        assert "not re-defined" in up["error"]
        assert await kernel.call("driver", "ask", "bob", "version") == {"ok": 1}
        kernel.audit()


async def test_durable_state_survives_upgrade_and_ephemeral_state_is_fresh(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1", {"n": 1})
        for _ in range(3):
            await kernel.call("driver", "ask", "bob", "incr")
        await kernel.call("driver", "keep_from", "bob", "purse", "purse")
        assert await kernel.call("driver", "ask_thing", "purse", "balance") == {"ok": 100}
        bob = kernel.vat_id("bob")
        root_before = kernel.dump()[f"{bob}.root"]
        purse_kref = kernel.dump()[f"{bob}.c.o+d1/1"]
        up = await kernel.call("driver", "upgrade", "bob", "v2", {"n": 2}, "to v2")
        assert up == {"ok": {"incarnation_number": 1}}
        assert kernel.dump()[f"{bob}.root"] == root_before
        assert kernel.dump()[f"{bob}.c.o+d1/1"] == purse_kref
        assert await kernel.call("driver", "ask", "bob", "version") == {"ok": 2}
        assert await kernel.call("driver", "ask", "bob", "calls") == {"ok": 0}
        assert await kernel.call("driver", "ask", "bob", "incr") == {"ok": 4}
        assert await kernel.call("driver", "ask_thing", "purse", "balance") == {"ok": 100}
        assert await kernel.call("driver", "ask", "bob", "params") == {"ok": {"n": 2}}
        kernel.audit()


async def test_upgrade_rejects_pending_promises_and_abandons_ephemeral_exports(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1")
        await kernel.call("driver", "keep_from", "bob", "ephemeral_thing", "eph")
        assert await kernel.call("driver", "ask_thing", "eph", "ping") == {"ok": "pong"}
        await kernel.call("driver", "start_asking", "bob", "hang")
        await kernel.run()
        await kernel.call("driver", "upgrade", "bob", "v2", None, "see you")
        [hung] = await kernel.call("driver", "asked")
        assert hung["reason"] == {
            "name": "vatUpgraded",
            "upgrade_message": "see you",
            "incarnation_number": 0,
        }
        assert await kernel.call("driver", "ask_thing", "eph", "ping") == {
            "error": "VatTerminated: vat terminated",
            "reason": None,
        }
        kernel.audit()


async def test_retain_reuses_the_retained_parameters(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1", {"n": 7})
        up = await kernel.call("driver", "upgrade", "bob", "v2", None, "keep", True)
        assert up == {"ok": {"incarnation_number": 1}}
        assert await kernel.call("driver", "ask", "bob", "params") == {"ok": {"n": 7}}
        assert kernel.vat_parameters(kernel.vat_id("bob")) == {"n": 7}
        kernel.audit()


async def test_upgrade_without_parameters_stores_and_delivers_none(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1", {"n": 7})
        up = await kernel.call("driver", "upgrade", "bob", "v2", None, "plain", False, True)
        assert up == {"ok": {"incarnation_number": 1}}
        assert await kernel.call("driver", "ask", "bob", "params") == {"ok": {}}
        assert kernel.vat_parameters(kernel.vat_id("bob")) is None
        assert (
            kernel.dump()[f"{kernel.vat_id('bob')}.vatParameters"] == '{"body":"null","slots":[]}'
        )
        kernel.audit()


async def test_exit_vat_resolves_done_with_the_completion(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1")
        await kernel.call("driver", "start_done", "bob")
        await kernel.call("driver", "ask", "bob", "exit", {"all": "good"})
        assert await kernel.call("driver", "finish_done") == {"ok": {"all": "good"}}
        assert "bob" not in kernel.vat_names()
        kernel.audit()


async def test_exit_vat_with_failure_rejects_done(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1")
        await kernel.call("driver", "ask", "bob", "fail", "broken")
        assert (await kernel.call("driver", "done", "bob"))["reason"] == "broken"
        kernel.audit()


# -- bad input: a clear error, nothing changed, audit passes ----------------------------


async def assert_refused(kernel, call, match):
    before = refcounts(kernel)
    names = kernel.vat_names()
    result = await kernel.call("driver", *call)
    assert "error" in result, result
    assert match in result["error"]
    await kernel.collect_garbage()
    assert kernel.vat_names() == names
    assert refcounts(kernel) == before
    kernel.audit()


async def test_a_promise_in_vat_parameters_is_refused_at_create(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.collect_garbage()
        call = ("create", "bob", "v1", {"p": [{"$promise": True}]})
        await assert_refused(kernel, call, "vatParameters cannot include promises")


async def test_a_promise_in_vat_parameters_is_refused_at_upgrade(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1", {"n": 1})
        await kernel.collect_garbage()
        call = ("upgrade", "bob", "v2", {"p": {"$promise": True}}, "m")
        await assert_refused(kernel, call, "vatParameters cannot include promises")
        assert await kernel.call("driver", "ask", "bob", "version") == {"ok": 1}


@pytest.mark.parametrize("name", ["", "has space", "x" * 200, "slash/no", "vat_admin", "maker"])
async def test_a_bad_or_taken_name_is_refused(anyio_backend, config, name):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.collect_garbage()
        await assert_refused(kernel, ("create", name, "v1"), repr(name))


async def test_an_unknown_option_is_refused(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.collect_garbage()
        call = ("create", "bob", "v1", None)
        before = refcounts(kernel)
        result = await kernel.call("driver", *call, colour="blue")
        assert "unknown option(s) colour" in result["error"]
        assert refcounts(kernel) == before
        assert "bob" not in kernel.vat_names()
        kernel.audit()


@pytest.mark.parametrize("reap_interval", [0, -1, True, 2.5, "10"])
async def test_a_reap_interval_the_config_would_refuse_is_refused_at_create(
    anyio_backend, config, reap_interval
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.collect_garbage()
        before = refcounts(kernel)
        result = await kernel.call(
            "driver", "create", "bob", "v1", None, reap_interval=reap_interval
        )
        assert "reap_interval must be an int >= 1" in result["error"]
        assert refcounts(kernel) == before
        assert "bob" not in kernel.vat_names()
        kernel.audit()


async def test_a_bundle_argument_that_is_not_a_bundle_is_refused(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.collect_garbage()
        await assert_refused(kernel, ("create", "bob", 42), "expected a bundle")
        await assert_refused(kernel, ("create", "bob", "b1-" + "0" * 64), "not an installed bundle")


async def test_source_that_does_not_compile_is_refused_at_install(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        result = await kernel.call("driver", "install", "broken", "def build_root_object(:\n")
        assert result["error"].startswith("BundleError: bundle broken.py failed to load (line 1)")
        result = await kernel.call("driver", "install", "nobuild", "x = 1\n")
        assert "does not define build_root_object" in result["error"]
        kernel.audit()


async def test_build_root_object_raising_fails_create_and_leaves_nothing(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        assert "ok" in await kernel.call("driver", "install", "raises", RAISES)
        await kernel.call("driver", "make_thing", "t")
        await kernel.collect_garbage()
        call = ("create", "bob", "raises", {"thing": {"$thing": "t"}})
        await assert_refused(kernel, call, "refusing to start")


async def test_upgrading_or_terminating_a_gone_vat_is_refused(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await kernel.call("driver", "create", "bob", "v1")
        await kernel.call("driver", "terminate", "bob", "first")
        await kernel.collect_garbage()
        await assert_refused(kernel, ("upgrade", "bob", "v2", None, "m"), "already gone")
        await assert_refused(kernel, ("terminate", "bob", "again"), "already gone")
