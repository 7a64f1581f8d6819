"""The host API: forwarded results, refused calls that change nothing, clear type
errors, a closed kernel, cancelled calls.

Each refusal is checked the way a host meets it: the error and its message, then
the kernel as it was (`dump()` unchanged, `audit()` clean) and still working (a
call succeeds).
"""

import inspect
from pathlib import Path

import anyio
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio  # argument checks: the worker kind does not matter here

RELAY = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Relay:
        def bootstrap(self, vats, devices):
            for name in ("b", "c"):
                baggage.init(name, vats[name])  # kept across upgrades
            E(baggage.get("b")).meet(vats["a"])
            return "booted"
        def relay(self):
            return E(baggage.get("b")).value()
        def relay_twice(self):
            return E(baggage.get("b")).relay_back()
        def relay_later(self):
            return E(baggage.get("b")).later()
        def relay_failure(self):
            return E(baggage.get("b")).fail()
        def ping(self, n):
            return E(baggage.get("b")).pong(n) if n else "done"
        def echo(self, *args, **kwargs):
            return [list(args), kwargs]
        def cycle(self):
            # y = b.hold(w) is forwarded to w; w = holder.give() is forwarded to y
            holder = E(baggage.get("c")).holder_later()
            w = E(holder).give()
            y = E(baggage.get("b")).hold(w)
            E(baggage.get("c")).release(y)
            return y
    return Far("Relay", Relay())
"""

ANSWERS = """
from vatrt.vat import E, Far, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    class Answers:
        def meet(self, a):
            baggage.init("a", a)
        def value(self):
            return 42
        def relay_back(self):
            return E(baggage.get("a")).relay()
        def later(self):
            p, resolve, reject = make_promise_kit()
            s.setdefault("waiting", []).append(resolve)
            return p
        def settle(self, value):
            for resolve in s.pop("waiting", []):
                resolve(value)
        def fail(self):
            raise ValueError("no value today")
        def pong(self, n):
            return E(baggage.get("a")).ping(n - 1)
        def hold(self, p):
            return p
    return Far("Answers", Answers())
"""

HOLDERS = """
from vatrt.vat import Far, make_promise_kit

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    class Holders:
        def holder_later(self):
            p, resolve, reject = make_promise_kit()
            s["resolve"] = resolve
            return p
        def release(self, y):
            s["resolve"](Far("Holder", give=lambda: y))
    return Far("Holders", Holders())
