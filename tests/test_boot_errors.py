"""A first boot whose static vat cannot start fails `open_kernel`, and writes nothing."""

import pytest

import vatrt
from vatrt._cli_check import check_config
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

GOOD = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    class Good:
        def bootstrap(self, vats, devices):
            s.update(vats)
            return "booted"
        async def ask_bad(self):
            return await E(s["bad"]).hello()
    return Far("Good", Good())
"""

RAISES = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    raise RuntimeError("cannot start")
"""

ASYNC_RAISES = """
from vatrt.vat import Far

async def build_root_object(vat_powers, vat_parameters, baggage):
    raise LookupError("no such thing at start")
"""

NOT_FAR = """
def build_root_object(vat_powers, vat_parameters, baggage):
    return {"not": "a Far object"}
"""

EXITS = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    vat_powers.exit_vat_with_failure("not in the mood")
    return Far("Bad", hello=lambda: "never")
"""

FIXED = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Bad", hello=lambda: "fixed")
"""


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        (RAISES, "RuntimeError: cannot start"),
        (ASYNC_RAISES, "LookupError: no such thing at start"),
        (NOT_FAR, "build_root_object must return a Far object, not dict"),
        (EXITS, "it exited while starting"),
    ],
    ids=["raises", "async-raises", "not-far", "exits"],
)
async def test_a_static_vat_that_cannot_start_fails_open_kernel_naming_the_vat_and_the_cause(
    anyio_backend, tmp_path, source, cause
):
    config = make_config(tmp_path, {"good": GOOD, "bad": source}, bootstrap="good")
    with pytest.raises(vatrt.VatStartFailed) as caught:
        async with vatrt.open_kernel(config):
            pytest.fail("open_kernel returned a kernel")
    assert caught.value.vat_name == "bad"
    assert cause in caught.value.cause
    assert str(caught.value).startswith("static vat 'bad' failed to start: ")
    # with the vat fixed, the same config boots
    (tmp_path / "bad.py").write_text(FIXED)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("good", "ask_bad") == "fixed"
        kernel.audit()


async def test_a_critical_static_vat_that_cannot_start_fails_open_kernel_the_same_way(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"good": GOOD, "bad": RAISES}, bootstrap="good")
    config["vats"]["bad"]["critical"] = True
    with pytest.raises(vatrt.VatStartFailed, match=r"static vat 'bad' failed to start: .*cannot"):
        async with vatrt.open_kernel(config):
            pytest.fail("open_kernel returned a kernel")
    (tmp_path / "bad.py").write_text(FIXED)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("good", "ask_bad") == "fixed"
        kernel.audit()


async def test_a_failed_boot_leaves_no_kernel_in_the_store_and_a_fixed_config_boots_it(
    anyio_backend, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    config = make_config(tmp_path / "cfg", {"good": GOOD, "bad": RAISES}, bootstrap="good")
    with pytest.raises(vatrt.VatStartFailed, match="'bad'"):
        async with vatrt.open_kernel(config, store=store):
            pytest.fail("open_kernel returned a kernel")
    with pytest.raises(vatrt.ConfigError, match="holds no kernel"):
        async with vatrt.open_kernel(None, store=store):
            pytest.fail("the failed boot left a kernel behind")
    (tmp_path / "cfg" / "bad.py").write_text(FIXED)
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert await kernel.call("good", "ask_bad") == "fixed"
        kernel.audit()
    # what booted was committed: it reopens without the config
    async with vatrt.open_kernel(None, store=store) as kernel:
        assert kernel.kp_resolution(kernel.bootstrap_kpid) == "booted"
        assert await kernel.call("good", "ask_bad") == "fixed"
        kernel.audit()


async def test_static_vats_have_started_when_open_kernel_returns(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"good": GOOD, "bad": FIXED}, bootstrap="good")
    async with vatrt.open_kernel(config) as kernel:
        # only the bootstrap message is left to run
        assert kernel.stats().run_queue_length == 1
        assert await kernel.run() == 1
        kernel.audit()


DURABLE = 'VAT_STATE = "durable"\n' + FIXED


@pytest.mark.parametrize(
    ("vat", "fixed", "cause"),
    [
        (
            'bundle = "durable"\nparameters = { when = 1979-05-27 }\n',
            'bundle = "durable"\nparameters = { when = "1979-05-27" }\n',
            "vats.a.parameters: ",
        ),
        (
            'bundle = "plain"\nrestart_every = 10\n',
            'bundle = "durable"\nrestart_every = 10\n',
            "vats.a.restart_every: bundle 'plain' does not declare its state durable",
        ),
    ],
    ids=["parameters", "restart_every"],
)
async def test_a_config_files_vat_the_boot_refuses_is_a_config_error_naming_the_file(
    anyio_backend, tmp_path, vat, fixed, cause
):
    (tmp_path / "plain.py").write_text(FIXED)
    (tmp_path / "durable.py").write_text(DURABLE)
    path = tmp_path / "sim.toml"
    head = '[bundles]\nplain = "plain.py"\ndurable = "durable.py"\n[vats.a]\n'
    path.write_text(head + vat)
    store = tmp_path / "kernel.sqlite"
    with pytest.raises(vatrt.ConfigError) as booted:
        async with vatrt.open_kernel(path, store=store):
            pytest.fail("open_kernel returned a kernel")
    assert str(booted.value).startswith(f"invalid config in {path}: {cause}")
    with pytest.raises(vatrt.ConfigError) as checked:
        check_config(path)
    assert str(checked.value) == str(booted.value)  # vatrt check says the same
    with pytest.raises(vatrt.ConfigError, match="holds no kernel"):
        async with vatrt.open_kernel(None, store=store):
            pytest.fail("the refused boot left a kernel behind")
    path.write_text(head + fixed)
    async with vatrt.open_kernel(path, store=store) as kernel:
        await kernel.run()
        assert kernel.vat_names() == ["vat_admin", "a"]
        kernel.audit()


async def test_a_dict_configs_vat_the_boot_refuses_names_it_as_other_config_errors_do(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"a": FIXED})
    config["vats"]["a"]["parameters"] = {"x": {1, 2}}
    with pytest.raises(vatrt.ConfigError) as booted:
        async with vatrt.open_kernel(config):
            pytest.fail("open_kernel returned a kernel")
    assert str(booted.value).startswith("invalid config in <dict>: vats.a.parameters: ")
    config["vats"]["a"]["parameters"] = {"x": [1, 2]}
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert kernel.vat_parameters(kernel.vat_id("a")) == {"x": [1, 2]}
        kernel.audit()
