"""Kernel-unilateral upgrade: restart_vat and upgrade_all_vats (SPEC 6)."""

import anyio
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

# Every vat here keeps a durable count and an ephemeral one, and reports its
# parameters and code version, so a test can see what an upgrade kept.
STATEFUL = """
from vatrt.vat import E, Far, durable_kind

VERSION = 1

def build_root_object(vat_powers, vat_parameters, baggage):
    ephemeral = {"calls": 0}
    baggage.provide("count", lambda: 0)
    peers = {}

    @durable_kind(baggage, "Note")
    class Note:
        @staticmethod
        def init(text):
            return {"text": text}
        def read(self):
            return self.state["text"]

    class Root:
        def bootstrap(self, vats, devices):
            peers.update(vats)
            baggage.init("admin", vats["vat_admin"])
        def bump(self):
            ephemeral["calls"] += 1
            baggage.set("count", baggage.get("count") + 1)
            return baggage.get("count")
        def report(self):
            return {"version": VERSION, "count": baggage.get("count"),
                    "calls": ephemeral["calls"], "params": vat_parameters}
        def note(self, text):
            return Note(text)
        async def spawn(self, name, source, params):
            admin = baggage.get("admin")
            bundle = await E(admin).install_bundle(source, name + ".py")
            created = await E(admin).create_vat(bundle, name=name, vat_parameters=params)
            baggage.init("peer." + name, created["root"])  # presences survive in baggage
            baggage.init("node." + name, created["admin_node"])
            return created["root"]
        def watch(self, name):
            peers[name + "-done"] = E(baggage.get("node." + name)).done()
        async def watched(self, name):
            try:
                return {"ok": await peers.pop(name + "-done")}
            except Exception as e:
                return {"error": str(e)}
        async def ask(self, name, method):
            return await getattr(E(baggage.get("peer." + name)), method)()
        async def exit_child(self, name):
            await E(baggage.get("peer." + name)).leave()
        def leave(self):
            vat_powers.exit_vat("left")
        async def fetch_note(self, name, text):
            baggage.init("kept", await E(peers[name]).note(text))
        async def read_kept(self):
            return await E(baggage.get("kept")).read()
    return Far("Root", Root())
"""
STATEFUL_V2 = STATEFUL.replace("VERSION = 1", "VERSION = 2")
BROKEN = STATEFUL.replace(
    'ephemeral = {"calls": 0}', 'raise RuntimeError("this version cannot start")'
)
HANGS = """
from vatrt.vat import make_promise_kit

async def build_root_object(vat_powers, vat_parameters, baggage):
    promise, resolve, reject = make_promise_kit()
    await promise   # nothing will ever resolve it
"""


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path,
        {
            "boot": (STATEFUL, {"role": "boot"}),
            "alice": (STATEFUL, {"role": "alice", "n": 1}),
            "bob": STATEFUL,
        },
        bootstrap="boot",
    )


async def bump_everyone(kernel, times=2):
    for name in ["boot", "alice", "bob"]:
        for _ in range(times):
            await kernel.call(name, "bump")


