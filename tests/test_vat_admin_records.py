"""What vat-admin keeps about ended vats: the outcome lives on the vat's admin
node, survives vat-admin's upgrade, and goes when no one holds the node (issue 11,
items 6 and 7; the upgrade right after an exit is in test_upgrade_all). Every test ends with `kernel.audit()`."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

CHILD = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Child:
        def leave(self, value):
            vat_powers.exit_vat(value)
        def fail(self, reason):
            vat_powers.exit_vat_with_failure(reason)
    return Far("Child", Child())
"""

# Creates children and lets them end; keeps (or lets go of) their admin nodes.
SPAWNER = """
from vatrt.vat import E, Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {"nodes": {}}

    class Spawner:
        def bootstrap(self, vats, devices):
            s["admin"] = vats["vat_admin"]

        async def churn(self, source, n, keep):
            admin = s["admin"]
            bundle = await E(admin).install_bundle(source, "child.py")
            outcomes = []
            for i in range(n):
                made = await E(admin).create_vat(bundle)
                await E(made["root"]).leave(i)
                outcomes.append(await E(made["admin_node"]).done())
                if keep:
                    s["nodes"][i] = made["admin_node"]
            return outcomes

        async def done_of(self, i):
            try:
                return {"ok": await E(s["nodes"][i]).done()}
            except RemoteError as e:
                return {"error": str(e)}

        def forget(self):
            s["nodes"].clear()

    return Far("Spawner", Spawner())
"""


def vat_admin_state(kernel):
    """vat-admin's vatstore, without the counters that only ever grow."""
    prefix = f"{kernel.vat_id('vat_admin')}.vs."
    return {
        key: value
        for key, value in kernel.dump().items()
        if key.startswith(prefix) and not key.endswith(".next")
    }


async def test_done_answers_from_the_kept_outcome_after_vat_admin_is_upgraded(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"spawner": SPAWNER}, bootstrap="spawner")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("spawner", "churn", CHILD, 2, True) == [0, 1]
        await kernel.restart_vat("vat_admin", upgrade_message="again")
        await kernel.collect_garbage()
        assert await kernel.call("spawner", "done_of", 1) == {"ok": 1}
        kernel.audit()


async def test_vat_admin_forgets_ended_vats_once_no_one_holds_their_admin_nodes(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"spawner": SPAWNER}, bootstrap="spawner")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        # One round first, so that what is made once (the bundle cap's kind, the
        # callbacks) is there in both snapshots.
        await kernel.call("spawner", "churn", CHILD, 1, False)
        await kernel.collect_garbage()
        before = vat_admin_state(kernel)
        outcomes = await kernel.call("spawner", "churn", CHILD, 300, True)
        assert outcomes == list(range(300))
        await kernel.collect_garbage()
        held = vat_admin_state(kernel)
        assert len(held) > len(before) + 300, "a held node keeps its outcome"
        assert await kernel.call("spawner", "done_of", 299) == {"ok": 299}
        await kernel.call("spawner", "forget")
        await kernel.collect_garbage()
        assert vat_admin_state(kernel) == before
        kernel.audit()
