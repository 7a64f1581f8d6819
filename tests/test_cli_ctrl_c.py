"""Ctrl-C at the command line: in a real terminal (a pty) and as a signal.

The first Ctrl-C stops `vatrt run` at the next crank boundary, commits, says how
far it got and how to resume, and exits 130; a second one stops at once (the
way out of a vat that never returns), without a traceback. Each test runs the
real `vatrt` program in a child process, on both backends.
"""

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

import vatrt

VATRT = [sys.executable, "-c", "from vatrt.cli import main; main()"]

PLAYER = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    peers = {}
    state = {"hits": 0}
    class Player:
        async def bootstrap(self, vats, devices):
            peers.update(vats)
            count = 0
            while True:
                count = await E(peers["pong"]).hit()
        def hit(self):
            state["hits"] += 1
            if state["hits"] == 200:
                print("rally under way", flush=True)
            return state["hits"]
        def hits(self):
            return state["hits"]
    return Far("Player", Player())
"""

SPINNER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Spinner:
        def bootstrap(self, vats, devices):
            print("spinning", flush=True)
            while True:
                pass
    return Far("Spinner", Spinner())
"""


@pytest.fixture(params=["asyncio", "trio"])
def backend(request):
    return request.param


def write_config(tmp_path: Path, source: str, vats: list[str]) -> Path:
    (tmp_path / "player.py").write_text(source)
    config = tmp_path / "sim.toml"
    config.write_text(
        f'bootstrap = "{vats[0]}"\n[bundles]\nplayer = "player.py"\n'
        + "".join(f'[vats.{name}]\nbundle = "player"\n' for name in vats)
    )
    return config


