"""An in-memory `KVStore`: a dict, plus an undo log that makes a crank atomic."""

from __future__ import annotations

from collections.abc import Callable

_ABSENT = None
# Noted vat keys the index may lag behind by before it is brought up to date.
_REINDEX_AFTER = 50_000


def _vat_head(key: str) -> str | None:
    """``v12`` for a key of vat v12 (``v12.c.ko40``), else None."""
    if key[0] == "v" and key[1:2].isdigit():
        return key.split(".", 1)[0]
    return None


class MemoryKVStore:
    """All state in one dict, written in place; a crank keeps an undo log.

    The first time a crank touches a key, its old value (or its absence) goes in
    the undo log. Committing a crank forgets the log; aborting one puts every
    touched key back. Reads are a single dictionary lookup, and a crank that
    commits (nearly all of them) costs nothing more.

    A vat's keys are also indexed by vat (``v12`` of ``v12.c.ko40``), so a prefix
    scan over one vat's keys costs what that vat has, not what the whole kernel
    has: an upgrade or a termination is then O(its own state), and upgrading every
    vat is linear in the number of vats. Other keys (run-queue entries, promises)
    come and go every crank and are never scanned by prefix on the crank path.

    The index is brought up to date lazily: a write that creates or deletes a vat
    key only notes the key, and the notes are folded in before a scan (or at the
    end of a crank once they pile up). Most c-list entries (a promise's) are born
    and gone between two scans and never touch the index; the crank path pays one
    list append.

    Never reopened, so by default it keeps no transcripts (`keeps_transcripts`
    and `records_transcripts` are False). A kernel with a vat warehouse asks it to
    (``records_transcripts=True``): an evicted vat comes back by replaying its
    transcript, which then lives here, per vat, outside the keys (a kernel's
    `dump` is the same whether it keeps them or not). A crank's appends and
    deletes take effect when it commits.
    """

    keeps_transcripts = False
    records_transcripts = False
    location = "<memory>"
    #: A read is the dict's own ``get``: no Python frame on the kernel's hottest call.
    get: Callable[[str], str | None]

    def __init__(
        self, initial: dict[str, str] | None = None, *, records_transcripts: bool = False
    ) -> None:
        self._data: dict[str, str] = {}
        if records_transcripts:
            self.records_transcripts = True
        # vat -> (incarnation, its entries), and what the crank in progress did to them.
        self._transcripts: dict[str, tuple[int, list[str]]] = {}
        # (vat, incarnation, entry) appended, or (vat, below_incarnation, None) deleted.
        self._crank_transcripts: list[tuple[str, int | None, str | None]] = []
        self.get = self._data.get
        # vN -> keys of vat vN, as of the last `_reindex`.
        self._by_head: dict[str, set[str]] = {}
        # Vat keys created or deleted since the index was last brought up to date.
        self._unindexed: list[str] = []
        self._undo: dict[str, str | None] = {}
        self._in_crank = False
        # Whether writes go in `_undo`: during a crank here; always in the SQLite
        # store, where the log between cranks is how host writes reach the block.
        self._logging = False
        for key, value in (initial or {}).items():
            MemoryKVStore.set(self, key, value)  # loading: not a write subclasses record

    def set(self, key: str, value: str) -> None:
        data = self._data
        old = data.get(key)
        if self._logging:
            undo = self._undo
            if key not in undo:
                undo[key] = old
        data[key] = value
        if old is None and key[0] == "v":
            self._unindexed.append(key)

    def delete(self, key: str) -> None:
        old = self._data.pop(key, None)
        if old is None:
            return
        if self._logging:
            undo = self._undo
            if key not in undo:
                undo[key] = old
        if key[0] == "v":
            self._unindexed.append(key)

    def _reindex(self) -> None:
        """Fold the noted keys into the index: present ones in, gone ones out."""
        data, by_head = self._data, self._by_head
        for key in self._unindexed:
            head = _vat_head(key)
            if head is None:
                continue
            if key in data:
                by_head.setdefault(head, set()).add(key)
            else:
                keys = by_head.get(head)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del by_head[head]
        self._unindexed = []

    def items_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        data = self._data
        head = _vat_head(prefix) if "." in prefix else None
        if head is not None:
            if self._unindexed:
                self._reindex()
            keys = self._by_head.get(head, ())
            return sorted((k, data[k]) for k in keys if k.startswith(prefix))
        return sorted((k, v) for k, v in data.items() if k.startswith(prefix))

    def begin_crank(self) -> None:
        if self._in_crank:
            raise RuntimeError("begin_crank inside a crank")
        self._in_crank = self._logging = True

    def commit_crank(self) -> None:
        self._undo = {}
        self._in_crank = self._logging = False
        if self._crank_transcripts:
            self._apply_transcript_changes()
        if len(self._unindexed) >= _REINDEX_AFTER:
            self._reindex()

    def abort_crank(self) -> None:
        self._crank_transcripts = []
        undo, self._undo = self._undo, {}
        self._in_crank = self._logging = False
        for key, old in undo.items():  # this class's own writes: unlogged, in a subclass too
            if old is _ABSENT:
                MemoryKVStore.delete(self, key)
            else:
                MemoryKVStore.set(self, key, old)

    def commit(self) -> None:
        if self._in_crank:
            raise RuntimeError("commit inside a crank")

    def close(self) -> None:
        pass

    # Transcripts, when asked for (see the class docstring): only the current
    # incarnation's are ever read, so a vat keeps one list.

    def append_transcript(self, vat_id: str, incarnation: int, position: int, item: str) -> None:
        if self.records_transcripts:
            self._crank_transcripts.append((vat_id, incarnation, item))
            if not self._in_crank:
                self._apply_transcript_changes()

    def read_transcript(self, vat_id: str, incarnation: int) -> list[str]:
        kept = self._transcripts.get(vat_id)
        items = list(kept[1]) if kept is not None and kept[0] == incarnation else []
        for v, n, item in self._crank_transcripts:
            if v == vat_id:
                if item is None:
                    items = [] if n is None or incarnation < n else items
                elif n == incarnation:
                    items.append(item)
        return items

    def transcript_length(self, vat_id: str, incarnation: int) -> int:
        kept = self._transcripts.get(vat_id)
        if not self._crank_transcripts:
            return len(kept[1]) if kept is not None and kept[0] == incarnation else 0
        return len(self.read_transcript(vat_id, incarnation))

    def delete_transcripts(self, vat_id: str, below_incarnation: int | None = None) -> None:
        if self.records_transcripts:
            self._crank_transcripts.append((vat_id, below_incarnation, None))
            if not self._in_crank:
                self._apply_transcript_changes()

    def _apply_transcript_changes(self) -> None:
        kept = self._transcripts
        for vat_id, incarnation, item in self._crank_transcripts:
            entry = kept.get(vat_id)
            if item is None:
                if entry is not None and (incarnation is None or entry[0] < incarnation):
                    del kept[vat_id]
            elif entry is None or entry[0] != incarnation:
                assert incarnation is not None
                kept[vat_id] = (incarnation, [item])
            else:
                entry[1].append(item)
        self._crank_transcripts = []
