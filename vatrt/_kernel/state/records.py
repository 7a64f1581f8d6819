"""The in-memory shapes of kernel state: object and promise records, GC actions."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import orjson

from ..._marshal import CapData


class ObjectRecord:
    """A kernel object: its owner (None once the owner is gone) and its counts."""

    __slots__ = ("owner", "reachable", "recognizable")

    def __init__(self, owner: str | None, reachable: int = 0, recognizable: int = 0) -> None:
        self.owner = owner
        self.reachable = reachable
        self.recognizable = recognizable

    def copy(self) -> ObjectRecord:
        return ObjectRecord(self.owner, self.reachable, self.recognizable)

    def restore(self) -> None:
        """Nothing to do: a copy shares nothing with its original."""


class PromiseRecord:
    """A kernel promise.

    Its queue only grows while the promise is unresolved (a message queued on it
    is one append, not a copy), and is replaced whole at resolution; its
    subscribers list is replaced, never changed in place. So a copy (the crank
    journal's) may share both lists: it remembers the queue's length, and
    `restore` cuts off what the aborted crank appended.
    """

    __slots__ = (
        "data",
        "decider",
        "queue",
        "queue_length",
        "refcount",
        "state",
        "subscribers",
    )

    def __init__(self, decider: str | None) -> None:
        self.state = "unresolved"
        self.decider = decider
        self.subscribers: list[str] = []
        self.queue: list[dict[str, Any]] = []
        self.data: CapData | None = None
        self.refcount = 0
        self.queue_length = 0  # in a journal copy: the queue's length when copied

    def copy(self) -> PromiseRecord:
        twin = PromiseRecord(self.decider)
        twin.state, twin.subscribers, twin.queue = self.state, self.subscribers, self.queue
        twin.data, twin.refcount = self.data, self.refcount
        twin.queue_length = len(self.queue)
        return twin

    def restore(self) -> None:
        """Put back the queue this journal copy was taken with."""
        del self.queue[self.queue_length :]

    # Stored as one key (schema 3): ``kpN.record``, a JSON object with what is not
    # a default (``state`` and ``refCount`` always). One write per change of the
    # record, not one per field changed: a block that saw a promise born,
    # resolved and still held wrote six keys for it before, and six deletes later.

    def encode(self) -> str:
        value: dict[str, Any] = {"state": self.state, "refCount": self.refcount}
        if self.decider is not None:
            value["decider"] = self.decider
        if self.subscribers:
            value["subscribers"] = self.subscribers
        if self.queue:
            value["queue"] = self.queue
        if self.data is not None:
            value["data"] = self.data
        return orjson.dumps(value).decode()

    @classmethod
    def decode(cls, text: str) -> PromiseRecord:
        value = orjson.loads(text)
        record = cls(value.get("decider"))
        record.state = value["state"]
        record.refcount = value["refCount"]
        record.subscribers = value.get("subscribers", [])
        record.queue = value.get("queue", [])
        record.data = value.get("data")
        return record


GCKind = Literal["dropExport", "retireExport", "retireImport"]


class GCAction(NamedTuple):
    """A drop or retire decided at the end of a crank, delivered before the
    run-queue (``gcActions`` in the store keeps them as ``"vN kind koN"``)."""

    vat_id: str
    kind: GCKind
    kref: str

    def encode(self) -> str:
        return f"{self.vat_id} {self.kind} {self.kref}"

    @classmethod
    def decode(cls, text: str) -> GCAction:
        vat_id, kind, kref = text.split(" ")
        return cls(vat_id, kind, kref)  # type: ignore[arg-type]
