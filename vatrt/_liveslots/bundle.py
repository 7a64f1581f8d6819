"""Loading a bundle as fresh modules and finding `build_root_object`.

Each incarnation gets modules of its own (a unique module name), never shared
with another vat or incarnation, so module-level state is ephemeral, as an
upgrade expects. A package bundle's modules are imported while it loads, through
a finder that serves them from the bundle's text, and are then taken out of
``sys.modules``: a package imports its submodules at its top, not later.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from .._bundle_format import decode_package
from .._vat_traceback import mark_bundle_module
from .console import vat_print


def _single_file_imports(missing: str | None) -> str:
    module = (missing or "helpers").split(".")[0]
    return (
        ". A single-file bundle carries only its own file: it can import vatrt.vat "
        "and the standard library, not a module beside it. To split a vat over "
        "several files, make the bundle a package: a directory with an __init__.py "
        f"that imports its modules relatively (from . import {module}), named in [bundles]"
    )


class BundleLoadError(Exception):
    """The bundle's code cannot run: the message names the file and the Python error.

    Whatever the bundle's top level raises is one, BaseExceptions included
    (SystemExit, KeyboardInterrupt, GeneratorExit): importing a bundle must never
    end the host."""


def _describe(exc: BaseException, filename: str) -> str:
    where = ""
    if isinstance(exc, SyntaxError):
        filename = exc.filename or filename
        if exc.lineno:
            where = f" (line {exc.lineno})"
    return f"bundle {filename} failed to load{where}: {type(exc).__name__}: {exc}"


class _PackageFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``<root>`` and ``<root>.<sub>`` from a package bundle's modules."""

    def __init__(self, root: str, modules: dict[str, str], filename: str) -> None:
        self.root = root
        self.modules = modules
        self.filename = filename
        self.failed_in: str | None = None

    def _path_of(self, fullname: str) -> tuple[str, bool] | None:
        if fullname == self.root:
            return "__init__.py", True
        if not fullname.startswith(self.root + "."):
            return None
        rel = fullname[len(self.root) + 1 :].replace(".", "/")
        if f"{rel}/__init__.py" in self.modules:
            return f"{rel}/__init__.py", True
        if f"{rel}.py" in self.modules:
            return f"{rel}.py", False
        return None

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        found = self._path_of(fullname)
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=found[1])

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        found = self._path_of(module.__name__)
        assert found is not None
        path = f"{self.filename}/{found[0]}"
        module.__file__ = path
        mark_bundle_module(module.__dict__, self.modules[found[0]], path)
        module.__dict__["print"] = vat_print
        try:
            exec(_compiled(self.modules[found[0]], path), module.__dict__)
        except SyntaxError:
            raise
        except BaseException:
            self.failed_in = self.failed_in or path
            raise


def _load_package(modules: dict[str, str], filename: str, module_name: str) -> types.ModuleType:
    finder = _PackageFinder(module_name, modules, filename)
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(module_name)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt... at import: the bundle's fault
        raise BundleLoadError(_describe(exc, finder.failed_in or filename)) from None
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
            del sys.modules[name]


@functools.lru_cache(maxsize=256)
def _compiled(source: str, filename: str) -> types.CodeType:
    """A bundle module's code, compiled once per process: a code object is
    immutable, and each vat still runs it in a fresh module (its own state).
    Compiling was ~1.5 ms of the ~2 ms a vat took to load, paid again for every
    vat on the same bundle, and for every vat the warehouse brings back."""
    return compile(source, filename, "exec")


def load_build_root_object(source: str, filename: str, module_name: str) -> Callable[..., Any]:
    """Load a bundle's text as new modules and return its `build_root_object`."""
    return load_bundle_function(source, filename, module_name, "build_root_object")


def load_bundle_function(
    source: str, filename: str, module_name: str, function: str
) -> Callable[..., Any]:
    """Load a bundle's text as new modules and return the function it must define
    (``build_root_object`` for a vat, ``build_device`` for a device)."""
    modules = decode_package(source)
    if modules is not None:
        module = _load_package(modules, filename, module_name)
    else:
        module = types.ModuleType(module_name)
        module.__file__ = filename
        mark_bundle_module(module.__dict__, source, filename)
        module.__dict__["print"] = vat_print
        try:
            exec(_compiled(source, filename), module.__dict__)
        except (
            BaseException
        ) as exc:  # SystemExit, KeyboardInterrupt... at import: the bundle's fault
            why = _describe(exc, filename)
            if isinstance(exc, ModuleNotFoundError):
                why += _single_file_imports(exc.name)
            raise BundleLoadError(why) from None
    build = module.__dict__.get(function)
    if not callable(build):
        raise BundleLoadError(f"bundle {filename} does not define {function}()")
    return build  # type: ignore[no-any-return]
