"""Bundles that are package directories: modules, relative imports, clear errors."""

import pytest

import vatrt

pytestmark = pytest.mark.anyio

INIT = """
from vatrt.vat import Far
from .pricing import price
from .util.fmt import money

VERSION = "pkg"

def build_root_object(vat_powers, vat_parameters, baggage):
    class Shop:
        def quote(self, n):
            return money(price(n))
    return Far("Shop", Shop())
"""

FILES = {
    "__init__.py": INIT,
    "pricing.py": "def price(n):\n    return n * 3\n",
    "util/__init__.py": "",
    "util/fmt.py": "def money(cents):\n    return f'${cents / 100:.2f}'\n",
}


def write_package(directory, files):
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def shop_config(tmp_path, files):
    write_package(tmp_path / "shop", files)
    return {
        "bundles": {"shop": "shop"},
        "vats": {"shop": {"bundle": "shop"}, "other": {"bundle": "shop"}},
        "base_dir": str(tmp_path),
    }


async def test_a_package_directory_is_a_bundle_with_relative_imports(anyio_backend, tmp_path):
    async with vatrt.open_kernel(shop_config(tmp_path, FILES)) as kernel:
        assert await kernel.call("shop", "quote", 150) == "$4.50"
        assert await kernel.call("other", "quote", 1) == "$0.03"
        kernel.audit()


async def test_a_package_bundle_survives_reopen_and_its_files_changing(anyio_backend, tmp_path):
    config = shop_config(tmp_path, FILES)
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        assert await kernel.call("shop", "quote", 100) == "$3.00"
    (tmp_path / "shop" / "pricing.py").write_text("def price(n):\n    return 0\n")
    async with vatrt.open_kernel(config, store=store) as kernel:
        # the kernel runs the code it was given, whatever happened to the files
        assert await kernel.call("shop", "quote", 100) == "$3.00"
        kernel.audit()


async def test_a_broken_submodule_is_named_in_the_bundle_error(anyio_backend, tmp_path):
    broken = {**FILES, "pricing.py": "def price(n)\n    return n\n"}
    with pytest.raises(vatrt.BundleError, match=r"shop/pricing\.py failed to load \(line 1\)"):
        async with vatrt.open_kernel(shop_config(tmp_path, broken)):
            pass
    failing = {**FILES, "util/fmt.py": "import no_such_module_at_all\n"}
    with pytest.raises(
        vatrt.BundleError, match=r"shop/util/fmt\.py failed to load.*ModuleNotFound"
    ):
        async with vatrt.open_kernel(shop_config(tmp_path / "2", failing)):
            pass


async def test_a_directory_without_init_is_refused(anyio_backend, tmp_path):
    files = {k: v for k, v in FILES.items() if k != "__init__.py"}
    with pytest.raises(vatrt.BundleError, match=r"shop: a package bundle needs an __init__\.py"):
        async with vatrt.open_kernel(shop_config(tmp_path, files)):
            pass


DRIVER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Driver:
        def bootstrap(self, vats, devices):
            baggage.init("admin", vats["vat_admin"])
        async def run(self, files):
            admin = baggage.get("admin")
            bundle = await E(admin).install_bundle(files, "shop")
            created = await E(admin).create_vat(bundle, name="shop")
            return await E(created["root"]).quote(7)
    return Far("Driver", Driver())
"""


async def test_vat_admin_installs_a_package_given_as_a_dict(anyio_backend, tmp_path):
    (tmp_path / "driver.py").write_text(DRIVER)
    config = {
        "bootstrap": "driver",
        "bundles": {"driver": "driver.py"},
        "vats": {"driver": {"bundle": "driver"}},
        "base_dir": str(tmp_path),
    }
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("driver", "run", FILES) == "$0.21"
        with pytest.raises(vatrt.RejectedError, match=r"needs an __init__\.py"):
            await kernel.call("driver", "run", {"pricing.py": "x = 1\n"})
        kernel.audit()
