"""Read a slog into the story of a run: its vats, its cranks and who sent what.

One pass over the JSON lines (docs/slog.md lists the records). The reader keeps
per crank only what the summary and the report show (its vat, the method or
kind, its time, its sender), not the records themselves, so a slog of 100k
cranks reads in a few seconds and a few tens of MB. ``vatstore*`` syscall lines,
the bulk of most slogs, are recognized by their bytes and never parsed.

Who sent a message: a ``send`` syscall's record carries the krefs it became
(``kernel.result``, ``kernel.target``); the crank that later delivers a message
with that result promise (or, for a send with no result, the next message to
that target) is the receiving end. A ``notify`` comes from the vat whose
``resolve`` syscall settled its promise. Messages and notifies the kernel itself
queued (the bootstrap call, a host's ``kernel.call``, an upgrade's result) have
no sending vat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from ..errors import VatrtError

CONSOLE_KEPT = 1000  # lines of vats' print() output kept (all are counted)


class SlogError(VatrtError):
    """A slog that cannot be read: names the file, the line and what is wrong."""


@attrs.define(slots=True)
class Crank:
    """One crank: what it delivered to which vat, how long it took, who asked."""

    number: int
    kind: str  # the run-queue event: send, notify, startVat, upgradeVat, bringOutYourDead, ...
    start: float
    vat_id: str | None = None  # the vat it delivered to (or started, upgraded, ended)
    method: str | None = None  # for a message
    finish: float | None = None
    sender: str | None = None  # the vat whose syscall queued it; None: the kernel or a host
    sender_crank: int | None = None
    rolled_back: str | None = None
    error: str | None = None  # the delivery failed (the vat's verdict) or was rolled back
    rejected: str | None = None  # the vat rejected a promise with an error (it raised)
    delivered: bool = False  # a delivery went to the vat (a terminateVat crank has none)

    @property
    def seconds(self) -> float:
        return 0.0 if self.finish is None else max(0.0, self.finish - self.start)


@attrs.define(slots=True)
class VatInfo:
    vat_id: str
    name: str
    starts: int = 0  # workers started: incarnations, restarts after a reopen
    incarnation: int = 0
    terminated_at: int | None = None  # crank


@attrs.define(slots=True)
class Happening:
    """An upgrade, a termination, a vat start, a worker event or an error, by crank."""

    kind: str  # "upgrade", "upgrade-failed", "terminated", "created", "worker-...", "error"
    crank: int | None
    vat_id: str | None
    detail: str = ""
    traceback: str | None = None
    method: str | None = None


@attrs.define
class Run:
    """Everything `vatrt slog summary` and `report` show, read from one slog."""

    path: str
    records: int = 0
    cranks: list[Crank] = attrs.Factory(list)
    vats: dict[str, VatInfo] = attrs.Factory(dict)
    happenings: list[Happening] = attrs.Factory(list)
    console_lines: dict[str, int] = attrs.Factory(dict)  # vatID -> lines it printed
    console: list[tuple[int | None, str, str]] = attrs.Factory(list)  # the first CONSOLE_KEPT
    unknown_types: dict[str, int] = attrs.Factory(dict)
    truncated: bool = False  # the last line was cut short (a run that was killed)

    def vat_name(self, vat_id: str | None) -> str:
        if vat_id is None:
            return "kernel"
        info = self.vats.get(vat_id)
        return info.name if info is not None else vat_id

    def of_kind(self, *kinds: str) -> list[Happening]:
        return [h for h in self.happenings if h.kind in kinds]


# The syscalls the reader parses (by their kind's first bytes); the others, most
# of a slog, are counted and never parsed.
_READ_SYSCALLS = frozenset((b"send", b"reso", b"exit"))


def read_slog(path: str | Path) -> Run:
    """Read the slog at `path`; `SlogError` naming the line if it is not a slog."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as e:
        raise SlogError(f"{path}: cannot open it: {e.strerror or e}") from None
    with handle:
        return _Reader(str(path)).read(handle)


