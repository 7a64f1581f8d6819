"""Creates a ledger vat, uses it, upgrades it to v2 with new parameters, uses it again.

What the run shows: the account objects handed out before the upgrade still work
after it (same krefs, same balances), baggage totals carried over, the new
parameters took effect, and ephemeral state started fresh.
"""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    class Bootstrap:
        async def bootstrap(self, vats, devices):
            admin = vats["vat_admin"]
            v1 = await E(admin).get_bundle("ledger_v1")
            v2 = await E(admin).get_bundle("ledger_v2")
            created = await E(admin).create_vat(v1, name="ledger", vat_parameters={"fee": 1})
            ledger, node = created["root"], created["admin_node"]
            alice = await E(ledger).open("alice")
            await E(alice).deposit(10)
            await E(alice).deposit(10)
            before = await E(ledger).describe()
            upgraded = await E(node).upgrade(
                v2, vat_parameters={"fee": 2}, upgrade_message="fees go up"
            )
            await E(alice).deposit(10)  # the same account object, now served by v2
            bob = await E(ledger).open("bob")
            await E(bob).deposit(5)  # v2: deposits under 10 go free
            return {
                "before_upgrade": before,
                "upgrade": upgraded,
                "after_upgrade": await E(ledger).describe(),
                "alice_balance": await E(alice).balance(),  # (10-1)+(10-1)+(10-2)
                "bob_balance": await E(bob).balance(),  # 5, no fee
                "accounts": await E(ledger).accounts(),  # a method only v2 has
            }

    return Far("Bootstrap", Bootstrap())
