"""Which config a store was booted from, so a store is never run under another.

A reopened store runs its own vats and bundles: the config it was opened with
is not read again for what vats there are (see SPEC section 7). So
``vatrt run gossip.toml --store auction.sqlite`` would quietly reopen the
auction and exit 0. The first boot keeps the config's identity in
``kernel.config``; a reopen with a config whose identity differs is a
`ConfigError` that names both, unless the host asks to run what is stored
anyway (``check_config=False``, ``vatrt run --resume-stored``).

The identity is a hash of what the config declares about the kernel's make-up,
the part a reopen would ignore: the bootstrap vat, the bundles (names and
paths as written), and each vat's bundle, parameters, criticality, vat-admin
grant, reap interval and ``restart_every``. Options a reopen does apply (worker
kinds, limits, restart budgets, max_turns, commit_every, max_vats_online) are
left out, so changing them is not a different config; neither is where the
config file lives (a moved project reopens). A store booted before identities
were kept has none and is not checked.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ..config import KernelConfig, VatConfig
from ..errors import ConfigError
from .state.keeper import KernelKeeper

_SHOWN_NAMES = 6


def config_identity(cfg: KernelConfig, source: str) -> dict[str, Any]:
    """What `kernel.config` keeps: the config's `source` (a file, or ``<dict>``),
    the sha256 of its declared make-up, and its vats' names (for the error)."""
    declared = {
        "bootstrap": cfg.bootstrap,
        "bundles": dict(cfg.bundles),
        "vats": {name: _declared_vat(cfg, vat) for name, vat in cfg.vats.items()},
    }
    try:
        canonical = orjson.dumps(
            declared, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr
        )
    except TypeError:  # parameters boot refuses anyway (with a ConfigError that says why)
        canonical = repr(declared).encode()
    return {
        "source": source,
        "sha256": hashlib.sha256(canonical).hexdigest(),
        "vats": list(cfg.vats),
    }


def _declared_vat(cfg: KernelConfig, vat: VatConfig) -> dict[str, Any]:
    declared = {
        "bundle": vat.bundle,
        "parameters": vat.parameters,
        "critical": vat.critical,
        "vat_admin": vat.vat_admin,
        "reap_interval": vat.reap_interval or cfg.reap_interval,
    }
    # Kept in the vat's options at boot, like reap_interval (a reopen does not read
    # it again); only when set, so configs without it keep the hash they had.
    if vat.restart_every is not None:
        declared["restart_every"] = vat.restart_every
    return declared


def check_booted_from(keeper: KernelKeeper, identity: dict[str, Any], store: str) -> None:
    """Refuse to reopen `store` with a config other than the one it was booted from."""
    booted = keeper.booted_from()
    if booted is None or booted.get("sha256") == identity["sha256"]:
        return
    stored_vats = booted.get("vats") or []
    if stored_vats == identity["vats"]:
        what = f"the same vats ({_names(stored_vats)}) declared otherwise"
        what += " (bootstrap, bundles, parameters or options)"
    else:
        what = f"vats: {_names(stored_vats)}; this config's: {_names(identity['vats'])}"
    raise ConfigError(
        f"store {store!r} was booted from another config: {booted.get('source')}, "
        f"not {identity['source']} ({what}). A stored kernel runs what it was booted "
        "with, so a different config would be ignored: give the config it was booted "
        "from, or a new store; to run what the store holds anyway, pass "
        "--resume-stored (vatrt run) or check_config=False (open_kernel)."
    )


def _names(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:_SHOWN_NAMES])
    return shown if len(names) <= _SHOWN_NAMES else f"{shown}, ... ({len(names)} in all)"
