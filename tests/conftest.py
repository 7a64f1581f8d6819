import compileall
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import vatrt.testing

# The kernel's own suites (modules marked ``both_workers``) run every test on
# both worker kinds; the rest (CLI, config, marshalling, files) on local workers.
# VATRT_TEST_WORKERS=local runs everything on local workers only, a quick loop
# while developing; CI runs both.
WORKER_KINDS = os.environ.get("VATRT_TEST_WORKERS", "local,subprocess").split(",")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_workers: run each test on local and subprocess workers"
    )
    # Worker children and the crash tests' host processes import vatrt afresh; with
    # PYTHONDONTWRITEBYTECODE set (as on these machines) nothing is ever cached,
    # and each would compile vatrt from source on every start.
    compileall.compile_dir(str(Path(vatrt.__file__).parent), quiet=1)
    # Started as a background job (`pytest &` in a script), a process has SIGINT
    # ignored, so a Ctrl-C test's SIGINT would do nothing (and a run waiting for
    # one, go on forever). The tests press Ctrl-C as on a terminal: Python's own
    # handler, which `vatrt run` children then get too.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "worker_kind" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_workers") is not None
        metafunc.parametrize("worker_kind", WORKER_KINDS if both else ["local"], indirect=True)


@pytest.fixture
def worker_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every kernel a test opens runs its vats in this kind of worker (unless the
    test's config chooses)."""
    with vatrt.testing.default_worker(str(request.param)):
        yield str(request.param)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest, worker_kind: str) -> str:
    return str(request.param)
