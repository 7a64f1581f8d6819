"""Vat promises and the coroutine driver that runs each delivery to quiescence.

Vat code never sees an event loop. `async def` vat methods are coroutines that
liveslots steps itself: when one awaits a `VatPromise` that is not settled yet,
the coroutine yields that promise, and the driver parks it on the promise until
it settles. Settling a promise never runs callbacks at once: they are queued as
microtasks (as in JavaScript), and a delivery ends only when the microtask queue
is empty. That keeps vat execution deterministic and independent of the backend.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from .._marshal import RemoteError

PENDING, FULFILLED, REJECTED = 0, 1, 2

Callback = Callable[["VatPromise"], None]


DEFAULT_MAX_TURNS = 1_000_000
"""Turns (promise callbacks: coroutine steps, local sends) one delivery may take."""


class TurnLimitExceeded(Exception):
    """A delivery took more turns than its vat's ``max_turns``: it is fatal."""


class Microtasks:
    """The queue a vat's promise callbacks wait in until liveslots drains it.

    It is also the vat's turn meter, like SwingSet's computrons but counted in
    turns: each callback run is one, and a delivery that takes more than
    `max_turns` (a local object sending to itself in a loop) fails. The count
    depends only on what the vat's code does, so a replay gives the same answer,
    whatever the worker kind and the machine."""

    __slots__ = ("max_turns", "queue")

    def __init__(self, max_turns: int = DEFAULT_MAX_TURNS) -> None:
        self.queue: deque[tuple[Callback, VatPromise]] = deque()
        self.max_turns = max_turns

    def run_until_quiescent(self) -> None:
        queue = self.queue
        left = self.max_turns
        while queue:
            if left == 0:
                queue.clear()
                raise TurnLimitExceeded(
                    f"the delivery took more than {self.max_turns:,} turns (max_turns)"
                )
            left -= 1
            callback, promise = queue.popleft()
            callback(promise)


class VatPromise:
    """An eventual value inside a vat: `await` it in an ``async def`` vat method.

    `vref` is set while the kernel knows the promise (it was sent, or it is the
    result of a send); `decided_here` says whether this vat is the one that will
    resolve it.
    """

    __slots__ = ("__weakref__", "_callbacks", "_micro", "_state", "_value", "decided_here", "vref")

    def __init__(self, micro: Microtasks) -> None:
        self._micro = micro
        self._state = PENDING
        self._value: Any = None
        self._callbacks: list[Callback] | None = []
        self.vref: str | None = None
        self.decided_here = True

    @property
    def settled(self) -> bool:
        return self._state != PENDING

    @property
    def rejected(self) -> bool:
        return self._state == REJECTED

    @property
    def value(self) -> Any:
        """The fulfillment value or rejection reason (only once settled)."""
        if self._state == PENDING:
            raise RuntimeError("promise is not settled yet")
        return self._value

    def then(self, callback: Callback) -> None:
        """Call `callback(self)` in a microtask once settled."""
        if self._callbacks is None:
            self._micro.queue.append((callback, self))
        else:
            self._callbacks.append(callback)

    def _settle(self, state: int, value: Any) -> None:
        if self._state != PENDING:
            return
        if state == REJECTED and type(value) is RemoteError and value.stands_for_reason:
            value = value.reason  # the data a rejection was raised as (see RemoteError)
        if state == FULFILLED and type(value) is VatPromise:
            # Resolving with a promise follows it.
            if value is self:
                state, value = REJECTED, TypeError("a promise cannot resolve to itself")
            else:
                value.then(lambda p: self._settle(p._state, p._value))
                return
        self._state, self._value = state, value
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            queue = self._micro.queue
            for cb in callbacks:
                queue.append((cb, self))

    def resolve(self, value: Any) -> None:
        self._settle(FULFILLED, value)

    def reject(self, reason: Any) -> None:
        self._settle(REJECTED, reason)

    def __await__(self) -> Generator[VatPromise, None, Any]:
        if self._state == PENDING:
            yield self
        if self._state == FULFILLED:
            return self._value
        reason = self._value
        if isinstance(reason, BaseException):
            raise reason
        raise RemoteError.from_reason(reason)

    def __repr__(self) -> str:
        state = ("pending", "fulfilled", "rejected")[self._state]
        return f"<VatPromise {self.vref or 'local'} {state}>"


# What an event loop's own sleep says when awaited where its loop is not running
# (asyncio.sleep under trio, trio.sleep under asyncio): the same mistake as
# awaiting it where it is, so the same TypeError, whatever the backend.
_FOREIGN_LOOP_ERRORS = ("no running event loop", "must be called from async context")

_NOT_A_VAT_PROMISE = (
    "vat code awaited {what!r}, which is not a vat promise: a vat has no clock and no I/O "
    "of its own; await only results of E(...) sends and make_promise_kit() promises"
)


def run_coroutine(coro: Coroutine[Any, Any, Any], result: VatPromise) -> None:
    """Drive `coro` on vat promises; settle `result` with its outcome.

    Steps run in microtasks, so the coroutine's first step happens when liveslots
    drains the queue, like every other callback.
    """

    def step(_: VatPromise | None = None) -> None:
        send_value: Any = None
        error: BaseException | None = None
        while True:
            try:
                yielded = coro.send(send_value) if error is None else coro.throw(error)
            except StopIteration as stop:
                result._settle(FULFILLED, stop.value)
                return
            except MemoryError:
                raise  # fatal to the delivery, as in a plain method
            except BaseException as exc:  # vat exceptions (even KeyboardInterrupt) reject it
                if isinstance(exc, RuntimeError) and str(exc) in _FOREIGN_LOOP_ERRORS:
                    exc = TypeError(_NOT_A_VAT_PROMISE.format(what=str(exc)))
                result._settle(REJECTED, exc)
                return
            if type(yielded) is VatPromise:
                yielded.then(step)
                return
            error = TypeError(_NOT_A_VAT_PROMISE.format(what=yielded))

    result._micro.queue.append((step, result))
