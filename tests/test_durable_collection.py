"""Durable instances are collected when nothing holds them (durable state, the
kernel, or a Python object of the incarnation), and an instance read from baggage
before its kind is defined becomes one once it is (issue 11, item 14). Every test
ends with `kernel.audit()`."""

import pytest
from test_liveslots import FakeKernel, capdata

import vatrt
from vatrt._liveslots.durable import make_baggage
from vatrt._liveslots.liveslots import LiveSlots
from vatrt._protocol import OK, BringOutYourDead, Message, Msg, StartVat
from vatrt.testing import make_config
from vatrt.vat import Far, durable_kind

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

KEEPER = """
from vatrt.vat import E, Far, durable_kind

def build_root_object(vat_powers, vat_parameters, baggage):
    ram = {}

    @durable_kind(baggage, "Box")
    class Box:
        @staticmethod
        def init(content):
            return {"content": content}
        def get(self):
            return self.state["content"]

    class Keeper:
        def bootstrap(self, vats, devices):
            ram["other"] = vats["other"]
        def make_and_drop(self, n):
            for i in range(n):
                Box(i)
        def make_in_baggage(self, key, content):
            baggage.init(key, Box(content))
        def make_in_ram(self, key):
            ram[key] = Box(key)
        def drop_from_ram(self, key):
            del ram[key]
        def delete_from_baggage(self, key):
            baggage.delete(key)
        def nest(self, key):
            # a box whose state holds another box and a presence
            baggage.init(key, Box({"inner": Box("inner"), "peer": ram["other"]}))
        def read(self, key):
            content = baggage.get(key).get()
            return content["inner"].get() if isinstance(content, dict) else content
        def give(self):
            return Box("given")
    return Far("Keeper", Keeper())
"""

OTHER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    held = {}
    class Other:
        async def take(self, box):
            held["box"] = box
            return await E(box).get()
        def let_go(self):
            held.clear()
    return Far("Other", Other())
"""


def instances(kernel, vat="keeper"):
    prefix = f"{kernel.vat_id(vat)}.vs.vom.o+d"
    return sorted(k[len(prefix) - 3 :] for k in kernel.dump() if k.startswith(prefix))


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"keeper": KEEPER, "other": OTHER}, bootstrap="keeper")


async def test_an_instance_nothing_holds_is_deleted_at_the_next_reap(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("keeper", "make_and_drop", 50)
        await kernel.collect_garbage()
        assert instances(kernel) == []
        kernel.audit()


async def test_an_instance_in_baggage_or_in_ram_is_kept_and_goes_once_let_go(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("keeper", "make_in_baggage", "kept", "k")
        await kernel.call("keeper", "make_in_ram", "r")
        await kernel.collect_garbage()
        assert len(instances(kernel)) == 2
        assert await kernel.call("keeper", "read", "kept") == "k"
        await kernel.call("keeper", "drop_from_ram", "r")
        await kernel.call("keeper", "delete_from_baggage", "kept")
        await kernel.collect_garbage()
        assert instances(kernel) == []
        kernel.audit()


async def test_deleting_an_instance_releases_what_its_state_held(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        other_root = kernel.dump()[f"{kernel.vat_id('other')}.c.o+0"]
        before = kernel.refcount(other_root)
        await kernel.call("keeper", "nest", "nested")
        await kernel.collect_garbage()
        assert await kernel.call("keeper", "read", "nested") == "inner"
        assert len(instances(kernel)) == 2
        await kernel.call("keeper", "delete_from_baggage", "nested")
        await kernel.collect_garbage()
        assert instances(kernel) == [], "the inner box goes with the outer one"
        assert kernel.refcount(other_root) == before
        kernel.audit()


async def test_an_exported_instance_is_kept_until_the_kernel_lets_go_of_it(
    anyio_backend, config, tmp_path
):
    taker = KEEPER.replace(
        "        def give(self):",
        "        async def hand_over(self):\n"
        "            return await E(ram['other']).take(Box('handed'))\n"
        "        def give(self):",
    )
    (tmp_path / "keeper.py").write_text(taker)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("keeper", "hand_over") == "handed"
        await kernel.collect_garbage()
        assert len(instances(kernel)) == 1, "other holds it: the kernel keeps it reachable"
        await kernel.call("other", "let_go")
        await kernel.collect_garbage()
        assert instances(kernel) == []
        keeper = kernel.vat_id("keeper")
        assert [k for k in kernel.dump() if k.startswith(f"{keeper}.vs.vom.es.")] == []
        kernel.audit()


async def test_a_kept_instance_survives_an_upgrade_and_is_collected_after_it(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("keeper", "make_in_baggage", "kept", "k")
        await kernel.restart_vat("keeper")
        await kernel.collect_garbage()
        assert await kernel.call("keeper", "read", "kept") == "k"
        await kernel.call("keeper", "delete_from_baggage", "kept")
        await kernel.collect_garbage()
        assert instances(kernel) == []
        kernel.audit()


# Reads baggage (holding instances) before it defines their kind.
BAGGAGE_FIRST = """
from vatrt.vat import Far, durable_kind

