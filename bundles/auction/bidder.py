"""A bidder: hears of each lot, thinks for some hours (a timer delay), then bids.

Its choices come from its own LCG (seeded by its `seed` parameter), so every run
of the economy is the same: how long it thinks (0-6 hours: at 6, the deadline, it is
too late) and how much of the estimate it offers (scaled by `eagerness`, %).
"""

from vatrt.vat import E, Far, RemoteError

HOUR = 3600


def build_root_object(vat_powers, vat_parameters, baggage):
    me = {"x": vat_parameters["seed"], "won": [], "bids": 0, "late": 0, "refused": 0}
    eagerness = vat_parameters["eagerness"]
    peers = {}

    def draw(n):
        me["x"] = (me["x"] * 1103515245 + 12345) % 2**31
        return (me["x"] >> 8) % n

    class Bidder:
        def join(self, name, auctioneer, timer):
            peers.update(name=name, auctioneer=auctioneer, timer=timer)

        async def auction_opened(self, lot, opened, deadline, estimate):
            think = draw(7) * HOUR
            amount = estimate * (50 + draw(60)) * eagerness // 10_000
            await E(peers["timer"]).delay(think)
            me["bids"] += 1
            try:
                await E(peers["auctioneer"]).bid(lot, peers["name"], amount)
            except RemoteError as e:
                me["late" if e.name == "AuctionClosed" else "refused"] += 1

        def won(self, lot, amount):
            me["won"].append([lot, amount])

        def stats(self):
            return {"bids": me["bids"], "won": len(me["won"]), "late": me["late"]}

    return Far("Bidder", Bidder())
