"""A client: opens an account, then pays a pseudo-randomly chosen peer each round.

The choice of peer and amount comes from a small LCG seeded by the vat's
parameters, so a run is the same every time (vats have no clock and no I/O).
"""

from vatrt.vat import E, Far, RemoteError


def build_root_object(vat_powers, vat_parameters, baggage):
    name = vat_parameters["name"]
    state = {"seed": vat_parameters["seed"], "paid": 0, "rejected": 0, "purse": None}

    def next_random():
        state["seed"] = (state["seed"] * 1103515245 + 12345) % 2**31
        return state["seed"]

    class Client:
        async def setup(self, bank, opening):
            state["bank"] = bank
            state["purse"] = await E(bank).open_account(name, opening)
            return name

        async def trade(self, peers, max_amount):
            others = [p for p in peers if p != name]
            peer = others[next_random() % len(others)]
            amount = 1 + next_random() % max_amount
            facet = E(state["bank"]).deposit_facet(peer)  # pipelined: no round trip
            try:
                await E(state["purse"]).pay(facet, amount)
            except RemoteError as e:
                if e.name != "InsufficientFunds":
                    raise
                state["rejected"] += 1
                return {"paid": 0, "rejected": 1}
            state["paid"] += amount
            return {"paid": amount, "rejected": 0}

        async def statement(self):
            return {
                "name": name,
                "balance": await E(state["purse"]).balance(),
                "paid": state["paid"],
                "rejected": state["rejected"],
            }

    return Far("Client", Client())
