"""One config, some of its parameters changed: for tests and parameter sweeps.

A test of a simulation wants its real config with three rounds instead of three
hundred; writing a second config file that drifts from the first is what this
saves. The result is a plain dict config, checked by `load_config` like any
other, so an override naming a key that does not exist is refused there.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from .config import read_config_file
from .errors import ConfigError


def config_dict(
    config: dict[str, Any] | str | Path,
    *,
    parameters: dict[str, dict[str, Any]] | None = None,
    counts: dict[str, int] | None = None,
    **keys: Any,
) -> dict[str, Any]:
    """`config` (a TOML/JSON path or a dict, which is not changed) as a dict, with
    ``parameters[vat]`` merged into that vat table's parameters (a ``count``
    table's name changes all its copies), ``counts[table]`` as the ``count`` of a
    table that has one (a smaller network for a test), and the top-level `keys` set."""
    if isinstance(config, dict):
        raw, source = copy.deepcopy(config), "<dict>"
    else:
        raw, source = read_config_file(config), str(config)
    vats = raw.setdefault("vats", {})
    for name, changes in (parameters or {}).items():
        if name not in vats:
            raise ConfigError(f"parameters for {name!r}: {_no_table(name, vats, source)}")
        if not isinstance(changes, dict):
            raise ConfigError(
                f"parameters for {name!r} must be a dict of changes, not {type(changes).__name__}"
            )
        table = vats[name]
        table["parameters"] = {**(table.get("parameters") or {}), **changes}
    for name, count in (counts or {}).items():
        if name not in vats:
            raise ConfigError(f"counts for {name!r}: {_no_table(name, vats, source)}")
        table = vats[name]
        if not isinstance(table, dict) or "count" not in table:
            raise ConfigError(f"counts for {name!r}: [vats.{name}] has no count to change")
        table["count"] = count  # checked by load_config, as the file's own would be
    raw.update(keys)
    return raw


def _no_table(name: str, vats: dict[str, Any], source: str) -> str:
    made_by = re.fullmatch(r"(.+)-\d+", name)
    if made_by and isinstance(vats.get(made_by[1]), dict) and "count" in vats[made_by[1]]:
        return (
            f"{name!r} is a copy made by [vats.{made_by[1]}] (count) in {source}; "
            f"override the table's parameters ({made_by[1]!r}), with {{index}} templates"
        )
    known = ", ".join(sorted(vats)) or "none"
    return f"no [vats.{name}] table in {source} (known: {known})"
