"""Opening a kernel: the store, the config, the root task group that owns vat tasks."""

from __future__ import annotations

import gc
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import attrs

from ._compiled import check_fresh
from ._kernel import host_checks
from ._kernel.config_identity import check_booted_from, config_identity
from ._kernel.kernel import Kernel
from ._liveslots.bundle import load_bundle_function
from ._store.kvstore import KVStore
from ._store.memory import MemoryKVStore
from ._store.sqlite import SQLiteKVStore
from ._worker import options
from ._worker.kinds import WorkerKinds
from ._worker.launchers import make_launchers
from ._worker.options import check_worker_options
from ._worker.remote import HostHub
from .config import KernelConfig, config_source, load_config
from .errors import ConfigError


def _open_store(store: str | Path | None, warehouse: bool = False) -> KVStore:
    if store is None:
        # A vat warehouse in memory: evicted vats come back from their transcripts.
        return MemoryKVStore(records_transcripts=warehouse)
    path = Path(store)
    if path.is_dir():
        raise ConfigError(f"store={str(store)!r} is a directory; give a file path")
    if not path.parent.is_dir():
        raise ConfigError(f"store={str(store)!r}: folder {str(path.parent)!r} does not exist")
    return SQLiteKVStore(path)


def _open(
    config: dict[str, Any] | str | Path | None,
    store: str | Path | None,
    max_vats_online: int | None = None,
) -> tuple[KernelConfig, KVStore]:
    """Read the config and open the store (blocking, once, before anything runs)."""
    if config is None and (store is None or not Path(store).exists()):
        raise ConfigError("a config is needed unless reopening an existing store")
    cfg = load_config(config if config is not None else {"vats": {}})
    if max_vats_online is not None:
        cfg = attrs.evolve(cfg, max_vats_online=max_vats_online)
    kv = _open_store(store, warehouse=cfg.max_vats_online is not None)
    if config is None and kv.get("kernel.initialized") is None:
        kv.close()
        raise ConfigError(f"store {str(store)!r} holds no kernel; give a config to boot one")
    return cfg, kv


def _host_hub(cfg: KernelConfig) -> HostHub | None:
    """The listener and launchers for the config's vat hosts, if it has any."""
    if not cfg.hosts:
        return None
    link = cfg.host_link
    tls, tls_ca = None, None
    if link.tls_cert is not None and link.tls_key is not None:
        base = Path(cfg.base_dir)
        cert, key = base / link.tls_cert, base / link.tls_key
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"host_link: cannot load tls_cert/tls_key: {e}") from None
        tls_ca = str(cert.resolve())
    launchers = make_launchers(
        cfg.hosts, ray_address=cfg.ray_address, strategy=cfg.placement_strategy
    )
    return HostHub(
        launchers,
        listen=link.listen,
        advertise=link.advertise,
        tls=tls,
        tls_ca=tls_ca,
        host_timeout_s=link.host_timeout_s,
    )


def _load_device(source: str, filename: str, module_name: str) -> Callable[..., Any]:
    """A device bundle's ``build_device``, loaded as fresh modules (devices.LoadDevice)."""
    return load_bundle_function(source, filename, module_name, "build_device")


