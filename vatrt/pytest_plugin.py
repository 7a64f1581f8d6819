"""vatrt's pytest plugin: test your own bundles on both anyio backends, each kernel audited.

Installed with vatrt (the ``pytest11`` entry point ``vatrt``), so nothing needs
copying into a conftest. A test that uses one of these fixtures runs once per
anyio backend, ``[asyncio]`` and ``[trio]`` (``--vatrt-backends asyncio`` for a
quick loop); the same simulation must give the same answers on both, and this is
where a bundle author finds out if it does not.

- ``open_vat_kernel(config, parameters=..., counts=..., store=..., slog=...,
  worker=...)``: an async context manager opening a kernel (a config path or
  dict, parameters overridden per vat table and ``count`` tables resized,
  `vatrt.testing.config_dict`); when its block ends
  without error the kernel is audited (`Kernel.audit`), then closed.
- ``vat_kernel``: a kernel opened from the ``vat_config`` fixture (which the test
  module or a conftest defines) with the ``vat_parameters`` fixture's overrides,
  audited at teardown unless the test failed.
- ``vat_backend``: the backend's name, for tests that open kernels themselves.

Backends come from parametrizing anyio's ``anyio_backend`` fixture: a test (or a
conftest fixture) that parametrizes ``anyio_backend`` itself keeps its own
choice. Nothing here imports the kernel until a fixture is used, so the plugin
costs nothing in a test run that does not use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._kernel.kernel import Kernel

BACKENDS = ("asyncio", "trio")
# A test using any of these runs on each backend.
_FIXTURES = frozenset({"vat_backend", "vat_kernel", "open_vat_kernel"})
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()

Config = dict[str, Any] | str | Path
Opener = Callable[..., AbstractAsyncContextManager["Kernel"]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("vatrt").addoption(
        "--vatrt-backends",
        default=",".join(BACKENDS),
        metavar="NAMES",
        help="anyio backends to run vatrt fixtures' tests on (comma-separated; "
        "default: asyncio,trio)",
    )


def _backends(config: pytest.Config) -> list[str]:
    names = [n.strip() for n in str(config.getoption("vatrt_backends")).split(",") if n.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown or not names:
        raise pytest.UsageError(
            f"--vatrt-backends: unknown backend(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(BACKENDS)}"
        )
    return names


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Both backends for a test using vatrt's fixtures, unless ``anyio_backend`` is
    parametrized already (anyio's own fixture is, over every backend installed;
    a conftest that pins one with an unparametrized fixture is overridden here)."""
    if not _FIXTURES & set(metafunc.fixturenames):
        return
    try:
        metafunc.parametrize("anyio_backend", BACKENDS)
    except pytest.Collector.CollectError as e:
        # pytest's own hook ran first and parametrized it: that choice stands.
        if "duplicate parametrization" not in str(e):
            raise


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--vatrt-backends``: deselect the other backends' runs of vatrt tests."""
    chosen = _backends(config)
    if set(chosen) == set(BACKENDS):
        return
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        fixtures = set(getattr(item, "fixturenames", ()))
        backend = callspec.params.get("anyio_backend") if callspec is not None else None
        if backend is not None and _FIXTURES & fixtures and _backend_name(backend) not in chosen:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def _backend_name(anyio_backend: Any) -> str:
    return anyio_backend if isinstance(anyio_backend, str) else str(anyio_backend[0])


@pytest.fixture
def vat_backend(anyio_backend: Any) -> str:
    """The anyio backend this test runs on: "asyncio" or "trio"."""
    return _backend_name(anyio_backend)


@pytest.fixture
def vat_config() -> Config:
    """The config `vat_kernel` opens: define this fixture (a path or a dict)."""
    raise pytest.UsageError(
        "vat_kernel needs a vat_config fixture: define one in the test module or a "
        "conftest.py returning the config's path (or a dict), or use open_vat_kernel(config)"
    )


@pytest.fixture
def vat_parameters() -> dict[str, dict[str, Any]]:
    """Per vat table, the parameters `vat_kernel` changes (none): override to change some."""
    return {}


@pytest.fixture
def vat_worker() -> str | None:
    """The worker kind `vat_kernel` runs vats in: None, the config's (override or
    parametrize with "local" and "subprocess" to run on both)."""
    return None


@pytest.fixture
def open_vat_kernel(anyio_backend: Any) -> Opener:
    """``async with open_vat_kernel(config, parameters={...}) as kernel:``; the kernel
    is audited when the block ends without error."""
    from ._config_overrides import config_dict
    from ._controller import open_kernel

    @asynccontextmanager
    async def opener(
        config: Config,
        *,
        parameters: dict[str, dict[str, Any]] | None = None,
        counts: dict[str, int] | None = None,
        store: str | Path | None = None,
        slog: str | Path | IO[bytes] | None = None,
        worker: str | None = None,
        audit: bool = True,
        **keys: Any,
    ) -> AsyncIterator[Kernel]:
        cfg = config_dict(config, parameters=parameters, counts=counts, **keys)
        async with open_kernel(cfg, store, slog=slog, worker=worker) as kernel:
            yield kernel
            if audit:
                kernel.audit()

    return opener


@pytest.fixture
async def vat_kernel(
    anyio_backend: Any,
    vat_config: Config,
    vat_parameters: dict[str, dict[str, Any]],
    vat_worker: str | None,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Kernel]:
    """A kernel booted from `vat_config` with `vat_parameters`; audited at teardown
    (unless the test failed: its own error is the one to read)."""
    from ._config_overrides import config_dict
    from ._controller import open_kernel

    cfg = config_dict(vat_config, parameters=vat_parameters)
    async with open_kernel(cfg, worker=vat_worker) as kernel:
        yield kernel
        report = request.node.stash.get(_CALL_REPORT, None)
        if report is None or report.passed:
            kernel.audit()
