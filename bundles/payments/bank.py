"""The bank: it keeps every account, so total supply is its invariant.

Each client gets a Purse (withdraw and pay from it) and the bank publishes a
DepositFacet per account (anyone may pay into it). A payment whose purse lacks
the funds raises InsufficientFunds, which rejects the payer's promise.
"""

from vatrt.vat import Far, VatPromise


class InsufficientFunds(Exception):
    pass


def build_root_object(vat_powers, vat_parameters, baggage):
    currency = (vat_parameters or {}).get("currency", "ZED")
    balances = {}
    facets = {}

    class DepositFacet:
        def __init__(self, owner):
            self.owner = owner

        def receive(self, amount):
            balances[self.owner] += amount
            return balances[self.owner]

    class Purse:
        def __init__(self, owner):
            self.owner = owner

        def balance(self):
            return balances[self.owner]

        async def pay(self, facet, amount):
            if isinstance(facet, VatPromise):  # clients pipeline the facet lookup
                facet = await facet
            if not isinstance(facet, DepositFacet):
                raise TypeError("payments go to a deposit facet of this bank")
            if not isinstance(amount, int) or amount <= 0:
                raise ValueError(f"amount must be a positive int, not {amount!r}")
            if balances[self.owner] < amount:
                raise InsufficientFunds(
                    f"{self.owner} has {balances[self.owner]} {currency}, cannot pay {amount}"
                )
            balances[self.owner] -= amount
            facet.receive(amount)
            return {"from": self.owner, "to": facet.owner, "amount": amount}

    class Bank:
        def open_account(self, owner, opening):
            if owner in balances:
                raise ValueError(f"account {owner!r} already exists")
            balances[owner] = opening
            facets[owner] = Far("DepositFacet", DepositFacet(owner))
            return Far("Purse", Purse(owner))

        def deposit_facet(self, owner):
            return facets[owner]

        def report(self):
            return {
                "currency": currency,
                "balances": dict(sorted(balances.items())),
                "total_supply": sum(balances.values()),
            }

    return Far("Bank", Bank())
