"""How worker processes start and end with their parent: the command, the
environment they keep, and the death signal. Stdlib only, for the child and
the vat host, which import no anyio."""

from __future__ import annotations

import os
import signal
import site
import sys
from pathlib import Path

CHILD_MODULE = "vatrt._worker.child"

#: What a child's environment keeps of its parent's: enough to find Python and
#: vatrt, nothing that carries secrets or settings of the host.
_KEPT_ENV = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def child_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONHASHSEED"] = "0"  # the same set orders in every child and on replay
    root = _vatrt_root()
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def child_command(module: str = CHILD_MODULE) -> list[str]:
    """The child runs the vatrt its parent runs (`child_environment`), whatever
    its working directory holds: ``-P`` keeps that directory off ``sys.path``
    (a checkout's ``vatrt/`` there would shadow an installed, compiled build)."""
    return [sys.executable, "-P", "-m", module]


def _vatrt_root() -> str | None:
    """Where the parent's vatrt was found, if not in site-packages (a checkout on
    the path, or the parent's working directory): the child looks there first."""
    root = Path(__file__).resolve().parents[2]
    installed = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    return None if root in installed else str(root)


def die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent ends (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)
