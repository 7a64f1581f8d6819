"""Vat hosts (issue 16): vats whose workers run in host processes that dial the
kernel back over TCP, started by the `local` launcher or placed and restarted by
Ray on a 2-node `ray.cluster_utils.Cluster`. Every test ends with
`kernel.audit()`; the kernel's dump with hosts is the dump with local workers."""

import logging
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import anyio
import orjson
import pytest
from test_subprocess_workers import SPAWNER, children_of

import vatrt
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

BUNDLES = Path(__file__).resolve().parent.parent / "bundles"

VAT = """
import os
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    state = {"bumps": 0}
    class Root:
        def bootstrap(self, vats, devices):
            peers.update(vats)
        def pid(self):
            return os.getpid()
        def double(self, n):
            return 2 * n
        async def relay(self, name, n):
            return await E(peers[name]).double(n)
        async def pingpong(self, name, rounds):
            total = 0
            for i in range(rounds):
                total += await E(peers[name]).double(i)
            return total
        def bump(self):
            state["bumps"] += 1
            return state["bumps"]
        def bumps(self):
            return state["bumps"]
        def bump_then_wait(self, name, started, release):
            # the send is made before the wait: a retry must not make it twice
            E(peers[name]).bump()
            open(started, "w").close()
            while not os.path.exists(release):
                pass
            return "done"
    return Far("Root", Root())
"""


# -- launchers: local always; ray on a 2-node cluster, started once per session --


@pytest.fixture(scope="module")
def ray_cluster():
    """Two Ray nodes of 1 CPU each, no dashboard, a small object store."""
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("Ray is not installed: pip install -e '.[test,ray]'")
    small = 80 * 1024 * 1024
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "object_store_memory": small},
    )
    cluster.add_node(num_cpus=1, object_store_memory=small)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(params=["local", "ray"])
