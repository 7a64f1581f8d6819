"""A benchmark vat whose state is all durable: bounded replay may restart it."""

from typing import Any

from vatrt.vat import Far

VAT_STATE = "durable"


def build_root_object(vat_powers: Any, vat_parameters: Any, baggage: Any) -> Any:
    baggage.provide("count", lambda: 0)

    class Durable:
        def bump(self) -> int:
            count: int = baggage.get("count") + 1
            baggage.set("count", count)
            return count

        def count(self) -> int:
            return int(baggage.get("count"))

    return Far("Durable", Durable())
