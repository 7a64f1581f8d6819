"""The compiled build (docs/performance.md): what it compiles, and the guard
against a checkout's compiled module older than its source."""

import os
import re
import tomllib
from pathlib import Path

import pytest

from vatrt import _compiled

ROOT = Path(__file__).resolve().parent.parent
COMPILED_NAME = "core.cpython-311-x86_64-linux-gnu.so"


def test_the_build_hook_compiles_exactly_the_modules_vatrt_names_as_compiled():
    hooks = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    mypyc = hooks["targets"]["wheel"]["hooks"]["mypyc"]
    assert mypyc["enable-by-default"] is False  # a plain install needs no compiler
    assert mypyc["include"] == [m.replace(".", "/") + ".py" for m in _compiled.COMPILED]
    for module in _compiled.COMPILED:
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module


def test_the_host_api_module_is_never_compiled():
    """Compiled functions check their arguments' types first: a host's wrong
    argument must meet `host_checks`, which names it."""
    assert "vatrt._kernel.kernel" not in _compiled.COMPILED
    assert "vatrt._kernel.host_checks" not in _compiled.COMPILED


def checkout(tmp_path, *, compiled_age):
    """A checkout with one compiled module, `compiled_age` seconds older than its
    source (negative: newer)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    package = tmp_path / "vatrt"
    (package / "_kernel").mkdir(parents=True)
    source = package / "_kernel" / "core.py"
    source.write_text("X = 1\n")
    compiled = package / "_kernel" / COMPILED_NAME
    compiled.write_bytes(b"\x7fELF")
    now = source.stat().st_mtime
    os.utime(compiled, (now - compiled_age, now - compiled_age))
    return package


def test_a_compiled_module_older_than_its_source_in_a_checkout_is_refused_naming_both(
    tmp_path,
):
    package = checkout(tmp_path, compiled_age=60)
    expected = re.escape(f"vatrt/_kernel/core.py (compiled: {COMPILED_NAME})")
    with pytest.raises(ImportError, match=f"source changed after it was compiled: {expected}"):
        _compiled.check_fresh(package)


def test_a_compiled_module_whose_source_is_gone_is_refused(tmp_path):
    """A module renamed or deleted in the checkout: Python would still import
    its compiled copy."""
    package = checkout(tmp_path, compiled_age=-60)
    (package / "_kernel" / "core.py").unlink()
    expected = re.escape(f"vatrt/_kernel/{COMPILED_NAME} (its source is gone)")
    with pytest.raises(ImportError, match=expected):
        _compiled.check_fresh(package)


def test_a_compiled_module_newer_than_its_source_is_used_without_complaint(tmp_path):
    package = checkout(tmp_path, compiled_age=-60)
    assert _compiled.stale_compiled(package) == []
    _compiled.check_fresh(package)


def test_an_installed_package_is_not_checked(tmp_path):
    """An installer writes a wheel's files in no particular order: no pyproject.toml
    beside the package, no check."""
    package = checkout(tmp_path, compiled_age=60)
    (tmp_path / "pyproject.toml").unlink()
    assert _compiled.stale_compiled(package)  # it would be stale in a checkout
    _compiled.check_fresh(package)


def test_the_build_name_says_how_much_of_this_vatrt_is_compiled():
    compiled = _compiled.compiled_modules()
    assert set(compiled) <= set(_compiled.COMPILED)
    name = _compiled.build_name()
    if not compiled:
        assert name == "pure Python"
    elif len(compiled) == len(_compiled.COMPILED):
        assert name == "compiled"
    else:
        assert name == f"partly compiled ({len(compiled)} of {len(_compiled.COMPILED)})"
