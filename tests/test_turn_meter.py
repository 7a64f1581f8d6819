"""The turn meter: a delivery that spins inside one crank (a local object sending
to itself forever) fails on every worker kind, the same way on every run, and
the kernel goes on (issue 12, item 5). Every test ends with `kernel.audit()`."""

import anyio
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

SPINNER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Spinner:
        def spin(self):
            E(self_ref["me"]).spin()   # a local send: never leaves this vat
        async def steps(self, n):
            for _ in range(n):
                await E(self_ref["me"]).noop()
            return n
        def noop(self):
            return None
        def double(self, n):
            return 2 * n
    self_ref = {"me": Far("Spinner", Spinner())}
    return self_ref["me"]
"""


async def test_a_vat_spinning_in_one_crank_is_stopped_by_the_turn_meter(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"spinner": SPINNER, "other": SPINNER}, max_turns=10_000)
    async with vatrt.open_kernel(config) as kernel:
        with anyio.fail_after(20):
            with pytest.raises(vatrt.RejectedError, match=r"more than 10,000 turns \(max_turns\)"):
                await kernel.call("spinner", "spin")
        assert "spinner" not in kernel.vat_names()
        assert await kernel.call("other", "double", 4) == 8
        kernel.audit()


async def test_a_delivery_within_its_turns_is_untouched(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"spinner": SPINNER}, max_turns=10_000)
    async with vatrt.open_kernel(config) as kernel:
        assert await kernel.call("spinner", "steps", 1_000) == 1_000
        kernel.audit()


async def test_a_vat_can_have_a_turn_limit_of_its_own(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"strict": SPINNER, "loose": SPINNER})
    config["vats"]["strict"]["max_turns"] = 100
    async with vatrt.open_kernel(config) as kernel:
        assert await kernel.call("loose", "steps", 500) == 500
        with pytest.raises(vatrt.RejectedError, match=r"more than 100 turns"):
            await kernel.call("strict", "steps", 500)
        kernel.audit()


def test_vatrt_run_with_a_spinning_vat_ends_and_says_why(tmp_path):
    from click.testing import CliRunner

    from vatrt.cli import main

    spins_at_boot = SPINNER.replace(
        "        def spin(self):",
        "        def bootstrap(self, vats, devices):\n            self.spin()\n        def spin(self):",
    )
    (tmp_path / "spinner.py").write_text(spins_at_boot)
    (tmp_path / "spin.toml").write_text(
        'bootstrap = "spinner"\nmax_turns = 5000\n'
        '[bundles]\nspinner = "spinner.py"\n[vats.spinner]\nbundle = "spinner"\n'
    )
    result = CliRunner().invoke(main, ["run", str(tmp_path / "spin.toml")])
    assert result.exit_code == 1  # the bootstrap was rejected
    assert "more than 5,000 turns" in " ".join(result.output.split())
