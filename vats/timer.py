"""The timer service: wakeups, delays and repeaters over the timer device.

It is shipped with the kernel (config ``[timer]``) and given to the bootstrap as
``vats["timer"]``; its device node comes in its vatParameters, which the kernel
retains and hands back at every upgrade. Every wakeup it owes (``wake_at``,
repeaters) is a baggage entry ``w.<seq>`` = ``[when, seq, handler, repeater,
token]``, so it survives the service's upgrade and a reopened kernel; the heap
that orders them is rebuilt from baggage at each start. Wakeups fire in
``(when, seq)`` order: by time, and among equal times in the order they were
asked for. ``delay()`` promises are the incarnation's own (a promise cannot be
kept in baggage): an upgrade of the service rejects them with ``vatUpgraded``,
as SPEC section 5 says of every promise a vat decided.

The device holds one wakeup, the earliest: the service's durable `Waker`.
"""

import heapq

from vatrt.vat import D, E, Far, durable_kind, make_promise_kit


class Cancelled(Exception):
    """The wakeup was cancelled (its cancellation token was given to ``cancel``)."""


def _check_time(value, what, *, positive=False):
    if type(value) not in (int, float) or value != value or value in (float("inf"), -float("inf")):
        raise TypeError(f"{what} must be a finite int or float, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be {'> 0' if positive else '>= 0'}, not {value!r}")
    return value


def _same(a, b):
    return a is b or (type(a) is type(b) and type(a) in (str, int, float, bytes) and a == b)


def build_root_object(vat_powers, vat_parameters, baggage):
    device = vat_parameters["device"]
    heap = []  # (when, seq): baggage entries and this incarnation's delays
    delays = {}  # seq -> (resolve, reject, token)
    armed = [None]  # the time the device is set to wake us at

    def now():
        return D(device).get_current_timestamp()

    sequence = [baggage.provide("nextSeq", lambda: 0)]

    def next_seq():
        seq = sequence[0]
        sequence[0] = seq + 1
        baggage.set("nextSeq", seq + 1)
        return seq

    def key_of(seq):
        return f"w.{seq:012d}"

    def live(seq):
        return seq in delays or baggage.has(key_of(seq))

    def arm():
        """Set the device to the earliest live wakeup (only when that changed)."""
        while heap and not live(heap[0][1]):
            heapq.heappop(heap)
        first = heap[0][0] if heap else None
        if first == armed[0]:
            return
        armed[0] = first
        if first is None:
            D(device).remove_wakeup()
        else:
            D(device).set_wakeup(first, waker)

    def schedule(when, handler, repeater, token):
        seq = next_seq()
        baggage.init(key_of(seq), [when, seq, handler, repeater, token])
        heapq.heappush(heap, (when, seq))
        if armed[0] is None or when < armed[0]:
            arm()
        return when

    def fire(current):
        armed[0] = None  # the device forgot its wakeup when it sent this one
        while heap and heap[0][0] <= current:
            when, seq = heapq.heappop(heap)
            delay = delays.pop(seq, None)
            if delay is not None:
                delay[0](when)
                continue
            key = key_of(seq)
            if not baggage.has(key):
                continue  # cancelled
            _, _, handler, repeater, token = baggage.get(key)
            baggage.delete(key)
            if repeater is not None:
                if repeater.state["cancelled"]:
                    continue
                interval = repeater.state["interval"]
                following = when + interval
                while following <= current:  # missed periods (wall time) are skipped
                    following += interval
                schedule(following, handler, repeater, token)
            E.sendonly(handler).wake(when)
        arm()

    def entries():
        return [(key, baggage.get(key)) for key in list(baggage.keys()) if key.startswith("w.")]

    @durable_kind(baggage, "Waker")
    class Waker:
        """What the device wakes: durable, so it keeps its kref across upgrades."""

        @staticmethod
        def init():
            return {}

        def wake(self, now):
            fire(now)  # only the device holds the Waker: no one else can make it fire

    @durable_kind(baggage, "Repeater")
    class Repeater:
        """Wakes a handler after `delay`, then every `interval`, until cancelled."""

        @staticmethod
        def init(delay, interval):
            return {"delay": delay, "interval": interval, "cancelled": False}

        def schedule(self, handler, cancel_token=None):
            """Start waking `handler` (``handler.wake(t)``); returns the first time."""
            if self.state["cancelled"]:
                raise Cancelled("this repeater was cancelled")
            return schedule(now() + self.state["delay"], handler, self, cancel_token)

        def cancel(self):
            """No more wakeups from this repeater."""
            self.state["cancelled"] = True
            for key, entry in entries():
                if entry[3] is self:
                    baggage.delete(key)
            arm()

    class TimerService:
        def get_current_timestamp(self):
            return now()

        def wake_at(self, when, handler, cancel_token=None):
            """``handler.wake(when)`` once time reaches `when` (at once if it has)."""
            return schedule(_check_time(when, "when"), handler, None, cancel_token)

        def wake_after(self, dt, handler, cancel_token=None):
            return schedule(now() + _check_time(dt, "dt"), handler, None, cancel_token)

        def delay(self, dt, cancel_token=None):
            """A promise that resolves with the wake time once `dt` has passed."""
            promise, resolve, reject = make_promise_kit()
            seq = next_seq()
            when = now() + _check_time(dt, "dt")
            delays[seq] = (resolve, reject, cancel_token)
            heapq.heappush(heap, (when, seq))
            if armed[0] is None or when < armed[0]:
                arm()
            return promise

        def make_repeater(self, delay, interval):
            interval = _check_time(interval, "interval", positive=True)
            return Repeater(_check_time(delay, "delay"), interval)

        def cancel(self, cancel_token):
            """Cancel every wakeup, repeater schedule and delay made with this token;
            delays reject with `Cancelled`. Returns how many were cancelled."""
            count = 0
            for key, entry in entries():
                if entry[4] is not None and _same(entry[4], cancel_token):
                    baggage.delete(key)
                    count += 1
            for seq, (_, reject, token) in list(delays.items()):
                if token is not None and _same(token, cancel_token):
                    del delays[seq]
                    reject(Cancelled("delay cancelled"))
                    count += 1
            arm()
            return count

    waker = baggage.provide("waker", Waker)
    for _, entry in entries():
        heapq.heappush(heap, (entry[0], entry[1]))
    arm()
    return Far("TimerService", TimerService())
