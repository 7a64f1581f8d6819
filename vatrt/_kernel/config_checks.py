"""What a first boot refuses in a config that `load_config` cannot see.

A vat's parameters must marshal (the kernel's marshal, not the config reader's
types), and a vat with ``restart_every`` must run a bundle declared durable
(the bundle's source, read once it is installed). `vatrt check` asks the same,
so both refuse a config with the same message, naming the config as every other
config error does (``invalid config in FILE: vats.NAME.KEY: ...``).
"""

from __future__ import annotations

from collections.abc import Callable

from .._marshal import CapData, data_capdata
from ..config import KernelConfig
from ..errors import ConfigError
from .bounded_replay import check_declared_durable


def check_static_vats(
    cfg: KernelConfig, config_source: str, bundle_source: Callable[[str], str]
) -> dict[str, CapData]:
    """Each config vat's parameters as capdata, checked with its ``restart_every``
    against its bundle (`bundle_source`: a bundle name's source text); a
    `ConfigError` naming `config_source` (the file, or ``<dict>``) otherwise."""
    where = f"invalid config in {config_source}"
    parameters = {}
    for name, vat in cfg.vats.items():
        try:
            parameters[name] = data_capdata(vat.parameters or {})
        except TypeError as e:
            raise ConfigError(f"{where}: vats.{name}.parameters: {e}") from None
        if vat.restart_every is not None:
            check_declared_durable(name, vat.bundle, bundle_source(vat.bundle), where)
    return parameters
