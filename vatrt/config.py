"""The kernel config: a dict, or a TOML / JSON file, structured with cattrs.

Unknown keys are a `ConfigError` naming the key and the file, so a typo such as
``bundel = "counter"`` never silently runs a different simulation. Types are
not coerced: a dict config's key ``1`` is not taken for ``"1"``, nor ``"false"``
for a bool (TOML and JSON keys are always strings).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, NewType

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception

from ._config_copies import expand_copies
from ._liveslots.promises import DEFAULT_MAX_TURNS
from ._suggest import did_you_mean
from ._worker.options import LAUNCHERS, check_worker_options
from .errors import ConfigError

VAT_NAME = re.compile(r"[A-Za-z0-9._-]{1,199}")
RESERVED_VAT_NAMES = frozenset({"vat_admin"})
DEFAULT_REAP_INTERVAL = 1000
DEFAULT_COMMIT_EVERY = 1000
# Vats loaded at once in a kernel whose store keeps transcripts (the warehouse).
DEFAULT_MAX_VATS_ONLINE = 10_000

# A bundle's path, relative to the config: a str, or in a dict config a `Path`.
BundlePath = NewType("BundlePath", str)


@attrs.frozen
class VatConfig:
    bundle: str
    parameters: dict[str, Any] | None = None
    critical: bool = False
    reap_interval: int | None = None
    # Grant `vat_powers.vat_admin` (the vat-admin service) to this vat.
    vat_admin: bool = False
    # "local" or "subprocess" (`vatrt._worker.kinds`); None: the kernel's default_worker.
    worker: str | None = None
    # delivery_timeout_s, memory_mb: subprocess workers only.
    limits: dict[str, Any] | None = None
    # max_restarts, within_s: how often a subprocess worker that dies is restarted.
    restart: dict[str, Any] | None = None
    max_turns: int | None = None  # None: the kernel's max_turns
    # The vat host (a key of [hosts]) this vat runs on, in a subprocess worker there.
    host: str | None = None
    # N vats from this table, named <table>-<index> (`vatrt._config_copies`).
    count: int | None = None
    first_index: int | None = None  # the first copy's index (0)
    # Devices granted in `vat_powers.devices` (names under [devices], or "timer").
    devices: list[str] = attrs.field(factory=list)
    # Bounded replay (docs/vat-upgrade.md): the kernel restarts the vat (same bundle,
    # retained vatParameters) once its transcript is this long. Durable vats only.
    restart_every: int | None = None


@attrs.frozen
class HostConfig:
    """A vat host (`vatrt._worker.remote`): where some vats' workers run."""

    launcher: str = "local"  # "local" or "ray" (`vatrt._worker.launchers`)
    # For "ray": the host actor's placement-group bundle, e.g. {CPU = 1}.
    resources: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen
class HostLinkConfig:
    """How hosts reach the kernel: its listener, and TLS if wanted."""

    listen: str = "127.0.0.1"  # the address the kernel listens on for its hosts
    advertise: str | None = None  # the address hosts dial (None: listen)
    host_timeout_s: float = 120.0  # how long a vat waits for its host to come back
    tls_cert: str | None = None  # PEM certificate and key: hosts must then use TLS
    tls_key: str | None = None


@attrs.frozen
class DeviceConfig:
    """A device: kernel-side code (``build_device(tools, endowments)``) vats call
    synchronously with ``D(node).method()``; see docs/devices-and-time.md."""

    bundle: BundlePath


@attrs.frozen
class TimerConfig:
    """The shipped timer device and timer service vat, and where time comes from."""

    # "virtual": the host moves time (advance_time, run(until_time=...)); "wall": real time.
    source: str = "virtual"
    # Virtual time: whenever the run-queue is empty, jump to the next wakeup.
    auto_advance: bool = False
    start: float = 0  # virtual time at the first boot


