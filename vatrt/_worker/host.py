"""A vat host: the process that runs vats' worker children for a kernel elsewhere.

It connects back to its kernel over TCP (`vatrt._worker.hostframes`), proves it
holds the secret the kernel made for it, then starts a `vatrt._worker.child`
for each OPEN and relays that child's pipes over the link. The kernel drives
those children exactly as it drives its own (a remote vat is a subprocess
worker reached over TCP), so limits, restarts and replay are the same.

If the link drops, the host kills its children (their vats' kernel-side tasks
restart them, by replay, once it is back) and connects again, until
`give_up_s` pass without a kernel. A refused secret ends it: retrying with
the same secret cannot help.

Plain threads and blocking sockets, no event loop: a host runs inside whatever
its launcher gives it (a process of its own, a Ray actor's thread).

Run as ``python -m vatrt._worker.host`` with ``VATRT_HOST_ADDRESS`` (host:port),
``VATRT_HOST_NAME`` and ``VATRT_HOST_SECRET`` in the environment.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from typing import Any

import orjson

from .hostframes import (
    CHALLENGE,
    DATA,
    END,
    EXIT_REFUSED,
    EXITED,
    HELLO,
    KILL,
    LINK_HEADER,
    MAX_LINK_FRAME,
    OPEN,
    REFUSED,
    STARTED,
    WELCOME,
    link_frame,
    proof,
)
from .processes import child_command, child_environment, die_with_parent

_CONNECT_TIMEOUT_S = 5.0
_HANDSHAKE_TIMEOUT_S = 10.0


class Refused(Exception):
    """The kernel refused this host's proof of its secret."""


class _Child:
    """One worker child of this host and the threads that relay its pipes."""

    def __init__(self, channel: int, send: Any) -> None:
        self.channel = channel
        self._send = send
        self.process = subprocess.Popen(
            child_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_environment(),
            close_fds=True,
            start_new_session=True,  # a terminal's Ctrl-C is the kernel's, not theirs
        )
        self._inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=self._write, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def feed(self, data: bytes | None) -> None:
        """Bytes for its stdin, in order; None closes it (end-of-stream)."""
        self._inbox.put(data)

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (data := self._inbox.get()) is not None:
                stdin.write(data)
                stdin.flush()
        except OSError:
            pass  # it died: its stdout ends and EXITED says how
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        try:
            while chunk := os.read(fd, 1 << 16):
                self._send(self.channel, DATA, chunk)
            self._send(self.channel, END)
        except OSError:
            pass  # the link is gone; so is the session
        code = self.process.wait()
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        try:
            self._send(self.channel, EXITED, how.encode())
        except OSError:
            pass


class _Session:
    """One connection to the kernel, from handshake to loss."""

    def __init__(self, sock: socket.socket, name: str, secret: str, node: str) -> None:
        self._sock = sock
        self._name, self._secret, self._node = name, secret, node
        self._lock = threading.Lock()
        self._children: dict[int, _Child] = {}

    def send(self, channel: int, op: int, payload: bytes = b"") -> None:
        data = link_frame(channel, op, payload)
        with self._lock:
            self._sock.sendall(data)

    def _read_exactly(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            chunk = self._sock.recv(min(left, 1 << 20))
            if not chunk:
                raise EOFError("the kernel closed the link")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _read_frame(self) -> tuple[int, int, bytes]:
        channel, op, size = LINK_HEADER.unpack(self._read_exactly(LINK_HEADER.size))
        if size > MAX_LINK_FRAME:
            raise EOFError(f"a link frame of {size} bytes")
        return channel, op, self._read_exactly(size)

    def run(self) -> None:
        """Serve until the link is lost (returns) or the secret is refused (raises)."""
        try:
            self._sock.settimeout(_HANDSHAKE_TIMEOUT_S)
            self._handshake()
            self._sock.settimeout(None)
            while True:
                channel, op, payload = self._read_frame()
                self._handle(channel, op, payload)
        except (EOFError, OSError):
            return
        finally:
            for child in self._children.values():
                child.kill()
                child.feed(None)
            for child in self._children.values():
                child.process.wait()
            self._children.clear()

    def _handshake(self) -> None:
        channel, op, nonce = self._read_frame()
        if (channel, op) != (0, CHALLENGE):
            raise EOFError("the kernel did not open with a challenge")
        hello = {
            "name": self._name,
            "pid": os.getpid(),
            "node": self._node,
            "mac": proof(self._secret, nonce, self._name),
        }
        self.send(0, HELLO, orjson.dumps(hello))
        channel, op, payload = self._read_frame()
        if op == REFUSED:
            raise Refused(payload.decode(errors="replace"))
        if (channel, op) != (0, WELCOME):
            raise EOFError("the kernel did not answer the hello")

    def _handle(self, channel: int, op: int, payload: bytes) -> None:
        if op == OPEN:
            try:
                child = _Child(channel, self.send)
            except OSError as e:
                self.send(channel, EXITED, f"could not start: {e}".encode())
                return
            self._children[channel] = child
            self.send(channel, STARTED, str(child.process.pid).encode())
            return
        child_or_none = self._children.get(channel)
        if child_or_none is None:
            return  # a child already gone: its EXITED is on the way
        if op == DATA:
            child_or_none.feed(payload)
        elif op == END:
            child_or_none.feed(None)
            del self._children[channel]
        elif op == KILL:
            child_or_none.kill()


def serve_host(
    address: tuple[str, int],
    name: str,
    secret: str,
    *,
    node: str = "",
    give_up_s: float = 30.0,
    tls: ssl.SSLContext | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Connect to the kernel at `address` and serve it, reconnecting after a lost
    link, until `give_up_s` pass without one (exit status 1), the secret is
    refused (`EXIT_REFUSED`) or `stop` is set (0)."""
    stop = stop or threading.Event()
    last_served, delay = time.monotonic(), 0.05
    while not stop.is_set():
        try:
            sock = socket.create_connection(address, timeout=_CONNECT_TIMEOUT_S)
        except OSError as e:
            if time.monotonic() - last_served > give_up_s:
                print(f"vat host {name}: no kernel at {address} ({e})", file=sys.stderr)
                return 1
            stop.wait(delay)
            delay = min(delay * 2, 1.0)
            continue
        delay = 0.05
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=address[0])
            _Session(sock, name, secret, node).run()
        except Refused as e:
            print(f"vat host {name}: refused by the kernel: {e}", file=sys.stderr)
            return EXIT_REFUSED
        except (OSError, ssl.SSLError) as e:
            print(f"vat host {name}: {e}", file=sys.stderr)
        finally:
            sock.close()
        last_served = time.monotonic()
    return 0


def tls_client_context(ca_file: str) -> ssl.SSLContext:
    """A context that trusts only the kernel's certificate (or its CA)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.check_hostname = False  # the kernel's address is often an IP; the CA pins it
    return context


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the kernel's to handle
    host, _, port = os.environ["VATRT_HOST_ADDRESS"].rpartition(":")
    name = os.environ["VATRT_HOST_NAME"]
    secret = os.environ.pop("VATRT_HOST_SECRET")
    if os.environ.get("VATRT_HOST_DIE_WITH_PARENT") == "1":
        die_with_parent()
    ca = os.environ.get("VATRT_HOST_TLS_CA")
    tls = tls_client_context(ca) if ca else None
    node = os.environ.get("VATRT_HOST_NODE", socket.gethostname())
    sys.exit(serve_host((host, int(port)), name, secret, node=node, tls=tls))


if __name__ == "__main__":
    main()
