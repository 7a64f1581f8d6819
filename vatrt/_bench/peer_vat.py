"""A benchmark vat: ping-pong, bursts, fan-out and a pipelined chain."""

from vatrt.vat import E, Far, durable_kind


def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    peers_admin = {}
    baggage.provide("pings", lambda: 0)

    @durable_kind(baggage, "Token")
    class Token:
        @staticmethod
        def init(n):
            return {"n": n}

        def value(self):
            return self.state["n"]

    if not baggage.has("token"):
        baggage.init("token", Token((vat_parameters or {}).get("n", 0)))

    class Thing:
        pass

    class Peer:
        def bootstrap(self, vats, devices):
            peers.update({k: v for k, v in vats.items() if k != "vat_admin"})
            peers_admin["admin"] = vats["vat_admin"]

        def ping(self, i):
            return i

        def next_hop(self):
            return self

        async def pingpong(self, peer, n):
            target = peers[peer]
            total = 0
            for i in range(n):
                total += await E(target).ping(i)
            return total

        async def burst(self, peer, n):
            target = peers[peer]
            results = [E(target).ping(i) for i in range(n)]
            return sum([await r for r in results])

        async def fan_out(self, n_each):
            targets = [v for k, v in sorted(peers.items()) if k.startswith("w")]
            results = [E(t).ping(i) for i in range(n_each) for t in targets]
            return sum([await r for r in results])

        async def chain(self, peer, depth):
            hop = E(peers[peer]).next_hop()
            for _ in range(depth - 1):
                hop = E(hop).next_hop()  # pipelined: no round trip per hop
            return await E(hop).ping(depth)

        async def create_many(self, n):
            admin = peers_admin["admin"]
            bundle = await E(admin).get_bundle("peer")
            for i in range(n):
                await E(admin).create_vat(bundle, name=f"made-{i}", vat_parameters={"n": i})
            return n

        def take(self, value):
            return 1

        async def send_many(self, peer, n, kind, size):
            """n messages to `peer`, one at a time: an int, a `size`-entry nested
            dict (the same each time), or `size` new Far objects."""
            target = peers[peer]
            data = {f"k{j}": {"a": j, "b": [j, "x", None], "c": {"d": True}} for j in range(size)}
            total = 0
            for i in range(n):
                if kind == "int":
                    value = i
                elif kind == "dict":
                    value = data
                else:
                    value = [Far("Thing", Thing()) for _ in range(size)]
                total += await E(target).take(value)
            return total

        def token_value(self):
            return baggage.get("token").value()

    return Far("Peer", Peer())
