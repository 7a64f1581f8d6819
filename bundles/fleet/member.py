"""A fleet member: a durable account that pays and receives.

Everything it must not lose is in baggage, so an upgrade in the middle of the
run (new code, fresh ephemeral state) keeps the books. `starts` counts how many
incarnations have run.
"""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    index = vat_parameters["index"]
    for key, initial in [
        ("balance", vat_parameters["opening"]),
        ("sent", 0),
        ("received", 0),
        ("bounced", 0),
        ("starts", 0),
    ]:
        baggage.provide(key, lambda initial=initial: initial)
    baggage.set("starts", baggage.get("starts") + 1)

    def add(key, n):
        baggage.set(key, baggage.get(key) + n)

    class Member:
        def pay(self, peer, amount):
            if baggage.get("balance") < amount:
                add("bounced", 1)
                return
            add("balance", -amount)
            add("sent", amount)
            E.sendonly(peer).receive(amount)

        def receive(self, amount):
            add("balance", amount)
            add("received", amount)

        def statement(self):
            return {
                k: baggage.get(k) for k in ("balance", "sent", "received", "bounced", "starts")
            } | {"index": index}

    return Far("Member", Member())
