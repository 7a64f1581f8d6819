"""What a crank that must be undone hands back to the crank loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen
class Rollback:
    """Undo the crank, then run `recover(event)` in a fresh crank that takes the
    same event off the queue again (so the event is consumed exactly once)."""

    why: str
    recover: Callable[[dict[str, Any]], None]
