"""An in-memory `KVStore`: a dict, plus a crank buffer that makes a crank atomic."""

from __future__ import annotations

_DELETED = None


def _vat_head(key: str) -> str | None:
    """``v12`` for a key of vat v12 (``v12.c.ko40``), else None."""
    if key[0] == "v" and key[1:2].isdigit():
        return key.split(".", 1)[0]
    return None


class MemoryKVStore:
    """Committed state in `_data`; the current crank's writes in `_crank`.

    Never reopened, so it keeps no transcripts (`keeps_transcripts` is False).

    A deleted key is recorded in the crank buffer as ``None`` so that reads inside
    the crank see the deletion before it is committed. A vat's keys are also
    indexed by vat (``v12`` of ``v12.c.ko40``), so a prefix scan over one vat's
    keys costs what that vat has, not what the whole kernel has: an upgrade or a
    termination is then O(its own state), and upgrading every vat is linear in the
    number of vats. Other keys (run-queue entries, promises) come and go every
    crank and are never scanned by prefix on the crank path, so they are not
    indexed.
    """

    keeps_transcripts = False

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._data: dict[str, str] = {}
        self._by_head: dict[str, set[str]] = {}
        self._crank: dict[str, str | None] = {}
        self._in_crank = False
        for key, value in (initial or {}).items():
            self._put(key, value)

    def _put(self, key: str, value: str) -> None:
        if key not in self._data:
            head = _vat_head(key)
            if head is not None:
                self._by_head.setdefault(head, set()).add(key)
        self._data[key] = value

    def _remove(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            head = _vat_head(key)
            if head is not None:
                keys = self._by_head[head]
                keys.discard(key)
                if not keys:
                    del self._by_head[head]

    def get(self, key: str) -> str | None:
        crank = self._crank
        if key in crank:
            return crank[key]
        return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        if self._in_crank:
            self._crank[key] = value
        else:
            self._put(key, value)

    def delete(self, key: str) -> None:
        if self._in_crank:
            self._crank[key] = _DELETED
        else:
            self._remove(key)

    def items_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        data = self._data
        head = _vat_head(prefix) if "." in prefix else None
        if head is not None:
            candidates = self._by_head.get(head, ())
            merged = {k: data[k] for k in candidates if k.startswith(prefix)}
        else:
            merged = {k: v for k, v in data.items() if k.startswith(prefix)}
        for k, v in self._crank.items():
            if k.startswith(prefix):
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
        return sorted(merged.items())

    def begin_crank(self) -> None:
        if self._in_crank:
            raise RuntimeError("begin_crank inside a crank")
        self._in_crank = True

    def commit_crank(self) -> None:
        for k, v in self._crank.items():
            if v is None:
                self._remove(k)
            else:
                self._put(k, v)
        self._crank.clear()
        self._in_crank = False

    def abort_crank(self) -> None:
        self._crank.clear()
        self._in_crank = False

    def commit(self) -> None:
        if self._in_crank:
            raise RuntimeError("commit inside a crank")

    def close(self) -> None:
        pass

    # An in-memory kernel is never reopened, so it keeps no transcripts.

    def append_transcript(self, vat_id: str, incarnation: int, position: int, item: str) -> None:
        pass

    def read_transcript(self, vat_id: str, incarnation: int) -> list[str]:
        return []

    def delete_transcripts(self, vat_id: str, below_incarnation: int | None = None) -> None:
        pass
