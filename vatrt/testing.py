"""Helpers for testing vats: configs from inline bundle sources."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._config_overrides import config_dict as config_dict
from ._worker import options
from ._worker.options import check_worker_options


def make_config(
    directory: str | Path,
    vats: dict[str, str | tuple[str, dict[str, Any]]],
    *,
    bootstrap: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A kernel config whose vats run the given sources.

    `vats` maps a vat name to its bundle source, or to ``(source, parameters)``.
    Each source is dedented and written to ``<directory>/<name>.py``; vats with
    identical source share one bundle.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    bundles: dict[str, str] = {}
    by_source: dict[str, str] = {}
    vat_configs: dict[str, Any] = {}
    for name, spec in vats.items():
        source, parameters = (spec, None) if isinstance(spec, str) else spec
        source = textwrap.dedent(source)
        bundle = by_source.get(source)
        if bundle is None:
            bundle = by_source[source] = name
            (directory / f"{name}.py").write_text(source)
            bundles[bundle] = f"{name}.py"
        vat_configs[name] = {"bundle": bundle}
        if parameters is not None:
            vat_configs[name]["parameters"] = parameters
    config: dict[str, Any] = {
        "bundles": bundles,
        "vats": vat_configs,
        "base_dir": str(directory),
        **options,
    }
    if bootstrap is not None:
        config["bootstrap"] = bootstrap
    return config


@contextmanager
def default_worker(kind: str) -> Iterator[None]:
    """Kernels opened inside run their vats in `kind` of worker unless their config
    or `open_kernel(worker=...)` says otherwise: a test suite's fixture can run
    every test on each kind::

        @pytest.fixture(params=["local", "subprocess"])
        def worker_kind(request):
            with vatrt.testing.default_worker(request.param):
                yield request.param
    """
    check_worker_options(kind, None, "default_worker")
    before, options.fallback_worker = options.fallback_worker, kind
    try:
        yield
    finally:
        options.fallback_worker = before


__all__ = ["config_dict", "default_worker", "make_config"]
