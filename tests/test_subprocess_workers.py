"""Subprocess workers: a vat in its own process, with limits, that hurts only itself
(issue 12). Every test ends with `kernel.audit()` and leaves no child behind."""

import gc
import os
import re
import signal
import warnings

import anyio
import orjson
import pytest

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

VAT = """
import os, sys
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    class Root:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def pid(self):
            return os.getpid()
        def double(self, n):
            return 2 * n
        async def relay(self, name, n):
            return await E(peers[name]).double(n)
        def loop(self):
            while True:
                pass
        def hog(self, mb):
            return len(bytearray(mb * 1024 * 1024))
        def abort(self):
            os.abort()
        def abort_once(self, marker, n):
            if not os.path.exists(marker):
                open(marker, "w").close()
                os.abort()
            return 2 * n
        def exit_now(self):
            os._exit(3)
        def interrupt(self):
            raise KeyboardInterrupt
        def env(self):
            return sorted(os.environ)
        def open_fds(self):
            return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        def printing(self):
            print("hello from a vat")
            return "printed"
        def vatrt_folder(self):
            import vatrt.vat
            return os.path.dirname(vatrt.vat.__file__)
    return Far("Root", Root())
"""


def children_of(pid):
    """Live vatrt worker and host processes whose parent is `pid` (Linux /proc).
    Only vatrt's own: a Ray cluster a test started has children of its own."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"vatrt._worker" in command:
            found.append(int(entry))
    return found


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path,
        {"a": VAT, "b": VAT, "local": VAT},
        bootstrap="a",
        default_worker="subprocess",
    ) | {
        "vats": {
            "a": {"bundle": "a"},
            "b": {"bundle": "a"},
            "local": {"bundle": "a", "worker": "local"},
        }
    }


async def test_a_subprocess_vat_runs_in_its_own_process_and_talks_to_the_others(
    anyio_backend, config
):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        pid_a = await kernel.call("a", "pid")
        pid_b = await kernel.call("b", "pid")
        assert len({os.getpid(), pid_a, pid_b}) == 3
        assert await kernel.call("local", "pid") == os.getpid()
        assert await kernel.call("a", "relay", "b", 21) == 42
        assert await kernel.call("a", "relay", "local", 4) == 8
        assert kernel.worker_status("a") == vatrt.WorkerStatus("subprocess", pid_a, 0)
        assert kernel.worker_status("local") == vatrt.WorkerStatus("local", os.getpid(), 0)
        # a, b, vat-admin (the default kind too), and the spares kept ready
        assert {pid_a, pid_b, kernel.worker_status("vat_admin").pid} <= set(
            children_of(os.getpid())
        )
        kernel.audit()
    assert children_of(os.getpid()) == []


async def test_a_worker_child_runs_its_kernels_vatrt_whatever_its_working_folder_holds(
    anyio_backend, config, tmp_path, monkeypatch
):
    """A child imports the vatrt its kernel runs (installed, compiled, or a
    checkout), not a ``vatrt/`` in the folder it was started from."""
    decoy = tmp_path / "elsewhere" / "vatrt"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text('raise ImportError("the decoy vatrt")\n')
    monkeypatch.chdir(decoy.parent)
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("a", "relay", "b", 21) == 42
        assert await kernel.call("a", "vatrt_folder") == os.path.dirname(vatrt.__file__)
        kernel.audit()


async def test_a_delivery_past_its_time_limit_terminates_only_that_vat(anyio_backend, config):
    config["vats"]["b"]["limits"] = {"delivery_timeout_s": 0.2}
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with anyio.fail_after(10):
            with pytest.raises(vatrt.RejectedError, match=r"delivery time limit 0\.2 s exceeded"):
                await kernel.call("b", "loop")
        assert "b" not in kernel.vat_names()
        assert await kernel.call("a", "double", 5) == 10
        kernel.audit()
    assert children_of(os.getpid()) == []


async def test_a_delivery_stopped_by_its_limit_is_never_run_again_after_reopening(
    anyio_backend, config, tmp_path
):
    config["vats"]["b"]["limits"] = {"delivery_timeout_s": 0.2}
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="time limit"):
            await kernel.call("b", "loop")
        before = kernel.dump()
    with anyio.fail_after(20):  # a replay that ran `loop` again would hang here
        async with vatrt.open_kernel(config, store=store) as kernel:
            assert kernel.dump() == before
            assert "b" not in kernel.vat_names()
            assert await kernel.call("a", "double", 21) == 42
            kernel.audit()


async def test_an_allocation_past_the_memory_limit_terminates_the_vat(anyio_backend, config):
    config["vats"]["b"]["limits"] = {"memory_mb": 200}
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("b", "hog", 10) == 10 * 1024 * 1024
        with pytest.raises(vatrt.RejectedError, match="memory limit 200 MB"):
            await kernel.call("b", "hog", 400)
        assert "b" not in kernel.vat_names()
        assert await kernel.call("a", "double", 1) == 2
        kernel.audit()


async def test_os_exit_in_a_vat_hurts_only_that_vat(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match=r"worker died .* exited with status 3"):
            await kernel.call("b", "exit_now")
        assert "b" not in kernel.vat_names()
        assert await kernel.call("a", "double", 2) == 4
        kernel.audit()
    assert children_of(os.getpid()) == []


async def test_keyboard_interrupt_in_a_subprocess_vat_rejects_like_any_error(anyio_backend, config):
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match="KeyboardInterrupt"):
            await kernel.call("b", "interrupt")
        assert await kernel.call("b", "double", 3) == 6
        kernel.audit()


async def test_a_subprocess_vat_sees_a_scrubbed_environment_and_only_its_pipes(
    anyio_backend, config, monkeypatch
):
    monkeypatch.setenv("VATRT_TEST_SECRET", "do not leak")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        env = await kernel.call("a", "env")
        assert "VATRT_TEST_SECRET" not in env
        assert set(env) <= {
            "PATH",
            "PYTHONPATH",
            "VIRTUAL_ENV",
            "LANG",
            "LC_ALL",
            "TZ",
            "PYTHONUNBUFFERED",
            "PYTHONHASHSEED",
            "LC_CTYPE",
        }
        fds = await kernel.call("a", "open_fds")
        # stdin (/dev/null), stdout and stderr (both stderr: prints cannot corrupt
        # frames), the two frame pipes, and the listing's own descriptor
        assert len(fds) <= 6, fds
        assert await kernel.call("a", "printing") == "printed"
        kernel.audit()


async def test_a_child_killed_between_cranks_is_restarted_and_answers_right(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"a": VAT, "b": (VAT, None)}, bootstrap="a")
    config["vats"]["b"]["worker"] = "subprocess"
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("b", "double", 1) == 2
        pid_b = kernel.worker_status("b").pid
        os.kill(pid_b, signal.SIGKILL)
        await anyio.sleep(0.05)
        assert await kernel.call("a", "relay", "b", 5) == 10
        restarted = kernel.worker_status("b")
        assert restarted.pid != pid_b
        assert restarted.restarts == 1
        assert await kernel.call("b", "double", 7) == 14
        kernel.audit()
    assert children_of(os.getpid()) == []


async def test_a_crash_mid_delivery_is_retried_in_a_restarted_worker(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"a": VAT, "b": VAT}, bootstrap="a")
    config["vats"]["b"]["worker"] = "subprocess"
    marker = tmp_path / "crashed-once"
    slog = tmp_path / "slog.jsonl"
    async with vatrt.open_kernel(config, slog=slog) as kernel:
        await kernel.run()
        assert await kernel.call("b", "double", 4) == 8
        assert await kernel.call("a", "relay", "b", 1) == 2
        # the delivery sends nothing before it crashes; a relay through b would
        # have its send answered from the first attempt on the retry
        assert await kernel.call("b", "abort_once", str(marker), 21) == 42
        assert marker.exists(), "the first attempt did crash"
        assert await kernel.call("b", "double", 5) == 10
        kernel.audit()
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    starts = {r["name"]: r["vatID"] for r in records if r["type"] == "vat-start"}
    crashes = [r for r in records if r["type"] == "worker-crash"]
    restarts = [r for r in records if r["type"] == "worker-restart"]
    assert [(r["vatID"], r["restarting"]) for r in crashes] == [(starts["b"], True)]
    assert "killed by signal 6" in crashes[0]["why"]
    assert [(r["vatID"], r["replayed"]) for r in restarts] == [(starts["b"], 3)]


async def test_restarts_are_kept_in_the_store_and_shown_by_vatrt_inspect(anyio_backend, tmp_path):
    from click.testing import CliRunner

    from vatrt.cli import main

    config = make_config(tmp_path, {"a": VAT, "b": VAT}, bootstrap="a")
    config["vats"]["b"]["worker"] = "subprocess"
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        assert await kernel.call("b", "abort_once", str(tmp_path / "m"), 2) == 4
        kernel.audit()
    async with vatrt.open_kernel(config, store) as kernel:
        count, why = kernel.keeper.vat(kernel.vat_id("b")).worker_restarts()
        assert (count, kernel.keeper.vat(kernel.vat_id("a")).worker_restarts()) == (1, (0, None))
        assert "killed by signal 6" in why
        kernel.audit()
    # The CLI runs its own event loop: from a worker thread, not inside this one.
    result = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["inspect", "--store", str(store)])
    )
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line for line in result.output.splitlines() if "│ v" in line
    }
    assert rows["b"].split("│")[6].strip() == "1", result.output
    assert rows["a"].split("│")[6].strip() == "0", result.output
    said = " ".join(result.output.split())
    assert "b: worker restarted 1 time(s), the last after: killed by signal 6" in said, (
        result.output
    )


COUNTER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    if not baggage.has("total"):
        baggage.init("total", 0)
    def add(n):
        baggage.set("total", baggage.get("total") + n)
        return baggage.get("total")
    return Far("Counter", add=add, total=lambda: baggage.get("total"))
"""


