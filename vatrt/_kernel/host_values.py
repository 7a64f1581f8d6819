"""What the host gets back from a kernel: refs to pass back, and counts.

Plain Python in every build (docs/performance.md, "The compiled build"): public
types keep their docstrings and their module name.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class KernelRef:
    """An object or promise reference as the host sees it: pass it back in arguments."""

    kref: str
    iface: str = ""

    def __repr__(self) -> str:
        return f"<{self.iface or 'ref'} {self.kref}>"


@attrs.frozen
class KernelStats:
    """A running kernel's counts (`Kernel.stats()`)."""

    cranks: int
    deliveries: int
    vats: int
    run_queue_length: int
