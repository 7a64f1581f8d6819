"""The timer device: kernel-side, it reads the kernel's clock and wakes the timer service.

It keeps one wakeup, ``{"when", "handler"}``, in its state (the kernel's store):
the timer service sets it to its earliest scheduled time, and when the kernel
moves time to it (`vatrt._kernel.timer`) the device sends ``handler.wake(now)``
and forgets it. Everything else, the schedule of every caller's wakeups, is the
timer service vat's, durable in its baggage. As in SwingSet, the device holds
the handler object for good (devices do no GC).
"""


def _check_time(value, what):
    if type(value) not in (int, float) or value != value or value in (float("inf"), -float("inf")):
        raise TypeError(f"{what} must be a finite int or float, not {value!r}")
    return value


def build_device(tools, endowments):
    clock = endowments["clock"]

    class TimerDevice:
        def get_current_timestamp(self):
            return clock.now()

        def set_wakeup(self, when, handler):
            """Send ``handler.wake(now)`` once time reaches `when` (replacing the
            wakeup set before); returns the current time."""
            tools.set_state({"when": _check_time(when, "when"), "handler": handler})
            return clock.now()

        def remove_wakeup(self):
            tools.set_state(None)
            return clock.now()

        # The kernel's hooks (vats cannot call underscore methods).

        def _next_wakeup(self):
            state = tools.get_state()
            return None if state is None else state["when"]

        def _poll(self, now):
            state = tools.get_state()
            if state is None or state["when"] > now:
                return False
            tools.set_state(None)
            tools.send_only(state["handler"], "wake", now)
            return True

    return TimerDevice()
