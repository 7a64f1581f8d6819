"""The bank: it keeps every account, so total supply is its invariant.

Opening an account hands its owner a Purse (the right to pay from it) and
publishes a DepositFacet (the right to pay into it), which anyone may look up by
owner name. A payment larger than the purse's balance raises InsufficientFunds:
nothing moves, and the payer's promise rejects with the error's name and message.

`Purse.pay` does all its work in the delivery that brings it, so payments take
effect in the order they reach the bank, which is the kernel's run-queue order.
"""

from vatrt.vat import Far


class InsufficientFunds(Exception):
    pass


def build_root_object(vat_powers, vat_parameters, baggage):
    currency = (vat_parameters or {}).get("currency", "ZED")
    balances = {}  # owner -> balance, in the order the accounts were opened
    facets = {}

    class DepositFacet:
        def __init__(self, owner):
            self.owner = owner

        def owner_name(self):
            return self.owner

    class Purse:
        def __init__(self, owner):
            self.owner = owner

        def balance(self):
            return balances[self.owner]

        def pay(self, facet, amount):
            # A presence for one of our own facets arrives as the object itself, so
            # this also rejects facets of any other bank.
            if not isinstance(facet, DepositFacet):
                raise TypeError("payments go to a deposit facet of this bank")
            if type(amount) is not int or amount <= 0:
                raise ValueError(f"amount must be a positive int, not {amount!r}")
            if balances[self.owner] < amount:
                raise InsufficientFunds(
                    f"{self.owner} has {balances[self.owner]} {currency}, "
                    f"cannot pay {amount} to {facet.owner}"
                )
            balances[self.owner] -= amount
            balances[facet.owner] += amount
            return {"from": self.owner, "to": facet.owner, "amount": amount}

    class Bank:
        def open_account(self, owner, opening):
            if owner in balances:
                raise ValueError(f"account {owner!r} already exists")
            if type(opening) is not int or opening < 0:
                raise ValueError(f"opening balance must be an int >= 0, not {opening!r}")
            balances[owner] = opening
            facets[owner] = Far("DepositFacet", DepositFacet(owner))
            return Far("Purse", Purse(owner))

        def deposit_facet(self, owner):
            if owner not in facets:
                raise LookupError(f"no account {owner!r}")
            return facets[owner]

        def report(self):
            return {
                "currency": currency,
                "balances": dict(balances),
                "total_supply": sum(balances.values()),
            }

    return Far("Bank", Bank())
