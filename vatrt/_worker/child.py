"""The vat's side of a `subprocess` worker: the main program of the child process.

It imports liveslots and the vat's bundle, nothing of the kernel (``vatrt``'s
package namespace is lazy), reads frames from its stdin and writes frames to
its stdout (`vatrt._worker.frames`). Whatever the vat prints goes to stderr,
so it can never corrupt a frame. It exits when its stdin ends, and on Linux
asks the kernel to kill it if its parent dies first, so no child outlives its
kernel.

Run as ``python -m vatrt._worker.child``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import msgspec

from .._liveslots.bundle import BundleLoadError, load_build_root_object
from .._liveslots.durable import make_baggage
from .._liveslots.liveslots import LiveSlots
from .._protocol import Syscall, decode_delivery
from .frames import NO_RESULT, FrameError, read_frame, split_to_worker, write_frame
from .processes import die_with_parent
from .replaying import TranscriptCheck, replay_entries


class SyscallRefused(Exception):
    """The kernel refused a syscall of this vat (its delivery is then fatal)."""


def _limit_memory(memory_mb: int | None) -> None:
    """An allocation past the limit is then a MemoryError (RLIMIT_AS)."""
    if memory_mb is None:
        return
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def serve(fd_in: int, fd_out: int, *, check_only: bool = False) -> int:
    """Load the vat named by the first frame, then run its deliveries until the
    stream ends; the process's exit status. `check_only`: answer whether the
    bundle loads, and exit."""
    first = read_frame(fd_in)
    if first is None:
        return 0
    kind, raw = split_to_worker(first)
    if kind != "start":
        raise FrameError(f"expected a start frame, not {kind!r}")
    spec = msgspec.json.decode(raw)
    try:
        build = load_build_root_object(spec["source"], spec["filename"], spec["module"])
    except BundleLoadError as e:
        write_frame(fd_out, ["unloadable", [], str(e)])
        return 0
    if check_only:
        write_frame(fd_out, ["ready", [], None])
        return 0
    _limit_memory(spec.get("memory_mb"))
    pending: list[Syscall] = []
    replaying: list[TranscriptCheck | None] = [None]  # set while a replay batch runs

    def syscall(record: Syscall) -> Any:
        check = replaying[0]
        if check is not None:
            return check.next(record)
        if type(record) in NO_RESULT:
            pending.append(record)
            return None
        write_frame(fd_out, ["syscall", pending, record])
        pending.clear()
        reply = read_frame(fd_in)
        if reply is None:
            os._exit(0)  # the kernel is gone
        kind, raw = split_to_worker(reply)
        if kind == "result":
            return msgspec.json.decode(raw)
        if kind == "refused":
            raise SyscallRefused(msgspec.json.decode(raw))
        raise FrameError(f"expected a syscall's result, not {kind!r}")

    turns = {} if spec.get("max_turns") is None else {"max_turns": spec["max_turns"]}
    liveslots = LiveSlots(syscall, build, make_baggage, **turns)
    write_frame(fd_out, ["ready", [], None])

    def checking(check: TranscriptCheck | None) -> None:
        replaying[0] = check

    while (payload := read_frame(fd_in)) is not None:
        kind, raw = split_to_worker(payload)
        if kind == "replay":
            batch = _replay_batch.decode(raw)
            divergence = replay_entries(
                batch.vat, batch.first, batch.entries, liveslots.dispatch, checking
            )
            write_frame(fd_out, ["replayed", [], divergence])
            continue
        if kind != "deliver":
            raise FrameError(f"expected a delivery, not {kind!r}")
        answer = liveslots.dispatch(decode_delivery(raw))
        write_frame(fd_out, ["answer", pending, answer])
        pending.clear()
    return 0


class _ReplayBatch(msgspec.Struct, frozen=True):
    vat: str
    first: int
    entries: list[str]


_replay_batch = msgspec.json.Decoder(_ReplayBatch)


def main() -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the kernel's to handle
    # Frames own the real stdout; what the vat prints goes to stderr.
    fd_in, fd_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    code = serve(fd_in, fd_out, check_only="--check" in sys.argv[1:])
    # Nothing to tear down that matters: the vat's state is the kernel's. Skipping
    # the interpreter's shutdown makes a stopped worker exit in ~1 ms, not ~100.
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
