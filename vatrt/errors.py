"""The errors a host sees. Every one is a `VatrtError`, so a host can catch them all."""

from __future__ import annotations

from typing import Any


class VatrtError(Exception):
    """Base class of every error vatrt raises to a host."""


class ConfigError(VatrtError):
    """The kernel config is malformed: the message names the key and the file."""


class BundleError(VatrtError):
    """A bundle could not be loaded: the message names the file and the Python error."""


class VatTerminated(VatrtError):
    """The vat a host addressed is gone (terminated, or never existed)."""


class KernelPanic(VatrtError):
    """The kernel cannot go on: a critical vat died, or kernel state is inconsistent."""


class KernelClosed(VatrtError):
    """The kernel's `open_kernel` context has exited: the message names the method
    called. Nothing was queued or run; the store (if any) holds what was committed."""


class UpgradeFailed(VatrtError):
    """A vat upgrade failed and was rolled back completely."""


class VatStartFailed(VatrtError):
    """A first boot's static vat could not start (its ``build_root_object`` raised,
    or returned no Far object): `open_kernel` raises it, and the store keeps
    nothing of the boot. `.vat_name` is the vat, `.cause` what went wrong."""

    def __init__(self, vat_name: str, cause: str) -> None:
        self.vat_name = vat_name
        self.cause = cause
        super().__init__(f"static vat {vat_name!r} failed to start: {cause}")

    def __reduce__(self) -> tuple[type[VatStartFailed], tuple[str, str]]:
        return (type(self), (self.vat_name, self.cause))


class ReplayDivergence(VatrtError):
    """Reopening a store, a vat's replay made other syscalls than its transcript says."""


class StoreError(VatrtError):
    """The kernel's store file cannot be used: not a database, corrupt, read-only,
    full, or open in another process. `.path` is the file, `.cause` what is wrong
    (SQLite's own words, or the lock's)."""

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"store {path!r}: {cause}")

    def __reduce__(self) -> tuple[type[StoreError], tuple[str, str]]:
        return (type(self), (self.path, self.cause))


class AuditError(VatrtError):
    """`kernel.audit()` found refcounts that do not match a recount; lists each one."""

    def __init__(self, mismatches: list[str]) -> None:
        self.mismatches = mismatches
        super().__init__(
            f"{len(mismatches)} refcount mismatch(es):\n" + "\n".join(f"  {m}" for m in mismatches)
        )


class RejectedError(VatrtError):
    """A promise the host waited on was rejected; `.reason` holds the unmarshalled reason."""

    def __init__(self, reason: Any) -> None:
        self.reason = reason
        name = getattr(reason, "name", None)
        shown = f"{name}: {reason}" if isinstance(reason, Exception) and name else repr(reason)
        super().__init__(f"rejected: {shown}")

    @property
    def traceback(self) -> str | None:
        """Where in the rejecting vat's bundle the error was raised (files and lines,
        as Python prints a traceback); None when no bundle code raised it."""
        tb = getattr(self.reason, "traceback", None)
        return tb if isinstance(tb, str) else None