@attrs.frozen
class KernelConfig:
    vats: dict[str, VatConfig]
    bundles: dict[str, BundlePath] = attrs.field(factory=dict)
    bootstrap: str | None = None
    reap_interval: int = DEFAULT_REAP_INTERVAL
    commit_every: int = DEFAULT_COMMIT_EVERY
    default_worker: str | None = None  # None: "local" (`vatrt._worker.options`)
    # Turns one delivery may take (the turn meter, `vatrt._liveslots.promises`).
    max_turns: int = DEFAULT_MAX_TURNS
    hosts: dict[str, HostConfig] = attrs.field(factory=dict)
    host_link: HostLinkConfig = attrs.field(factory=HostLinkConfig)
    ray_address: str = "auto"  # for hosts launched by Ray: ray.init(address=...)
    # How Ray places the hosts' placement group: PACK, SPREAD, STRICT_PACK, STRICT_SPREAD.
    placement_strategy: str = "SPREAD"
    devices: dict[str, DeviceConfig] = attrs.field(factory=dict)
    timer: TimerConfig | None = None
    # Where relative bundle paths are resolved: the config file's folder.
    base_dir: str = "."
    # Each ``count`` table's vat names (set by `load_config`, never read from a config).
    groups: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    # The vat warehouse (docs/workers.md): at most this many vats loaded at once,
    # the one idle longest evicted and brought back by replay. None: the default
    # (`DEFAULT_MAX_VATS_ONLINE` where transcripts are kept, no limit in memory).
    max_vats_online: int | None = None


_converter = cattrs.Converter(forbid_extra_keys=True)


class _WrongType(TypeError):
    def __init__(self, kind: type, value: Any) -> None:
        self.kind, self.value = kind, value
        super().__init__(f"expected {kind.__name__}, not {type(value).__name__} {value!r}")


def _strict(kind: type) -> Any:
    """cattrs would call bool("false") (True!), int(1.5) and str(1): refuse instead."""

    def structure(value: Any, _: type) -> Any:
        if type(value) is not kind:
            raise _WrongType(kind, value)
        return value

    return structure


# Registered before the classes' functions are made, which use them (dict keys too).
_converter.register_structure_hook(bool, _strict(bool))
_converter.register_structure_hook(int, _strict(int))
_converter.register_structure_hook(str, _strict(str))


def _bundle_path(value: Any, _: type) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if type(value) is not str:
        raise _WrongType(str, value)
    return value


_converter.register_structure_hook(BundlePath, _bundle_path)


def _number(value: Any, _: type) -> float:
    if type(value) not in (int, float):
        raise _WrongType(float, value)
    return float(value)


_converter.register_structure_hook(float, _number)
for _cls in (VatConfig, HostConfig, HostLinkConfig, DeviceConfig, TimerConfig):
    _converter.register_structure_hook(
        _cls, make_dict_structure_fn(_cls, _converter, _cattrs_forbid_extra_keys=True)
    )
_converter.register_structure_hook(
    KernelConfig,
    make_dict_structure_fn(
        KernelConfig, _converter, _cattrs_forbid_extra_keys=True, groups=override(omit=True)
    ),
)


def _format(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, _WrongType):
        notes = getattr(exc, "__notes__", [])
        if any(str(note).startswith("Structuring mapping key") for note in notes):
            return f"key {exc.value!r} is {type(exc.value).__name__}, keys must be str"
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl) if f.name != "base_dir"]
        hints = "".join(did_you_mean(key, known) for key in sorted(exc.extra_fields))
        return f"{format_exception(exc, kind)}{hints}"
    return format_exception(exc, kind)


def _describe(exc: BaseException, source: str) -> str:
    lines = cattrs.transform_error(exc, path="config", format_exception=_format)
    return f"invalid config in {source}: " + "; ".join(lines)


