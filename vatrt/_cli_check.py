"""``vatrt check CONFIG``: everything a boot would refuse, found without booting.

It reads the config as `open_kernel` does, loads every bundle as the kernel's
install does (so a syntax error, a bad import or a missing ``build_root_object``
names its file), marshals every vat's parameters and checks that a vat with
``restart_every`` runs a bundle declared durable, as the boot does; then it
lists the vats. No kernel is made, no store is touched and no vat is started.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._kernel.config_checks import check_static_vats
from ._kernel.state.bundles import BundleStore
from ._kernel.state.keeper import KernelKeeper
from ._store.memory import MemoryKVStore
from ._worker.kinds import WorkerKinds
from .config import KernelConfig, VatConfig, config_source, load_config, resolve_bundle_path
from .errors import VatrtError


@attrs.frozen
class CheckedConfig:
    config: KernelConfig
    bundle_ids: dict[str, str]  # bundle name -> its ID, as the kernel would install it
    warnings: list[str] = attrs.field(factory=list)


_TEMPLATE = re.compile(r"\{(index|name|count)(:[^{}]*)?\}")


def _stray_templates(value: Any, where: str) -> list[str]:
    """Strings in a vat's parameters that look like ``count`` templates."""
    if isinstance(value, str):
        return [f"{where} is {value!r}"] if _TEMPLATE.search(value) else []
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in _stray_templates(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [w for i, v in enumerate(value) for w in _stray_templates(v, f"{where}[{i}]")]
    return []


def check_config(path: Path | str | dict[str, Any]) -> CheckedConfig:
    """Load and validate a config and its bundles, running nothing (a `VatrtError`
    naming the problem if any)."""
    cfg = load_config(path)
    kinds = WorkerKinds(cfg.default_worker or "local")
    store = BundleStore(KernelKeeper(MemoryKVStore()), kinds.validate_bundle)
    bundle_ids = {name: store.install_file(resolve_bundle_path(cfg, name)) for name in cfg.bundles}
    check_static_vats(cfg, config_source(path), lambda bundle: store.get(bundle_ids[bundle])[0])
    copies = {n for names in cfg.groups.values() for n in names}
    warnings = [
        f"{stray}, kept as written: [vats.{name}] has no count, so nothing fills it in"
        for name, vat in cfg.vats.items()
        if name not in copies
        for stray in _stray_templates(vat.parameters, f"vats.{name}.parameters")
    ]
    return CheckedConfig(cfg, bundle_ids, warnings)


def _vat_record(cfg: KernelConfig, name: str, vat: VatConfig) -> dict[str, Any]:
    return {
        "name": name,
        "bundle": vat.bundle,
        "parameters": vat.parameters,
        "critical": vat.critical,
        "vat_admin": vat.vat_admin,
        "worker": vat.worker or ("subprocess" if vat.host else cfg.default_worker) or "local",
        "host": vat.host,
        "limits": vat.limits,
        "restart": vat.restart,
        "reap_interval": vat.reap_interval or cfg.reap_interval,
        "restart_every": vat.restart_every,
        "max_turns": vat.max_turns or cfg.max_turns,
        "bootstrap": name == cfg.bootstrap,
    }


def as_json(checked: CheckedConfig) -> bytes:
    cfg = checked.config
    copy_of = {name: table for table, names in cfg.groups.items() for name in names}
    record = {
        "bootstrap": cfg.bootstrap,
        "bundles": {
            name: {"path": str(resolve_bundle_path(cfg, name)), "id": checked.bundle_ids[name]}
            for name in cfg.bundles
        },
        "default_worker": cfg.default_worker or "local",
        "reap_interval": cfg.reap_interval,
        "commit_every": cfg.commit_every,
        "max_turns": cfg.max_turns,
        "hosts": {name: attrs.asdict(host) for name, host in cfg.hosts.items()},
        "groups": {table: list(names) for table, names in cfg.groups.items()},
        "warnings": checked.warnings,
        "vats": [
            {**_vat_record(cfg, name, vat), "copy_of": copy_of.get(name)}
            for name, vat in cfg.vats.items()
        ],
    }
    return orjson.dumps(record, option=orjson.OPT_INDENT_2, default=str)


def _clip(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def print_check(checked: CheckedConfig, source: str, console: Console, *, all_copies: bool) -> None:
    """A table of the vats, one row per vat; a ``count`` table's copies on one row
    (its first and last copy's parameters) unless `all_copies`."""
    cfg = checked.config
    first_of = {names[0]: (table, names) for table, names in cfg.groups.items()}
    in_group = {name for names in cfg.groups.values() for name in names}
    table = Table(title=f"vats in {escape(source)}", title_justify="left")
    for column in ("vat", "bundle", "worker", "critical", "vat_admin", "parameters"):
        table.add_column(column)
    for name, vat in cfg.vats.items():
        record = _vat_record(cfg, name, vat)
        shown = escape(name) + (" [bold](bootstrap)[/]" if record["bootstrap"] else "")
        parameters = escape(_clip(repr(vat.parameters or {})))
        if name in in_group and not all_copies:
            if name not in first_of:
                continue
            group, names = first_of[name]
            last = cfg.vats[names[-1]]
            shown = escape(f"{names[0]} … {names[-1]}\n({len(names)} copies of [vats.{group}])")
            if len(names) > 1:
                parameters += f"\n… {escape(_clip(repr(last.parameters or {})))}"
        table.add_row(
            shown,
            escape(vat.bundle),
            record["worker"] + (f" on host {escape(vat.host)}" if vat.host else ""),
            "yes" if vat.critical else "no",
            "yes" if vat.vat_admin else "no",
            parameters,
        )
    console.print(table)
    bundles = Table(title="bundles", title_justify="left")
    for column in ("name", "path", "id"):
        bundles.add_column(column)
    for name in cfg.bundles:
        path = resolve_bundle_path(cfg, name)
        bundles.add_row(escape(name), escape(str(path)), checked.bundle_ids[name][:15] + "…")
    console.print(bundles)
    for warning in checked.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    count = len(cfg.vats)
    console.print(
        f"[green]ok[/]: {count} vat{'s' if count != 1 else ''}, {len(cfg.bundles)} bundle"
        f"{'s' if len(cfg.bundles) != 1 else ''}; bootstrap: {escape(str(cfg.bootstrap))}; "
        f"reap_interval {cfg.reap_interval}, commit_every {cfg.commit_every}, "
        f"max_turns {cfg.max_turns}"
    )


def check_command(path: Path, *, all_copies: bool, json_out: bool) -> int:
    """The command's body: 0 if the config is good, 2 (with the reason on stderr) if not."""
    console, errors = Console(), Console(stderr=True)
    if not console.is_terminal:  # piped or captured: no wrapping of long parameters
        console = Console(width=max(console.width, 160))
    try:
        checked = check_config(path)
    except VatrtError as e:
        errors.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        return 2
    if json_out:
        console.file.write(as_json(checked).decode() + "\n")
    else:
        print_check(checked, str(path), console, all_copies=all_copies)
    return 0
