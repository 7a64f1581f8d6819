"""The kernel's end of its vat hosts: a listener, one link per host, and the
children that vats on a host are given.

A vat on host H is a subprocess worker whose `Child` is a `RemoteChild`: a
channel of H's link (`vatrt._worker.hostframes`). Everything above the
`Child` interface — frames, limits, the restart budget, replay — is the
subprocess worker's, unchanged. What is new is only what can fail here: a
link can drop (every child on it ends, "host H lost: ..."), and a host can be
away; a vat's worker then waits for its launcher to bring the host back
(`HostSource.take`, up to `host_timeout_s`) before replaying onto it.

A host proves it holds the secret this kernel made for it (an HMAC of a fresh
nonce, `hostframes.proof`); a connection that does not is refused, closed and
written to the slog (``host-refused``) and the log. Nothing reaches a child
before that.
"""

from __future__ import annotations

import logging
import math
import secrets
import ssl
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import orjson
from anyio.abc import ByteStream, SocketAttribute, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .base import HostStatus
from .hostframes import (
    CHALLENGE,
    DATA,
    END,
    EXITED,
    HELLO,
    KILL,
    LINK_HEADER,
    MAX_LINK_FRAME,
    NONCE_BYTES,
    OPEN,
    REFUSED,
    STARTED,
    WELCOME,
    link_frame,
    proof_holds,
)

log = logging.getLogger("vatrt.hosts")

_HANDSHAKE_TIMEOUT_S = 10.0
_OPEN_TIMEOUT_S = 30.0  # a host starts a child (an interpreter) within this
_EXIT_GRACE_S = 0.5
DEFAULT_HOST_TIMEOUT_S = 120.0  # a host away longer than this is a crash of each vat on it


class HostAway(Exception):
    """The host did not come back in time (a worker crash, for the restart budget)."""


@attrs.frozen
class HostPlan:
    """What a launcher needs to start one host and have it find its kernel."""

    name: str
    address: tuple[str, int]
    secret: str = attrs.field(repr=False)
    resources: dict[str, Any] = attrs.field(factory=dict)
    tls_ca: str | None = None


