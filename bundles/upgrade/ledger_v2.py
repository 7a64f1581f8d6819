"""A ledger vat, version 2: the same durable kinds, a new fee rule, a new method.

It must re-define every durable kind version 1 defined ("Account"), with the same
tag; the accounts made by version 1 keep their krefs and balances. What changes:
small deposits (under 10) go free, and the ledger can list its accounts.
"""

from vatrt.vat import Far, durable_kind

VERSION = 2
FREE_BELOW = 10


def build_root_object(vat_powers, vat_parameters, baggage):
    fee = (vat_parameters or {}).get("fee", 0)
    session = {"calls": 0}  # ephemeral: starts again at every incarnation

    def fee_for(amount):
        return 0 if amount < FREE_BELOW else fee

    @durable_kind(baggage, "Account")
    class Account:
        @staticmethod
        def init(owner):
            return {"owner": owner, "balance": 0}

        def deposit(self, amount):
            charged = fee_for(amount)
            self.state["balance"] += amount - charged
            baggage.set("fees", baggage.get("fees") + charged)
            return self.state["balance"]

        def balance(self):
            return self.state["balance"]

    class Ledger:
        def open(self, owner):
            session["calls"] += 1
            accounts = baggage.get("accounts")
            if owner not in accounts:
                accounts[owner] = Account(owner)
                baggage.set("accounts", accounts)
            return accounts[owner]

        def accounts(self):
            return sorted(baggage.get("accounts"))

        def describe(self):
            session["calls"] += 1
            return {
                "version": VERSION,
                "fee": fee,
                "fees_collected": baggage.get("fees"),
                "calls_this_incarnation": session["calls"],
            }

    return Far("Ledger", Ledger())