class _Reader:
    def __init__(self, path: str) -> None:
        self.run = Run(path)
        self.crank: Crank | None = None
        self.by_number: dict[int, Crank] = {}
        # kpid -> (vat, crank) of the send that will deliver with that result
        self.sent: dict[str, tuple[str, int | None]] = {}
        # target kref -> senders, oldest first, of sends with no result promise
        self.sent_only: dict[str, deque[tuple[str, int | None]]] = {}
        self.resolved: dict[str, tuple[str, int | None]] = {}  # kpid -> resolver
        self.terminate_reason = ""  # of the terminateVat crank under way

    def read(self, lines: Iterator[bytes] | Any) -> Run:
        run = self.run
        for number, line in enumerate(lines, 1):
            self._line(number, line)
        if run.records == 0:
            raise SlogError(f"{run.path}: no slog records in it (an empty file?)")
        return run

    def _line(self, number: int, line: bytes) -> None:
        if line.startswith(b'{"type":"syscall"'):
            at = line.find(b'"syscall":["', 17) + 12
            if line[at : at + 4] not in _READ_SYSCALLS:
                self.run.records += 1  # (vatstore, subscribe, GC, hooks: nothing reads them)
                return
        if not line.strip():
            return
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            if not line.endswith(b"\n"):  # only the last line can lack one
                self.run.truncated = True  # killed mid-write: the rest still reads
                return
            raise SlogError(f"{self.run.path}:{number}: not a JSON line ({e})") from None
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            raise SlogError(
                f"{self.run.path}:{number}: not a slog record (a JSON object with a "
                f"'type'): {line[:80].decode(errors='replace')!r}"
            )
        self.run.records += 1
        handler = _HANDLERS.get(record["type"])
        if handler is None:
            unknown = self.run.unknown_types
            unknown[record["type"]] = unknown.get(record["type"], 0) + 1
            return
        try:
            handler(self, record)
        except (KeyError, TypeError, IndexError, AttributeError) as e:
            raise SlogError(
                f"{self.run.path}:{number}: a {record['type']!r} record without the fields "
                f"docs/slog.md gives it ({type(e).__name__}: {e})"
            ) from None

    # -- records -------------------------------------------------------------------

    def _crank_start(self, r: dict[str, Any]) -> None:
        event = r["event"]
        crank = Crank(r["crankNum"], event["type"], r["time"])
        kind = crank.kind
        if kind == "send":
            msg = event["msg"]
            crank.method = _method(msg["methargs"])
            who = None
            if msg.get("result") is not None:
                who = self.sent.pop(msg["result"], None)
            else:
                queue = self.sent_only.get(event["target"])
                if queue:
                    who = queue.popleft()
            if who is not None:
                crank.sender, crank.sender_crank = who
        elif kind == "notify":
            who = self.resolved.get(event["kpid"])
            if who is not None:
                crank.sender, crank.sender_crank = who
        if "vatID" in event:
            crank.vat_id = event["vatID"]
        if kind == "terminateVat":
            self.terminate_reason = _describe(event.get("reason"))
        if kind == "startVat":
            self.run.happenings.append(Happening("created", crank.number, crank.vat_id))
        self.crank = crank
        self.by_number[crank.number] = crank
        self.run.cranks.append(crank)

    def _crank_finish(self, r: dict[str, Any]) -> None:
        crank = self.by_number.get(r["crankNum"])
        if crank is None:
            return
        crank.finish = r["time"]
        why = r.get("rolledBack")
        if why is not None:
            crank.rolled_back = str(why)
            if crank.kind == "upgradeVat":
                tb = _tail_traceback(crank.error) if crank.error else None
                self._happen("upgrade-failed", crank.vat_id, str(why), tb)
            elif crank.error is None:  # (a failed delivery was noted already)
                self._happen("error", crank.vat_id, f"crank rolled back: {why}")
            crank.error = crank.error or f"crank rolled back: {why}"
        self.crank = None

    def _vat_start(self, r: dict[str, Any]) -> None:
        vat_id = r["vatID"]
        info = self.run.vats.get(vat_id)
        if info is None or info.name != r["name"]:
            info = self.run.vats[vat_id] = VatInfo(vat_id, r["name"])
        info.starts += 1

    def _deliver(self, r: dict[str, Any]) -> None:
        crank = self.crank
        if crank is None:
            return  # a delivery outside a crank (a replay at reopen)
        crank.vat_id = r["vatID"]
        crank.delivered = True
        delivery = r["delivery"]
        if delivery[0] == "message" and crank.method is None:
            crank.method = _method(delivery[2]["methargs"])

    def _deliver_result(self, r: dict[str, Any]) -> None:
        result = r["result"]
        if result and result[0] == "error":
            why = str(result[1]) if len(result) > 1 else "(no reason given)"
            crank = self.crank
            if crank is not None:
                crank.error = why
                if crank.kind == "upgradeVat":
                    return  # the new incarnation did not start: a failed upgrade, below
            self._happen("error", r["vatID"], f"delivery failed: {why}", _tail_traceback(why))

    def _syscall(self, r: dict[str, Any]) -> None:
        syscall, kernel = r["syscall"], r.get("kernel")
        kind = syscall[0]
        here = (r["vatID"], self.crank.number if self.crank is not None else None)
        if kind == "send" and kernel is not None:
            if kernel.get("result") is not None:
                self.sent[kernel["result"]] = here
            else:
                self.sent_only.setdefault(kernel["target"], deque()).append(here)
        elif kind == "resolve":
            for kpid in (kernel or {}).get("kpids", ()):
                self.resolved[kpid] = here
            for _vpid, rejected, data in syscall[1]:
                if rejected:
                    self._rejection(r["vatID"], data)
        elif kind == "exit":
            self._happen("exit", r["vatID"], _describe(syscall[2]), failure=bool(syscall[1]))

    def _rejection(self, vat_id: str, data: dict[str, Any]) -> None:
        error = _find_error(data.get("body", ""))
        if error is None:
            return  # a rejection with data, not an error: the vat chose to
        name, message = error.get("name", "Error"), error.get("message", "")
        if name == "vatUpgraded" or (name == "Error" and message == "vat terminated"):
            return  # the kernel's own: counted with upgrades and terminations
        tb = error.get("traceback") or error.get("stack")
        method = self.crank.method if self.crank is not None else None
        if self.crank is not None and self.crank.rejected is None:
            self.crank.rejected = f"{name}: {message}"
        self.run.happenings.append(
            Happening(
                "error",
                self.crank.number if self.crank is not None else None,
                vat_id,
                f"{name}: {message}",
                tb if isinstance(tb, str) else None,
                method,
            )
        )

    def _vat_upgraded(self, r: dict[str, Any]) -> None:
        info = self.run.vats.get(r["vatID"])
        if info is not None:
            info.incarnation = r["incarnation"]
        self._happen("upgrade", r["vatID"], f"incarnation {r['incarnation']}")

    def _vat_terminated(self, r: dict[str, Any]) -> None:
        vat_id = r["vatID"]
        info = self.run.vats.get(vat_id)
        if info is None:
            info = self.run.vats[vat_id] = VatInfo(vat_id, r.get("name") or vat_id)
        crank = self.crank
        info.terminated_at = crank.number if crank is not None else None
        why = ""
        for h in reversed(self.run.happenings):  # its exit, or its last failure
            if (
                h.vat_id == vat_id
                and h.crank == info.terminated_at
                and h.kind
                in (
                    "exit",
                    "error",
                )
            ):
                why = h.detail
                break
        if not why and crank is not None and crank.kind == "terminateVat":
            why = self.terminate_reason
        if not why and crank is not None and crank.error:
            why = crank.error
        failure = "with failure" if r.get("failure") else "cleanly"
        self._happen("terminated", vat_id, f"{failure}{': ' + why if why else ''}")

    def _worker(self, r: dict[str, Any]) -> None:
        fields = {k: v for k, v in r.items() if k not in ("type", "vatID", "name", "time")}
        detail = ", ".join(f"{k}={v}" for k, v in fields.items())
        kind = r["type"]
        self._happen(kind, r["vatID"], detail)

    def _console(self, r: dict[str, Any]) -> None:
        run = self.run
        vat_id = r["vatID"]
        run.console_lines[vat_id] = run.console_lines.get(vat_id, 0) + 1
        if len(run.console) < CONSOLE_KEPT:
            crank = self.crank.number if self.crank is not None else None
            run.console.append((crank, vat_id, str(r["text"])))

    def _host(self, r: dict[str, Any]) -> None:
        fields = {k: v for k, v in r.items() if k not in ("type", "host", "time")}
        detail = ", ".join(f"{k}={v}" for k, v in fields.items())
        self._happen(r["type"], None, f"host {r.get('host')!r}: {detail}")

    def _vat_replayed(self, r: dict[str, Any]) -> None:
        self._happen("replayed", r["vatID"], f"{r['deliveries']} deliveries")

    def _happen(
        self,
        kind: str,
        vat_id: str | None,
        detail: str,
        traceback: str | None = None,
        *,
        failure: bool | None = None,
    ) -> None:
        crank = self.crank
        if kind == "exit":
            detail = f"{'exit with failure' if failure else 'exit'}: {detail}"
        self.run.happenings.append(
            Happening(
                kind,
                crank.number if crank is not None else None,
                vat_id,
                detail,
                traceback,
                crank.method if crank is not None else None,
            )
        )


