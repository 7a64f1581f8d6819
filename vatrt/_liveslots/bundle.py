"""Loading a bundle's source as a fresh module and finding `build_root_object`."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


class BundleLoadError(Exception):
    """The bundle's code cannot run: the message names the file and the Python error."""


def load_build_root_object(source: str, filename: str, module_name: str) -> Callable[..., Any]:
    """Execute `source` as a new module (never cached in sys.modules) and return its
    `build_root_object`. Each incarnation gets its own module, so module-level state
    is ephemeral, as an upgrade expects."""
    module = types.ModuleType(module_name)
    module.__file__ = filename
    try:
        code = compile(source, filename, "exec")
        exec(code, module.__dict__)
    except Exception as exc:
        where = ""
        if isinstance(exc, SyntaxError) and exc.lineno:
            where = f" (line {exc.lineno})"
        raise BundleLoadError(
            f"bundle {filename} failed to load{where}: {type(exc).__name__}: {exc}"
        ) from None
    build = module.__dict__.get("build_root_object")
    if not callable(build):
        raise BundleLoadError(f"bundle {filename} does not define build_root_object()")
    return build  # type: ignore[no-any-return]
