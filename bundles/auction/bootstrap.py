"""Starts the auction economy and reports what a person can check.

It gives each bidder the auctioneer and the timer service, runs the market for
`days` simulated days and returns every sale (closing time, lot, winner,
price), the late and refused bids, the final balances, and whether the money in
circulation is still bidders x opening balance.
"""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    p = vat_parameters

    class Bootstrap:
        async def bootstrap(self, vats, devices):
            timer, auctioneer = vats["timer"], vats["auctioneer"]
            bidders = {name: vats[name] for name in sorted(vats) if name.startswith("bidder")}
            for name, bidder in bidders.items():
                await E(bidder).join(name, auctioneer, timer)
            ended = await E(auctioneer).run_market(
                timer, bidders, p["opening_balance"], p["days"], p["lots_per_day"]
            )
            report = await E(auctioneer).report()
            report["market_closed"] = ended
            report["money_at_start"] = p["opening_balance"] * len(bidders)
            report["money_conserved"] = report["money_in_circulation"] == report["money_at_start"]
            report["bidders"] = {name: await E(b).stats() for name, b in bidders.items()}
            return report

    return Far("Bootstrap", Bootstrap())