async def test_upgrade_all_restarts_every_vat_with_its_own_parameters(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("boot", "spawn", "carol", STATEFUL, {"role": "carol"})
        await bump_everyone(kernel)
        report = await kernel.upgrade_all_vats(upgrade_message="all of you")
        assert list(report) == ["vat_admin", "boot", "alice", "bob", "carol"]
        assert {name: o.status for name, o in report.items()} == dict.fromkeys(report, "upgraded")
        assert all(o.incarnation_number == 1 for o in report.values())
        assert await kernel.call("alice", "report") == {
            "version": 1,
            "count": 2,  # durable: kept
            "calls": 0,  # ephemeral: fresh
            "params": {"role": "alice", "n": 1},
        }
        assert (await kernel.call("bob", "report"))["params"] == {}
        assert (await kernel.call("boot", "ask", "carol", "report"))["params"] == {"role": "carol"}
        # vat-admin still works after its own restart
        await kernel.call("boot", "spawn", "dave", STATEFUL, None)
        assert (await kernel.call("boot", "ask", "dave", "report"))["count"] == 0
        kernel.audit()


async def test_new_bundles_apply_and_one_failure_rolls_back_only_that_vat(
    anyio_backend, config, tmp_path
):
    (tmp_path / "v2.py").write_text(STATEFUL_V2)
    (tmp_path / "broken.py").write_text(BROKEN)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await bump_everyone(kernel)
        alice = kernel.vat_id("alice")
        before = {k: v for k, v in kernel.dump().items() if k.startswith(f"{alice}.")}
        report = await kernel.upgrade_all_vats(
            bundles={"boot": str(tmp_path / "v2.py"), "alice": str(tmp_path / "broken.py")},
            upgrade_message="partial",
        )
        after = {k: v for k, v in kernel.dump().items() if k.startswith(f"{alice}.")}
        assert after == before, "alice's state is exactly as before the failed upgrade"
        assert report["boot"].status == "upgraded"
        assert report["bob"].status == "upgraded"
        assert report["alice"].status == "failed"
        assert report["alice"].error.startswith("vat-upgrade failure: ")
        assert "RuntimeError: this version cannot start" in report["alice"].error
        assert (await kernel.call("boot", "report"))["version"] == 2
        assert (await kernel.call("bob", "report"))["version"] == 1
        alice_report = await kernel.call("alice", "report")
        assert alice_report["calls"] == 2, "alice kept running in her old incarnation"
        kernel.audit()


async def test_a_bundle_that_does_not_load_is_refused_before_anything_changes(
    anyio_backend, config, tmp_path
):
    (tmp_path / "unloadable.py").write_text("VERSION = 1 / 0\n")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        before = kernel.dump()
        with pytest.raises(vatrt.BundleError, match=r"unloadable\.py failed to load"):
            await kernel.upgrade_all_vats(bundles={"bob": str(tmp_path / "unloadable.py")})
        with pytest.raises(vatrt.VatTerminated, match="no live vat named nobody"):
            await kernel.upgrade_all_vats(bundles={"nobody": "bob"})
        assert kernel.dump() == before
        kernel.audit()


async def test_a_vat_without_retained_parameters_is_ineligible_and_untouched(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await bump_everyone(kernel)
        bob = kernel.vat_id("bob")
        # what a store from before schema version 2 looks like: no retained record
        kernel.kv.delete(f"{bob}.vatParameters")
        assert kernel.vat_parameters(bob) is None
        report = await kernel.upgrade_all_vats()
        assert report["bob"].status == "ineligible"
        assert report["alice"].status == "upgraded"
        assert await kernel.call("bob", "report") == {
            "version": 1,
            "count": 2,
            "calls": 2,  # the same incarnation: never restarted
            "params": {},
        }
        with pytest.raises(vatrt.UpgradeFailed, match="ineligible"):
            await kernel.restart_vat("bob")
        kernel.audit()


async def test_a_vat_that_hangs_in_build_root_object_fails_clearly(anyio_backend, config, tmp_path):
    (tmp_path / "hangs.py").write_text(HANGS)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with anyio.fail_after(10):
            with pytest.raises(vatrt.UpgradeFailed, match="build_root_object did not finish"):
                await kernel.restart_vat("bob", bundle=str(tmp_path / "hangs.py"))
        assert (await kernel.call("bob", "report"))["version"] == 1
        kernel.audit()


def stalling_after_start(factory, started):
    """A worker factory whose workers stall once their first delivery has run:
    the new code's build_root_object ran, and the crank is still open."""
    made = []

    class Stalling:
        validate_bundle = factory.validate_bundle

        def make(self, spec, syscall, note=None):
            worker = factory.make(spec, syscall, note)
            made.append(worker)
            deliver = worker.deliver

            async def stall(delivery):
                await deliver(delivery)
                started.set()
                await anyio.sleep_forever()

            worker.deliver = stall
            return worker

    return Stalling(), made


async def test_cancelling_restart_vat_mid_start_undoes_the_crank_worker_included(
    anyio_backend, config, tmp_path
):
    (tmp_path / "v2.py").write_text(STATEFUL_V2)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await bump_everyone(kernel)
        bob = kernel.vat_id("bob")
        old_worker = kernel.workers[bob]
        factory = kernel._worker_factory
        started = anyio.Event()
        kernel._worker_factory, made = stalling_after_start(factory, started)
        async with anyio.create_task_group() as tg:
            tg.start_soon(kernel.restart_vat, "bob", str(tmp_path / "v2.py"))
            await started.wait()  # v2's build_root_object has run
            tg.cancel_scope.cancel()
        kernel._worker_factory = factory
        [new_worker] = made
        assert new_worker._stopped, "the new incarnation's task is not left behind"
        assert kernel.workers[bob] is old_worker
        state = kernel.dump()
        assert state[f"{bob}.incarnation"] == "0"
        kernel.audit()
        # The old code answers, over the old state; the upgrade is still queued
        # (nothing lost) and happens, whole, at the next run.
        await kernel.run()
        assert await kernel.call("bob", "report") == {
            "version": 2,
            "count": 2,
            "calls": 0,  # ephemeral: fresh in the new incarnation
            "params": {},
        }
        kernel.audit()


async def test_restart_vat_reuses_the_current_bundle_and_parameters(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("alice", "bump")
        outcome = await kernel.restart_vat("alice", upgrade_message="again")
        assert outcome == vatrt.UpgradeOutcome("upgraded", incarnation_number=1)
        assert (await kernel.restart_vat("alice")).incarnation_number == 2
        assert await kernel.call("alice", "report") == {
            "version": 1,
            "count": 1,
            "calls": 0,
            "params": {"role": "alice", "n": 1},
        }
        kernel.audit()


async def test_durable_objects_keep_their_krefs_across_upgrade_all(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("boot", "fetch_note", "alice", "remember me")
        alice = kernel.vat_id("alice")
        note = kernel.dump()[f"{alice}.c.o+d1/1"]
        kpid = kernel.queue_to_vat_root("boot", "bump")
        await kernel.upgrade_all_vats()
        # the upgrade went first; the queued message waits for the new incarnation
        assert kernel.kp_status(kpid) == "unresolved"
        await kernel.run()
        assert kernel.kp_resolution(kpid) == 1
        await kernel.collect_garbage()
        assert kernel.dump()[f"{alice}.c.o+d1/1"] == note
        assert kernel.refcount(note) == (1, 1)  # boot's import, kept in its baggage
        assert await kernel.call("boot", "read_kept") == "remember me"
        kernel.audit()


async def test_pending_done_promises_survive_vat_admins_restart(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("boot", "spawn", "carol", STATEFUL, None)
        await kernel.call("boot", "watch", "carol")
        report = await kernel.restart_vat("vat_admin", upgrade_message="admin restart")
        assert report.status == "upgraded"
        await kernel.call("boot", "exit_child", "carol")
        assert await kernel.call("boot", "watched", "carol") == {"ok": "left"}
        kernel.audit()


async def test_done_survives_vat_admins_upgrade_right_after_the_vat_exited(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"boot": STATEFUL}, bootstrap="boot")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        await kernel.call("boot", "spawn", "carol", STATEFUL, None)
        kernel.queue_to_vat_root("boot", "exit_child", ["carol"])
        while "carol" in kernel.vat_names():
            assert await kernel.run(max_cranks=1) == 1
        # The termination notice to vat-admin is still queued: upgrade vat-admin now.
        report = await kernel.upgrade_all_vats()
        assert report["vat_admin"].status == "upgraded"
        await kernel.call("boot", "watch", "carol")
        assert await kernel.call("boot", "watched", "carol") == {"ok": "left"}
        kernel.audit()


def test_upgrade_all_gives_the_same_report_and_state_on_asyncio_and_trio(tmp_path):
    config = make_config(
        tmp_path,
        {"boot": (STATEFUL, {"role": "boot"}), "alice": STATEFUL, "bob": STATEFUL},
        bootstrap="boot",
    )
    (tmp_path / "broken.py").write_text(BROKEN)

    async def scenario():
        async with vatrt.open_kernel(config) as kernel:
            await kernel.run()
            await bump_everyone(kernel)
            report = await kernel.upgrade_all_vats(
                bundles={"bob": str(tmp_path / "broken.py")}, upgrade_message="det"
            )
            await kernel.collect_garbage()
            kernel.audit()
            return report, kernel.dump()

    on_asyncio = anyio.run(scenario, backend="asyncio")
    on_trio = anyio.run(scenario, backend="trio")
    assert on_asyncio[0]["bob"].status == "failed"
    assert on_asyncio == on_trio
