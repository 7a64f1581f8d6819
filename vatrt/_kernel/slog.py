"""The slog: one JSON object per line for each crank, delivery and syscall.

SwingSet's idea: enough to replay a simulation's story in a viewer. Written with
orjson; `time` is seconds since the kernel opened (the only field that varies
between identical runs).
"""

from __future__ import annotations

import time
from typing import IO, Any

import orjson


class Slog:
    def __init__(self, sink: IO[bytes] | None) -> None:
        self._sink = sink
        self._start = time.perf_counter()
        self.enabled = sink is not None

    def write(self, record: dict[str, Any]) -> None:
        if self._sink is not None:
            record["time"] = round(time.perf_counter() - self._start, 6)
            self._sink.write(orjson.dumps(record) + b"\n")
