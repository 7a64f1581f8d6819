"""Drives the payments simulation: opens accounts, runs the rounds, checks the books.

The clients are the config's `client-N` vats in order of N, then `extra_clients`
more that the bootstrap creates through vat-admin, numbered on from the last;
client-K gets the seed `seed + 37 * K`, the rule the config's own clients follow.
Raising `extra_clients` and `rounds` scales the simulation without editing the
list of vats.

Each round the bootstrap asks every client to trade at once. A client sends its
one payment to the bank in the same delivery, so the bank sees a round's payments
in client order; the next round starts once every client has answered. At the
end the bootstrap compares the bank's books with what the clients say and checks
that no money was made or lost.
"""

import re

from vatrt.vat import E, Far

CLIENT_NAME = re.compile(r"client-(\d+)")


def client_number(name):
    return int(CLIENT_NAME.fullmatch(name).group(1))


def build_root_object(vat_powers, vat_parameters, baggage):
    params = vat_parameters or {}
    rounds = params.get("rounds", 40)
    opening = params.get("opening", 100)
    max_amount = params.get("max_amount", 60)
    extra_clients = params.get("extra_clients", 0)
    seed = params.get("seed", 1000)

    async def create_clients(admin, first, count):
        bundle = await E(admin).get_bundle("client")
        created = {}
        for k in range(first, first + count):
            name = f"client-{k}"
            parameters = {"name": name, "seed": seed + 37 * k}
            made = await E(admin).create_vat(bundle, name=name, vat_parameters=parameters)
            created[name] = made["root"]
        return created

    class Bootstrap:
        async def bootstrap(self, vats, devices):
            bank = vats["bank"]
            configured = sorted(filter(CLIENT_NAME.fullmatch, vats), key=client_number)
            clients = {name: vats[name] for name in configured}
            if extra_clients:
                first = max(map(client_number, clients), default=0) + 1
                clients |= await create_clients(vats["vat_admin"], first, extra_clients)

            opened = [E(c).open_account(bank, opening, max_amount) for c in clients.values()]
            names = [await name for name in opened]
            for met in [E(c).meet(names) for c in clients.values()]:
                await met

            payments = rejected = volume = 0
            first_rejection = None
            for round_number in range(1, rounds + 1):
                trades = [E(c).trade(round_number) for c in clients.values()]
                for trade in trades:
                    receipt = await trade
                    if receipt["ok"]:
                        payments += 1
                        volume += receipt["amount"]
                    else:
                        rejected += 1
                        if first_rejection is None:
                            first_rejection = f"round {round_number}: {receipt['reason']}"

            books = await E(bank).report()
            statements = [await E(c).statement() for c in clients.values()]
            agree = (
                all(books["balances"][s["name"]] == s["balance"] for s in statements)
                and sum(s["paid"] for s in statements) == volume
                and sum(s["rejected"] for s in statements) == rejected
            )
            return {
                "clients": len(names),
                "rounds": rounds,
                "payments": payments,
                "rejected": rejected,
                "first_rejection": first_rejection,
                "volume": volume,
                "currency": books["currency"],
                "total_supply": books["total_supply"],
                "supply_conserved": books["total_supply"] == opening * len(names),
                "books_match_clients": agree,
                "balances": books["balances"],
            }

    return Far("Bootstrap", Bootstrap())
