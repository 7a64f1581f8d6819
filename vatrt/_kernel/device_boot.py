"""A first boot's devices: the config's ``[devices]`` and the shipped timer.

Each device bundle is kept in the bundle store (so a reopened kernel builds the
code it built before) and recorded with its root node; the timer service vat
is added after the config's vats, with its device node in its vatParameters
(retained, and passed on at every upgrade, like any vatParameters).
"""

from __future__ import annotations

from pathlib import Path

from .._bundle_format import read_bundle
from ..config import KernelConfig, resolve_device_path
from ..errors import BundleError
from .devices import Devices
from .shipped import shipped_vats_dir
from .state.bundles import BundleStore

TIMER = "timer"


def timer_device_path() -> Path:
    return shipped_vats_dir() / "timer_device.py"


def timer_vat_path() -> Path:
    return shipped_vats_dir() / "timer.py"


def _keep(bundles: BundleStore, name: str, path: Path) -> str:
    try:
        source = read_bundle(path)
    except OSError as e:
        why = e.strerror or e
        raise BundleError(f"device {name!r}: cannot read bundle {path}: {why}") from None
    except ValueError as e:
        raise BundleError(f"device {name!r}: bundle {path}: {e}") from None
    return bundles.keep(source, str(path))


def add_devices(cfg: KernelConfig, bundles: BundleStore, devices: Devices) -> dict[str, str]:
    """Record the config's devices (and the timer's, with ``[timer]``); name -> kd."""
    krefs = {}
    for name in cfg.devices:
        krefs[name] = devices.add(name, _keep(bundles, name, resolve_device_path(cfg, name)))
    if cfg.timer is not None:
        krefs[TIMER] = devices.add(TIMER, _keep(bundles, TIMER, timer_device_path()))
    return krefs
