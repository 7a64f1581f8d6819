"""Bundle paths that are not bundles (issue 11, item 19).

A device, a FIFO, an oversized file or package, a directory without
``__init__.py``, and a bundle whose import raises a BaseException (SystemExit,
KeyboardInterrupt, GeneratorExit) are each a `vatrt.BundleError` naming the file,
raised promptly by `open_kernel`, before the kernel reads more than it must.
"""

import os
import re

import anyio
import pytest

import vatrt
from vatrt._bundle_format import MAX_BUNDLE_FILE_BYTES, MAX_PACKAGE_BYTES
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

OK = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Ok", ping=lambda: "pong")
"""


def config_naming(tmp_path, bundle_path):
    """A config whose vat `bad` is the bundle at `bundle_path` (and `ok` a good one)."""
    config = make_config(tmp_path / "cfg", {"ok": OK, "bad": OK})
    config["bundles"]["bad"] = str(bundle_path)
    config["vats"]["bad"] = {"bundle": "bad"}
    return config


async def refused(config, *patterns):
    with anyio.fail_after(10):
        with pytest.raises(vatrt.BundleError) as info:
            async with vatrt.open_kernel(config):
                pass
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), message
    return message


async def test_a_character_device_is_refused_without_reading_it(anyio_backend, tmp_path):
    await refused(
        config_naming(tmp_path, "/dev/zero"),
        r"bundle /dev/zero: it is a character device, not a regular file",
    )


async def test_a_fifo_is_refused_without_waiting_for_a_writer(anyio_backend, tmp_path):
    fifo = tmp_path / "vat.py"
    os.mkfifo(fifo)
    await refused(config_naming(tmp_path, fifo), re.escape(f"bundle {fifo}: it is a FIFO"))


async def test_a_symlink_to_a_device_is_refused(anyio_backend, tmp_path):
    link = tmp_path / "zero.py"
    link.symlink_to("/dev/zero")
    await refused(config_naming(tmp_path, link), re.escape(f"bundle {link}: it is a character"))


async def test_an_oversized_file_is_refused_by_its_size(anyio_backend, tmp_path):
    big = tmp_path / "big.py"
    big.touch()
    os.truncate(big, MAX_BUNDLE_FILE_BYTES + 1)  # sparse: costs no disk
    await refused(
        config_naming(tmp_path, big),
        re.escape(f"bundle {big}: it is {MAX_BUNDLE_FILE_BYTES + 1:,} bytes, over the limit of"),
        r"10 MB",
    )


async def test_a_file_at_the_size_limit_is_read(anyio_backend, tmp_path):
    source = OK + "#" * (MAX_BUNDLE_FILE_BYTES - len(OK) - 1) + "\n"
    path = tmp_path / "at_limit.py"
    path.write_text(source)
    assert path.stat().st_size == MAX_BUNDLE_FILE_BYTES
    with anyio.fail_after(10):
        async with vatrt.open_kernel(config_naming(tmp_path, path)) as kernel:
            assert await kernel.call("bad", "ping") == "pong"
            kernel.audit()


async def test_an_oversized_package_is_refused_before_its_modules_are_read(anyio_backend, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(OK)
    each = MAX_BUNDLE_FILE_BYTES - 1
    for i in range(MAX_PACKAGE_BYTES // each + 1):
        (package / f"m{i}.py").touch()
        os.truncate(package / f"m{i}.py", each)
    await refused(
        config_naming(tmp_path, package),
        re.escape(f"bundle {package}: the package's modules are over the limit of 50 MB"),
        r"\(at m\d+\.py\)",
    )


async def test_a_device_inside_a_package_is_named(anyio_backend, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(OK)
    (package / "helper.py").symlink_to("/dev/zero")
    await refused(
        config_naming(tmp_path, package),
        re.escape(f"bundle {package}: helper.py is a character device, not a regular file"),
    )


async def test_a_directory_without_init_is_refused_before_anything_is_read(anyio_backend, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    os.mkfifo(package / "blocks.py")  # reading it would wait for a writer
    (package / "zero.py").symlink_to("/dev/zero")
    await refused(
        config_naming(tmp_path, package),
        re.escape(f"bundle {package}: a package bundle needs an __init__.py"),
    )


async def test_a_directory_whose_init_is_not_a_file_is_refused(anyio_backend, tmp_path):
    package = tmp_path / "pkg"
    (package / "__init__.py").mkdir(parents=True)
    await refused(config_naming(tmp_path, package), r"needs an __init__\.py")


@pytest.mark.parametrize(
    "raise_it",
    ["raise SystemExit(3)", "raise KeyboardInterrupt", "raise GeneratorExit('odd')"],
)
async def test_a_base_exception_at_import_is_a_bundle_error_naming_the_file(
    anyio_backend, tmp_path, raise_it
):
    path = tmp_path / "quits.py"
    path.write_text(f"import sys\n{raise_it}\n" + OK)
    name = raise_it.split()[1].split("(")[0]
    await refused(config_naming(tmp_path, path), re.escape(f"bundle {path} failed to load: {name}"))


async def test_a_base_exception_in_a_package_submodule_names_the_submodule(anyio_backend, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from . import sub\n" + OK)
    (package / "sub.py").write_text("raise SystemExit('bye')\n")
    await refused(
        config_naming(tmp_path, package),
        re.escape(f"bundle {package}/sub.py failed to load: SystemExit: bye"),
    )


async def test_a_good_kernel_opens_after_a_refused_one(anyio_backend, tmp_path):
    await refused(config_naming(tmp_path, "/dev/zero"), r"/dev/zero")
    with anyio.fail_after(10):
        async with vatrt.open_kernel(make_config(tmp_path / "good", {"ok": OK})) as kernel:
            assert await kernel.call("ok", "ping") == "pong"
            kernel.audit()