class RemoteChild:
    """A worker child on a vat host: one channel of the host's link."""

    def __init__(self, link: HostLink, channel: int) -> None:
        self._link = link
        self.channel = channel
        self._pid = 0
        self._feed: MemoryObjectSendStream[bytes]
        self._feed, out = anyio.create_memory_object_stream[bytes](math.inf)
        self.receiver = BufferedByteReceiveStream(out)
        self._out: MemoryObjectReceiveStream[bytes] = out
        self.started = anyio.Event()
        self._exited = anyio.Event()
        self._status = ""

    @property
    def pid(self) -> int:
        return self._pid

    async def send(self, data: bytes) -> None:
        if self._exited.is_set():
            raise anyio.BrokenResourceError(self._status)
        self._link.put(self.channel, DATA, data)

    def kill(self) -> None:
        if not self._exited.is_set():
            self._link.put_if_up(self.channel, KILL)

    async def wait(self) -> None:
        await self._exited.wait()

    def exit_status(self) -> str:
        return self._status

    async def end(self) -> None:
        if not self._exited.is_set():
            self._link.put_if_up(self.channel, END)
            with anyio.move_on_after(_EXIT_GRACE_S):
                await self._exited.wait()
            if not self._exited.is_set():
                self.kill()
                with anyio.move_on_after(_EXIT_GRACE_S * 4):
                    await self._exited.wait()
        self._link.forget(self.channel)
        self._feed.close()
        self._out.close()

    # -- from the link ------------------------------------------------------------

    def _started(self, pid: int) -> None:
        self._pid = pid
        self.started.set()

    def _data(self, data: bytes) -> None:
        try:
            self._feed.send_nowait(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def _stdout_ended(self) -> None:
        self._feed.close()

    def _ended(self, how: str) -> None:
        if not self._exited.is_set():
            self._status = how
            self._exited.set()
        self._feed.close()
        self.started.set()  # a child that never started wakes its opener


class HostLink:
    """One connection to a host: frames out through a queue (so `kill` can be
    called from anywhere), frames in dispatched to their children."""

    def __init__(self, name: str, stream: ByteStream, hello: dict[str, Any]) -> None:
        self.name = name
        self.pid = int(hello.get("pid") or 0)
        self.node = str(hello.get("node") or "")
        self._stream = stream
        self._children: dict[int, RemoteChild] = {}
        self._next_channel = 1
        self._queue_in: MemoryObjectSendStream[bytes]
        self._queue_in, self._queue_out = anyio.create_memory_object_stream[bytes](math.inf)
        self.lost = anyio.Event()
        self.why_lost = ""

    def put(self, channel: int, op: int, payload: bytes = b"") -> None:
        try:
            self._queue_in.send_nowait(link_frame(channel, op, payload))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise anyio.BrokenResourceError(f"host {self.name} lost: {self.why_lost}") from None

    def put_if_up(self, channel: int, op: int) -> None:
        """A KILL or END: on a lost link, its children are gone already."""
        try:
            self.put(channel, op)
        except anyio.BrokenResourceError:
            pass

    def forget(self, channel: int) -> None:
        self._children.pop(channel, None)

    async def open_child(self) -> RemoteChild:
        """A new child on this host, started (its pid known)."""
        channel, self._next_channel = self._next_channel, self._next_channel + 1
        child = RemoteChild(self, channel)
        self._children[channel] = child
        self.put(channel, OPEN)
        with anyio.move_on_after(_OPEN_TIMEOUT_S):
            await child.started.wait()
        if not child.pid:
            await child.end()
            raise HostAway(
                f"host {self.name} did not start a worker child: "
                f"{child.exit_status() or f'no answer in {_OPEN_TIMEOUT_S:g} s'}"
            )
        return child

    async def serve(self, receiver: BufferedByteReceiveStream) -> None:
        """Until the connection ends: write the queue, dispatch what comes in."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write)
                await self._read(receiver)
                tg.cancel_scope.cancel()
        finally:
            self.close(self.why_lost or "its connection closed")

    def close(self, why: str) -> None:
        if self.lost.is_set():
            return
        self.why_lost = why
        self.lost.set()
        self._queue_in.close()
        for child in list(self._children.values()):
            child._ended(f"host {self.name} lost: {why}")
        self._children.clear()

    async def _write(self) -> None:
        try:
            async for data in self._queue_out:
                await self._stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as e:
            self.why_lost = self.why_lost or str(e) or type(e).__name__
        finally:
            self._queue_out.close()
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self._stream)

    async def _read(self, receiver: BufferedByteReceiveStream) -> None:
        try:
            while True:
                channel, op, size = LINK_HEADER.unpack(
                    await receiver.receive_exactly(LINK_HEADER.size)
                )
                if size > MAX_LINK_FRAME:
                    self.why_lost = f"a link frame of {size} bytes"
                    return
                payload = await receiver.receive_exactly(size) if size else b""
                child = self._children.get(channel)
                if child is None:
                    continue
                if op == DATA:
                    child._data(payload)
                elif op == STARTED:
                    child._started(int(payload))
                elif op == END:
                    child._stdout_ended()
                elif op == EXITED:
                    child._ended(payload.decode(errors="replace"))
        except (anyio.EndOfStream, anyio.IncompleteRead):
            self.why_lost = self.why_lost or "its connection closed"
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as e:
            self.why_lost = self.why_lost or str(e) or type(e).__name__


class HostHub:
    """The kernel's listener for its hosts, and the links they hold.

    One per kernel, started in the kernel's task group when the first vat on a
    host starts. Each host has a secret of its own, made here and given only
    to its launcher."""

    def __init__(
        self,
        launchers: dict[str, tuple[str, Any, dict[str, Any]]],
        *,
        listen: str = "127.0.0.1",
        advertise: str | None = None,
        tls: ssl.SSLContext | None = None,
        tls_ca: str | None = None,
        host_timeout_s: float = DEFAULT_HOST_TIMEOUT_S,
        note: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        # name -> (launcher kind, launcher, resources)
        self._launchers = launchers
        self._listen = listen
        self._advertise = advertise
        self._tls = tls
        self._tls_ca = tls_ca
        self.host_timeout_s = host_timeout_s
        self._secrets = {name: secrets.token_hex(32) for name in launchers}
        self._links: dict[str, HostLink] = {}
        self._connections = dict.fromkeys(launchers, 0)
        self._changed = anyio.Event()
        self._failed: dict[str, str] = {}  # host -> why its launcher gave up
        self._started = False
        self._listening = anyio.Event()
        self.address: tuple[str, int] | None = None
        self.note = note or (lambda record: None)

    @property
    def names(self) -> list[str]:
        return sorted(self._launchers)

    def serve_from(self, task_group: TaskGroup) -> None:
        if not self._started:
            self._started = True
            task_group.start_soon(self._serve, task_group, name="vatrt host hub")

    async def _serve(self, task_group: TaskGroup) -> None:
        listener = await anyio.create_tcp_listener(local_host=self._listen, local_port=0)
        port = listener.extra(SocketAttribute.local_port)
        self.address = (self._advertise or self._listen, port)
        self._listening.set()
        for name, (_, launcher, resources) in sorted(self._launchers.items()):
            plan = HostPlan(name, self.address, self._secrets[name], resources, self._tls_ca)
            task_group.start_soon(self._launch, launcher, plan, name=f"vatrt host {name} launcher")
        async with listener:
            await listener.serve(self._handle, task_group)

    async def _launch(self, launcher: Any, plan: HostPlan) -> None:
        """A launcher that fails (Ray unreachable, no interpreter) fails its
        host's vats with its reason; it never takes the kernel down."""
        try:
            await launcher.keep_running(plan)
        except Exception as e:
            why = f"its launcher failed: {type(e).__name__}: {e}"
            log.error("vat host %s: %s", plan.name, why)
            self.note({"type": "host-launcher-failed", "host": plan.name, "why": why})
            self._failed[plan.name] = why
            self._wake()

    async def _handle(self, stream: ByteStream) -> None:
        """One connection: whatever its peer does, it ends here (a stranger's
        bytes never reach the kernel's task group as an error)."""
        peer = _peer(stream)
        try:
            await self._serve_connection(stream, peer)
        except Exception as e:  # logged; the kernel goes on
            log.warning("vat host connection from %s ended: %r", peer, e)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(stream)

    async def _serve_connection(self, stream: ByteStream, peer: str) -> None:
        if self._tls is not None:
            from anyio.streams.tls import TLSStream

            try:
                with anyio.fail_after(_HANDSHAKE_TIMEOUT_S):
                    stream = await TLSStream.wrap(stream, server_side=True, ssl_context=self._tls)
            except (
                TimeoutError, ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream
            ) as e:  # fmt: skip
                self._refuse_note(peer, None, f"TLS handshake failed: {e!r}")
                return
        receiver = BufferedByteReceiveStream(stream)
        hello = await self._handshake(stream, receiver, peer)
        if hello is None:
            return
        name = hello["name"]
        link = HostLink(name, stream, hello)
        old = self._links.get(name)
        if old is not None:
            old.close("the host connected again")
        self._links[name] = link
        self._connections[name] += 1
        self.note({"type": "host-connect", "host": name, "pid": link.pid, "node": link.node})
        self._wake()
        await link.serve(receiver)
        if self._links.get(name) is link:
            del self._links[name]
        self.note({"type": "host-lost", "host": name, "why": link.why_lost})
        self._wake()

    async def _handshake(
        self, stream: ByteStream, receiver: BufferedByteReceiveStream, peer: str
    ) -> dict[str, Any] | None:
        nonce = secrets.token_bytes(NONCE_BYTES)
        hello: Any = None
        try:
            with anyio.fail_after(_HANDSHAKE_TIMEOUT_S):
                await stream.send(link_frame(0, CHALLENGE, nonce))
                channel, op, size = LINK_HEADER.unpack(
                    await receiver.receive_exactly(LINK_HEADER.size)
                )
                if (channel, op) != (0, HELLO) or size > 4096:
                    self._refuse_note(peer, None, "it did not say hello")
                    return None
                hello = orjson.loads(await receiver.receive_exactly(size))
        except (TimeoutError, orjson.JSONDecodeError, anyio.EndOfStream, anyio.IncompleteRead):
            self._refuse_note(peer, None, "no valid hello in time")
            return None
        except (anyio.BrokenResourceError, OSError):
            return None
        name = hello.get("name") if isinstance(hello, dict) else None
        secret = self._secrets.get(name) if isinstance(name, str) else None
        if secret is None or not proof_holds(secret, nonce, str(name), hello.get("mac")):
            why = "unknown host name" if secret is None else "wrong secret"
            self._refuse_note(peer, name, why)
            try:
                await stream.send(link_frame(0, REFUSED, why.encode()))
            except (anyio.BrokenResourceError, OSError):
                pass
            return None
        try:
            await stream.send(link_frame(0, WELCOME))
        except (anyio.BrokenResourceError, OSError):
            return None
        return hello  # type: ignore[no-any-return]

    def _refuse_note(self, peer: str, name: object, why: str) -> None:
        log.warning("vat host connection from %s refused (host %r): %s", peer, name, why)
        self.note({"type": "host-refused", "peer": peer, "host": name, "why": why})

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def link(self, name: str) -> HostLink:
        """The host's live link, waiting up to `host_timeout_s` for one."""
        with anyio.move_on_after(self.host_timeout_s):
            while True:
                link = self._links.get(name)
                if link is not None and not link.lost.is_set():
                    return link
                if name in self._failed:
                    raise HostAway(f"host {name}: {self._failed[name]}")
                await self._changed.wait()
        raise HostAway(f"host {name} was away for more than {self.host_timeout_s:g} s")

    def status(self) -> list[HostStatus]:
        out = []
        for name in self.names:
            link = self._links.get(name)
            kind = self._launchers[name][0]
            live = link is not None and not link.lost.is_set()
            out.append(
                HostStatus(
                    name,
                    kind,
                    live,
                    link.pid if link else 0,
                    link.node if link else "",
                    self._connections[name],
                )
            )
        return out

    def secret_of(self, name: str) -> str:
        """For launchers and tests that start a host by hand."""
        return self._secrets[name]

    async def listening(self) -> tuple[str, int]:
        await self._listening.wait()
        assert self.address is not None
        return self.address


class HostSource:
    """The `ChildSource` of the vats on one host."""

    def __init__(self, hub: HostHub, name: str) -> None:
        self._hub = hub
        self.name = name

    def serve_from(self, task_group: TaskGroup) -> None:
        self._hub.serve_from(task_group)

    async def take(self) -> RemoteChild:
        from .subprocess import WorkerDied

        try:
            link = await self._hub.link(self.name)
            return await link.open_child()
        except HostAway as e:
            raise WorkerDied(str(e)) from None


def _peer(stream: ByteStream) -> str:
    try:
        address: Any = stream.extra(SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return "?"
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address)
