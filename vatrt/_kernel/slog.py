"""The slog: one JSON object per line for each crank, delivery and syscall.

SwingSet's idea: enough to replay a simulation's story in a viewer. Written with
orjson; deliveries and syscalls in it are encoded by `vatrt._protocol`'s codec
(the lists transcripts keep); `time` is seconds since the kernel opened (the only
field that varies between identical runs). Every record about a vat carries its
``name`` next to its ``vatID`` (learnt from the vat's ``vat-start`` record), so a
reader never needs the store to tell who did what. docs/slog.md lists every
record type; `vatrt slog` (``vatrt._slogtools``) reads them.
"""

from __future__ import annotations

import time
from typing import IO, Any

import orjson

from .._protocol import encode


class Slog:
    def __init__(self, sink: IO[bytes] | None) -> None:
        self._sink = sink
        self._start = time.perf_counter()
        self.enabled = sink is not None
        # vatID -> name, kept after a vat ends (ids are never reused).
        self._names: dict[str, str] = {}

    def write(self, record: dict[str, Any]) -> None:
        if self._sink is not None:
            vat_id = record.get("vatID")
            if vat_id is not None:
                if record["type"] == "vat-start":
                    self._names[vat_id] = record["name"]
                else:
                    name = self._names.get(vat_id)
                    if name is not None:
                        record["name"] = name
            record["time"] = round(time.perf_counter() - self._start, 6)
            self._sink.write(orjson.dumps(record, default=_record) + b"\n")


def _record(value: Any) -> orjson.Fragment:
    """A delivery or syscall record (what orjson does not know), as the codec writes it."""
    return orjson.Fragment(encode(value))
