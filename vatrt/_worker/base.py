"""The protocol between the kernel and a running vat, whatever runs it."""

from __future__ import annotations

from typing import Any, Protocol


class Worker(Protocol):
    """One incarnation of one vat, ready to take deliveries.

    `deliver` hands over one delivery (a JSON-able list) and returns the vat's
    verdict: ``["ok"]`` or ``["error", why]``. The vat's syscalls reach the
    kernel during the delivery, through the function the worker was built with.
    """

    async def deliver(self, delivery: list[Any]) -> list[Any]: ...

    def stop(self) -> None:
        """End the vat's task (an upgrade or termination ended this incarnation)."""
        ...
