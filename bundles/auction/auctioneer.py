"""The auctioneer: opens lots each morning, closes each at its deadline, settles nightly.

It keeps the ledger of the market (every bidder's balance and the estate's), so
the money in circulation can be checked to the unit at the end. Three kinds of
timer wakeups drive it: a repeater that opens the day's lots at 08:00, one
``wake_at`` per lot at its deadline, and a repeater that settles at 23:00.
"""

from vatrt.vat import E, Far, make_promise_kit

HOUR = 3600
DAY = 24 * HOUR
OPEN_AT, WINDOW, SETTLE_AT = 8 * HOUR, 6 * HOUR, 23 * HOUR


class AuctionClosed(Exception):
    """The bid came at or after the lot's deadline."""


class InsufficientFunds(Exception):
    """The bidder cannot pay this much on top of what it already owes."""


def clock(t):
    """Virtual seconds as ``day D HH:MM`` (day 1 begins at t = 0)."""
    day, rest = divmod(int(t), DAY)
    return f"day {day + 1} {rest // HOUR:02d}:{rest % HOUR // 60:02d}"


def build_root_object(vat_powers, vat_parameters, baggage):
    market = {
        "timer": None,
        "bidders": {},  # name -> presence
        "ledger": {},  # name -> balance (the estate's too)
        "owed": {},  # name -> won today, settled tonight
        "open": {},  # lot -> {"deadline", "estimate", "bids": [(amount, seq, name)]}
        "sales": [],
        "unsold": [],
        "late": 0,
        "refused": 0,
        "day": 0,
        "seq": 0,
        "days": 0,
        "lots_per_day": 0,
        "repeaters": [],
        "done": None,
    }

    def available(name):
        return market["ledger"][name] - market["owed"].get(name, 0)

    class Opener:
        def wake(self, when):
            market["day"] += 1
            day = market["day"]
            for k in range(1, market["lots_per_day"] + 1):
                lot = f"d{day}-lot{k}"
                estimate = 40 + (day * 37 + k * 53) % 90
                deadline = when + WINDOW
                market["open"][lot] = {"deadline": deadline, "estimate": estimate, "bids": []}
                E(market["timer"]).wake_at(deadline, Far("Closer", wake=closer(lot)))
                for bidder in market["bidders"].values():
                    E.sendonly(bidder).auction_opened(lot, when, deadline, estimate)

    def closer(lot):
        def wake(when):
            auction = market["open"].pop(lot)
            # highest bid first; at equal amounts the earlier bid wins
            for amount, _, name in sorted(auction["bids"], key=lambda b: (-b[0], b[1])):
                if amount <= available(name):
                    market["owed"][name] = market["owed"].get(name, 0) + amount
                    market["sales"].append([clock(when), lot, name, amount])
                    E.sendonly(market["bidders"][name]).won(lot, amount)
                    return
            market["unsold"].append(lot)

        return wake

    class Settler:
        def wake(self, when):
            for name, amount in sorted(market["owed"].items()):
                market["ledger"][name] -= amount
                market["ledger"]["estate"] += amount
            market["owed"] = {}
            if market["day"] >= market["days"]:
                for repeater in market["repeaters"]:
                    E(repeater).cancel()  # nothing left to wake: auto-advance stops
                market["done"][1](clock(when))

    class Auctioneer:
        async def run_market(self, timer, bidders, opening_balance, days, lots_per_day):
            market.update(timer=timer, bidders=bidders, days=days, lots_per_day=lots_per_day)
            market["ledger"] = {name: opening_balance for name in bidders}
            market["ledger"]["estate"] = 0
            market["done"] = make_promise_kit()[:2]
            opener = await E(timer).make_repeater(OPEN_AT, DAY)
            settler = await E(timer).make_repeater(SETTLE_AT, DAY)
            market["repeaters"] = [opener, settler]
            await E(opener).schedule(Far("Opener", Opener()))
            await E(settler).schedule(Far("Settler", Settler()))
            return await market["done"][0]

        def bid(self, lot, name, amount):
            auction = market["open"].get(lot)
            if auction is None:
                market["late"] += 1
                raise AuctionClosed(f"{lot} is closed")
            if amount > available(name):
                market["refused"] += 1
                raise InsufficientFunds(f"{name} has {available(name)}, bid {amount}")
            market["seq"] += 1
            auction["bids"].append((amount, market["seq"], name))
            return True

        def report(self):
            return {
                "sales": market["sales"],
                "unsold": market["unsold"],
                "late_bids": market["late"],
                "refused_bids": market["refused"],
                "balances": dict(sorted(market["ledger"].items())),
                "money_in_circulation": sum(market["ledger"].values()),
            }

    return Far("Auctioneer", Auctioneer())
