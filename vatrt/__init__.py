"""vatrt: a Python runtime for vats.

Isolated actors that talk only by eventual sends, under a kernel that routes
every message one crank at a time, keeps c-lists and refcounts, and can upgrade
its vats. Hosts use `open_kernel`; vat code imports `vatrt.vat`.
"""

import typing as _typing

from .errors import AuditError as AuditError
from .errors import BundleError as BundleError
from .errors import ConfigError as ConfigError
from .errors import KernelClosed as KernelClosed
from .errors import KernelPanic as KernelPanic
from .errors import RejectedError as RejectedError
from .errors import ReplayDivergence as ReplayDivergence
from .errors import StoreError as StoreError
from .errors import UpgradeFailed as UpgradeFailed
from .errors import VatrtError as VatrtError
from .errors import VatStartFailed as VatStartFailed
from .errors import VatTerminated as VatTerminated

if _typing.TYPE_CHECKING:
    from ._controller import open_kernel as open_kernel
    from ._kernel.kernel import Kernel as Kernel
    from ._kernel.kernel import KernelRef as KernelRef
    from ._kernel.kernel import KernelStats as KernelStats
    from ._kernel.upgrade import UpgradeOutcome as UpgradeOutcome
    from ._worker.base import WorkerStatus as WorkerStatus

# The kernel side is imported when first used, so that a subprocess worker's
# child (which imports `vatrt._worker.child` and `vatrt.vat`, never the kernel)
# starts without it: ~0.5 s less per child.
_LAZY = {
    "open_kernel": "._controller",
    "Kernel": "._kernel.kernel",
    "KernelRef": "._kernel.kernel",
    "KernelStats": "._kernel.kernel",
    "UpgradeOutcome": "._kernel.upgrade",
    "WorkerStatus": "._worker.base",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vatrt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "AuditError",
    "BundleError",
    "ConfigError",
    "Kernel",
    "KernelClosed",
    "KernelPanic",
    "KernelRef",
    "KernelStats",
    "RejectedError",
    "ReplayDivergence",
    "StoreError",
    "UpgradeFailed",
    "UpgradeOutcome",
    "VatStartFailed",
    "VatTerminated",
    "VatrtError",
    "WorkerStatus",
    "open_kernel",
]
