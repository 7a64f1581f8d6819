"""Frames between the kernel and a vat in another process.

A frame is a 4-byte big-endian length and that many bytes of JSON, a list whose
first element says what it is. The records inside are `vatrt._protocol`'s, made
by its codec: the same lists transcripts keep.

kernel -> worker::

    ["start", spec]                 first frame: what to load (`WorkerSpec` fields)
    ["deliver", delivery]           run one delivery
    ["result", value]               the result of the syscall the worker waits on
    ["refused", why]                that syscall was refused (raise it in the vat)
    ["replay", {vat, first, entries}]   replay encoded transcript entries (positions
                                    first, ...), each syscall checked and answered
                                    from its entry in the child: replay is one
                                    exchange per batch, not per delivery

worker -> kernel::

    ["ready", [], null]                          answer to "start": loaded, or
    ["unloadable", [], why]                      the bundle does not load
    ["syscall", [syscall, ...], syscall]         syscalls made so far, then one
                                                 whose result the vat waits for
    ["answer", [syscall, ...], answer]           the rest of the delivery's
                                                 syscalls, then its answer
    ["replayed", [], divergence]                 a replay batch is done: the first
                                                 divergence (a message), or null
    ["console", [], text]                        the vat printed `text` (any time;
                                                 no answer; not sent while replaying)

Syscalls whose result is always None (sends, resolutions, GC, vatstore writes)
are not an exchange each: they travel with the next frame that needs one, so a
ping-pong round trip is two frames, not five. The kernel handles them in order
before the frame's last item, so what it sees is what a local worker would show.

This module imports no anyio: the worker's side reads and writes its pipes with
blocking calls (`read_frame`, `write_frame`); the kernel's side wraps anyio
streams (`vatrt._worker.subprocess`).
"""

from __future__ import annotations

import os
import struct
from typing import Any, Final

import msgspec

from .._protocol import (
    Answer,
    DropImports,
    Exit,
    Resolve,
    RetireExports,
    RetireImports,
    Send,
    Subscribe,
    Syscall,
    VatstoreDelete,
    VatstoreSet,
)

HEADER: Final = struct.Struct(">I")
MAX_FRAME: Final = 256 * 1024 * 1024  # a frame this big is a broken peer, not a message

#: Syscalls that always return None: they ride with the next frame.
NO_RESULT: Final[frozenset[type]] = frozenset(
    {
        Send,
        Subscribe,
        Resolve,
        Exit,
        DropImports,
        RetireImports,
        RetireExports,
        VatstoreSet,
        VatstoreDelete,
    }
)

encode: Final = msgspec.json.Encoder().encode


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol."""


# What each side reads: the kind, and the rest undecoded until the kind is known.
_to_worker = msgspec.json.Decoder(tuple[str, msgspec.Raw])
_to_kernel = msgspec.json.Decoder(tuple[str, list[Syscall], msgspec.Raw])
_answer = msgspec.json.Decoder(Answer)
_syscall = msgspec.json.Decoder(Syscall)


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def split_to_worker(payload: bytes) -> tuple[str, msgspec.Raw]:
    try:
        return _to_worker.decode(payload)
    except msgspec.DecodeError as e:
        raise FrameError(f"bad frame to the worker: {e}") from None


def split_to_kernel(payload: bytes) -> tuple[str, list[Syscall], Any]:
    """(kind, syscalls made before, the last item decoded for its kind)."""
    try:
        kind, before, last = _to_kernel.decode(payload)
        if kind == "answer":
            return kind, before, _answer.decode(last)
        if kind == "syscall":
            return kind, before, _syscall.decode(last)
        if kind in ("ready", "unloadable", "replayed", "console"):
            return kind, before, msgspec.json.decode(last)
    except msgspec.DecodeError as e:
        raise FrameError(f"bad frame from the worker: {e}") from None
    raise FrameError(f"unknown frame kind {kind!r} from the worker")


# -- the worker's blocking side ------------------------------------------------------


def read_exactly(fd: int, n: int) -> bytes:
    """`n` bytes from `fd`, or b"" at end of stream before the first byte."""
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            if chunks:
                raise FrameError("the stream ended inside a frame")
            return b""
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    """The next frame's payload, or None at end of stream."""
    header = read_exactly(fd, HEADER.size)
    if not header:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size} bytes is over the limit")
    payload = read_exactly(fd, size)
    if len(payload) != size:
        raise FrameError("the stream ended inside a frame")
    return payload


def write_frame(fd: int, payload: Any) -> None:
    data = frame(encode(payload))
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
