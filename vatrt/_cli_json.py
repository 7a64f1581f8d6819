"""``vatrt run --json``: the run's outcome as one JSON object on stdout, for scripts.

Vat values are passable data, which JSON cannot hold whole: ints beyond 64 bits,
bytes, tuples, references and errors. Each becomes a small tagged record
(``{"@bigint": "..."}``, ``{"@bytes": "hex"}``, ``{"@ref": "ko12", "iface":
"Peer"}``, ``{"@error": "ValueError", "message": "..."}``) so that nothing is
silently turned into a string a script would then misread.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from ._kernel.kernel import Kernel, KernelRef
from ._kernel.upgrade import UpgradeOutcome
from ._marshal import RemoteError
from .errors import VatrtError

_INT64 = 2**63


def jsonable(value: Any) -> Any:
    """A vat value as JSON data (see the module's docstring for the records)."""
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else {"@bigint": str(value)}
    if isinstance(value, bytes):
        return {"@bytes": value.hex()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, KernelRef):
        return {"@ref": value.kref, "iface": value.iface}
    if isinstance(value, RemoteError):
        record: dict[str, Any] = {"@error": value.name, "message": str(value)}
        if value.reason is not None and not isinstance(value.reason, BaseException):
            record["reason"] = jsonable(value.reason)
        return record
    if isinstance(value, BaseException):
        return {"@error": type(value).__name__, "message": str(value)}
    return {"@repr": repr(value)}


def bootstrap_record(kernel: Kernel, *, idle: bool) -> tuple[dict[str, Any], int]:
    """The bootstrap result and the exit code `vatrt run` gives for it (as printed)."""
    kpid = kernel.bootstrap_kpid
    if kpid is None:
        return {"status": "none"}, 0
    try:
        status = kernel.kp_status(kpid)
    except VatrtError:
        return {"status": "read", "detail": "read by an earlier run"}, 0
    if status == "unresolved":
        why = "the kernel is idle" if idle else "the run stopped before the kernel was idle"
        return {"status": status, "detail": why}, 1
    value = kernel.kp_resolution(kpid)
    return {"status": status, "value": jsonable(value)}, 0 if status == "fulfilled" else 1


def upgrade_record(report: dict[str, UpgradeOutcome]) -> dict[str, Any]:
    return {name: attrs.asdict(outcome) for name, outcome in report.items()}


def dumps(record: dict[str, Any]) -> str:
    return orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()


async def run_record(
    kernel: Kernel, report: str | None, upgraded: dict[str, UpgradeOutcome] | None, *, idle: bool
) -> tuple[int, dict[str, Any]]:
    """The exit code and the record of a run's outcome (its summary is the caller's)."""
    bootstrap, code = bootstrap_record(kernel, idle=idle)
    record: dict[str, Any] = {"bootstrap": bootstrap}
    if upgraded is not None:
        record["upgrade_all"] = upgrade_record(upgraded)
    if report is not None:
        # METHOD calls the bootstrap vat's root; VAT.METHOD any vat's (a vat name may
        # hold dots, a method name may not).
        name, _, method = report.rpartition(".")
        name = name or kernel.config.bootstrap or ""
        if not name:
            raise VatrtError(f"--report {report}: no bootstrap vat in the config; say VAT.METHOD")
        value = await kernel.call(name, method)
        record["report"] = {"vat": name, "method": method, "value": jsonable(value)}
    return code, record
