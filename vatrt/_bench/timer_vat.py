"""The vat of the timer benchmarks: asks the timer service for wakeups and counts them."""

from typing import Any

from vatrt.vat import E, Far


def build_root_object(vat_powers: Any, vat_parameters: Any, baggage: Any) -> Any:
    seen = [0]
    held: dict[str, Any] = {}

    class Handler:
        def wake(self, when: float) -> None:
            seen[0] += 1

    handler = Far("Handler", Handler())

    class Sleeper:
        def bootstrap(self, vats: dict[str, Any], devices: dict[str, Any]) -> None:
            held["timer"] = vats["timer"]

        def schedule(self, n: int) -> None:
            for i in range(n):
                E.sendonly(held["timer"]).wake_at(i + 1, handler)

        async def repeat(self, interval: float) -> None:
            held["repeater"] = await E(held["timer"]).make_repeater(interval, interval)
            await E(held["repeater"]).schedule(handler)

        def stop(self) -> Any:
            return E(held["repeater"]).cancel()

        def seen(self) -> int:
            return seen[0]

    return Far("Sleeper", Sleeper())