def read_config_file(config: str | Path) -> dict[str, Any]:
    """A TOML or JSON config file as a dict, its ``base_dir`` set to its folder
    (not yet checked: `load_config` does that)."""
    path = Path(config)
    source = str(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {source}: {e.strerror}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot parse config {source}: {e}") from None
    if "base_dir" in raw:
        raise ConfigError(f"invalid config in {source}: unknown key 'base_dir'")
    raw["base_dir"] = str(path.parent.resolve())
    return dict(raw)


def config_source(config: dict[str, Any] | str | Path) -> str:
    """What a config's errors call it: its file as given, or ``<dict>``."""
    return "<dict>" if isinstance(config, dict) else str(config)


def load_config(config: dict[str, Any] | str | Path) -> KernelConfig:
    """Read and check a config; every problem is a `ConfigError` naming where it is."""
    source = config_source(config)
    if isinstance(config, dict):
        raw, base_dir = dict(config), config.get("base_dir", ".")
    else:
        raw = read_config_file(config)
        base_dir = raw["base_dir"]
    raw["base_dir"] = str(base_dir)
    raw.setdefault("vats", {})
    try:
        cfg = _converter.structure(raw, KernelConfig)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as e:
        raise ConfigError(_describe(e, source)) from None
    _check(cfg, source)
    vats, groups = expand_copies(cfg.vats, source)
    if groups:
        cfg = attrs.evolve(cfg, vats=vats, groups=groups)
        _check_names(cfg, source)
    _check_bootstrap(cfg, source)
    return cfg


def _check_names(cfg: KernelConfig, source: str) -> None:
    for name in cfg.vats:
        if not VAT_NAME.fullmatch(name):
            raise ConfigError(
                f"invalid config in {source}: vat name {name!r} must match [A-Za-z0-9._-]{{1,199}}"
            )
        if name in RESERVED_VAT_NAMES:
            raise ConfigError(f"invalid config in {source}: vat name {name!r} is reserved")


def _check_bootstrap(cfg: KernelConfig, source: str) -> None:
    if cfg.bootstrap is None or cfg.bootstrap in cfg.vats:
        return
    copies = cfg.groups.get(cfg.bootstrap)
    if copies is not None:
        raise ConfigError(
            f"invalid config in {source}: bootstrap vat {cfg.bootstrap!r} is a table of "
            f"{len(copies)} copies (count); name one of them, such as {copies[0]!r}"
        )
    raise ConfigError(
        f"invalid config in {source}: bootstrap vat {cfg.bootstrap!r} is not in [vats]"
        f"{did_you_mean(cfg.bootstrap, cfg.vats)}"
    )


def _check(cfg: KernelConfig, source: str) -> None:
    """Each vat table as written (before ``count`` tables are expanded)."""
    for name, vat in cfg.vats.items():
        if not VAT_NAME.fullmatch(name):
            raise ConfigError(
                f"invalid config in {source}: vat name {name!r} must match [A-Za-z0-9._-]{{1,199}}"
            )
        if name in RESERVED_VAT_NAMES:
            raise ConfigError(f"invalid config in {source}: vat name {name!r} is reserved")
        if vat.bundle not in cfg.bundles:
            raise ConfigError(
                f"invalid config in {source}: vats.{name}.bundle {vat.bundle!r} "
                f"is not in [bundles]{did_you_mean(vat.bundle, cfg.bundles)} "
                f"(known: {', '.join(sorted(cfg.bundles)) or 'none'})"
            )
        if vat.reap_interval is not None and vat.reap_interval < 1:
            raise ConfigError(f"invalid config in {source}: vats.{name}.reap_interval must be >= 1")
        if vat.restart_every is not None and vat.restart_every < 2:
            raise ConfigError(f"invalid config in {source}: vats.{name}.restart_every must be >= 2")
    check_worker_options(cfg.default_worker, None, f"invalid config in {source}: default_worker")
    for name, vat in cfg.vats.items():
        check_worker_options(
            vat.worker, vat.limits, f"invalid config in {source}: vats.{name}", vat.restart
        )
        kind = vat.worker or ("subprocess" if vat.host else cfg.default_worker) or "local"
        if vat.limits and kind != "subprocess":
            raise ConfigError(
                f"invalid config in {source}: vats.{name}.limits need worker = 'subprocess' "
                "(a vat in the kernel's own process cannot be stopped)"
            )
    check_hosts(cfg, source)
    _check_devices(cfg, source)
    if cfg.max_turns < 1 or any(
        v.max_turns is not None and v.max_turns < 1 for v in cfg.vats.values()
    ):
        raise ConfigError(f"invalid config in {source}: max_turns must be >= 1")
    if cfg.reap_interval < 1 or cfg.commit_every < 1:
        raise ConfigError(
            f"invalid config in {source}: reap_interval and commit_every must be >= 1"
        )
    if cfg.max_vats_online is not None and cfg.max_vats_online < 1:
        raise ConfigError(f"invalid config in {source}: max_vats_online must be >= 1")


PLACEMENT_STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


def check_hosts(cfg: KernelConfig, source: str) -> None:
    """Hosts exist where vats name them, with a known launcher; a vat on a host
    runs in a subprocess worker there (it cannot be `local`)."""
    where = f"invalid config in {source}"
    for name, host in cfg.hosts.items():
        if not VAT_NAME.fullmatch(name):
            raise ConfigError(f"{where}: host name {name!r} must match [A-Za-z0-9._-]{{1,199}}")
        if host.launcher not in LAUNCHERS:
            raise ConfigError(
                f"{where}: hosts.{name}.launcher must be one of {', '.join(LAUNCHERS)}, "
                f"not {host.launcher!r}"
            )
    for name, vat in cfg.vats.items():
        if vat.host is None:
            continue
        if vat.host not in cfg.hosts:
            raise ConfigError(
                f"{where}: vats.{name}.host {vat.host!r} is not in [hosts] "
                f"(known: {', '.join(sorted(cfg.hosts)) or 'none'})"
            )
        if vat.worker == "local":
            raise ConfigError(
                f"{where}: vats.{name} cannot be worker = 'local' on host {vat.host!r} "
                "(a vat on a host runs in a subprocess worker there)"
            )
    if cfg.placement_strategy not in PLACEMENT_STRATEGIES:
        raise ConfigError(
            f"{where}: placement_strategy must be one of {', '.join(PLACEMENT_STRATEGIES)}, "
            f"not {cfg.placement_strategy!r}"
        )
    link = cfg.host_link
    if not link.host_timeout_s > 0:
        raise ConfigError(f"{where}: host_link.host_timeout_s must be > 0")
    if (link.tls_cert is None) != (link.tls_key is None):
        raise ConfigError(f"{where}: host_link needs both tls_cert and tls_key, or neither")


def _check_devices(cfg: KernelConfig, source: str) -> None:
    where = f"invalid config in {source}"
    for name in cfg.devices:
        if not VAT_NAME.fullmatch(name):
            raise ConfigError(f"{where}: device name {name!r} must match [A-Za-z0-9._-]{{1,199}}")
        if name == "timer" and cfg.timer is not None:
            raise ConfigError(f"{where}: device name 'timer' is the shipped timer's ([timer])")
    if cfg.timer is not None:
        if cfg.timer.source not in ("virtual", "wall"):
            raise ConfigError(
                f"{where}: timer.source must be 'virtual' or 'wall', not {cfg.timer.source!r}"
            )
        if "timer" in cfg.vats:
            raise ConfigError(f"{where}: vat name 'timer' is the timer service's ([timer])")
        start = cfg.timer.start
        if start != start or start in (float("inf"), float("-inf")) or start < 0:
            raise ConfigError(f"{where}: timer.start must be a finite number >= 0, not {start!r}")
        if cfg.timer.auto_advance and cfg.timer.source != "virtual":
            raise ConfigError(f"{where}: timer.auto_advance needs timer.source = 'virtual'")
    known = set(cfg.devices) | ({"timer"} if cfg.timer is not None else set())
    for name, vat in cfg.vats.items():
        for device in vat.devices:
            if device not in known:
                raise ConfigError(
                    f"{where}: vats.{name}.devices names {device!r}, which is not a device "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )


def resolve_bundle_path(cfg: KernelConfig, name: str) -> Path:
    return Path(cfg.base_dir) / cfg.bundles[name]


def resolve_device_path(cfg: KernelConfig, name: str) -> Path:
    return Path(cfg.base_dir) / cfg.devices[name].bundle
