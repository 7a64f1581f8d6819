"""Random sequences of sends, keeps, drops, passes, upgrades and terminations:
`kernel.audit()` passes after every step, and once nothing holds an object,
garbage collection deletes it."""

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vatrt
from vatrt.testing import make_config

KEEPER = """
from vatrt.vat import E, Far, durable_kind

def build_root_object(vat_powers, vat_parameters, baggage):
    held = {}
    peers = {}

    @durable_kind(baggage, "Box")
    class Box:
        @staticmethod
        def init(n):
            return {"n": n}
        def n(self):
            return self.state["n"]

    class Thing:
        def __init__(self, n):
            self._n = n
        def n(self):
            return self._n

    class Keeper:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def introduce(self, vats):
            peers.update(vats)
        def make(self, slot, n, durable):
            held[slot] = Box(n) if durable else Far("Thing", Thing(n))
        def drop(self, slot):
            held.pop(slot, None)
        async def give(self, slot, peer, their_slot):
            if slot in held and peer in peers:
                await E(peers[peer]).keep(their_slot, held[slot])
        def keep(self, slot, thing):
            held[slot] = thing
        def stash(self, slot):
            if slot in held:
                baggage.set("stash", held[slot]) if baggage.has("stash") else baggage.init("stash", held[slot])
        def unstash(self):
            if baggage.has("stash"):
                baggage.delete("stash")
        async def poke(self, slot):
            if slot in held:
                try:
                    await E(held[slot]).n()
                except Exception:
                    pass
        def leave(self):
            vat_powers.exit_vat("bye")
    return Far("Keeper", Keeper())
"""

NAMES = ["a", "b", "c"]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("make"), st.sampled_from(NAMES), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("drop"), st.sampled_from(NAMES), st.integers(0, 3)),
        st.tuples(
            st.just("give"),
            st.sampled_from(NAMES),
            st.integers(0, 3),
            st.sampled_from(NAMES),
            st.integers(0, 3),
        ),
        st.tuples(st.just("stash"), st.sampled_from(NAMES), st.integers(0, 3)),
        st.tuples(st.just("unstash"), st.sampled_from(NAMES)),
        st.tuples(st.just("poke"), st.sampled_from(NAMES), st.integers(0, 3)),
        st.tuples(st.just("gc")),
        st.tuples(st.just("upgrade"), st.sampled_from(NAMES)),
        st.tuples(st.just("leave"), st.sampled_from(["c"])),
    ),
    min_size=1,
    max_size=25,
)


def owned_objects(kernel):
    dump = kernel.dump()
    return {k[: -len(".owner")] for k in dump if k.endswith(".owner")}


async def play(config, script):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        for name in NAMES:
            roots = {n: vatrt.KernelRef(kernel.dump()[f"{kernel.vat_id(n)}.root"]) for n in NAMES}
            await kernel.call(name, "introduce", roots)
        for step in script:
            kind, *args = step
            live = kernel.vat_names()
            if kind == "gc":
                await kernel.collect_garbage()
            elif kind == "upgrade":
                if args[0] in live:
                    await kernel.restart_vat(args[0])
            elif args[0] in live:
                method = {"make": "make"}.get(kind, kind)
                try:
                    await kernel.call(args[0], method, *args[1:])
                except vatrt.RejectedError:
                    pass  # e.g. giving to a vat that has left
            kernel.audit()
        for name in kernel.vat_names():
            if name in NAMES:
                for slot in range(4):
                    await kernel.call(name, "drop", slot)
                await kernel.call(name, "unstash")
        await kernel.collect_garbage()
        kernel.audit()
        # nothing holds any Thing or Box now: only roots and vat-admin's objects remain
        roots = {kernel.dump()[f"{kernel.vat_id(n)}.root"] for n in kernel.vat_names()}
        admin = kernel.vat_id("vat_admin")
        leftover = {
            k for k in owned_objects(kernel) - roots if kernel.dump()[f"{k}.owner"] != admin
        }
        assert leftover == set()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=steps, backend=st.sampled_from(["asyncio", "trio"]))
def test_random_programs_keep_every_refcount_exact(tmp_path_factory, script, backend):
    config = make_config(
        tmp_path_factory.mktemp("fuzz"), {n: KEEPER for n in NAMES}, bootstrap="a", reap_interval=3
    )
    anyio.run(play, config, script, backend=backend)