class Terminal:
    """A program running in a pseudo-terminal: what it shows, and keys pressed."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes the program
            os.chdir(cwd)
            os.execv(args[0], args)
        self.shown = b""
        self.status: int | None = None

    def read_until(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.shown:
            assert time.monotonic() < deadline, f"never showed {text!r}: {self.output()}"
            self._read(0.05)

    def press_ctrl_c(self) -> float:
        os.write(self.fd, b"\x03")  # the terminal turns it into SIGINT for the program
        return time.monotonic()

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError(f"did not exit: {self.output()}")
            self._read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        while self._read(0.05):
            pass
        os.close(self.fd)
        return self.status

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the program exited and closed its side
            return False
        self.shown += data
        return bool(data)

    def output(self) -> str:
        return self.shown.decode(errors="replace")


def test_a_first_ctrl_c_in_a_terminal_stops_at_a_crank_boundary_commits_and_says_how_to_resume(
    tmp_path, backend
):
    config = write_config(tmp_path, PLAYER, ["ping", "pong"])
    store = tmp_path / "sim.sqlite"
    run = [*VATRT, "run", "sim.toml", "--store", "sim.sqlite", "--backend", backend]
    terminal = Terminal(run, tmp_path)
    terminal.read_until("rally under way")
    terminal.press_ctrl_c()
    assert terminal.wait() == 130
    shown = " ".join(terminal.output().split())
    assert "interrupted: stopped at a crank boundary after" in shown
    assert "cranks this run, 1 event left on the run-queue" in shown
    assert "committed; resume with: vatrt run sim.toml --store sim.sqlite" in shown
    assert ("--store sim.sqlite --backend trio" in shown) == (backend == "trio")
    assert "Traceback" not in shown
    assert "Aborted" not in shown
    # What it committed reopens, audits and goes on from where it stopped.

    async def hits(kernel) -> int:
        kpid = kernel.queue_to_vat_root("pong", "hits")
        await kernel.run(max_cranks=20)
        return kernel.kp_resolution(kpid)

    async def reopen() -> None:
        async with vatrt.open_kernel(config, store=store) as kernel:
            kernel.audit()
            assert kernel.stats().run_queue_length == 1
            before = await hits(kernel)
            assert before >= 200
            after = await hits(kernel)
            assert after > before
            kernel.audit()

    anyio.run(reopen, backend=backend)


def test_a_ctrl_c_in_a_terminal_never_reaches_subprocess_vats_children(tmp_path, backend):
    """The terminal sends Ctrl-C to its whole foreground process group: a worker
    child still starting up died of it (a KeyboardInterrupt traceback, then
    "its worker did not start"). Children run in sessions of their own."""
    write_config(tmp_path, PLAYER, ["ping", "pong"])
    run = [*VATRT, "run", "sim.toml", "--store", "sim.sqlite", "--backend", backend]
    terminal = Terminal([*run, "--worker", "subprocess"], tmp_path)
    terminal.read_until("rally under way")
    terminal.press_ctrl_c()
    assert terminal.wait() == 130
    shown = " ".join(terminal.output().split())
    assert "committed; resume with: vatrt run sim.toml --store sim.sqlite" in shown
    assert "Traceback" not in shown
    assert "did not start" not in shown


def test_a_second_ctrl_c_stops_a_vat_that_never_returns_at_once_without_a_traceback(
    tmp_path, backend
):
    write_config(tmp_path, SPINNER, ["spin"])
    run = [*VATRT, "run", "sim.toml", "--store", "sim.sqlite", "--backend", backend]
    terminal = Terminal(run, tmp_path)
    terminal.read_until("spinning")
    terminal.press_ctrl_c()  # no crank boundary ever comes: it cannot stop there
    time.sleep(0.5)
    assert os.waitpid(terminal.pid, os.WNOHANG) == (0, 0)  # still running
    pressed = terminal.press_ctrl_c()
    assert terminal.wait() == 130
    assert time.monotonic() - pressed < 10
    shown = " ".join(terminal.output().split())
    assert "Ctrl-C again: stopped at once" in shown
    assert "Traceback" not in shown
    assert "Aborted" not in shown


def test_sigint_sent_to_vatrt_run_stops_it_at_a_crank_boundary_with_exit_130(tmp_path, backend):
    write_config(tmp_path, PLAYER, ["ping", "pong"])
    run = [*VATRT, "run", "sim.toml", "--store", "sim.sqlite", "--backend", backend]
    child = subprocess.Popen(
        run, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        while "rally under way" not in child.stdout.readline():
            assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    shown = " ".join(err.split())
    assert "interrupted: stopped at a crank boundary after" in shown
    assert "committed; resume with: vatrt run sim.toml --store sim.sqlite" in shown
    assert "Traceback" not in err


def test_sigint_to_an_in_memory_run_says_nothing_was_kept(tmp_path, backend):
    write_config(tmp_path, PLAYER, ["ping", "pong"])
    run = [*VATRT, "run", "sim.toml", "--backend", backend]
    child = subprocess.Popen(
        run, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        while "rally under way" not in child.stdout.readline():
            assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert "the kernel was in memory: nothing was kept" in " ".join(err.split())


def test_a_ctrl_c_between_two_chunks_of_a_run_stops_it_before_the_next(tmp_path, backend):
    """`vatrt run` runs in chunks of CHUNK cranks, updating its progress line in
    between: a Ctrl-C landing there stops the run as one inside a chunk does."""
    from vatrt import cli

    config = write_config(tmp_path, PLAYER, ["ping", "pong"])

    async def main() -> None:
        async with vatrt.open_kernel(config, tmp_path / "sim.sqlite") as kernel:
            chunks = []
            run = kernel.run

            async def run_then_ctrl_c(max_cranks=None, **options):
                ran = await run(max_cranks=max_cranks, **options)
                chunks.append(ran)
                signal.raise_signal(signal.SIGINT)  # after the chunk, outside kernel.run
                return ran

            kernel.run = run_then_ctrl_c
            with pytest.raises(KeyboardInterrupt, match="stopped at a crank boundary"):
                await cli._run_to_idle(kernel, "test")
            assert chunks == [cli.CHUNK]  # no second chunk began
            kernel.run = run
            kernel.audit()

    anyio.run(main, backend=backend)