def _check_slog(slog: str | Path | IO[bytes] | None) -> Path | None:
    """The slog file to open, if `slog` is a path: its folder must exist, and it
    must not be a folder itself."""
    if not isinstance(slog, (str, Path)):
        return None
    path = Path(slog)
    if not path.parent.is_dir():
        raise ConfigError(f"slog={str(slog)!r}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise ConfigError(f"slog={str(slog)!r} is a directory; give a file path")
    return path


_open_kernels = 0
_saved_thresholds = gc.get_threshold()  # the host's, while kernels are open
# The collector's third threshold while kernels are open (CPython's default is 10).
_FULL_COLLECTION_THRESHOLD = 1000
# Its first (young) threshold while kernels are open (CPython's default is 700).
_YOUNG_COLLECTION_THRESHOLD = 10_000
# Its second (middle) threshold while kernels are open (CPython's default is 10).
_MIDDLE_COLLECTION_THRESHOLD = 100


@contextmanager
def _host_heap_frozen() -> Iterator[None]:
    """Keep what existed before the first kernel opened out of full collections.

    Each vat's bring-out-your-dead runs a full ``gc.collect()`` (see liveslots),
    whose cost grows with the whole process heap: the host's modules, anyio,
    trio, rich... none of which a vat can make garbage. `gc.freeze` moves those
    objects to the permanent generation, so a collection walks only what was
    made since: on a small host it went from ~4 ms to ~0.1 ms. The first kernel
    to open collects once and freezes; the last to close unfreezes, giving the
    host its heap back. A kernel opened while another runs leaves the freeze as
    it is: the first kernel's vats' objects stay collectable.

    While kernels are open, the collector's own full collections are also made
    rare (the third threshold goes to `_FULL_COLLECTION_THRESHOLD`): with the
    host frozen, CPython's "a quarter of the old generation is new" rule
    otherwise fires full collections over the kernel's working set several times
    a burst (~13% of a 10,000-send burst, measured), while bring-out-your-dead
    already collects in full every `reap_interval` deliveries. The young
    threshold goes from 700 to `_YOUNG_COLLECTION_THRESHOLD` container
    allocations: most of what a crank allocates (its events, capdata, a parsed
    body's tree) is freed by reference counting within the crank, and a young
    collection walks only what is still alive when it runs, so running it
    fourteen times less often walks the same survivors and skips the rest (a
    1,000-entry dict message: 790 -> 710 µs; the rest of the scenarios
    unchanged within noise). The middle threshold goes from 10 to
    `_MIDDLE_COLLECTION_THRESHOLD` young collections: with full collections
    rare, the middle generation holds every survivor since the last one (refs
    a simulation keeps alive), and each middle collection walked them all
    (30,000 refs in flight: 8.6 -> 7.0 µs a ref compiled, 10.2 -> 9.4 pure).
    The thresholds come back with the heap.
    """
    global _open_kernels, _saved_thresholds
    if _open_kernels == 0:
        gc.collect()
        gc.freeze()
        _saved_thresholds = gc.get_threshold()
        young, middle, full = _saved_thresholds
        if young:  # 0: the host turned automatic collection off, and it stays off
            young = max(young, _YOUNG_COLLECTION_THRESHOLD)
            middle = max(middle, _MIDDLE_COLLECTION_THRESHOLD)
        gc.set_threshold(young, middle, max(full, _FULL_COLLECTION_THRESHOLD))
    _open_kernels += 1
    try:
        yield
    finally:
        _open_kernels -= 1
        if _open_kernels == 0:
            gc.set_threshold(*_saved_thresholds)
            gc.unfreeze()


@asynccontextmanager
async def open_kernel(
    config: dict[str, Any] | str | Path | None,
    store: str | Path | None = None,
    *,
    slog: str | Path | IO[bytes] | None = None,
    worker: str | None = None,
    check_config: bool = True,
    endowments: dict[str, Any] | None = None,
    max_vats_online: int | None = None,
) -> AsyncIterator[Kernel]:
    """Boot (or reopen) a kernel; its vats' tasks live inside this context.

    `store` is None for an in-memory kernel, or a SQLite file (created, or
    reopened: then the store's own vats and bundles are what runs). `config` may be
    None to reopen an existing store. `slog` is a path or a binary file that gets
    one JSON line per crank, delivery and syscall. `worker` ("local" or
    "subprocess") overrides the config's ``default_worker``. `endowments` maps a
    device's name to what its ``build_device(tools, endowments)`` gets (its way
    out of the kernel; docs/devices-and-time.md). `max_vats_online` (an int >= 1)
    overrides the config's ``max_vats_online``: the vat warehouse's limit
    (docs/workers.md).

    A store remembers the config it was booted from: reopening it with a
    different one is a `ConfigError` naming both, unless `check_config` is
    False (then it runs what it holds, as with ``config=None``; the config's
    worker options still apply). See `vatrt._kernel.config_identity`.
    """
    check_fresh()  # in a checkout: no compiled module older than its source
    if worker is not None:
        check_worker_options(worker, None, "worker")
    endowments = host_checks.check_endowments(endowments)
    if max_vats_online is not None and (type(max_vats_online) is not int or max_vats_online < 1):
        raise ConfigError(f"max_vats_online must be an int >= 1, not {max_vats_online!r}")
    # The slog is checked before the store is opened (a bad slog leaves no store
    # file or lock behind) and opened after (a store that is refused, say held by
    # another process, leaves that process's slog as it was).
    slog_path = _check_slog(slog)
    cfg, kv = _open(config, store, max_vats_online)
    source = config_source(config) if config is not None else "<dict>"
    default_worker = worker or cfg.default_worker or options.fallback_worker
    cfg = attrs.evolve(cfg, default_worker=default_worker)
    try:
        hub = _host_hub(cfg)
    except ConfigError:
        kv.close()
        raise
    slog_file: IO[bytes] | None = None
    if slog_path is not None:
        try:
            # Opened once before the kernel runs; closed in the finally below.
            slog_file = open(slog_path, "wb")  # noqa: SIM115, ASYNC230
        except OSError as e:
            kv.close()
            raise ConfigError(f"slog={str(slog)!r}: cannot open it: {e.strerror or e}") from None
    elif not isinstance(slog, (str, Path)):
        slog_file = slog
    try:
        with _host_heap_frozen():
            async with anyio.create_task_group() as task_group:
                kernel = Kernel(
                    kv,
                    cfg,
                    task_group,
                    WorkerKinds(default_worker, hub),
                    slog_file,
                    endowments,
                    _load_device,
                    source,
                )
                if hub is not None:
                    hub.note = kernel.slog.write
                try:
                    if config is not None:
                        identity = config_identity(cfg, source)
                        if not kernel.keeper.is_initialized():
                            kernel.keeper.set_booted_from(identity)  # committed with the boot
                        elif check_config:
                            check_booted_from(kernel.keeper, identity, str(store))
                    await kernel.boot()
                    yield kernel
                    kernel.commit()  # a clean exit keeps what the host queued since the last run
                finally:
                    kernel._close()
                    task_group.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Vat tasks never fail on their own, so a group holds the host's one error:
        # give it back as raised, not wrapped.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    finally:
        kv.close()
        if slog_file is not None:
            slog_file.flush()
            if slog_path is not None:
                slog_file.close()