def build_root_object(vat_powers, vat_parameters, baggage):
    things = baggage.provide("things", lambda: {})
    early = things.get("a")

    @durable_kind(baggage, "Thing")
    class Thing:
        @staticmethod
        def init(name):
            return {"name": name}
        def name(self):
            return self.state["name"]

    class Root:
        def add(self, key):
            things = baggage.get("things")
            things[key] = Thing(key)
            baggage.set("things", things)
        def names(self):
            return sorted(t.name() for t in baggage.get("things").values())
        def early_is_a_thing(self):
            return early is None or (isinstance(early, Thing) and early.name() == "a")
    return Far("Root", Root())
"""

TOO_EARLY = """
from vatrt.vat import Far, durable_kind

def build_root_object(vat_powers, vat_parameters, baggage):
    things = baggage.provide("things", lambda: {})
    for thing in things.values():
        thing.name()   # used before its kind is defined
    @durable_kind(baggage, "Thing")
    class Thing:
        @staticmethod
        def init(name):
            return {"name": name}
        def name(self):
            return self.state["name"]
    return Far("Root", object())
"""


async def test_instances_read_from_baggage_before_their_kind_is_defined_work_after_upgrade(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"v": BAGGAGE_FIRST})
    async with vatrt.open_kernel(config) as kernel:
        await kernel.call("v", "add", "a")
        await kernel.call("v", "add", "b")
        report = await kernel.restart_vat("v")
        assert report.status == "upgraded"
        assert await kernel.call("v", "names") == ["a", "b"]
        assert await kernel.call("v", "early_is_a_thing") is True
        kernel.audit()


async def test_using_an_instance_before_its_kind_is_defined_says_what_to_do(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"v": BAGGAGE_FIRST})
    (tmp_path / "too_early.py").write_text(TOO_EARLY)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.call("v", "add", "a")
        with pytest.raises(vatrt.UpgradeFailed, match="define it with @durable_kind"):
            await kernel.restart_vat("v", bundle=str(tmp_path / "too_early.py"))
        assert await kernel.call("v", "names") == ["a"]
        kernel.audit()


def test_a_vatstore_written_before_collection_keeps_its_instances_and_its_syscalls():
    """A vat whose ``vom.kinds`` has no ``"@gc"`` (written by a vatrt without
    collection) makes the syscalls it made then, so its transcript still replays:
    no ``rc`` or ``vom.es`` keys for instances, and nothing is ever deleted."""

    def build(vat_powers, vat_parameters, baggage):
        @durable_kind(baggage, "Box")
        class Box:
            @staticmethod
            def init(n):
                return {"n": n}

        class Root:
            def make(self, n):
                baggage.set("boxes", [*baggage.get("boxes"), Box(n)])
                Box(-n)  # dropped at once

            def forget(self):
                baggage.set("boxes", [])

        if not baggage.has("boxes"):
            baggage.init("boxes", [])
        return Far("Root", Root())

    kernel = FakeKernel({"vom.kinds": '{"Box":1}'})
    ls = LiveSlots(kernel, build, make_baggage)
    assert ls.dispatch(StartVat(capdata(None))) == OK
    assert ls.dispatch(Message("o+0", Msg(capdata(["make", [1]]), None))) == OK
    assert ls.dispatch(Message("o+0", Msg(capdata(["forget", []]), None))) == OK
    assert ls.dispatch(BringOutYourDead()) == OK
    assert sorted(k for k in kernel.vatstore if k.startswith("vom.o+d")) == [
        "vom.o+d1/1",
        "vom.o+d1/2",
    ]
    assert not [k for k in kernel.vatstore if k.startswith(("rc.o+d", "vom.es."))]
    assert kernel.vatstore["vom.kinds"] == '{"Box":1}'