def launcher(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


def with_hosts(config, launcher, placement=None, **vat_hosts):
    """`config` with hosts h1, h2 started by `launcher`, vats put on them."""
    config["hosts"] = {"h1": {"launcher": launcher}, "h2": {"launcher": launcher}}
    if launcher == "ray":
        config["placement_strategy"] = placement or "STRICT_SPREAD"
    for vat, host in vat_hosts.items():
        config["vats"][vat]["host"] = host
    return config


def two_vats(tmp_path, launcher):
    config = make_config(tmp_path, {"a": VAT, "b": VAT, "c": VAT}, bootstrap="a")
    return with_hosts(config, launcher, a="h1", b="h2")


async def eventually(predicate, within=60.0):
    """Poll what the OS or a host shows (no event to wait on) until it holds."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.05)


# -- the same answers as local workers ------------------------------------------


async def pingpong_dump(config, worker=None):
    async with vatrt.open_kernel(config, worker=worker) as kernel:
        await kernel.run()
        total = await kernel.call("a", "pingpong", "b", 50)
        relayed = await kernel.call("a", "relay", "c", 4)
        await kernel.collect_garbage()
        kernel.audit()
        return total, relayed, kernel.dump()


async def test_vats_on_two_hosts_answer_as_local_vats_and_leave_the_same_kernel_state(
    anyio_backend, tmp_path, launcher
):
    on_hosts = two_vats(tmp_path, launcher)
    local = make_config(tmp_path, {"a": VAT, "b": VAT, "c": VAT}, bootstrap="a")
    assert await pingpong_dump(on_hosts) == await pingpong_dump(local, "local")
    total, relayed, _ = await pingpong_dump(on_hosts)
    assert (total, relayed) == (2 * sum(range(50)), 8)


async def test_where_each_vat_runs_is_shown_by_worker_status_and_hosts(
    anyio_backend, tmp_path, launcher
):
    async with vatrt.open_kernel(two_vats(tmp_path, launcher)) as kernel:
        await kernel.run()
        hosts = {h.name: h for h in kernel.hosts()}
        assert set(hosts) == {"h1", "h2"}
        assert all(
            h.connected and h.connections == 1 and h.launcher == launcher for h in hosts.values()
        )
        status = {name: kernel.worker_status(name) for name in ("a", "b", "c")}
        assert (status["a"].host, status["b"].host, status["c"].host) == ("h1", "h2", None)
        assert status["a"].kind == "subprocess"
        # the vat's process is a child of its host, not of the kernel
        assert await kernel.call("a", "pid") == status["a"].pid
        assert status["a"].pid in children_of(hosts["h1"].pid)
        assert status["b"].pid in children_of(hosts["h2"].pid)
        assert status["a"].pid not in children_of(os.getpid())
        if launcher == "ray":
            import ray

            alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
            assert hosts["h1"].node != hosts["h2"].node  # STRICT_SPREAD: distinct nodes
            assert {hosts["h1"].node, hosts["h2"].node} <= alive
        kernel.audit()


async def test_the_payments_demo_across_hosts_gives_the_local_result_and_dump(
    anyio_backend, launcher
):
    raw = tomllib.loads((BUNDLES / "payments.toml").read_text())
    raw["base_dir"] = str(BUNDLES)
    raw["vats"]["bootstrap"]["parameters"]["rounds"] = 10

    async def run(config, worker=None):
        async with vatrt.open_kernel(config, worker=worker) as kernel:
            await kernel.run()
            kernel.audit()
            return kernel.kp_resolution(kernel.bootstrap_kpid), kernel.dump()

    local = await run(raw, "local")
    clients = sorted(v for v in raw["vats"] if v.startswith("client"))
    on_hosts = with_hosts(
        orjson.loads(orjson.dumps(raw)),
        launcher,
        placement="SPREAD",
        bank="h1",
        **{c: ("h1", "h2")[i % 2] for i, c in enumerate(clients)},
    )
    assert await run(on_hosts) == local


# -- faults --------------------------------------------------------------------


async def test_a_host_killed_mid_delivery_comes_back_and_the_delivery_is_applied_once(
    anyio_backend, tmp_path, launcher
):
    started, release = tmp_path / "started", tmp_path / "release"
    slog = tmp_path / "slog.jsonl"
    async with vatrt.open_kernel(two_vats(tmp_path, launcher), slog=slog) as kernel:
        await kernel.run()
        assert await kernel.call("a", "relay", "b", 1) == 2
        h1 = next(h for h in kernel.hosts() if h.name == "h1")
        answers = []

        async def call():
            answers.append(
                await kernel.call("a", "bump_then_wait", "c", str(started), str(release))
            )

        began = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await eventually(started.exists)
            os.kill(h1.pid, signal.SIGKILL)
            await eventually(
                lambda: any(h.name == "h1" and h.connections == 2 for h in kernel.hosts())
            )
            release.touch()
        back_after = time.perf_counter() - began
        assert answers == ["done"]
        assert await kernel.call("c", "bumps") == 1  # the send of the interrupted delivery, once
        assert kernel.worker_status("a").restarts == 1
        assert await kernel.call("a", "relay", "b", 21) == 42
        h1_again = next(h for h in kernel.hosts() if h.name == "h1")
        assert h1_again.connected
        assert h1_again.pid != h1.pid
        kernel.audit()
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    kinds = [r["type"] for r in records if r["type"].startswith(("host-", "worker-"))]
    assert kinds.count("host-connect") == 3  # h1, h2, h1 again
    assert "host-lost" in kinds
    assert "worker-restart" in kinds
    assert back_after < 60


async def test_a_host_killed_between_cranks_is_restarted_by_its_launcher(
    anyio_backend, tmp_path, launcher
):
    async with vatrt.open_kernel(two_vats(tmp_path, launcher)) as kernel:
        await kernel.run()
        assert await kernel.call("b", "bump") == 1
        h2 = next(h for h in kernel.hosts() if h.name == "h2")
        child = kernel.worker_status("b").pid
        os.kill(h2.pid, signal.SIGKILL)
        await eventually(lambda: child not in children_of(h2.pid) and not _alive(child))
        # the vat's state comes back by replay onto the new host
        assert await kernel.call("b", "bump") == 2
        assert kernel.worker_status("b").restarts == 1
        kernel.audit()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_a_host_removed_with_its_node_is_placed_again_on_a_new_node(
    anyio_backend, tmp_path, ray_cluster
):
    import ray

    async with vatrt.open_kernel(two_vats(tmp_path, "ray")) as kernel:
        await kernel.run()
        assert await kernel.call("b", "bump") == 1
        hosts = {h.name: h for h in kernel.hosts()}
        head = ray_cluster.head_node.node_id
        moving = "h1" if hosts["h1"].node != head else "h2"
        node = next(n for n in ray_cluster.worker_nodes if n.node_id == hosts[moving].node)
        began = time.perf_counter()
        # (Ray's node API sets signal handlers: the main thread only. The kernel
        # is idle meanwhile; a host that dials waits in the listen backlog.)
        ray_cluster.remove_node(node)
        added = ray_cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)

        def placed_again():
            h = next(h for h in kernel.hosts() if h.name == moving)
            return h.connected and h.node == added.node_id

        await eventually(placed_again, within=120)
        replaced = time.perf_counter() - began
        assert await kernel.call("a", "relay", "c", 5) == 10
        assert await kernel.call("b", "bump") == 2
        assert added.node_id in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        kernel.audit()
    print(f"host re-placed on a new node in {replaced:.1f} s")


async def test_cancelling_a_kernel_with_hosts_leaves_no_process_behind(anyio_backend, tmp_path):
    config = two_vats(tmp_path, "local")
    with anyio.CancelScope() as scope:
        async with vatrt.open_kernel(config) as kernel:
            await kernel.run()
            host_pids = [h.pid for h in kernel.hosts()]
            scope.cancel()
    await eventually(lambda: children_of(os.getpid()) == [], within=10)
    assert not any(_alive(pid) for pid in host_pids)


# -- the secret ------------------------------------------------------------------


def start_host(address, name, secret, **env):
    return subprocess.Popen(
        [sys.executable, "-m", "vatrt._worker.host"],
        env={
            "PATH": os.environ["PATH"],
            "VATRT_HOST_ADDRESS": f"{address[0]}:{address[1]}",
            "VATRT_HOST_NAME": name,
            "VATRT_HOST_SECRET": secret,
            **env,
        },
        stderr=subprocess.PIPE,
    )


async def test_a_host_with_a_wrong_secret_is_refused_logged_and_reaches_no_vat(
    anyio_backend, tmp_path, caplog
):
    slog = tmp_path / "slog.jsonl"
    async with vatrt.open_kernel(two_vats(tmp_path, "local"), slog=slog) as kernel:
        await kernel.run()
        address = kernel.host_listener()
        assert address is not None
        with caplog.at_level(logging.WARNING, logger="vatrt.hosts"):
            impostor = start_host(address, "h1", "0" * 64)
            stranger = start_host(address, "h9", "0" * 64)
            codes = await anyio.to_thread.run_sync(
                lambda: (impostor.wait(timeout=30), stranger.wait(timeout=30))
            )
            # a raw connection that never says hello
            stream = await anyio.connect_tcp(*address)
            await stream.send(b"GET / HTTP/1.0\r\n\r\n")
            with anyio.fail_after(15):
                try:
                    while await stream.receive():
                        pass
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass  # closed by the kernel (reset: what it sent was not all read)
            await stream.aclose()
        assert codes == (3, 3)  # hostframes.EXIT_REFUSED: its launcher gives up
        assert b"refused by the kernel: wrong secret" in impostor.stderr.read()
        assert b"unknown host name" in stranger.stderr.read()
        impostor.stderr.close()
        stranger.stderr.close()
        # the real hosts are untouched: connected once, their vats answer
        assert [(h.name, h.connections, h.connected) for h in kernel.hosts()] == [
            ("h1", 1, True),
            ("h2", 1, True),
        ]
        assert await kernel.call("a", "relay", "b", 3) == 6
        kernel.audit()
    warnings = [r.getMessage() for r in caplog.records if r.name == "vatrt.hosts"]
    assert any("'h1'" in w and "wrong secret" in w for w in warnings)
    assert any("'h9'" in w and "unknown host name" in w for w in warnings)
    records = [orjson.loads(line) for line in slog.read_bytes().splitlines()]
    refused = [(r["host"], r["why"]) for r in records if r["type"] == "host-refused"]
    assert ("h1", "wrong secret") in refused
    assert ("h9", "unknown host name") in refused
    assert len(refused) == 3


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate and key for the kernel's listener."""
    cert, key = tmp_path / "kernel.pem", tmp_path / "kernel.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=vatrt",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_hosts_can_reach_the_kernel_over_tls(anyio_backend, tmp_path, tls_files):
    cert, key = tls_files
    config = two_vats(tmp_path, "local")
    config["host_link"] = {"tls_cert": cert.name, "tls_key": key.name}
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        assert await kernel.call("a", "relay", "b", 8) == 16
        # a host without TLS never gets as far as its hello
        plain = start_host(kernel.host_listener(), "h1", "0" * 64)
        await anyio.sleep(1.5)
        plain.kill()
        await anyio.to_thread.run_sync(plain.wait)
        plain.stderr.close()
        assert [h.connections for h in kernel.hosts()] == [1, 1]
        assert await kernel.call("a", "relay", "b", 1) == 2
        kernel.audit()


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vats": {"a": {"host": "h3"}}}, "vats.a.host 'h3' is not in [hosts] (known: h1, h2)"),
        ({"hosts": {"h1": {"launcher": "ssh"}}}, "hosts.h1.launcher must be one of local, ray"),
        ({"vats": {"a": {"worker": "local"}}}, "vats.a cannot be worker = 'local' on host 'h1'"),
        ({"placement_strategy": "RANDOM"}, "placement_strategy must be one of PACK, SPREAD"),
        ({"host_link": {"tls_cert": "x.pem"}}, "host_link needs both tls_cert and tls_key"),
    ],
)
async def test_a_bad_host_config_is_refused_naming_the_key(
    anyio_backend, tmp_path, change, message
):
    config = two_vats(tmp_path, "local")
    for key, value in change.items():
        if key == "vats":
            for vat, fields in value.items():
                config["vats"][vat].update(fields)
        elif key == "hosts":
            config["hosts"].update(value)
        else:
            config[key] = value
    with pytest.raises(vatrt.ConfigError, match="invalid config") as raised:
        async with vatrt.open_kernel(config):
            pass
    assert message in str(raised.value)
    assert children_of(os.getpid()) == []


