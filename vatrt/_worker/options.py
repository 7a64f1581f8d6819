"""A vat's worker options (kind, limits), checked where they are given: the
config and ``create_vat``. No worker is imported here, so the config can check
them cheaply."""

from __future__ import annotations

from typing import Any, Final

from ..errors import ConfigError

KINDS: Final = ("local", "subprocess")
LAUNCHERS: Final = ("local", "ray")  # what starts a vat host (`vatrt._worker.launchers`)

#: The kind a kernel uses when neither `open_kernel(worker=...)` nor the config's
#: ``default_worker`` says: "local", unless `vatrt.testing.default_worker` set it
#: (to run a whole test suite on another kind).
fallback_worker = "local"
LIMIT_KEYS: Final = frozenset({"delivery_timeout_s", "memory_mb"})


RESTART_KEYS: Final = frozenset({"max_restarts", "within_s"})


def check_worker_options(kind: Any, limits: Any, where: str, restart: Any = None) -> None:
    """Refuse a kind that does not exist, and limits or a restart budget of the
    wrong shape."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"{where}: worker must be one of {', '.join(KINDS)}, not {kind!r}")
    if restart is not None:
        _check_restart(restart, where)
    if limits is None:
        return
    if not isinstance(limits, dict):
        raise ConfigError(f"{where}: limits must be a table, not {type(limits).__name__}")
    unknown = sorted(set(limits) - LIMIT_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown limit(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(LIMIT_KEYS))})"
        )
    timeout = limits.get("delivery_timeout_s")
    if timeout is not None and (
        type(timeout) not in (int, float) or not timeout > 0 or timeout != timeout
    ):
        raise ConfigError(f"{where}: delivery_timeout_s must be a number > 0, not {timeout!r}")
    memory = limits.get("memory_mb")
    if memory is not None and (type(memory) is not int or memory < 16):
        raise ConfigError(f"{where}: memory_mb must be an int >= 16, not {memory!r}")


def _check_restart(restart: Any, where: str) -> None:
    if not isinstance(restart, dict):
        raise ConfigError(f"{where}: restart must be a table, not {type(restart).__name__}")
    unknown = sorted(set(restart) - RESTART_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown restart key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(RESTART_KEYS))})"
        )
    count = restart.get("max_restarts")
    if count is not None and (type(count) is not int or count < 0):
        raise ConfigError(f"{where}: restart.max_restarts must be an int >= 0, not {count!r}")
    window = restart.get("within_s")
    if window is not None and (type(window) not in (int, float) or not window > 0):
        raise ConfigError(f"{where}: restart.within_s must be a number > 0, not {window!r}")