async def test_a_long_transcript_replays_in_batches_on_reopen_and_after_a_kill(
    anyio_backend, tmp_path
):
    # 250 deliveries: three replay frames (of 100) into each fresh child.
    config = make_config(tmp_path, {"counter": COUNTER}, default_worker="subprocess")
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        for n in range(1, 250):
            await kernel.call("counter", "add", n)
    async with vatrt.open_kernel(config, store) as kernel:
        assert await kernel.call("counter", "total") == 249 * 250 // 2
        os.kill(kernel.worker_status("counter").pid, signal.SIGKILL)
        await anyio.sleep(0.05)
        assert await kernel.call("counter", "add", 1000) == 249 * 250 // 2 + 1000
        assert kernel.worker_status("counter").restarts == 1
        kernel.audit()
    assert children_of(os.getpid()) == []


async def test_a_divergence_past_the_first_replay_batch_names_its_delivery(anyio_backend, tmp_path):
    import sqlite3

    config = make_config(tmp_path, {"counter": COUNTER}, default_worker="subprocess")
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store) as kernel:
        await kernel.run()
        for _ in range(150):
            await kernel.call("counter", "add", 1)
        vat_id = kernel.vat_id("counter")
    # A transcript entry past the first replay batch says the vat wrote another total.
    db = sqlite3.connect(store)
    (position,) = db.execute(
        "SELECT MAX(position) - 19 FROM transcript WHERE vatID = ?", (vat_id,)
    ).fetchone()
    (text,) = db.execute(
        "SELECT item FROM transcript WHERE vatID = ? AND position = ?", (vat_id, position)
    ).fetchone()
    tampered = re.sub(r'("vatstoreSet","baggage.total","\{\\"body\\":\\")\d+', r"\g<1>999", text)
    assert tampered != text, text
    db.execute(
        "UPDATE transcript SET item = ? WHERE vatID = ? AND position = ?",
        (tampered, vat_id, position),
    )
    db.commit()
    db.close()
    with pytest.raises(
        vatrt.ReplayDivergence,
        match=rf"vat 'counter' diverged from its transcript at delivery {position}: expected",
    ):
        async with vatrt.open_kernel(config, store):
            pass
    assert children_of(os.getpid()) == []


