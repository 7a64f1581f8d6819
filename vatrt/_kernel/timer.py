"""Kernel time: the clock the timer device reads, and runs that move it.

Two sources (config ``[timer] source``):

- ``virtual`` (the default, for simulations): time is a number in the store
  (``kernel.time``) that moves only when the host says so: `advance_time(dt)`,
  ``run(until_time=t)``, or, with ``auto_advance``, whenever the run-queue is
  empty. Between cranks the kernel jumps straight to the next wakeup a device
  asked for, so a simulated year runs as fast as its cranks: a discrete-event
  simulation. Nothing reads a real clock, so the same config and inputs give
  the same cranks and state on asyncio and on trio.
- ``wall``: real time (seconds since the epoch). A run fires the wakeups that are
  due; ``run(until_time=t)`` sleeps until each wakeup up to `t`.

Devices take part through two hooks on their root node, which vats cannot call
(underscore methods): ``_next_wakeup()`` (when the device wants to be polled, or
None) and ``_poll(now)`` (time is `now`: queue what is due). Time moves only
between cranks, never inside one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..config import TimerConfig
from ..errors import KernelPanic
from .slog import Slog
from .state.schema import dumps, loads

Time = int | float


def timer_settings(kv: Any, configured: TimerConfig | None) -> TimerConfig | None:
    """The ``[timer]`` in force: the config's (kept in ``kernel.timerConfig``), or,
    reopening a store with no config, the one the store was booted with."""
    if configured is None:
        text = kv.get("kernel.timerConfig")
        return None if text is None else TimerConfig(**loads(text))
    record = dumps(
        {
            "source": configured.source,
            "auto_advance": configured.auto_advance,
            "start": configured.start,
        }
    )
    if kv.get("kernel.timerConfig") != record:
        kv.set("kernel.timerConfig", record)
    return configured


class Clock:
    """Where the kernel's time comes from (the timer device's endowment)."""

    def __init__(self, kv: Any, source: str, start: Time) -> None:
        self.kv = kv
        self.source = source
        self.start = start

    @property
    def virtual(self) -> bool:
        return self.source == "virtual"

    def now(self) -> Time:
        if not self.virtual:
            return time.time()
        text = self.kv.get("kernel.time")
        return self.start if text is None else loads(text)

    def set(self, when: Time) -> None:
        """Virtual time only: move it to `when` (never back)."""
        self.kv.set("kernel.time", dumps(when))


class TimeDriver:
    """Runs cranks and moves time between them (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        roots: Callable[[], list[Any]],
        run_cranks: Callable[[int | None, Callable[[], bool]], Awaitable[int]],
        slog: Slog,
        *,
        auto_advance: bool,
    ) -> None:
        self.clock = clock
        self._roots = roots
        self._run_cranks = run_cranks
        self._slog = slog
        self.auto_advance = auto_advance
        self.advances = 0  # how many times time moved (for the CLI's summary)

    def next_wakeup(self) -> Time | None:
        """The earliest time any device asked to be polled at."""
        times = []
        for root in self._roots():
            hook = getattr(root, "_next_wakeup", None)
            if hook is not None and (when := hook()) is not None:
                times.append(when)
        return min(times) if times else None

    def poll(self) -> bool:
        """Tell every device the time; whether any of them queued something."""
        now = self.clock.now()
        fired = False
        for root in self._roots():
            hook = getattr(root, "_poll", None)
            if hook is not None:
                try:
                    fired = bool(hook(now)) or fired
                except Exception as e:
                    why = f"a device's _poll({now}) raised {type(e).__name__}: {e}"
                    raise KernelPanic(why) from e
        return fired

    def _move_to(self, when: Time) -> None:
        before = self.clock.now()
        if when <= before:
            return
        self.clock.set(when)
        self.advances += 1
        if self._slog.enabled:
            self._slog.write({"type": "time-advance", "from": before, "to": when})

    def step(self, until_time: Time | None) -> bool:
        """The run-queue is empty: poll the devices if a wakeup is due, moving
        virtual time to the next one first if it may go there (up to `until_time`;
        with auto-advance, anywhere). True when something was queued."""
        when = self.next_wakeup()
        if when is None:
            return False
        clock = self.clock
        if when > clock.now():
            if not clock.virtual or (until_time is None and not self.auto_advance):
                return False
            if until_time is not None and when > until_time:
                return False
            self._move_to(when)
        if not self.poll():
            raise KernelPanic(f"a device asked to be woken at {when} and then queued nothing")
        return True

    async def run(self, max_cranks: int | None, until_time: Time | None) -> int:
        """Run cranks, moving time on whenever the run-queue is empty (`step`),
        until nothing is due; then, with `until_time`, time goes to it (virtual),
        or the run sleeps until each wakeup up to it (wall)."""
        total = 0
        while True:
            left = None if max_cranks is None else max_cranks - total
            total += await self._run_cranks(left, lambda: self.step(until_time))
            if (max_cranks is not None and total >= max_cranks) or until_time is None:
                return total
            if self.clock.virtual:
                self._move_to(until_time)
                return total
            now = self.clock.now()
            if now >= until_time:
                return total
            when = self.next_wakeup()
            await anyio.sleep(min(until_time, when if when is not None else until_time) - now)
