"""The compiled build: which modules it compiles, whether this vatrt has them, and
a guard against compiled code older than its source.

``HATCH_BUILD_HOOK_ENABLE_MYPYC=1 pip install .`` compiles the modules of the
crank path (`COMPILED`) with mypyc (docs/performance.md, "The compiled build");
a plain install runs them as Python, with the same behaviour. Python imports a
compiled module (``core.cpython-311-x86_64-linux-gnu.so``) in preference to its
source (``core.py``), so in a source checkout where a compiled build left its
modules, an edit of ``core.py`` would silently not run: `check_fresh` refuses
that when a kernel opens, naming the files.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

# The modules the compiled build compiles (pyproject.toml's mypyc hook lists the
# same files; tests/test_compiled_build.py checks): the kernel's side of every
# crank, the marshalling both sides share, and liveslots' dispatch. Not
# `_kernel/kernel.py` (the host's calls, whose arguments `host_checks` must see
# first), not what vat code holds and calls (`_liveslots/far.py`'s presences and
# `E()` proxies, weakly referenced and answering any attribute; promises), not
# `_plain` (its per-thread cache is a `threading.local` subclass, which compiled
# code cannot be).
COMPILED = (
    "vatrt._kernel.state.keeper",
    "vatrt._kernel.state.refcounts",
    "vatrt._kernel.state.clist",
    "vatrt._kernel.state.records",
    "vatrt._kernel.state.vat_keeper",
    "vatrt._kernel.syscalls",
    "vatrt._kernel.promises",
    "vatrt._kernel.gc_actions",
    "vatrt._kernel.capdata_check",
    "vatrt._kernel.crank",
    "vatrt._kernel.workers",
    "vatrt._kernel.core",
    "vatrt._marshal",
    "vatrt._liveslots.liveslots",
    "vatrt._liveslots.resolutions",
)

_PACKAGE = Path(__file__).resolve().parent
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def compiled_modules() -> list[str]:
    """Those of `COMPILED` that this vatrt imports compiled (found, not imported)."""
    found = []
    for name in COMPILED:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None and spec.origin.endswith(_EXTENSIONS):
            found.append(name)
    return found


def build_name() -> str:
    """``"compiled"``, ``"pure Python"``, or ``"partly compiled (N of M)"``: for
    `vatrt bench`, whose figures depend on it."""
    n = len(compiled_modules())
    if n == len(COMPILED):
        return "compiled"
    return "pure Python" if n == 0 else f"partly compiled ({n} of {len(COMPILED)})"


def stale_compiled(package: Path) -> list[tuple[Path, Path]]:
    """(source, compiled module) pairs under `package` whose source was changed
    after the module was compiled, or is gone (a module renamed or deleted)."""
    stale = []
    for compiled in sorted(package.rglob("*.so")) + sorted(package.rglob("*.pyd")):
        stem = compiled.name.split(".", 1)[0]
        source = compiled.with_name(f"{stem}.py")
        if not source.exists() or source.stat().st_mtime > compiled.stat().st_mtime:
            stale.append((source, compiled))
    return stale


_checked: set[Path] = set()


def check_fresh(package: Path = _PACKAGE) -> None:
    """In a source checkout (a ``pyproject.toml`` beside the package), refuse to
    run compiled modules older than their source, or left without one. Installed
    packages are not checked: an installer writes a wheel's files in no
    particular order. `open_kernel` asks, once per process (worker children and
    vat hosts never do: they run what their kernel's process found)."""
    if package in _checked or not (package.parent / "pyproject.toml").exists():
        return
    stale = stale_compiled(package)
    if stale:
        root = package.parent
        listed = ", ".join(
            f"{s.relative_to(root)} (compiled: {c.name})"
            if s.exists()
            else f"{c.relative_to(root)} (its source is gone)"
            for s, c in stale
        )
        raise ImportError(
            f"vatrt: source changed after it was compiled: {listed}. Python would run the "
            f"old compiled code. Delete the compiled modules (the *.so and *.pyd files under "
            f"{package}) or build them again (HATCH_BUILD_HOOK_ENABLE_MYPYC=1 pip install -e .)"
        )
    _checked.add(package)
