"""The `subprocess` worker: a vat's liveslots in a child process of its own.

One anyio task per vat (as for the local worker) owns the child's pipes: it
sends the delivery, answers the syscall frames that come back within the crank
by calling the kernel's syscall handler, and passes the crank on
(`hand_over`'s `then`) when the answer arrives. Frames: `vatrt._worker.frames`;
the child's program: `vatrt._worker.child`.

What a separate process buys: a vat that loops without yielding, exhausts its
memory, calls ``os._exit`` or crashes the interpreter hurts only itself. A
delivery past its time limit is stopped (SIGKILL) and answered `Failed`, which
undoes its crank and terminates the vat; so is one whose child dies.

The worker also keeps its incarnation's deliveries with their syscalls and
results (its own transcript): when a crank is abandoned after the child had
the delivery (the host cancelled the run), the child is ahead of the kernel, so
it is killed, and the next delivery first replays the kept ones into a fresh
child, answering their syscalls from the record.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .._protocol import Answer, Delivery, Failed, Syscall, TranscriptEntry
from ..errors import BundleError, ConfigError
from .base import NoteFn, SyscallFn, WorkerSpec, WorkerStatus
from .children import Child, ChildSource, Spares
from .frames import HEADER, MAX_FRAME, FrameError, encode, frame, split_to_kernel
from .parking import Parker
from .processes import child_command, child_environment
from .replaying import failed

_REPLAY_BATCH = 100  # transcript entries per replay frame (one exchange each)
_CHECK_TIMEOUT_S = 30.0  # loading a bundle to check it at install
# Bundles checked in a child, by hash of name and text -> why it does not load
# (None: it does). A bundle's loading depends only on its text, its name (in
# messages) and this vatrt, so the answer holds for the life of the process.
_checked: dict[str, str | None] = {}


class WorkerDied(Exception):
    """The child ended (or broke the protocol) while the kernel waited on it."""


class _Diverged(Exception):
    """A restarted child made other syscalls than the one before it."""


class _Refusal:
    """A syscall the kernel refused, as the record keeps it: raised again on replay."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _answer_recorded(result: Any) -> Any:
    if type(result) is _Refusal:
        raise RuntimeError(result.why)
    return result


#: Restarts allowed within the window before the vat is terminated (OTP-style).
DEFAULT_MAX_RESTARTS = 3
DEFAULT_RESTART_WINDOW_S = 60.0


