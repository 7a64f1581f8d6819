"""What vats print: into the slog, and onto the host's stdout with the vat's name.

A vat's ``print()`` reaches the kernel as a ``console`` note from its worker
(`vatrt._liveslots.console`). The kernel writes it to the slog
(``{"type": "console", "vatID", "name", "text"}``) and shows each line as
``<vat name>: <line>`` on stdout, so the output of 200 vats can be told apart
and grepped. Nothing is shown or logged while a store is being reopened: a
replay rebuilds vats by running their deliveries again, and their story was
told the first time.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from .slog import Slog


class VatConsole:
    def __init__(self, slog: Slog, out: IO[str] | None = None) -> None:
        self._slog = slog
        self._out = out
        self.replaying = False  # set while `open_kernel` replays a store

    def show(self, vat_id: str, name: str, record: dict[str, Any]) -> None:
        if self.replaying:
            return
        text = str(record.get("text", ""))
        self._slog.write({"type": "console", "vatID": vat_id, "name": name, "text": text})
        out = self._out if self._out is not None else sys.stdout
        lines = text[:-1] if text.endswith("\n") else text
        if not lines:
            return
        out.write("".join(f"{name}: {line}\n" for line in lines.split("\n")))
        out.flush()
