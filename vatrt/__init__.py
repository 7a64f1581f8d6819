"""vatrt: a Python runtime for vats.

Isolated actors that talk only by eventual sends, under a kernel that routes
every message one crank at a time, keeps c-lists and refcounts, and can upgrade
its vats. Hosts use `open_kernel`; vat code imports `vatrt.vat`.
"""

from ._controller import open_kernel as open_kernel
from ._kernel.kernel import Kernel as Kernel
from ._kernel.kernel import KernelRef as KernelRef
from ._kernel.kernel import KernelStats as KernelStats
from ._kernel.upgrade import UpgradeOutcome as UpgradeOutcome
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
    "open_kernel",
]
