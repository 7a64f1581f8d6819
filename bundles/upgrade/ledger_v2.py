"""A ledger vat, version 2: the same durable kinds, new fee rules."""

from vatrt.vat import Far, durable_kind

VERSION = 2


def build_root_object(vat_powers, vat_parameters, baggage):
    fee = (vat_parameters or {}).get("fee", 0)
    session = {"calls": 0}  # ephemeral: starts again at every incarnation

    @durable_kind(baggage, "Account")
    class Account:
        @staticmethod
        def init(owner):
            return {"owner": owner, "balance": 0}

        def deposit(self, amount):
            self.state["balance"] += amount - fee
            baggage.set("fees", baggage.get("fees") + fee)
            return self.state["balance"]

        def balance(self):
            return self.state["balance"]

    baggage.provide("fees", lambda: 0)
    baggage.provide("accounts", dict)

    class Ledger:
        def open(self, owner):
            session["calls"] += 1
            accounts = baggage.get("accounts")
            if owner not in accounts:
                accounts[owner] = Account(owner)
                baggage.set("accounts", accounts)
            return accounts[owner]

        def describe(self):
            session["calls"] += 1
            return {
                "version": VERSION,
                "fee": fee,
                "fees_collected": baggage.get("fees"),
                "calls_this_incarnation": session["calls"],
            }

    return Far("Ledger", Ledger())