_HANDLERS = {
    "crank-start": _Reader._crank_start,
    "crank-finish": _Reader._crank_finish,
    "vat-start": _Reader._vat_start,
    "deliver": _Reader._deliver,
    "deliver-result": _Reader._deliver_result,
    "syscall": _Reader._syscall,
    "vat-upgraded": _Reader._vat_upgraded,
    "vat-terminated": _Reader._vat_terminated,
    "vat-replayed": _Reader._vat_replayed,
    "worker-restart": _Reader._worker,
    "worker-crash": _Reader._worker,
    "worker-limit": _Reader._worker,
    "console": _Reader._console,
    "host-connect": _Reader._host,
    "host-lost": _Reader._host,
    "host-refused": _Reader._host,
}


def _method(methargs: dict[str, Any]) -> str | None:
    """The method name of a message's capdata (its body is ``[method, args]``)."""
    body = methargs.get("body", "")
    if body.startswith("#"):
        body = body[1:]
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(decoded, list) and decoded and isinstance(decoded[0], str):
        return decoded[0]
    return None


def _find_error(body: str) -> dict[str, Any] | None:
    """The first marshalled error in a capdata body, if any."""
    try:
        decoded = orjson.loads(body.removeprefix("#"))
    except orjson.JSONDecodeError:
        return None
    stack = [decoded]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("@qclass") == "error":
                return value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return None


def _describe(data: Any) -> str:
    """An exit's info or a reason, short: an error as ``Name: message``, data as JSON."""
    if not isinstance(data, dict):
        return str(data)
    error = _find_error(data.get("body", ""))
    if error is not None:
        return f"{error.get('name', 'Error')}: {error.get('message', '')}"
    body = str(data.get("body", ""))
    try:
        decoded = orjson.loads(body.removeprefix("#"))
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, str):
        body = decoded  # a plain string reason, without its JSON quotes
    return body if len(body) <= 200 else body[:197] + "..."


def _tail_traceback(why: str) -> str | None:
    """A failure reason that holds a traceback (several lines) keeps it apart."""
    return why if "Traceback" in why or "\n" in why else None
