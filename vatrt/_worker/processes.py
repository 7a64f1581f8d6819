"""How worker processes start and end with their parent: the command, the
environment they keep, and the death signal. Stdlib only, for the child and
the vat host, which import no anyio."""

from __future__ import annotations

import os
import signal
import sys

CHILD_MODULE = "vatrt._worker.child"

#: What a child's environment keeps of its parent's: enough to find Python and
#: vatrt, nothing that carries secrets or settings of the host.
_KEPT_ENV = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def child_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONHASHSEED"] = "0"  # the same set orders in every child and on replay
    return env


def child_command(module: str = CHILD_MODULE) -> list[str]:
    return [sys.executable, "-m", module]


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
