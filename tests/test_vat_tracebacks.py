"""A vat's traceback goes with its error: bundle files and lines, on every worker kind."""

from io import BytesIO
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import vatrt
from vatrt.cli import main
from vatrt.testing import make_config
from vatrt.vat import RemoteError

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]

BOOT = """
from vatrt.vat import E, Far, RemoteError

class Plain:
    pass

def helper(x):
    return x.missing

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    class Boot:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def broken(self):
            return helper(None)
        async def pass_plain(self):
            return await E(peers["worker"]).take(Plain())
        async def worker_fails(self):
            return await E(peers["worker"]).fail()
        async def catch_and_show(self):
            try:
                await E(peers["worker"]).fail()
            except RemoteError as e:
                return e.traceback
    return Far("Boot", Boot())
"""

WORKER = """
from vatrt.vat import Far

def deep(n):
    if n == 0:
        raise ValueError("worker gave up")
    return deep(n - 1)

def build_root_object(vat_powers, vat_parameters, baggage):
    class Worker:
        def take(self, x):
            return x
        def fail(self):
            return deep(2)
        def fail_deep(self):
            return deep(100)
    return Far("Worker", Worker())
"""

BROKEN_START = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    settings = None
    return Far("Never", port=settings["port"])
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, {"boot": BOOT, "worker": WORKER}, bootstrap="boot")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


async def test_a_method_error_reaches_the_host_with_its_bundle_file_and_line(
    anyio_backend, config, tmp_path
):
    boot = tmp_path / "boot.py"
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("boot", "broken")
        error = caught.value.reason
        assert isinstance(error, RemoteError)
        assert caught.value.traceback == error.traceback
        assert error.traceback == (
            "Traceback (most recent call last):\n"
            f'  File "{boot}", line {line_of(boot, "return helper(None)")}, in broken\n'
            "    return helper(None)\n"
            f'  File "{boot}", line {line_of(boot, "return x.missing")}, in helper\n'
            "    return x.missing\n"
            "AttributeError: 'NoneType' object has no attribute 'missing'"
        )
        assert "vatrt/" not in error.traceback  # liveslots' own frames are left out
        kernel.audit()


async def test_an_error_from_another_vat_keeps_that_vats_frames_then_where_it_was_awaited(
    anyio_backend, config, tmp_path
):
    worker, boot = tmp_path / "worker.py", tmp_path / "boot.py"
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("boot", "worker_fails")
        tb = caught.value.traceback
        first, _, again = tb.partition("The rejection above was raised again here")
        assert f'File "{worker}", line {line_of(worker, "raise ValueError")}, in deep' in first
        assert first.count(", in deep\n") == 3
        assert first.rstrip().endswith("ValueError: worker gave up")
        awaited = line_of(boot, 'return await E(peers["worker"]).fail()')
        assert f'File "{boot}", line {awaited}, in worker_fails' in again
        # The vat that caught it sees the same traceback as the host would.
        seen = await kernel.call("boot", "catch_and_show")
        assert seen.startswith("Traceback (most recent call last):\n")
        assert seen.rstrip().endswith("ValueError: worker gave up")
        kernel.audit()


async def test_a_deep_recursion_keeps_the_innermost_frames_and_says_how_many_it_left_out(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("worker", "fail_deep")
        tb = caught.value.traceback
        assert "  ... 62 earlier frame(s) left out\n" in tb  # fail_deep + 101 deep, 40 kept
        assert tb.count(", in deep\n") == 40
        assert tb.endswith('raise ValueError("worker gave up")\nValueError: worker gave up')
        kernel.audit()


async def test_not_passable_names_the_bundles_class_not_an_internal_module(
    anyio_backend, config, tmp_path
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("boot", "pass_plain")
        message = str(caught.value.reason)
        assert message.startswith(f"Plain (from bundle {tmp_path / 'boot.py'}) is not passable")
        assert "vatrt_vat_" not in message
        assert "in pass_plain" in caught.value.traceback
        kernel.audit()


async def test_the_slog_keeps_the_traceback_with_the_rejection(anyio_backend, config, tmp_path):
    slog = BytesIO()
    async with vatrt.open_kernel(config, slog=slog) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError):
            await kernel.call("boot", "broken")
        kernel.audit()
    records = [orjson.loads(line) for line in slog.getvalue().splitlines()]
    bodies = [
        orjson.loads(r["syscall"][1][0][2]["body"])  # ["resolve", [[vpid, rejected, data]]]
        for r in records
        if r["type"] == "syscall" and r["syscall"][0] == "resolve" and r["syscall"][1][0][1]
    ]
    (error,) = [b for b in bodies if b.get("@qclass") == "error"]
    assert "in helper\n    return x.missing" in error["traceback"]


async def test_a_vat_that_fails_to_start_says_where_in_its_bundle(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"never": BROKEN_START})
    source = tmp_path / "never.py"
    with pytest.raises(vatrt.VatStartFailed) as caught:
        async with vatrt.open_kernel(config):
            pass
    cause = caught.value.cause
    assert cause.startswith("TypeError: 'NoneType' object is not subscriptable\nTraceback")
    assert f'File "{source}", line {line_of(source, "port=settings")}' in cause


