"""What a bundle's canonical text is: one module's source, or a package's modules.

A single-file bundle's text is its source. A package bundle (a directory with
``__init__.py``) is canonical JSON: the format marker and every ``.py`` file by
its relative POSIX path, keys sorted. The bundle ID hashes this text, so the same
files give the same ID wherever they came from.
"""

from __future__ import annotations

from pathlib import Path

import orjson

PACKAGE_FORMAT = "vatrt-package-1"


def encode_package(modules: dict[str, str]) -> str:
    """Canonical text of a package bundle; refuses what could never load."""
    if not isinstance(modules, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in modules.items()
    ):
        raise TypeError("a package bundle maps relative module paths (str) to sources (str)")
    if "__init__.py" not in modules:
        raise ValueError("a package bundle needs an __init__.py")
    for path in modules:
        if not path.endswith(".py") or path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"{path!r} is not a relative path to a .py file")
    return orjson.dumps(
        {"format": PACKAGE_FORMAT, "modules": modules}, option=orjson.OPT_SORT_KEYS
    ).decode()


def decode_package(text: str) -> dict[str, str] | None:
    """The modules of a package bundle's text, or None for a single-module bundle."""
    if not text.startswith('{"format":"' + PACKAGE_FORMAT):
        return None
    value = orjson.loads(text)
    modules: dict[str, str] = value["modules"]
    return modules


def read_package(directory: Path) -> str:
    """Canonical text of the package bundle in `directory` (its .py files)."""
    modules = {
        path.relative_to(directory).as_posix(): path.read_text()
        for path in sorted(directory.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    return encode_package(modules)
