"""A client: opens an account, then each round pays a pseudo-randomly chosen peer.

The peer and the amount come from a small LCG seeded by the vat's `seed`
parameter, so a run is the same every time (a vat has no clock and no I/O):

    seed = (seed * 1103515245 + 12345) % 2**31;  peer = others[seed % len(others)]
    seed = (seed * 1103515245 + 12345) % 2**31;  amount = 1 + seed % max_amount

`others` is every other client, in the order the bootstrap listed them. A payment
the bank refuses for lack of funds comes back here as a RemoteError named
InsufficientFunds: the client counts it and carries on. Any other error fails
the round, and with it the bootstrap.
"""

from vatrt.vat import E, Far, RemoteError


def build_root_object(vat_powers, vat_parameters, baggage):
    name = vat_parameters["name"]
    state = {"seed": vat_parameters["seed"], "paid": 0, "rejected": 0}
    facets = {}  # peer name -> that peer's deposit facet at the bank

    def next_random():
        state["seed"] = (state["seed"] * 1103515245 + 12345) % 2**31
        return state["seed"]

    class Client:
        async def open_account(self, bank, opening, max_amount):
            state["bank"] = bank
            state["max_amount"] = max_amount
            state["purse"] = await E(bank).open_account(name, opening)
            return name

        async def meet(self, peers):
            # Ask for every facet before awaiting any: one round trip, not one per peer.
            asked = {p: E(state["bank"]).deposit_facet(p) for p in peers if p != name}
            for peer, facet in asked.items():
                facets[peer] = await facet
            return len(facets)

        async def trade(self, round_number):
            others = list(facets)
            peer = others[next_random() % len(others)]
            amount = 1 + next_random() % state["max_amount"]
            receipt = {"round": round_number, "from": name, "to": peer, "amount": amount}
            try:
                await E(state["purse"]).pay(facets[peer], amount)
            except RemoteError as e:
                if e.name != "InsufficientFunds":
                    raise
                state["rejected"] += 1
                return receipt | {"ok": False, "reason": str(e)}
            state["paid"] += amount
            return receipt | {"ok": True, "reason": None}

        async def statement(self):
            return {
                "name": name,
                "balance": await E(state["purse"]).balance(),
                "paid": state["paid"],
                "rejected": state["rejected"],
            }

    return Far("Client", Client())
