"""Starts the rumours, and reports how far each one spread."""

from vatrt.vat import E, Far


def build_root_object(vat_powers, vat_parameters, baggage):
    peers = []

    class Driver:
        async def bootstrap(self, vats, devices):
            names = sorted((k for k in vats if k.startswith("peer-")), key=lambda k: int(k[5:]))
            peers.extend(vats[name] for name in names)
            wanted = await _all([E(p).neighbour_indices() for p in peers])
            await _all(
                [E(p).meet([peers[i] for i in w]) for p, w in zip(peers, wanted, strict=True)]
            )
            for r in range(vat_parameters["rumours"]):
                E.sendonly(peers[r * 37 % len(peers)]).hear(f"rumour-{r}", 0)
            return f"{vat_parameters['rumours']} rumours started among {len(peers)} peers"

        async def report(self):
            heard = await _all([E(p).heard() for p in peers])
            rumours = [f"rumour-{r}" for r in range(vat_parameters["rumours"])]
            return {
                "reached": {r: sum(r in h for h in heard) for r in rumours},
                "most_hops": {r: max((h[r] for h in heard if r in h), default=0) for r in rumours},
            }

    return Far("Driver", Driver())


async def _all(promises):
    return [await p for p in promises]
