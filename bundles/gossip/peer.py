"""A gossiping peer: passes each rumour on to its neighbours the first time it hears it."""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    index, peers, fanout = (vat_parameters[k] for k in ("index", "peers", "fanout"))
    neighbours = []
    heard = {}  # rumour -> hops it took to get here

    class Peer:
        def neighbour_indices(self):
            """Which `fanout` of the `peers` this one wants to know (by its index)."""
            picks = {(index * 7 + 13 * k + 1) % peers for k in range(fanout)}
            return sorted(picks - {index})

        def meet(self, chosen):
            neighbours[:] = chosen

        def hear(self, rumour, hops):
            if rumour in heard:
                return
            heard[rumour] = hops
            for neighbour in neighbours:
                E.sendonly(neighbour).hear(rumour, hops + 1)

        def heard(self):
            return heard

    return Far("Peer", Peer())
