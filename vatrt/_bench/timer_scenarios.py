"""Wakeups per second through the timer service, in virtual time.

Each wakeup is three cranks: the timer device's send to the service (after the
kernel moved time to it), the service's ``wake`` (which fires what is due and
sets the device to the next time with a ``callNow``), and the handler's
``wake``. Two shapes: ``wake_at`` (n wakeups asked for at once, at distinct
times: the service's heap and baggage hold n) and a repeater (one wakeup
pending at a time, rescheduled at each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from .._kernel.kernel import Kernel
from .scenarios import Result, _measure

SLEEPER = Path(__file__).resolve().parent / "timer_vat.py"


def timer_config() -> dict[str, Any]:
    return {
        "bootstrap": "sleeper",
        "bundles": {"sleeper": str(SLEEPER)},
        "vats": {"sleeper": {"bundle": "sleeper"}},
        "timer": {"source": "virtual"},
    }


async def wakeups(n: int, store: bool = False, worker: str = "local") -> list[Result]:
    async def wake_at(kernel: Kernel) -> Any:
        await kernel.call("sleeper", "schedule", n)
        await kernel.run(until_time=n)
        return await kernel.call("sleeper", "seen")

    async def repeater(kernel: Kernel) -> Any:
        await kernel.call("sleeper", "repeat", 1)
        await kernel.run(until_time=n)
        await kernel.call("sleeper", "stop")
        return await kernel.call("sleeper", "seen")

    results = []
    for case, work in (("wake_at", wake_at), ("repeater", repeater)):
        result = await _measure(
            f"timer {case} wakeups",
            "wakeups/s",
            timer_config(),
            n,
            work,
            lambda seen: seen == n,
            store=store,
            worker=worker,
        )
        results.append(attrs.evolve(result, detail={"shape": case}))
    return results
