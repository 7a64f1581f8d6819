"""Drives the fleet: creates N member vats, then runs rounds of payments.

The driver is upgraded along with everyone else, so it keeps its progress in
baggage and drives each round with a one-way message to its own root: queued
messages survive an upgrade (the root keeps its kref), where a coroutine waiting
on a reply would not. `report()` reads every member's books once the kernel is
idle and checks that no money was made or lost.
"""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    params = vat_parameters or {}
    baggage.provide("starts", lambda: 0)
    baggage.set("starts", baggage.get("starts") + 1)

    def next_random():
        seed = (baggage.get("seed") * 1103515245 + 12345) % 2**31
        baggage.set("seed", seed)
        return seed

    class Driver:
        async def bootstrap(self, vats, devices):
            admin = vats["vat_admin"]
            baggage.init("me", vats["driver"])
            baggage.init("seed", params.get("seed", 7))
            bundle = await E(admin).get_bundle("member")
            members = []
            for i in range(params.get("members", 200)):
                created = await E(admin).create_vat(
                    bundle,
                    name=f"member-{i:03d}",
                    vat_parameters={"index": i, "opening": params.get("opening", 100)},
                )
                members.append(created["root"])
            baggage.init("members", members)
            E.sendonly(vats["driver"]).step(0)
            return {"members": len(members), "rounds": params.get("rounds", 10)}

        def step(self, round_number):
            members = baggage.get("members")
            for payer in members:
                payee = members[next_random() % len(members)]
                E.sendonly(payer).pay(payee, 1 + next_random() % params.get("max_amount", 40))
            baggage.set("rounds_done", round_number + 1) if baggage.has(
                "rounds_done"
            ) else baggage.init("rounds_done", round_number + 1)
            if round_number + 1 < params.get("rounds", 10):
                E.sendonly(baggage.get("me")).step(round_number + 1)

        async def report(self):
            statements = [await E(m).statement() for m in baggage.get("members")]
            total = sum(s["balance"] for s in statements)
            expected = len(statements) * params.get("opening", 100)
            return {
                "members": len(statements),
                "rounds_done": baggage.get("rounds_done"),
                "payments_bounced": sum(s["bounced"] for s in statements),
                "volume_sent": sum(s["sent"] for s in statements),
                "volume_received": sum(s["received"] for s in statements),
                "total_balance": total,
                "nothing_lost": total == expected
                and sum(s["sent"] for s in statements) == sum(s["received"] for s in statements),
                "member_incarnations_run": sorted({s["starts"] for s in statements}),
                "driver_incarnations_run": baggage.get("starts"),
            }

    return Far("Driver", Driver())
