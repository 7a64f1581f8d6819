"""Bad input at boot gets a clear error naming the problem and where it is."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

GOOD = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Good", object.__new__(type("G", (), {})))
"""


async def test_a_bundle_that_fails_to_import_is_a_bundle_error_naming_the_file(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"good": GOOD, "bad": "import no_such_module_anywhere\n"})
    with pytest.raises(vatrt.BundleError, match=r"bad\.py.*ModuleNotFoundError"):
        async with vatrt.open_kernel(config):
            pass


async def test_a_bundle_with_a_syntax_error_names_the_line(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"bad": "x = 1\ndef broken(:\n"})
    with pytest.raises(vatrt.BundleError, match=r"bad\.py failed to load \(line 2\)"):
        async with vatrt.open_kernel(config):
            pass


async def test_a_bundle_without_build_root_object_is_refused(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"bad": "def build_root(vat_powers, p, b):\n    pass\n"})
    with pytest.raises(vatrt.BundleError, match=r"bad\.py does not define build_root_object"):
        async with vatrt.open_kernel(config):
            pass


async def test_a_missing_bundle_file_is_named(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"good": GOOD})
    config["bundles"]["good"] = "nowhere.py"
    with pytest.raises(vatrt.BundleError, match=r"cannot read bundle .*nowhere\.py"):
        async with vatrt.open_kernel(config):
            pass


async def test_unknown_config_keys_are_named_with_the_file(anyio_backend, tmp_path):
    path = tmp_path / "sim.toml"
    (tmp_path / "good.py").write_text(GOOD)
    path.write_text('[bundles]\ngood = "good.py"\n[vats.a]\nbundel = "good"\n')
    with pytest.raises(vatrt.ConfigError, match=r"sim\.toml.*bundel"):
        async with vatrt.open_kernel(path):
            pass


async def test_a_config_in_toml_boots_with_paths_relative_to_the_file(anyio_backend, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "good.py").write_text(GOOD)
    path = tmp_path / "sim.toml"
    path.write_text('[bundles]\ngood = "sub/good.py"\n[vats.a]\nbundle = "good"\n')
    async with vatrt.open_kernel(path) as kernel:
        await kernel.run()
        assert kernel.vat_names() == ["vat_admin", "a"]
        kernel.audit()


async def test_parameters_that_are_not_passable_are_a_config_error(anyio_backend, tmp_path):
    path = tmp_path / "sim.toml"
    (tmp_path / "good.py").write_text(GOOD)
    path.write_text(
        '[bundles]\ngood = "good.py"\n[vats.a]\nbundle = "good"\n'
        "parameters = { when = 1979-05-27 }\n"
    )
    with pytest.raises(vatrt.ConfigError, match=r"vats\.a\.parameters.*date is not passable"):
        async with vatrt.open_kernel(path):
            pass


async def test_a_store_or_slog_in_a_missing_folder_is_a_config_error(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"good": GOOD})
    with pytest.raises(vatrt.ConfigError, match=r"store=.*does not exist"):
        async with vatrt.open_kernel(config, store=tmp_path / "nowhere" / "k.sqlite"):
            pass
    with pytest.raises(vatrt.ConfigError, match=r"slog=.*does not exist"):
        async with vatrt.open_kernel(config, slog=tmp_path / "nowhere" / "x.slog"):
            pass