async def test_a_store_reopens_with_the_same_tracebacks_replayed(anyio_backend, config, tmp_path):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as before:
            await kernel.call("boot", "worker_fails")
    async with vatrt.open_kernel(config, store) as kernel:  # replay checks every syscall
        with pytest.raises(vatrt.RejectedError) as after:
            await kernel.call("boot", "worker_fails")
        assert after.value.traceback == before.value.traceback
        kernel.audit()


BUG_BOOT = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Boot:
        async def bootstrap(self, vats, devices):
            return await E(vats["worker"]).fail()
    return Far("Boot", Boot())
"""


def write_toml(tmp_path: Path) -> Path:
    (tmp_path / "boot.py").write_text(BUG_BOOT)
    (tmp_path / "worker.py").write_text(WORKER)
    config = tmp_path / "bug.toml"
    config.write_text(
        'bootstrap = "boot"\n[bundles]\nboot = "boot.py"\nworker = "worker.py"\n'
        '[vats.boot]\nbundle = "boot"\n[vats.worker]\nbundle = "worker"\n'
    )
    return config


def test_vatrt_run_says_where_a_vat_raised_and_prints_it_all_with_v(tmp_path, worker_kind):
    config = write_toml(tmp_path)
    worker = tmp_path / "worker.py"
    raise_line = line_of(worker, "raise ValueError")
    runner = CliRunner()
    short = runner.invoke(main, ["run", str(config), "--worker", worker_kind])
    assert short.exit_code == 1
    said = " ".join(short.output.split())
    assert "bootstrap rejected: ValueError: worker gave up" in said
    assert f'raised at {worker}:{raise_line} in deep: raise ValueError("worker gave up")' in said
    assert "-v shows the whole traceback" in said
    assert "Traceback" not in said
    full = runner.invoke(main, ["run", str(config), "--worker", worker_kind, "-v"])
    assert full.exit_code == 1
    assert "Traceback (most recent call last):" in full.output
    assert full.output.count(", in deep") == 3
    assert "The rejection above was raised again here" in full.output
    report = runner.invoke(
        main, ["run", str(config), "--worker", worker_kind, "--report", "worker.fail"]
    )
    said = " ".join(report.output.split())
    assert "error: rejected: ValueError: worker gave up" in said
    assert f"raised at {worker}:{raise_line} in deep" in said


FATAL = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Fatal:
        def bootstrap(self, vats, devices):
            return None
        def explode(self):
            raise MemoryError("pretend the vat ran out")
    return Far("Fatal", Fatal())
"""


async def test_a_fatal_delivery_keeps_its_traceback_in_the_slog_and_the_termination_reason(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"fatal": FATAL}, bootstrap="fatal")
    source = tmp_path / "fatal.py"
    slog = BytesIO()
    async with vatrt.open_kernel(config, slog=slog) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError) as caught:
            await kernel.call("fatal", "explode")  # a MemoryError is fatal to the vat
        assert caught.value.reason.name == "VatTerminated"
        assert str(caught.value.reason).startswith("vat terminated: MemoryError")
        where = f'File "{source}", line {line_of(source, "raise MemoryError")}, in explode'
        assert where in caught.value.traceback
        kernel.audit()
    records = [orjson.loads(line) for line in slog.getvalue().splitlines()]
    (finish,) = [r for r in records if r["type"] == "crank-finish" and r["rolledBack"]]
    assert where in finish["rolledBack"]
