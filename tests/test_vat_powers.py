"""vat_powers: exit powers for every vat, vat-admin only where the config grants it."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

FACTORY = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Factory:
        async def spawn(self, source):
            admin = vat_powers.vat_admin
            bundle = await E(admin).install_bundle(source, "child.py")
            created = await E(admin).create_vat(bundle, name="child")
            return await E(created["root"]).hello()
        def try_admin(self):
            try:
                vat_powers.vat_admin
            except AttributeError as e:
                return str(e)
    return Far("Factory", Factory())
"""

CHILD = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Child", hello=lambda: "hello from a child")
"""


async def test_a_vat_granted_vat_admin_can_create_vats(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"factory": FACTORY})
    config["vats"]["factory"]["vat_admin"] = True
    async with vatrt.open_kernel(config) as kernel:
        assert await kernel.call("factory", "spawn", CHILD) == "hello from a child"
        assert "child" in kernel.vat_names()
        # the grant survives an upgrade
        await kernel.restart_vat("factory")
        assert await kernel.call("factory", "try_admin") is None
        kernel.audit()


async def test_a_vat_not_granted_vat_admin_is_told_how_to_get_it(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"factory": FACTORY})
    async with vatrt.open_kernel(config) as kernel:
        message = await kernel.call("factory", "try_admin")
        assert message == "vat_admin is not granted to this vat (config: vat_admin = true)"
        kernel.audit()
