"""Baggage's whole API and vat_powers behave as docs/writing-vats.md says."""

import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

KEEPER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Keeper:
        def copy_is_not_stored(self):
            baggage.init("books", {"alice": 1})
            books = baggage.get("books")
            books["alice"] += 5
            before = baggage.get("books")["alice"]
            baggage.set("books", books)
            return [before, baggage.get("books")["alice"]]

        def refusals(self):
            out = []
            for call in (
                lambda: baggage.set("never", 1),
                lambda: baggage.init("books", 2),
                lambda: baggage.get("nothing"),
                lambda: baggage.delete("nothing"),
            ):
                try:
                    call()
                except KeyError as e:
                    out.append(str(e))
            return out

        def keys_and_provide(self):
            for key in ("b", "c", "a"):
                baggage.init(key, key.upper())
            made = baggage.provide("z", lambda: "made")
            kept = baggage.provide("a", lambda: "not made")
            baggage.delete("c")
            return [baggage.keys(), list(baggage), made, kept, "a" in baggage, baggage.has("c")]

        def leave(self, completion):
            vat_powers.exit_vat(completion)
            return "leaving"

        def hook(self):
            return vat_powers.call_kernel_hook("anything")

    return Far("Keeper", Keeper())
"""


async def test_baggage_get_returns_a_copy_that_set_writes_back(anyio_backend, tmp_path):
    async with vatrt.open_kernel(make_config(tmp_path, {"k": KEEPER})) as kernel:
        assert await kernel.call("k", "copy_is_not_stored") == [1, 6]
        kernel.audit()


async def test_baggage_set_needs_init_and_each_refusal_is_a_key_error(anyio_backend, tmp_path):
    async with vatrt.open_kernel(make_config(tmp_path, {"k": KEEPER})) as kernel:
        await kernel.call("k", "copy_is_not_stored")
        refusals = await kernel.call("k", "refusals")
        assert refusals == [
            "\"baggage has no key 'never'; use init() first\"",
            "\"baggage already has key 'books'\"",
            "\"baggage has no key 'nothing'\"",
            "\"baggage has no key 'nothing'\"",
        ]
        kernel.audit()


async def test_baggage_keys_are_sorted_and_provide_stores_only_when_missing(
    anyio_backend, tmp_path
):
    async with vatrt.open_kernel(make_config(tmp_path, {"k": KEEPER})) as kernel:
        keys, listed, made, kept, has_a, has_c = await kernel.call("k", "keys_and_provide")
        assert keys == listed == ["a", "b", "z"]
        assert (made, kept, has_a, has_c) == ("made", "A", True, False)
        kernel.audit()


async def test_exit_vat_ends_the_vat_and_later_messages_reject(anyio_backend, tmp_path):
    async with vatrt.open_kernel(make_config(tmp_path, {"k": KEEPER})) as kernel:
        assert await kernel.call("k", "leave", "bye") == "leaving"
        with pytest.raises(vatrt.VatTerminated, match="no live vat named 'k'"):
            await kernel.call("k", "copy_is_not_stored")
        kernel.audit()


async def test_call_kernel_hook_from_an_unprivileged_vat_terminates_it(anyio_backend, tmp_path):
    async with vatrt.open_kernel(make_config(tmp_path, {"k": KEEPER})) as kernel:
        with pytest.raises(
            vatrt.RejectedError,
            match="vat terminated: vat v2 is not privileged to call kernel hooks",
        ):
            await kernel.call("k", "hook")
        with pytest.raises(vatrt.VatTerminated, match="no live vat named 'k'"):
            await kernel.call("k", "copy_is_not_stored")
        kernel.audit()
