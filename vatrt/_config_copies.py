"""``count = N`` on a vat table: N vats from one table, each with its own parameters.

A simulation of 200 gossiping peers should not need 200 tables. A table with
``count`` stands for the vats ``<table>-<first_index>`` ... ``<table>-<first_index
+ count - 1>``; in its parameters every string is a Python format string over
``{index}`` (this copy's index), ``{name}`` (its vat name) and ``{count}``, so
``peer = "{index}"`` gives each copy its own int and ``label = "peer-{index:03d}"``
its own str. A string that is exactly one placeholder (``"{index}"``,
``"{count}"``) becomes the int itself. Literal braces are doubled, as in
`str.format`; a placeholder of any other name is an error naming where it is,
so a typo never ships a raw ``"{idx}"`` to 200 vats.

The expansion happens when the config is loaded: the kernel, the store and the
slog only ever see plain vats. `KernelConfig.groups` remembers which table made
which vats, for ``vatrt check`` and the error messages below.
"""

from __future__ import annotations

import re
import string
from typing import Any

import attrs

from .errors import ConfigError

_FORMATTER = string.Formatter()
_WHOLE = re.compile(r"\{(index|count)\}")


def copy_name(table: str, index: int) -> str:
    return f"{table}-{index}"


def _substitute(value: Any, fields: dict[str, Any], where: str) -> Any:
    if isinstance(value, str):
        if _WHOLE.fullmatch(value):
            return fields[value[1:-1]]
        try:
            for _, field, _, _ in _FORMATTER.parse(value):
                if field is not None and field not in fields:
                    raise ConfigError(
                        f"{where}: unknown placeholder {{{field}}} in {value!r} (known: "
                        "{index}, {name}, {count}; write {{ and }} for literal braces)"
                    )
            return value.format_map(fields)
        except ValueError as e:
            raise ConfigError(f"{where}: {value!r} is not a valid template: {e}") from None
    if isinstance(value, dict):
        return {k: _substitute(v, fields, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_substitute(v, fields, f"{where}[{i}]") for i, v in enumerate(value)]
        return type(value)(items)
    return value


def expand_copies(
    vats: dict[str, Any], source: str
) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """The vats with every ``count`` table replaced by its copies (in order, where
    the table was), and each such table's vat names."""
    out: dict[str, Any] = {}
    groups: dict[str, tuple[str, ...]] = {}
    made_by: dict[str, str] = {}
    for table, vat in vats.items():
        where = f"invalid config in {source}: vats.{table}"
        if vat.count is None:
            if vat.first_index is not None:
                raise ConfigError(f"{where}.first_index needs count (it numbers the copies)")
            _add(out, made_by, table, vat, f"[vats.{table}]", source)
            continue
        if vat.count < 1:
            raise ConfigError(f"{where}.count must be >= 1, not {vat.count}")
        first = vat.first_index or 0
        if first < 0:
            raise ConfigError(f"{where}.first_index must be >= 0, not {first}")
        names = []
        for index in range(first, first + vat.count):
            name = copy_name(table, index)
            fields = {"index": index, "name": name, "count": vat.count}
            parameters = vat.parameters
            if parameters is not None:
                parameters = _substitute(parameters, fields, f"{where}.parameters")
            copy = attrs.evolve(vat, parameters=parameters, count=None, first_index=None)
            _add(out, made_by, name, copy, f"[vats.{table}] (count = {vat.count})", source)
            names.append(name)
        groups[table] = tuple(names)
    return out, groups


def _add(
    out: dict[str, Any], made_by: dict[str, str], name: str, vat: Any, label: str, source: str
) -> None:
    if name in out:
        raise ConfigError(
            f"invalid config in {source}: vat {name!r} is declared twice, "
            f"by {made_by[name]} and by {label}"
        )
    out[name] = vat
    made_by[name] = label
