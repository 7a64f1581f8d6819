"""Kernel promises: resolution, routing a send, promises the kernel itself decides."""

from __future__ import annotations

from typing import Any

from .._marshal import CapData, error_capdata
from .._refs import is_object
from ..errors import KernelPanic
from .state.keeper import KernelKeeper
from .state.schema import loads
from .state.vat_keeper import KeyHolder

VAT_TERMINATED = error_capdata("vat terminated", "VatTerminated")
# A send whose target is (or was resolved to) a device node: devices are called
# with D(node).method() (``callNow``), never sent to.
NOT_SENDABLE = error_capdata("a device node cannot be sent to: call it with D()", "TypeError")


class Promises:
    """Resolution and routing over the keeper; `has_worker` says which vats run."""

    def __init__(self, keeper: KernelKeeper, has_worker: Any) -> None:
        self.keeper = keeper
        self.refcounts = keeper.refcounts
        self.has_worker = has_worker

    def resolve(
        self, kpid: str, rejected: bool, data: CapData, resolver: str | None = None
    ) -> None:
        """Settle `kpid` (data in krefs): notify subscribers, re-send queued messages."""
        keeper, refcounts = self.keeper, self.refcounts
        subscribers = keeper.subscribers(kpid)
        queue = keeper.promise_queue(kpid)
        refcounts.incref_all(data["slots"])
        keeper.set_resolution(kpid, rejected, data)  # replaces the lists read above
        for vat_id in subscribers:
            if vat_id != resolver and self.has_worker(vat_id):
                refcounts.incref(kpid)
                keeper.push_event({"type": "notify", "vatID": vat_id, "kpid": kpid})
        for msg in queue:
            # The message's own counts move from the promise queue to the event.
            refcounts.incref(kpid)
            keeper.push_event({"type": "send", "target": kpid, "msg": msg})

    def route(self, target: str) -> tuple[Any, ...]:
        """Where a send to `target` goes: ("deliver", vat, kref), ("queue", kpid) or
        ("reject", capdata). Follows promises resolved to other promises, each at
        most once: a cycle of forwarding rejects, naming it."""
        keeper = self.keeper
        kref = target
        seen: list[str] = []
        while True:
            if kref[1] == "d":
                return ("reject", NOT_SENDABLE)
            if is_object(kref):
                owner = keeper.owner_of(kref)
                if owner is None or not self.has_worker(owner):
                    return ("reject", VAT_TERMINATED)
                return ("deliver", owner, kref)
            state = keeper.promise_state(kref)
            if state == "unresolved":
                decider = keeper.decider_of(kref)
                if decider is not None and self.has_worker(decider):
                    return ("deliver", decider, kref)  # pipelining
                return ("queue", kref)
            if state is None:
                raise KernelPanic(f"send to unknown promise {kref}")
            data = keeper.promise_data(kref)
            if state == "rejected":
                return ("reject", data)
            presence = sole_slot(data)  # an object, or a promise it was forwarded to
            if presence is None:
                return (
                    "reject",
                    error_capdata("cannot send to a non-object resolution", "TypeError"),
                )
            seen.append(kref)
            if presence in seen:
                return ("reject", forwarding_cycle(seen, presence))
            kref = presence

    def follow(self, kpid: str) -> tuple[str, str | None, CapData | None]:
        """What `kpid` stands for, as the host sees it: a promise fulfilled to
        another promise (a vat returned one: ``return E(b).value()``) is forwarded
        to it, so it is followed, each promise at most once. Returns the last
        promise reached, its state (None if unknown) and its data once settled; a
        cycle of forwarding is "rejected" with the error a send into it gets."""
        keeper = self.keeper
        seen = [kpid]
        while True:
            state = keeper.promise_state(kpid)
            if state != "fulfilled":
                return kpid, state, keeper.promise_data(kpid) if state == "rejected" else None
            data = keeper.promise_data(kpid)
            forwarded = sole_slot(data)
            if forwarded is None or forwarded[1] != "p":
                return kpid, state, data
            if forwarded in seen:
                return kpid, "rejected", forwarding_cycle(seen, forwarded)
            seen.append(forwarded)
            kpid = forwarded

    def settled_with(self, kpid: str) -> list[str]:
        """Settled `kpid` and every settled promise its data reaches, directly or
        through one another's data, each once, in the order first met: what one
        notify delivers together (SwingSet's ``getKpidsToRetire``)."""
        keeper = self.keeper
        if not keeper.promise_data(kpid)["slots"]:
            return [kpid]  # the usual case, kept cheap
        found, seen = [kpid], {kpid}
        for each in found:  # grows as it goes
            for slot in keeper.promise_data(each)["slots"]:
                if is_object(slot) or slot in seen:
                    continue
                seen.add(slot)
                state = keeper.promise_state(slot)
                if state is not None and state != "unresolved":
                    found.append(slot)
        return found

    # -- promises the kernel decides ------------------------------------------------

    def kernel_promise(self, holder: KeyHolder) -> str:
        """A promise the kernel itself decides, held (one count) by `holder` until
        settled. No vat decides it, so no vat's upgrade or death can break it."""
        kpid = holder.get()
        if kpid is None:
            kpid = self.keeper.allocate_promise(None)
            holder.set(kpid)
            self.refcounts.incref(kpid)
        return kpid

    def settle_kernel_promise(self, holder: KeyHolder, rejected: bool, data: CapData) -> None:
        kpid = holder.take()
        if kpid is None:
            return
        self.resolve(kpid, rejected, data)
        self.refcounts.decref(kpid)


def forwarding_cycle(seen: list[str], back_to: str) -> CapData:
    """The rejection for a send into (or a host waiting on) a forwarding cycle."""
    cycle = " -> ".join([*seen, back_to])
    return error_capdata(f"promise forwarding cycle: {cycle}", "TypeError")


def sole_slot(data: CapData) -> str | None:
    """The kref a resolution *is*, when it is exactly one object or promise."""
    slots = data["slots"]
    if len(slots) != 1:
        return None
    body = loads(data["body"])
    if isinstance(body, dict) and body.get("@qclass") == "slot" and body.get("index") == 0:
        return str(slots[0])
    return None
