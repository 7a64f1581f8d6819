"""Vat-side tracebacks, in the bundle's own file names and lines.

An error a vat's method raises rejects its result with a marshalled error; the
traceback goes with it (a ``traceback`` string in the error record), so the vat
that awaits it, the host (`RemoteError.traceback`), the slog and ``vatrt run``
all see where in the bundle it came from. It crosses a subprocess worker's
frames inside the syscall that carries the rejection.

Only the bundle's own frames are kept. liveslots', the kernel's and the
standard library's frames say nothing to the bundle's author, and they would
make the rejection depend on vatrt's and Python's versions: the rejection is in
the vat's transcript, and a replay after an upgrade of vatrt must make the same
syscalls. For the same reason each frame's line of code comes from the bundle
text the kernel stored, never from the file on disk (which may have changed
since). The loader marks a bundle's module namespaces (`mark_bundle_module`),
which is how a frame is known to be the bundle's.

Bundle modules get unique internal names (``vatrt_vat_v2_i0``) so that no two
incarnations share module state; `display_type` names a bundle's class by its
bundle file instead, as its author knows it.
"""

from __future__ import annotations

import functools
import re
import traceback
from types import TracebackType
from typing import Any

_SOURCE = "__vatrt_bundle_source__"  # in a bundle module's globals: its source text
MAX_FRAMES = 40  # the innermost ones are kept; a deep recursion says how many it left out
_module_files: dict[str, str] = {}  # internal module name -> the bundle file it is


def mark_bundle_module(namespace: dict[str, Any], source: str, filename: str) -> None:
    """Called by the bundle loader for each module it runs from a bundle's text."""
    namespace[_SOURCE] = source
    name = namespace.get("__name__")
    if isinstance(name, str):
        _module_files[name] = filename


def display_type(t: type) -> str:
    """A type's name for an error message: ``Plain (from bundle bug.py)`` for a
    bundle's class, ``module.Name`` for any other."""
    filename = _module_files.get(t.__module__)
    if filename is not None:
        return f"{t.__qualname__} (from bundle {filename})"
    return f"{t.__module__}.{t.__qualname__}"


@functools.lru_cache(maxsize=64)
def _lines_of(source: str) -> tuple[str, ...]:
    """A module's text split into lines, once (a str caches its own hash, so the
    lookup costs nothing after the first)."""
    return tuple(source.splitlines())


def _bundle_frames(tb: TracebackType | None) -> list[str]:
    lines: list[str] = []
    for frame, lineno in traceback.walk_tb(tb):
        source = frame.f_globals.get(_SOURCE)
        if not isinstance(source, str):
            continue
        code = frame.f_code
        entry = f'  File "{code.co_filename}", line {lineno}, in {code.co_name}'
        # A frame runs in its module's globals: in a package, `source` is its own module's.
        text_lines = _lines_of(source)
        text = text_lines[lineno - 1].strip() if 1 <= lineno <= len(text_lines) else ""
        lines.append(f"{entry}\n    {text}" if text else entry)
    if len(lines) > MAX_FRAMES:
        left_out = len(lines) - MAX_FRAMES
        lines = [f"  ... {left_out} earlier frame(s) left out", *lines[-MAX_FRAMES:]]
    return lines


def vat_traceback(exc: BaseException) -> str | None:
    """The traceback to marshal with `exc`: its bundle frames and its type and
    message, as Python prints them; None if no bundle frame is in it.

    An error that came from another vat (a `RemoteError` holding that vat's
    traceback) keeps it, followed by where this vat awaited it."""
    remote: str | None = getattr(exc, "traceback", None)
    frames = _bundle_frames(exc.__traceback__)
    name = getattr(exc, "name", None) if remote is not None else None
    if remote is not None:
        if not frames:
            return remote
        return (
            f"{remote}{_RERAISED} (most recent call last):\n"
            + "\n".join(frames)
            + f"\n{name or type(exc).__name__}: {exc}"
        )
    if not frames:
        return None
    return f"{_HEADER}\n" + "\n".join(frames) + f"\n{type(exc).__name__}: {exc}".rstrip()


_RERAISED = "\n\nThe rejection above was raised again here"
_FRAME = re.compile(r'  File "(?P<file>.*)", line (?P<line>\d+), in (?P<fn>.*)')


def where_raised(text: str) -> str:
    """Where the error was first raised, ``file:line in function: code``: the
    innermost frame of the first traceback in `text` (an error passed on from
    vat to vat was raised in the first vat), for a one-line mention."""
    lines = text.partition(_RERAISED)[0].splitlines()
    for i in range(len(lines) - 1, -1, -1):
        match = _FRAME.fullmatch(lines[i])
        if match:
            where = f"{match['file']}:{match['line']} in {match['fn']}"
            code = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1][:4] == "    " else ""
            return f"{where}: {code}" if code else where
    return ""


_HEADER = "Traceback (most recent call last):"


def split_traceback(why: str) -> tuple[str, str | None]:
    """A fatal delivery's reason (`Failed.why`) is its message, then on the next
    lines the traceback, if bundle code raised it: the two apart."""
    message, sep, rest = why.partition("\n" + _HEADER)
    return (message, _HEADER + rest) if sep else (why, None)