class SubprocessWorker:
    def __init__(
        self,
        spec: WorkerSpec,
        syscall: SyscallFn,
        *,
        delivery_timeout_s: float | None = None,
        memory_mb: int | None = None,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        within_s: float = DEFAULT_RESTART_WINDOW_S,
        children: ChildSource,
        note: NoteFn | None = None,
    ) -> None:
        self._children = children
        self._note = note
        self._spec = spec
        self._syscall = syscall
        self._timeout = delivery_timeout_s
        self._memory_mb = memory_mb
        self._delivery: Delivery | None = None
        self._then: Callable[[Answer], None] | None = None
        self._answer: Answer | None = None
        self._stopped = False
        self._scope: anyio.CancelScope | None = None
        self._child: Child | None = None
        # Deliveries this incarnation's child has applied, with their syscalls, as
        # transcript entries (encoded): what a restarted child replays.
        self._record: list[str] = []
        # Why the child must be replaced (it died, or is ahead of the kernel), or None.
        self._stale: str | None = None
        self._busy = self._taken_back = False
        self._crashes: list[tuple[float, str]] = []
        self._max_restarts = max_restarts
        self._within_s = within_s
        self.restarts = 0

    # -- the Worker protocol -------------------------------------------------------

    def status(self) -> WorkerStatus:
        child = self._child
        pid = child.pid if child else 0
        return WorkerStatus("subprocess", pid, self.restarts, self._spec.host)

    async def start(self, task_group: TaskGroup) -> None:
        self._children.serve_from(task_group)
        self._vat = Parker()
        self._kernel = Parker()
        await task_group.start(self._run, name=f"vat {self._spec.name} (subprocess)")

    async def deliver(self, delivery: Delivery) -> Answer:
        if self._stopped:
            raise RuntimeError(f"vat {self._spec.name}: delivery to a stopped worker")
        self._answer = None
        self._delivery = delivery
        self._vat.unpark()
        while (answer := self._take_answer()) is None:
            await self._kernel.park()
        return answer

    def hand_over(self, delivery: Delivery, then: Callable[[Answer], None]) -> None:
        if self._stopped:
            raise RuntimeError(f"vat {self._spec.name}: delivery to a stopped worker")
        self._delivery, self._then = delivery, then
        self._vat.unpark()

    def take_back(self) -> None:
        """Withdraw the delivery handed over. If the child already has it, the
        child is ahead of the kernel (whose crank is undone): it is replaced."""
        if self._delivery is None and self._busy:
            self._stale = "its delivery was taken back"
            self._taken_back = True
            self._kill()
        self._delivery = self._then = None

    def stop(self) -> None:
        """End the vat's task; its child gets end-of-stream and exits (killed if it
        does not within `_EXIT_GRACE_S`, e.g. stuck in a loop)."""
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()

    # -- the vat's task -------------------------------------------------------------

    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                try:
                    await self._spawn()
                except WorkerDied as e:  # its host did not come (its child may)
                    raise BundleError(
                        f"vat {self._spec.name!r}: its worker could not start: {e}"
                    ) from None
                task_status.started()
                while not self._stopped:
                    delivery = self._delivery
                    if delivery is None:
                        await self._vat.park()
                        continue
                    self._delivery = None
                    then, self._then = self._then, None
                    self._busy, self._taken_back = True, False
                    try:
                        answer = await self._delivery_answer(delivery)
                    finally:
                        self._busy = False
                    if self._taken_back:  # its crank was undone while the child ran it
                        continue
                    if then is None:
                        self._answer = answer
                        self._kernel.unpark()
                    else:
                        then(answer)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._reap()

    async def _delivery_answer(self, delivery: Delivery) -> Answer:
        """Run `delivery` in the child; if the child dies, restart it (within the
        budget) and run the delivery again. The syscalls the kernel already
        handled for it are answered from what they returned then, so the kernel
        sees each once."""
        handled: list[tuple[Syscall, Any]] = []
        while True:
            seen = 0

            def handle(record: Syscall) -> Any:
                nonlocal seen
                if self._taken_back:  # the crank is gone: nothing more reaches the kernel
                    raise WorkerDied("its delivery was taken back")
                if seen < len(handled):
                    want, result = handled[seen]
                    seen += 1
                    if want != record:
                        raise _Diverged(f"expected {want!r}, got {record!r}")
                    return _answer_recorded(result)
                seen += 1
                try:
                    result = self._syscall(record)
                except Exception as e:
                    handled.append((record, _Refusal(str(e))))
                    raise
                handled.append((record, result))
                return result

            try:
                if self._stale is not None:
                    await self._restart(self._stale)
                with anyio.fail_after(self._timeout):
                    answer = await self._exchange(delivery, handle)
            except TimeoutError:
                self._kill()
                why = f"delivery time limit {self._timeout:g} s exceeded"
                self._stale = why
                self._tell("worker-limit", why=why)
                return Failed(why)
            except _Diverged as e:
                self._kill()
                why = f"the restarted worker diverged from the one that died: {e}"
                self._stale = why
                return Failed(why)
            except WorkerDied as e:
                self._kill()
                self._stale = str(e)
                if self._taken_back:  # killed for that: the answer goes nowhere
                    return Failed("taken back")
                given_up = self._crashed(str(e))
                self._tell("worker-crash", why=str(e), restarting=given_up is None)
                if given_up is not None:
                    return Failed(given_up)
                continue
            if isinstance(answer, Failed):
                answer = Failed(answer.why + self._memory_hint(answer.why))
            elif not self._taken_back and not any(type(r) is _Refusal for _, r in handled):
                # (a refused syscall is fatal to the vat: that delivery is never replayed)
                self._record.append(encode(TranscriptEntry(delivery, handled)).decode())
            return answer

    def _tell(self, kind: str, **fields: Any) -> None:
        if self._note is not None:
            self._note({"type": kind, "vatID": self._spec.vat_id, **fields})

    def _crashed(self, why: str) -> str | None:
        """Count a crash; past the restart budget, the reason to give up."""
        now = anyio.current_time()
        self._crashes = [(t, w) for t, w in self._crashes if now - t <= self._within_s]
        self._crashes.append((now, why))
        if len(self._crashes) <= self._max_restarts:
            return None
        reasons = "; ".join(dict.fromkeys(w for _, w in self._crashes))
        return (
            f"worker died {len(self._crashes)} times within {self._within_s:g} s "
            f"(restart budget {self._max_restarts}): {reasons}"
        )

    def _memory_hint(self, why: str) -> str:
        if self._memory_mb and why.startswith("MemoryError"):
            return f" (memory limit {self._memory_mb} MB)"
        return ""

    async def _exchange(self, delivery: Delivery, handle: Callable[[Syscall], Any]) -> Answer:
        """Send `delivery`, answer its syscalls with `handle`, return its answer."""
        await self._send(["deliver", delivery])
        while True:
            kind, before, last = await self._receive()
            for record in before:
                try:
                    handle(record)
                except (_Diverged, WorkerDied):
                    raise
                except Exception:
                    pass  # refused: the delivery's verdict says so; the vat did not wait
            if kind == "answer":
                answer: Answer = last
                return answer
            if kind != "syscall":
                raise WorkerDied(f"unexpected {kind!r} frame in a delivery")
            try:
                result = handle(last)
            except (_Diverged, WorkerDied):
                raise
            except Exception as e:  # refused: the vat sees it raise
                await self._send(["refused", str(e)])
                continue
            await self._send(["result", result])

    async def _restart(self, why: str) -> None:
        """A fresh child, brought to where the last one was by replaying the
        deliveries it had applied, their syscalls answered from the record."""
        await self._reap()
        await self._spawn()
        self.restarts += 1
        self._tell("worker-restart", after=why, replayed=len(self._record), restarts=self.restarts)
        for first in range(0, len(self._record), _REPLAY_BATCH):
            batch = self._record[first : first + _REPLAY_BATCH]
            divergence = await self._replay_batch(first, batch)
            if divergence is not None:
                raise _Diverged(divergence)
        self._stale = None

    async def replay_transcript(
        self, vat_name: str, entries: list[str], between_batches: Callable[[], None]
    ) -> str | None:
        """Reopening a store: the incarnation's transcript into this fresh child,
        `_REPLAY_BATCH` deliveries per frame, checked in the child. A crash on the
        way restarts the child within the budget, as for any delivery."""
        for first in range(0, len(entries), _REPLAY_BATCH):
            between_batches()
            batch = entries[first : first + _REPLAY_BATCH]
            while True:
                try:
                    if self._stale is not None:
                        await self._restart(self._stale)
                    divergence = await self._replay_batch(first, batch)
                except _Diverged as e:
                    return str(e)
                except TimeoutError:
                    self._kill()
                    self._stale = "replay past its time limit"
                    why = f"delivery time limit {self._timeout:g} s exceeded"
                    return failed(vat_name, first, f"{why} replaying")
                except WorkerDied as e:
                    self._kill()
                    self._stale = str(e)
                    given_up = self._crashed(str(e))
                    self._tell("worker-crash", why=str(e), restarting=given_up is None)
                    if given_up is not None:
                        return failed(vat_name, first, given_up)
                    continue
                break
            if divergence is not None:
                return divergence
            self._record += batch
        return None

    async def _replay_batch(self, first: int, entries: list[str]) -> str | None:
        """One replay frame: the first divergence in `entries`, or None."""
        batch = {"vat": self._spec.name, "first": first, "entries": entries}
        limit = None if self._timeout is None else self._timeout * len(entries)
        with anyio.fail_after(limit):
            await self._send(["replay", batch])
            kind, _, last = await self._receive()
        if kind != "replayed":
            raise WorkerDied(f"unexpected {kind!r} frame in a replay")
        return last  # type: ignore[no-any-return]

    # -- the child process ----------------------------------------------------------

    async def _spawn(self) -> None:
        spec = self._spec
        self._child = await self._children.take()
        module = f"vatrt_vat_{spec.vat_id}_i{spec.incarnation}"
        start = {
            "source": spec.source,
            "filename": spec.filename,
            "module": module,
            "memory_mb": self._memory_mb,
            "max_turns": spec.max_turns,
        }
        try:
            await self._send(["start", start])
            kind, _, last = await self._receive()
        except WorkerDied as e:
            raise BundleError(f"vat {spec.name!r}: its worker did not start: {e}") from None
        if kind == "unloadable":
            raise BundleError(str(last))
        if kind != "ready":
            raise BundleError(f"vat {spec.name!r}: its worker sent {kind!r} at start")

    async def _send(self, message: Any) -> None:
        assert self._child is not None
        try:
            await self._child.send(frame(encode(message)))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as e:
            raise WorkerDied(self._exit_status() or str(e) or type(e).__name__) from None

    async def _receive(self) -> tuple[str, list[Syscall], Any]:
        assert self._child is not None
        receiver = self._child.receiver
        try:
            header = await receiver.receive_exactly(HEADER.size)
            (size,) = HEADER.unpack(header)
            if size > MAX_FRAME:
                raise WorkerDied(f"a frame of {size} bytes")
            payload = await receiver.receive_exactly(size)
            return split_to_kernel(payload)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError):
            raise WorkerDied(await self._wait_exit_status()) from None
        except FrameError as e:
            raise WorkerDied(str(e)) from None

    def _exit_status(self) -> str:
        return "" if self._child is None else self._child.exit_status()

    async def _wait_exit_status(self) -> str:
        if self._child is not None:
            with anyio.move_on_after(1):
                await self._child.wait()
        return self._exit_status() or "its output ended"

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()

    async def _reap(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            await child.end()

    def _take_answer(self) -> Answer | None:
        answer, self._answer = self._answer, None
        return answer


__all__ = ["SubprocessWorker", "WorkerDied"]


class SubprocessWorkerFactory:
    """The `subprocess` kind: each vat's liveslots in a child process."""

    def validate_bundle(self, source: str, filename: str) -> None:
        """Load the bundle in a throwaway child, never in the kernel's process,
        so what could not start is refused at install as with local workers.

        Blocking (installs are rare, and each bundle ID is checked once): it
        runs inside a crank, which cannot await."""
        key = hashlib.sha256(f"{filename}\0{source}".encode()).hexdigest()
        if key in _checked:
            why = _checked[key]
            if why is not None:
                raise BundleError(why)
            return
        try:
            self._check(source, filename)
        except BundleError as e:
            _checked[key] = str(e)
            raise
        _checked[key] = None

    def _check(self, source: str, filename: str) -> None:
        start = {"source": source, "filename": filename, "module": "vatrt_bundle_check"}
        try:
            done = subprocess.run(
                [*child_command(), "--check"],
                input=frame(encode(["start", start])),
                capture_output=True,
                env=child_environment(),
                timeout=_CHECK_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BundleError(
                f"bundle {filename} did not load within {_CHECK_TIMEOUT_S:g} s"
            ) from None
        reply = done.stdout
        if len(reply) < HEADER.size:
            why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reply"]
            raise BundleError(f"bundle {filename}: its check process failed: {why[0]}")
        kind, _, last = split_to_kernel(reply[HEADER.size :])
        if kind == "unloadable":
            raise BundleError(str(last))

    def __init__(self) -> None:
        self._spares = Spares()
        self._hosts: dict[str, ChildSource] = {}

    def on_host(self, name: str, source: ChildSource) -> None:
        """Vats whose spec names host `name` take their children from `source`."""
        self._hosts[name] = source

    def _children_for(self, spec: WorkerSpec) -> ChildSource:
        if spec.host is None:
            return self._spares
        source = self._hosts.get(spec.host)
        if source is None:
            raise ConfigError(
                f"vat {spec.name!r}: host {spec.host!r} is not among the kernel's hosts "
                f"(known: {', '.join(sorted(self._hosts)) or 'none'})"
            )
        return source

    def make(self, spec: WorkerSpec, syscall: SyscallFn, note: NoteFn) -> SubprocessWorker:
        limits, restart = spec.limits or {}, spec.restart or {}
        return SubprocessWorker(
            spec,
            syscall,
            delivery_timeout_s=limits.get("delivery_timeout_s"),
            memory_mb=limits.get("memory_mb"),
            max_restarts=restart.get("max_restarts", DEFAULT_MAX_RESTARTS),
            within_s=float(restart.get("within_s", DEFAULT_RESTART_WINDOW_S)),
            children=self._children_for(spec),
            note=note,
        )
