"""The protocol between the kernel and a running vat, whatever runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Worker(Protocol):
    """One incarnation of one vat, ready to take deliveries.

    `deliver` hands over one delivery (a JSON-able list) and returns the vat's
    verdict: ``["ok"]`` or ``["error", why]``. The vat's syscalls reach the
    kernel during the delivery, through the function the worker was built with.
    """

    async def deliver(self, delivery: list[Any]) -> list[Any]: ...

    def hand_over(self, delivery: list[Any], then: Callable[[list[Any]], None]) -> None:
        """Run `delivery` and call `then(answer)` from the vat's side, without
        waking the kernel's task (the kernel's baton passes with the delivery)."""
        ...

    def take_back(self) -> None:
        """Withdraw a delivery handed over and not yet run."""
        ...

    def stop(self) -> None:
        """End the vat's task (an upgrade or termination ended this incarnation)."""
        ...
