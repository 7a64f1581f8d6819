"""What a bundle's canonical text is: one module's source, or a package's modules.

A single-file bundle's text is its source. A package bundle (a directory with
``__init__.py``) is canonical JSON: the format marker and every ``.py`` file by
its relative POSIX path, keys sorted. The bundle ID hashes this text, so the same
files give the same ID wherever they came from.

Reading a bundle from disk is bounded: only regular files are read (a device, a
FIFO or a socket is refused without blocking on it), each at most
`MAX_BUNDLE_FILE_BYTES`, a package at most `MAX_PACKAGE_BYTES` in all, and a
directory without ``__init__.py`` is refused before anything in it is read.
Every refusal is a `ValueError` saying which file and why.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import orjson

PACKAGE_FORMAT = "vatrt-package-1"
MAX_BUNDLE_FILE_BYTES = 10 * 1024 * 1024  # one bundle file, or one module of a package
MAX_PACKAGE_BYTES = 50 * 1024 * 1024  # all the modules of a package bundle together

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


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


def _size_mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def read_source_file(path: Path, name: str) -> str:
    """The text of one source file (as ``Path.read_text`` gives it), read only if it
    is a regular file of at most `MAX_BUNDLE_FILE_BYTES`; `name` is how refusals
    call it.

    Opened without blocking (a FIFO opens at once) and checked on the open file, so
    what is checked is what is read. OSError passes through."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a file")
            raise ValueError(f"{name} is {kind}, not a regular file")
        limit = MAX_BUNDLE_FILE_BYTES
        if st.st_size > limit:
            raise ValueError(f"{name} is {st.st_size:,} bytes, over the limit of {_size_mb(limit)}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise ValueError(f"{name} is over the limit of {_size_mb(limit)}")
    finally:
        os.close(fd)
    # Decoded exactly as read_text() does (locale encoding, universal newlines), so a
    # bundle keeps the ID it had before reads were bounded.
    return io.TextIOWrapper(io.BytesIO(b"".join(chunks))).read()


def _over_package_limit(rel: str) -> ValueError:
    limit = _size_mb(MAX_PACKAGE_BYTES)
    return ValueError(f"the package's modules are over the limit of {limit} in all (at {rel})")


def read_package(directory: Path) -> str:
    """Canonical text of the package bundle in `directory` (its .py files)."""
    init = directory / "__init__.py"
    try:
        init_is_file = stat.S_ISREG(init.stat().st_mode)
    except OSError:
        init_is_file = False
    if not init_is_file:
        raise ValueError("a package bundle needs an __init__.py")
    members: list[tuple[str, Path]] = []
    total = 0
    for path in sorted(directory.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(directory).as_posix()
        try:
            st = path.stat()
        except OSError:
            st = None  # read_source_file says why
        if st is not None and stat.S_ISREG(st.st_mode):
            total += st.st_size
            if total > MAX_PACKAGE_BYTES:
                raise _over_package_limit(rel)
        members.append((rel, path))
    modules: dict[str, str] = {}
    total = 0
    for rel, path in members:  # each checked again on the open file: it may have changed
        modules[rel] = text = read_source_file(path, rel)
        total += len(text.encode())
        if total > MAX_PACKAGE_BYTES:
            raise _over_package_limit(rel)
    return encode_package(modules)


def read_bundle(path: Path) -> str:
    """Canonical text of the bundle at `path`: a source file, or a package directory."""
    if path.is_dir():
        return read_package(path)
    return read_source_file(path, "it")
