"""docs/config.md documents every key a config may hold."""

from pathlib import Path

import attrs

from vatrt._worker.options import LIMIT_KEYS, RESTART_KEYS
from vatrt.config import HostConfig, HostLinkConfig, KernelConfig, VatConfig

DOC = (Path(__file__).resolve().parent.parent / "docs" / "config.md").read_text()


def table_rows(heading):
    section = DOC[DOC.index(heading) :]
    section = section[: section.index("\n## ", 1)]
    return [line for line in section.splitlines() if line.startswith("| `")]


def documented(rows):
    return {row.split("`")[1] for row in rows} - {"[hosts.NAME]", "[host_link]"}


def test_every_top_level_key_has_a_row_with_type_default_and_meaning():
    keys = {f.name for f in attrs.fields(KernelConfig)} - {"groups", "base_dir"}
    rows = table_rows("## Top-level keys")
    assert documented(rows) == keys
    assert all(row.count("|") == 5 for row in rows)  # key, type, default, what it does
    assert "`base_dir`" in DOC


def test_every_vat_key_has_a_row_and_every_limit_and_restart_key_is_named():
    keys = {f.name for f in attrs.fields(VatConfig)}
    rows = table_rows("## Vat tables")
    assert documented(rows) == keys
    for key in LIMIT_KEYS | RESTART_KEYS:
        assert f"`{key}`" in DOC, key


def test_every_host_and_host_link_key_has_a_row():
    assert documented(table_rows("## Vat hosts")) == {
        f.name for f in attrs.fields(HostConfig) + attrs.fields(HostLinkConfig)
    }
