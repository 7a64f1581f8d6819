"""An in-memory `KVStore`: a dict, plus a crank buffer that makes a crank atomic."""

from __future__ import annotations

_DELETED = None


class MemoryKVStore:
    """Committed state in `_data`; the current crank's writes in `_crank`.

    A deleted key is recorded in the crank buffer as ``None`` so that reads inside
    the crank see the deletion before it is committed.
    """

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(initial or {})
        self._crank: dict[str, str | None] = {}
        self._in_crank = False

    def get(self, key: str) -> str | None:
        crank = self._crank
        if key in crank:
            return crank[key]
        return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        if self._in_crank:
            self._crank[key] = value
        else:
            self._data[key] = value

    def delete(self, key: str) -> None:
        if self._in_crank:
            self._crank[key] = _DELETED
        else:
            self._data.pop(key, None)

    def items_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        merged = {k: v for k, v in self._data.items() if k.startswith(prefix)}
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
        data = self._data
        for k, v in self._crank.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
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