"""


@pytest.fixture
def config(tmp_path):
    vats = {"a": RELAY, "b": (ANSWERS, {"n": 1}), "c": HOLDERS}
    return make_config(tmp_path / "cfg", vats, bootstrap="a")


async def booted(kernel):
    await kernel.run()
    assert kernel.kp_resolution(kernel.bootstrap_kpid) == "booted"
    return kernel


def pins(kernel):
    return sorted(key for key in kernel.dump() if key.startswith("host.pin."))


def promises(kernel):
    return {key.split(".")[0] for key in kernel.dump() if key.startswith("kp")}


async def still_works(kernel):
    kernel.audit()
    assert await kernel.call("a", "relay") == 42
    kernel.audit()


async def awaited(result):
    """A host method's result: a coroutine's is awaited (where async methods raise)."""
    return await result if inspect.isawaitable(result) else result


async def assert_refused(kernel, error, match, attempt):
    """`attempt(kernel)` raises `error`; the kernel is as it was, and works."""
    before = kernel.dump()
    with pytest.raises(error, match=match):
        await awaited(attempt(kernel))
    assert kernel.dump() == before
    await still_works(kernel)


# -- item 3: a result forwarded to another promise ------------------------------------


async def test_a_call_whose_result_is_forwarded_to_another_promise_returns_the_final_answer(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        before = promises(kernel)
        assert await kernel.call("a", "relay") == 42
        assert await kernel.call("a", "relay_twice") == 42  # forwarded twice
        assert await kernel.call("a", "ping", 50) == "done"  # forwarded 100 times
        assert promises(kernel) == before
        assert pins(kernel) == []
        kernel.audit()


async def test_a_forwarded_result_is_unresolved_until_the_final_answer_is_in(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        kpid = kernel.queue_to_vat_root("a", "relay_later")
        await kernel.run()
        assert kernel.kp_status(kpid) == "unresolved"  # a's answer is in, b's is not
        with pytest.raises(vatrt.VatrtError, match="not resolved yet"):
            kernel.kp_resolution(kpid)
        with pytest.raises(vatrt.VatrtError, match=r"a\.relay_later\(\) did not settle"):
            await kernel.call("a", "relay_later")  # its pin is released too
        await kernel.call("b", "settle", "finally")
        assert kernel.kp_status(kpid) == "fulfilled"
        assert kernel.kp_resolution(kpid) == "finally"
        assert pins(kernel) == []
        kernel.audit()


async def test_a_forwarded_rejection_is_the_final_rejection(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        with pytest.raises(vatrt.RejectedError, match="no value today") as info:
            await kernel.call("a", "relay_failure")
        assert info.value.reason.name == "ValueError"
        kpid = kernel.queue_to_vat_root("a", "relay_failure")
        await kernel.run()
        assert kernel.kp_status(kpid) == "rejected"
        assert str(kernel.kp_resolution(kpid)) == "no value today"
        assert pins(kernel) == []
        kernel.audit()


async def test_the_host_pin_of_a_forwarded_result_goes_with_every_promise_it_followed(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        before = promises(kernel)
        kpid = kernel.queue_to_vat_root("a", "ping", [10])
        await kernel.run()
        assert kernel.refcount(kpid) == (1, 1)  # the host's pin, on the first only
        assert pins(kernel) == [f"host.pin.{kpid}"]
        assert len(promises(kernel) - before) > 10  # the chain, held by the first
        assert kernel.kp_resolution(kpid) == "done"
        assert pins(kernel) == []
        assert promises(kernel) == before
        kernel.audit()


async def test_a_forwarding_cycle_is_a_rejection_naming_it_and_the_host_api_does_not_hang(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        kpid = kernel.queue_to_vat_root("a", "cycle")
        for _ in range(200):
            await kernel.run(max_cranks=1)
            if kernel.kp_status(kpid) != "unresolved":
                break
        assert kernel.kp_status(kpid) == "rejected"
        reason = kernel.kp_resolution(kpid)
        assert reason.name == "TypeError"
        assert str(reason).startswith("promise forwarding cycle: kp")
        assert pins(kernel) == []
        kernel.audit()


# -- item 15: a refused request changes nothing -----------------------------------------


def cyclic():
    items = []
    items.append(items)
    return items


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (object(), r"upgrade_message: builtins\.object is not passable"),
        (cyclic(), r"upgrade_message: .*cycl"),
        (b"bytes", r"upgrade_message must be plain JSON data .* not bytes"),
        ((1, 2), r"upgrade_message must be plain JSON data .* not tuple"),
        ({"why": [2**70]}, r"upgrade_message\['why'\]\[0\] must be plain JSON data"),
        (float("nan"), r"upgrade_message must be plain JSON data .* not float nan"),
        ({"@qclass": "x"}, r"upgrade_message must not have a '@qclass' key"),
    ],
    ids=["object", "cyclic", "bytes", "tuple", "big int", "nan", "qclass"],
)
async def test_an_upgrade_message_that_is_not_json_data_is_refused_and_changes_nothing(
    anyio_backend, config, message, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        upgrade_all = lambda k: k.upgrade_all_vats(upgrade_message=message)  # noqa: E731
        await assert_refused(kernel, TypeError, match, upgrade_all)
        restart = lambda k: k.restart_vat("b", upgrade_message=message)  # noqa: E731
        await assert_refused(kernel, TypeError, match, restart)
        report = await kernel.upgrade_all_vats(upgrade_message={"plain": ["json", 1, 2.5]})
        assert report["b"].status == "upgraded"
        await still_works(kernel)


@pytest.mark.parametrize(
    ("bundles", "match"),
    [
        (["b"], r"bundles must be a mapping of vat name -> bundle, not list"),
        ("b", r"bundles must be a mapping of vat name -> bundle, not str"),
        ({"b": 5}, r"bundles\['b'\] must be a str, not int 5"),
        ({5: "answers"}, r"a vat name in bundles must be a str, not int 5"),
    ],
    ids=["list", "str", "int bundle", "int name"],
)
async def test_bundles_that_are_not_a_mapping_of_str_are_refused_and_change_nothing(
    anyio_backend, config, bundles, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(kernel, TypeError, match, lambda k: k.upgrade_all_vats(bundles))


async def test_an_upgrade_whose_second_bundle_does_not_load_installs_not_even_the_first(
    anyio_backend, config, tmp_path
):
    good = tmp_path / "answers_v2.py"
    good.write_text(ANSWERS.replace("return 42", "return 43"))
    bad = tmp_path / "broken.py"
    bad.write_text("def build_root_object(:\n")
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        bundles = {"b": str(good), "c": str(bad)}
        await assert_refused(
            kernel, vatrt.BundleError, "broken.py", lambda k: k.upgrade_all_vats(bundles)
        )
        missing = {"b": str(good), "c": str(tmp_path / "missing.py")}
        await assert_refused(
            kernel, vatrt.BundleError, "missing.py", lambda k: k.upgrade_all_vats(missing)
        )
        report = await kernel.upgrade_all_vats({"b": str(good)})
        assert report["b"].status == "upgraded"
        assert await kernel.call("a", "relay") == 43
        kernel.audit()


@pytest.mark.parametrize(
    ("attempt", "error", "match"),
    [
        (lambda k: k.restart_vat(5), TypeError, "name must be a str, not int 5"),
        (lambda k: k.restart_vat("b", bundle=5), TypeError, "bundle must be a str, not int"),
        (lambda k: k.restart_vat("nobody"), vatrt.VatTerminated, "no live vat named 'nobody'"),
        (lambda k: k.restart_vat("b", "nowhere.py"), vatrt.BundleError, "nowhere.py"),
        (lambda k: k.upgrade_all_vats({"nobody": "x"}), vatrt.VatTerminated, "nobody"),
    ],
    ids=["int name", "int bundle", "unknown vat", "missing bundle", "unknown vat in bundles"],
)
async def test_a_restart_of_a_bad_name_or_bundle_is_refused_and_changes_nothing(
    anyio_backend, config, attempt, error, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(kernel, error, match, attempt)


@pytest.mark.parametrize(
    ("attempt", "error", "match"),
    [
        (lambda k: k.call("a", "relay", object()), TypeError, "not passable"),
        (lambda k: k.call("a", "relay", x=cyclic()), TypeError, "cycl"),
        (lambda k: k.queue_to_vat_root("a", "relay", [{1: 2}]), TypeError, "keys must be str"),
        (
            lambda k: k.queue_to_vat_root("a", "relay", [vatrt.KernelRef("ko999")]),
            vatrt.VatrtError,
            "ko999 .* no longer exists",
        ),
        (lambda k: k.call("nobody", "relay"), vatrt.VatTerminated, "no live vat named"),
        (lambda k: k.call(5, "relay"), TypeError, "name must be a str"),
        (lambda k: k.call("a", "_private"), vatrt.VatrtError, "public str"),
        (lambda k: k.queue_to_vat_root("a", 5), vatrt.VatrtError, "public str, not 5"),
    ],
    ids=[
        "unpassable arg",
        "cyclic kwarg",
        "int key",
        "gone kref",
        "unknown vat",
        "int vat name",
        "private method",
        "int method",
    ],
)
async def test_a_send_that_is_refused_queues_nothing_and_changes_nothing(
    anyio_backend, config, attempt, error, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(kernel, error, match, attempt)


async def test_collecting_garbage_in_a_panicked_kernel_queues_nothing(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        kernel.panic(vatrt.KernelPanic("for this test"))
        before = kernel.dump()
        with pytest.raises(vatrt.KernelPanic, match="for this test"):
            await kernel.collect_garbage()
        assert kernel.dump() == before
        kernel.audit()


async def test_a_panic_with_something_that_is_no_kernel_panic_is_refused_naming_it(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(
            kernel,
            TypeError,
            "error must be a KernelPanic, not str 'stop'",
            lambda k: k.panic("stop"),
        )


@pytest.mark.parametrize(
    ("endowments", "match"),
    [
        ([("clock", 1)], "endowments must be None or a dict, not list"),
        ({1: "x"}, r"endowments keys must be device names \(str\), not int 1"),
    ],
)
async def test_endowments_that_are_not_a_dict_of_device_names_are_refused_before_any_store(
    anyio_backend, config, tmp_path, endowments, match
):
    store = tmp_path / "refused.sqlite"
    with pytest.raises(TypeError, match=match):
        async with vatrt.open_kernel(config, store, endowments=endowments):
            pass
    assert not store.exists()


# -- item 16: type checks with clear errors ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ("abc", None, "args must be a list or a tuple, not str 'abc'"),
        ({"x": 1}, None, "args must be a list or a tuple, not dict"),
        (None, None, "args must be a list or a tuple, not NoneType"),
        ([], [("x", 1)], "kwargs must be None or a dict, not list"),
        ([], {1: 2}, "kwargs keys must be str, not int 1"),
    ],
    ids=["str args", "dict args", "None args", "list kwargs", "int kwarg key"],
)
async def test_arguments_that_are_not_a_list_and_a_dict_of_str_are_a_type_error(
    anyio_backend, config, args, kwargs, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        queue = lambda k: k.queue_to_vat_root("a", "echo", args, kwargs)  # noqa: E731
        await assert_refused(kernel, TypeError, match, queue)
        kpid = kernel.queue_to_vat_root("a", "echo", ("abc",), {"k": 1})
        await kernel.run()
        assert kernel.kp_resolution(kpid) == [["abc"], {"k": 1}]
        kernel.audit()


@pytest.mark.parametrize(
    ("max_cranks", "error", "match"),
    [
        (-1, ValueError, "max_cranks must be None or an int >= 0, not -1"),
        (1.5, TypeError, "max_cranks must be None or an int >= 0, not float 1.5"),
        (True, TypeError, "max_cranks must be None or an int >= 0, not bool True"),
        ("3", TypeError, "max_cranks must be None or an int >= 0, not str '3'"),
    ],
    ids=["negative", "float", "bool", "str"],
)
async def test_max_cranks_must_be_none_or_an_int_of_zero_or_more(
    anyio_backend, config, max_cranks, error, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(kernel, error, match, lambda k: k.run(max_cranks))
        kernel.queue_to_vat_root("a", "relay")
        cranks = kernel.stats().cranks
        assert await kernel.run(0) == 0  # runs none
        assert kernel.stats().cranks == cranks
        assert await kernel.run(1) == 1
        assert await kernel.run() > 0
        kernel.audit()


@pytest.mark.parametrize(
    ("kref", "error", "match"),
    [
        ("bad", vatrt.VatrtError, "malformed kref 'bad': a kref is ko<N> .* or kp<N>"),
        ("ko", vatrt.VatrtError, "malformed kref 'ko'"),
        ("kx1", vatrt.VatrtError, "malformed kref 'kx1'"),
        ("ko99999", vatrt.VatrtError, "unknown kref ko99999"),
        ("kp99999", vatrt.VatrtError, "unknown kref kp99999"),
        (5, TypeError, "kref must be a str, not int 5"),
    ],
)
async def test_the_refcount_of_a_malformed_or_unknown_kref_is_an_error_naming_it(
    anyio_backend, config, kref, error, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(kernel, error, match, lambda k: k.refcount(kref))
        root = kernel.dump()[f"{kernel.vat_id('b')}.root"]
        assert kernel.refcount(root)[0] >= 1
        kernel.audit()


@pytest.mark.parametrize(
    ("kpid", "error", "match"),
    [
        ("kp99999", vatrt.VatrtError, "unknown promise kp99999"),
        ("ko1", vatrt.VatrtError, "ko1 is not a promise: a kpid is kp<N>"),
        ("p-1", vatrt.VatrtError, "malformed kpid 'p-1'"),
        (None, TypeError, "kpid must be a str, not NoneType"),
    ],
)
async def test_the_status_of_something_that_is_no_promise_is_an_error_naming_it(
    anyio_backend, config, kpid, error, match
):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await assert_refused(kernel, error, match, lambda k: k.kp_status(kpid))
        await assert_refused(kernel, error, match, lambda k: k.kp_resolution(kpid))


async def test_the_parameters_of_an_unknown_vat_are_an_error_naming_it(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        b = kernel.vat_id("b")
        assert kernel.vat_parameters(b) == {"n": 1}
        assert kernel.vat_parameters(kernel.vat_id("a")) == {}
        match = rf"no live vat with id 'v999' \(live vats: .*{b} \(b\)"
        await assert_refused(kernel, vatrt.VatTerminated, match, lambda k: k.vat_parameters("v999"))
        await assert_refused(  # a name is not an id
            kernel, vatrt.VatTerminated, "no live vat with id 'b'", lambda k: k.vat_parameters("b")
        )
        await assert_refused(
            kernel, TypeError, "vat_id must be a str", lambda k: k.vat_parameters(2)
        )
        await assert_refused(kernel, TypeError, "name must be a str", lambda k: k.vat_id(2))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda c: c["vats"]["b"].update(parameters={1: 2}),
            r"key 1 is int, keys must be str @ config\.vats\['b'\]\.parameters\[1\]",
        ),
        (
            lambda c: c["vats"]["b"].update(parameters={"x": {1: 2}}),
            r"vats\.b\.parameters: dict keys must be str, not int at \['x'\]",
        ),
        (
            lambda c: c["bundles"].update(answers=5),
            r"expected str, not int 5 @ config\.bundles\['answers'\]",
        ),
        (
            lambda c: c["vats"].update({7: {"bundle": "a"}}),
            r"key 7 is int, keys must be str @ config\.vats\[7\]",
        ),
        (lambda c: c.update(bootstrap=1), r"expected str, not int 1 @ config\.bootstrap"),
    ],
    ids=["parameter key", "nested parameter key", "bundle path", "vat name", "bootstrap"],
)
async def test_a_dict_config_with_keys_or_values_that_are_not_str_is_a_config_error_naming_them(
    anyio_backend, config, change, match
):
    bad = {**config, "vats": {n: dict(v) for n, v in config["vats"].items()}}
    bad["bundles"] = dict(config["bundles"])
    change(bad)
    with pytest.raises(vatrt.ConfigError, match=match):
        async with vatrt.open_kernel(bad):
            pytest.fail("the kernel opened")
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        await still_works(kernel)


async def test_a_dict_config_bundle_path_may_be_a_path(anyio_backend, config):
    paths = {name: Path(config["base_dir"]) / path for name, path in config["bundles"].items()}
    async with vatrt.open_kernel({**config, "bundles": paths}) as kernel:
        await booted(kernel)
        await still_works(kernel)


async def test_a_toml_config_parameter_key_is_a_str_as_toml_says(anyio_backend, tmp_path):
    (tmp_path / "answers.py").write_text(ANSWERS)
    path = tmp_path / "sim.toml"
    path.write_text(
        '[bundles]\nanswers = "answers.py"\n[vats.b]\nbundle = "answers"\n'
        'parameters = { 1 = 2, "x" = { 3 = 4 } }\n'
    )
    async with vatrt.open_kernel(path) as kernel:
        await kernel.run()
        assert kernel.vat_parameters(kernel.vat_id("b")) == {"1": 2, "x": {"3": 4}}
        assert await kernel.call("b", "value") == 42
        kernel.audit()


async def test_a_call_passes_keyword_arguments_named_name_and_method(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        answer = await kernel.call("a", "echo", 1, name="n", method="m", kwargs="k")
        assert answer == [[1], {"name": "n", "method": "m", "kwargs": "k"}]
        kernel.audit()


# -- item 17: a closed kernel refuses everything ----------------------------------------

# Every public name of Kernel, and a call of it (the test below checks none is missed).
CLOSED_CALLS = {
    "run": lambda k: k.run(),
    "call": lambda k: k.call("a", "relay"),
    "queue_to_vat_root": lambda k: k.queue_to_vat_root("a", "relay"),
    "kp_status": lambda k: k.kp_status("kp1"),
    "kp_resolution": lambda k: k.kp_resolution("kp1"),
    "kp_result": lambda k: k.kp_result("kp1"),
    "hosts": lambda k: k.hosts(),
    "host_listener": lambda k: k.host_listener(),
    "restart_vat": lambda k: k.restart_vat("b"),
    "upgrade_all_vats": lambda k: k.upgrade_all_vats(),
    "collect_garbage": lambda k: k.collect_garbage(),
    "vat_parameters": lambda k: k.vat_parameters("v1"),
    "refcount": lambda k: k.refcount("ko1"),
    "audit": lambda k: k.audit(),
    "dump": lambda k: k.dump(),
    "stats": lambda k: k.stats(),
    "worker_status": lambda k: k.worker_status("a"),
    "vat_id": lambda k: k.vat_id("a"),
    "vat_names": lambda k: k.vat_names(),
    "bootstrap_kpid": lambda k: k.bootstrap_kpid,
    "commit": lambda k: k.commit(),
    "boot": lambda k: k.boot(),
    "panic": lambda k: k.panic(vatrt.KernelPanic("late")),
    "advance_time": lambda k: k.advance_time(1),
    "now": lambda k: k.now(),
}


def public_calls(cls):
    """The public methods and properties of `cls` (compiled, its core's instance
    attributes are class descriptors too: those are not calls)."""
    return {
        name
        for name in dir(cls)
        if not name.startswith("_")
        and (inspect.isroutine(getattr(cls, name)) or isinstance(getattr(cls, name), property))
    }


def test_every_public_kernel_method_is_checked_closed():
    assert public_calls(vatrt.Kernel) == set(CLOSED_CALLS)


@pytest.mark.parametrize("method", sorted(CLOSED_CALLS))
async def test_a_closed_kernel_refuses_every_host_method_naming_it(
    anyio_backend, config, tmp_path, method
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await booted(kernel)
        assert await kernel.call("a", "relay") == 42
        before = kernel.dump()
    match = rf"kernel is closed: {method}\(\) was called after its open_kernel\(\) context exited"
    with pytest.raises(vatrt.KernelClosed, match=match):
        await awaited(CLOSED_CALLS[method](kernel))
    async with vatrt.open_kernel(None, store=store) as reopened:
        assert reopened.dump() == before  # nothing was queued, nothing lost
        await still_works(reopened)


# -- item 18: a cancelled call releases what it pinned -----------------------------------


async def cancel_after_cranks(kernel, scope, cranks):
    """Cancel `scope` once the run in it has begun `cranks` more cranks."""
    until = kernel.stats().cranks + cranks
    while True:
        await anyio.lowlevel.checkpoint()
        if kernel.stats().cranks >= until:
            scope.cancel()
            return


async def test_a_hundred_cancelled_calls_leave_nothing_pinned(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await booted(kernel)
        before = promises(kernel)
        cancelled = 0
        for _ in range(50):  # cancelled before their run began
            with anyio.CancelScope() as scope:
                scope.cancel()
                await kernel.call("a", "ping", 10)
            cancelled += scope.cancelled_caught
        cranks = kernel.stats().cranks
        async with anyio.create_task_group() as tasks:
            for i in range(50):  # cancelled in the middle of their run
                with anyio.CancelScope() as scope:
                    tasks.start_soon(cancel_after_cranks, kernel, scope, 1 + i % 3)
                    await kernel.call("a", "ping", 10)
                cancelled += scope.cancelled_caught
        assert cancelled == 100
        assert kernel.stats().cranks > cranks, "the runs began"
        assert kernel.stats().run_queue_length > 0, "and were cut short"
        assert pins(kernel) == []
        await kernel.run()  # the cancelled calls' messages still run, unread
        assert pins(kernel) == []
        assert promises(kernel) == before
        await still_works(kernel)
