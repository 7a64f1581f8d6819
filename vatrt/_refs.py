"""Ref formats both sides of the kernel/vat boundary agree on.

krefs are the kernel's (``ko12`` object, ``kp40`` promise); vrefs a vat's own
(``o+3`` export, ``o-50`` import, ``p+4``/``p-60`` promises, ``o+d12/1``
durable instance). The root object of every vat is export ``o+0``.
"""

from __future__ import annotations

ROOT_VREF = "o+0"


def is_object(kref: str) -> bool:
    """A kernel object (``koN``), not a promise (``kpN``)."""
    return kref[1] == "o"