HOST = """
import sys, anyio, vatrt
from vatrt.testing import make_config

async def main():
    config = make_config(sys.argv[1], {"a": %r, "b": %r}, bootstrap="a",
                         default_worker="subprocess")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        pids = [kernel.worker_status(name).pid for name in ("a", "b")]
        print(*pids, flush=True)
        await kernel.call("b", "loop")  # b spins: it never reads its pipe again

anyio.run(main, backend=sys.argv[2])
"""


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_the_children_die_with_a_host_killed_by_sigkill_even_one_in_a_loop(
    anyio_backend, tmp_path
):
    import sys

    from anyio.streams.buffered import BufferedByteReceiveStream

    script = tmp_path / "host.py"
    script.write_text(HOST % (VAT, VAT))
    host = await anyio.open_process(
        [sys.executable, str(script), str(tmp_path / "vats"), anyio_backend], stderr=None
    )
    try:
        line = await BufferedByteReceiveStream(host.stdout).receive_until(b"\n", 1000)
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, line
        assert all(alive(pid) for pid in pids)
        await anyio.sleep(0.3)  # b is in its loop by now
        host.kill()  # no cleanup runs in the host: only the death signal can act
        await host.wait()
        for _ in range(300):
            if not any(alive(pid) for pid in pids):
                break
            await anyio.sleep(0.01)
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        if host.returncode is None:
            host.kill()
        await host.aclose()


