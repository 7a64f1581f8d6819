"""How many deliveries a vat goes between bring-out-your-dead, in a kernel of N vats.

A vat's bring-out-your-dead must see exactly its unreachable presences, whatever
the backend and on replay (docs/c-lists-and-gc.md), so it runs a full
``gc.collect()``: CPython has one heap and one collector, and the only
collection that finds every cycle a presence can be in is the one that walks
every tracked object, every vat's included (~130 of them for an idle vat, ~1 µs
each on the project's machine). Collecting fewer objects would give an answer
that depends on which objects the collector happened to have aged or frozen,
which differs between backends and between a run and its replay. With
``reapInterval`` fixed, the cost per delivery grew with the kernel: 2,000 idle
vats made every round trip of two busy vats ~4x dearer.

So the interval stretches with the kernel instead: in a kernel of N live vats a
vat is reaped every ``reapInterval * max(1, N // VATS_PER_STRETCH)`` deliveries,
and a full collection's cost (proportional to N) is spread over proportionally
more deliveries. Kernels of fewer than `VATS_PER_STRETCH` vats reap exactly as
configured. The price is that a busy vat in a big kernel tells the kernel about
its dead imports later (a 10,000-vat kernel: every 500,000 of its deliveries by
default), so dead objects' kernel entries live longer; ``collect_garbage()`` and
an upgrade still reap at once. N is the number of named (live) vats, kernel
state that is the same on every backend and after a reopen, and the countdown
is stored as before, so the schedule is deterministic and survives a restart.
"""

from __future__ import annotations

VATS_PER_STRETCH = 20
"""Each this many live vats add one more `reapInterval` between a vat's reaps."""


def reap_interval(configured: int, live_vats: int) -> int:
    """Deliveries until a vat's next bring-out-your-dead, counted from now."""
    return configured * max(1, live_vats // VATS_PER_STRETCH)
