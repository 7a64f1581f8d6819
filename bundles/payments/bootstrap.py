"""Drives the payments simulation: opens accounts, runs the rounds, checks the books.

Each round every client trades at once (their payments interleave crank by
crank through the kernel); then the bootstrap compares the bank's books with
what the clients say, and checks that no money was made or lost.
"""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    params = vat_parameters or {}
    rounds = params.get("rounds", 20)
    opening = params.get("opening", 100)
    max_amount = params.get("max_amount", 60)

    class Bootstrap:
        async def bootstrap(self, vats, devices):
            bank = vats["bank"]
            clients = {n: v for n, v in sorted(vats.items()) if n.startswith("client")}
            names = [await E(c).setup(bank, opening) for c in clients.values()]
            payments = rejected = volume = 0
            for _ in range(rounds):
                trades = [E(c).trade(names, max_amount) for c in clients.values()]
                for trade in trades:
                    outcome = await trade
                    payments += 1 if outcome["paid"] else 0
                    rejected += outcome["rejected"]
                    volume += outcome["paid"]
            books = await E(bank).report()
            statements = [await E(c).statement() for c in clients.values()]
            agree = all(books["balances"][s["name"]] == s["balance"] for s in statements)
            return {
                "clients": len(names),
                "rounds": rounds,
                "payments": payments,
                "rejected (insufficient funds)": rejected,
                "volume": volume,
                "total_supply": books["total_supply"],
                "supply_conserved": books["total_supply"] == opening * len(names),
                "books_match_clients": agree,
                "balances": books["balances"],
            }

    return Far("Bootstrap", Bootstrap())
