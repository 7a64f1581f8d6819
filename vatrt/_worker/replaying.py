"""Checking a replayed delivery against its transcript entry.

Replay (reopening a store, restarting a crashed worker) delivers each recorded
delivery again; every syscall the vat makes must be the next recorded one, and
gets the recorded result, since kernel state is already past the delivery. The
same check runs in the kernel (a local worker's replay) and in a worker child
(a subprocess worker replays a batch of deliveries per frame), so it imports
nothing of the kernel: the message a divergence gives is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._protocol import (
    Answer,
    Delivery,
    Failed,
    ProtocolError,
    Syscall,
    decode_transcript_entry,
    encode,
)


class ReplayMismatch(Exception):
    """Raised into the vat at a syscall that differs from its transcript."""


class TranscriptCheck:
    """One delivery's recorded syscalls: each live syscall must match the next one,
    and gets the recorded result."""

    __slots__ = ("divergence", "expected", "index", "position", "vat_name")

    def __init__(self, vat_name: str, position: int, syscalls: list[tuple[Syscall, Any]]) -> None:
        self.vat_name = vat_name
        self.position = position
        self.expected = syscalls
        self.index = 0
        self.divergence: str | None = None

    def next(self, vso: Syscall) -> Any:
        if self.index >= len(self.expected):
            return self._diverged(f"expected no more syscalls, got {wire(vso)}")
        want, result = self.expected[self.index]
        self.index += 1
        if vso != want:  # records compare field by field
            return self._diverged(f"expected {wire(want)}, got {wire(vso)}")
        return result

    def finish(self) -> None:
        if self.divergence is None and self.index < len(self.expected):
            self.divergence = (
                f"vat {self.vat_name!r} diverged from its transcript at delivery "
                f"{self.position}: expected {wire(self.expected[self.index][0])}, "
                "got no syscall"
            )

    def _diverged(self, detail: str) -> Any:
        if self.divergence is None:
            self.divergence = (
                f"vat {self.vat_name!r} diverged from its transcript at delivery "
                f"{self.position}: {detail}"
            )
        raise ReplayMismatch(self.divergence)


def wire(vso: Any) -> str:
    """A syscall as its transcript shows it (a divergence message quotes it)."""
    try:
        return encode(vso).decode()
    except Exception:  # not encodable (a vat handed over something odd): say what it is
        return repr(vso)


def unreadable(vat_name: str, position: int, error: Exception) -> str:
    return f"vat {vat_name!r}: its transcript's delivery {position} is unreadable: {error}"


def failed(vat_name: str, position: int, why: str) -> str:
    return f"vat {vat_name!r} failed replaying delivery {position}: {why}"


def replay_entries(
    vat_name: str,
    first: int,
    entries: list[str],
    dispatch: Callable[[Delivery], Answer],
    checking: Callable[[TranscriptCheck | None], None],
) -> str | None:
    """Deliver each encoded transcript entry (positions `first`, ...) with
    `dispatch`, its syscalls answered by the check `checking` installs; the first
    divergence, or None. A subprocess worker's child runs this for a batch of
    entries per frame: no exchange with the kernel per delivery or syscall."""
    for position, item in enumerate(entries, first):
        try:
            entry = decode_transcript_entry(item)
        except ProtocolError as e:
            return unreadable(vat_name, position, e)
        check = TranscriptCheck(vat_name, position, entry.syscalls)
        checking(check)
        try:
            answer = dispatch(entry.delivery)
        finally:
            checking(None)
        check.finish()
        if check.divergence is not None:
            return check.divergence
        if isinstance(answer, Failed):
            return failed(vat_name, position, answer.why)
    return None
