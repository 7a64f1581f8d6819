"""print() in a vat: its text goes to the kernel, which puts it in the slog and
on the console with the vat's name in front (``alice: bid accepted``).

The bundle loader puts `vat_print` in each bundle module's globals as
``print``, so a vat's plain ``print(...)`` lands here. Outside a delivery (a
bundle's top level, run once at load) and for a ``file=`` other than stdout or
stderr it is Python's own print. The text is handed to the worker's console
function: in the kernel's process that is a note to the kernel; in a subprocess
worker a frame to it. A replay runs deliveries again to rebuild a vat, not to
tell their story again, so what a replaying vat prints is dropped.
"""

from __future__ import annotations

import builtins
import io
import sys
from typing import Any

from .far import current


def vat_print(
    *values: Any,
    sep: str | None = " ",
    end: str | None = "\n",
    file: Any = None,
    flush: bool = False,
) -> None:
    liveslots = current.liveslots
    console = None if liveslots is None else liveslots.console
    if console is None or (file is not None and file not in (sys.stdout, sys.stderr)):
        builtins.print(*values, sep=sep, end=end, file=file, flush=flush)
        return
    text = io.StringIO()
    builtins.print(*values, sep=sep, end=end, file=text)
    console(text.getvalue())