async def test_cancelling_the_host_mid_delivery_reaps_every_child(anyio_backend, config):
    with anyio.move_on_after(1.0) as scope:
        async with vatrt.open_kernel(config) as kernel:
            await kernel.run()
            assert len(children_of(os.getpid())) >= 2  # a, b and the spares
            await kernel.call("b", "loop")  # no limit: only the cancellation ends it
    assert scope.cancelled_caught
    assert children_of(os.getpid()) == []


async def test_a_spare_worker_that_finishes_starting_after_the_kernel_closed_is_reaped(
    anyio_backend, monkeypatch
):
    """A spare whose start cannot be cancelled (trio starts the process in a
    thread) and ends after the kernel's task group was cancelled is ended, not
    left running with nobody to reap it (it was found later by the collector as
    a subprocess "still running", failing whichever test ran then)."""
    from vatrt._worker import children

    real_spawn = children.spawn_child

    async def slow_uncancellable_spawn():
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.2)
            return await real_spawn()

    monkeypatch.setattr(children, "spawn_child", slow_uncancellable_spawn)
    async with anyio.create_task_group() as task_group:
        spares = children.Spares(size=1)
        spares.serve_from(task_group)
        spares._refill()
        await anyio.sleep(0.05)  # the spare is starting
        task_group.cancel_scope.cancel()
    assert children_of(os.getpid()) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_the_restart_budget_comes_from_the_config(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"a": VAT, "b": VAT}, bootstrap="a")
    config["vats"]["b"] |= {"worker": "subprocess", "restart": {"max_restarts": 0}}
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match=r"worker died 1 times .*budget 0"):
            await kernel.call("b", "abort_once", str(tmp_path / "m"), 1)
        assert "b" not in kernel.vat_names()
        kernel.audit()