async def test_create_vat_can_put_a_vat_on_a_host_and_refuses_an_unknown_one(
    anyio_backend, tmp_path
):
    config = make_config(tmp_path, {"spawner": SPAWNER}, bootstrap="spawner")
    config["hosts"] = {"h1": {"launcher": "local"}}
    async with vatrt.open_kernel(config) as kernel:
        await kernel.run()
        refused = await kernel.call("spawner", "spawn", VAT, host="h7")
        assert "host 'h7' is not among the kernel's hosts (known: h1)" in refused["error"]
        refused = await kernel.call("spawner", "spawn", VAT, host="h1", worker="local")
        assert "not worker='local'" in refused["error"]
        assert "child" not in kernel.vat_names()
        assert await kernel.call("spawner", "spawn", VAT, host="h1") == {"ok": True}
        assert await kernel.call("spawner", "ask", "double", 4) == {"ok": 8}
        status = kernel.worker_status("child")
        assert (status.kind, status.host) == ("subprocess", "h1")
        assert status.pid in children_of(kernel.hosts()[0].pid)
        kernel.audit()


async def test_a_host_that_cannot_reach_the_kernel_fails_the_boot_naming_it(
    anyio_backend, tmp_path
):
    config = two_vats(tmp_path, "local")
    # the kernel listens on 127.0.0.1; its hosts are told to dial 127.0.0.2
    config["host_link"] = {"advertise": "127.0.0.2", "host_timeout_s": 2}
    with pytest.raises(
        vatrt.BundleError, match=r"its worker could not start: host h\d was away for more than 2 s"
    ):
        async with vatrt.open_kernel(config):
            pass
    await eventually(lambda: children_of(os.getpid()) == [], within=10)
