"""Random sequences of sends, keeps, drops, passes, upgrades and terminations,
interleaved with hostile ones (forged vrefs, malformed syscalls, BaseExceptions
raised by vat code, refused host calls, cancelled calls): `kernel.audit()` passes
after every step, a refused host call changes nothing, a vat that breaks the
rules is the only one that goes, and once nothing holds an object, garbage
collection deletes it."""

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vatrt
from vatrt.testing import make_config

KEEPER = """
from vatrt.vat import E, Far, Presence, durable_kind, make_promise_kit
from vatrt._liveslots.far import current   # only a broken vat does this: tests use it to misbehave
from vatrt._protocol import Msg, Send

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
        def forge(self, slot):
            # a send to an import this vat never had
            current.liveslots.syscall(Send("o-9999", Msg({"body": "[\\"n\\",[]]", "slots": []}, None)))
        def malformed(self, slot):
            # a send whose body is not JSON, to a peer it does hold
            # to a peer it holds, or (after an upgrade forgot its peers) to its own root
            others = [p.vref for _, p in sorted(peers.items()) if isinstance(p, Presence)]
            target = others[slot % len(others)] if others else "o+0"
            current.liveslots.syscall(Send(target, Msg({"body": "[not json", "slots": []}, None)))
        def raise_base(self, which):
            raise [KeyboardInterrupt, SystemExit, GeneratorExit][which % 3]("from vat code")
        async def raise_base_later(self, which):
            await E(peers[sorted(peers)[0]]).n_of(0)
            raise [KeyboardInterrupt, SystemExit, GeneratorExit][which % 3]("from vat code")
        def n_of(self, slot):
            return slot
        def wait(self, slot):
            promise, resolve, reject = make_promise_kit()
            held[("waiting", slot)] = resolve
            return promise
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
        # hostile: each either rejects the call or ends the vat that made it
        st.tuples(st.just("forge"), st.sampled_from(["b", "c"]), st.integers(0, 3)),
        st.tuples(st.just("malformed"), st.sampled_from(["b", "c"]), st.integers(0, 3)),
        st.tuples(st.just("raise_base"), st.sampled_from(NAMES), st.integers(0, 2)),
        st.tuples(st.just("raise_base_later"), st.sampled_from(NAMES), st.integers(0, 2)),
        st.tuples(st.just("refused"), st.sampled_from(NAMES), st.integers(0, 5)),
        st.tuples(st.just("cancelled"), st.sampled_from(NAMES), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=30,
)

# The steps that break a rule of the kernel: the vat that makes one is terminated.
ILLEGAL = {"forge", "malformed"}


def refused_call(kernel, name, which):
    """A bad host call, by kind: each must raise and change nothing."""
    if which == 0:
        return kernel.upgrade_all_vats(upgrade_message=object())
    if which == 1:
        return kernel.restart_vat(name, upgrade_message=lambda: None)
    if which == 2:
        return kernel.call(name, "keep", 0, object())
    if which == 3:
        return kernel.call(name, "_private")
    if which == 4:
        return kernel.restart_vat("nobody-is-called-this")

    async def bad_queue():
        kernel.queue_to_vat_root(name, "drop", "abc")

    return bad_queue()


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
            elif kind == "refused":
                before = kernel.dump()
                with pytest.raises((vatrt.VatrtError, TypeError, ValueError)):
                    await refused_call(kernel, *args)
                assert kernel.dump() == before, f"refused {step} changed the kernel"
            elif kind == "cancelled":
                if args[0] in live:
                    with anyio.move_on_after(0):  # cancelled at the run's first checkpoint
                        await kernel.call(args[0], "wait", args[1])
                    await kernel.run()
            elif kind in ILLEGAL:
                if args[0] in live:
                    with pytest.raises(vatrt.RejectedError):
                        await kernel.call(args[0], kind, *args[1:])
                    assert args[0] not in kernel.vat_names(), f"{step}: the vat is gone"
                    assert set(live) - {args[0]} <= set(kernel.vat_names()), "only that vat"
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=steps, backend=st.sampled_from(["asyncio", "trio"]))
def test_random_programs_keep_every_refcount_exact(tmp_path_factory, script, backend):
    config = make_config(
        tmp_path_factory.mktemp("fuzz"), {n: KEEPER for n in NAMES}, bootstrap="a", reap_interval=3
    )
    anyio.run(play, config, script, backend=backend)