async def test_a_vat_that_crashes_on_every_delivery_is_terminated_once_the_budget_is_spent(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"a": VAT, "b": VAT}, bootstrap="a")
    config["vats"]["b"]["worker"] = "subprocess"
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        with pytest.raises(vatrt.RejectedError, match=r"worker died 4 times within 60 s"):
            await kernel.call("b", "abort")
        assert "b" not in kernel.vat_names()
        assert await kernel.call("a", "double", 2) == 4
        kernel.audit()
    assert children_of(os.getpid()) == []


async def test_limits_on_a_local_vat_are_a_config_error(anyio_backend, config):
    config["vats"]["local"]["limits"] = {"delivery_timeout_s": 1}
    with pytest.raises(vatrt.ConfigError, match="cannot be stopped"):
        async with vatrt.open_kernel(config):
            pass
    assert children_of(os.getpid()) == []


SPAWNER = """
from vatrt.vat import E, Far, RemoteError

def build_root_object(vat_powers, vat_parameters, baggage):
    s = {}
    class Spawner:
        def bootstrap(self, vats, devices):
            s["admin"] = vats["vat_admin"]
        async def spawn(self, source, **options):
            bundle = await E(s["admin"]).install_bundle(source, "child.py")
            try:
                made = await E(s["admin"]).create_vat(bundle, name="child", **options)
            except RemoteError as e:
                return {"error": str(e)}
            s["made"] = made
            return {"ok": True}
        async def ask(self, method, *args):
            try:
                return {"ok": await getattr(E(s["made"]["root"]), method)(*args)}
            except RemoteError as e:
                return {"error": str(e)}
        async def done(self):
            try:
                return {"ok": await E(s["made"]["admin_node"]).done()}
            except RemoteError as e:
                return {"error": str(e)}
    return Far("Spawner", Spawner())
"""


async def test_create_vat_can_put_a_vat_in_a_subprocess_with_limits(anyio_backend, tmp_path):
    config = make_config(tmp_path, {"spawner": SPAWNER}, bootstrap="spawner")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        made = await kernel.call(
            "spawner", "spawn", VAT, worker="subprocess", limits={"delivery_timeout_s": 0.3}
        )
        assert made == {"ok": True}
        pid = (await kernel.call("spawner", "ask", "pid"))["ok"]
        assert kernel.worker_status("child") == vatrt.WorkerStatus("subprocess", pid, 0)
        looped = await kernel.call("spawner", "ask", "loop")
        assert "delivery time limit 0.3 s exceeded" in looped["error"]
        assert (
            "delivery time limit 0.3 s exceeded" in (await kernel.call("spawner", "done"))["error"]
        )
        # killed at once; reaped by its task as soon as that task next runs
        for _ in range(500):
            if pid not in children_of(os.getpid()):
                break
            await anyio.sleep(0.01)
        assert pid not in children_of(os.getpid()), "the looping child was killed and reaped"
        kernel.audit()


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"worker": "thread"}, "worker must be one of local, subprocess"),
        ({"limits": {"delivery_timeout_s": 1}}, "cannot be stopped"),
        ({"worker": "subprocess", "limits": {"cpu": 1}}, "unknown limit"),
        ({"worker": "subprocess", "limits": {"memory_mb": 1}}, "memory_mb must be an int >= 16"),
    ],
)
async def test_create_vat_refuses_bad_worker_options_and_creates_nothing(
    anyio_backend, tmp_path, options, complaint
):
    config = make_config(tmp_path, {"spawner": SPAWNER}, bootstrap="spawner")
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        made = await kernel.call("spawner", "spawn", VAT, **options)
        assert complaint in made["error"]
        assert kernel.vat_names() == ["vat_admin", "spawner"]
        kernel.audit()


def test_a_worker_child_imports_neither_the_kernel_nor_anyio():
    import subprocess
    import sys

    probe = (
        "import sys, vatrt._worker.child, vatrt.vat; "
        "print(sorted(m for m in sys.modules if m.startswith(('vatrt._kernel', 'vatrt._store', "
        "'anyio', 'trio', 'vatrt._controller', 'attr', 'cattrs'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
