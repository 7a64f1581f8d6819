"""vatrt's pytest plugin, used as a bundle author would: a bundle, a config and
tests in a fresh folder, run by pytest in a subprocess (`pytester`)."""

import shutil
from pathlib import Path

import pytest
from test_cli_bench_config import DRIVER, PEER  # the same user bundles

pytest_plugins = ["pytester"]


CONFIG = """
bootstrap = "driver"
[bundles]
peer = "peer.py"
driver = "driver.py"
[vats.driver]
bundle = "driver"
parameters = { rounds = 50 }
[vats.peer]
bundle = "peer"
count = 20
parameters = { index = "{index}" }
"""

TESTS = """
from pathlib import Path

import pytest

CONFIG = Path(__file__).parent / "gossip.toml"


@pytest.fixture
def vat_config():
    return CONFIG


@pytest.fixture
def vat_parameters():
    return {"driver": {"rounds": 2}}


async def test_two_rounds_reach_every_peer(vat_kernel):
    await vat_kernel.run()
    assert vat_kernel.kp_resolution(vat_kernel.bootstrap_kpid) == 2 * sum(range(20))


async def test_one_peer_answers_with_its_index(open_vat_kernel, vat_backend):
    async with open_vat_kernel(CONFIG, parameters={"driver": {"rounds": 1}}) as kernel:
        assert await kernel.call("peer-3", "hear", "hi") == 3
        await kernel.run()
        assert kernel.kp_resolution(kernel.bootstrap_kpid) == sum(range(20))


def test_the_backend_is_named(vat_backend):
    assert vat_backend in ("asyncio", "trio")
"""


@pytest.fixture
def project(pytester):
    pytester.makefile(".toml", gossip=CONFIG)
    pytester.makepyfile(peer=PEER, driver=DRIVER)
    return pytester


def test_a_users_tests_run_on_both_backends_with_parameter_overrides(project):
    project.makepyfile(test_gossip=TESTS)
    result = project.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*test_two_rounds_reach_every_peer?asyncio? PASSED*",
            "*test_two_rounds_reach_every_peer?trio? PASSED*",
            "*test_one_peer_answers_with_its_index?trio? PASSED*",
        ]
    )


def test_vatrt_backends_runs_only_the_backends_named(project):
    project.makepyfile(test_gossip=TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--vatrt-backends", "trio")
    result.assert_outcomes(passed=3, deselected=3)


def test_a_conftest_pinning_one_backend_still_gets_both_for_vat_tests(project):
    project.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    project.makepyfile(test_gossip=TESTS)
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=6)


AUDIT_FAILS = """
import pytest
import vatrt._kernel.kernel
from vatrt.errors import AuditError


@pytest.fixture(autouse=True)
def audit_finds_a_leak(monkeypatch):
    def audit(self):
        raise AuditError(["ko9 has refCount 2 but 1 references"])

    monkeypatch.setattr(vatrt._kernel.kernel.Kernel, "audit", audit)
"""


def test_the_kernel_is_audited_at_teardown_and_a_failed_audit_is_an_error(project):
    project.makeconftest(AUDIT_FAILS)
    project.makepyfile(test_gossip=TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    # vat_kernel's test: an error at teardown; open_vat_kernel's: a failure at the
    # block's end; the test using no kernel passes.
    result.assert_outcomes(passed=4, failed=2, errors=2)
    result.stdout.fnmatch_lines(["*AuditError*ko9 has refCount 2*"])


def test_a_failed_test_is_not_audited_on_top_of_its_own_failure(project):
    project.makeconftest(AUDIT_FAILS)
    project.makepyfile(
        test_fails="""
        async def test_wrong(vat_kernel):
            assert 1 == 2

        import pytest

        @pytest.fixture
        def vat_config():
            from pathlib import Path
            return Path(__file__).parent / "gossip.toml"
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    assert "AuditError" not in result.stdout.str()


def test_vat_kernel_without_a_vat_config_says_what_to_define(project):
    project.makepyfile(test_missing="async def test_x(vat_kernel):\n    pass\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*vat_kernel needs a vat_config fixture*"])


BUNDLES = Path(__file__).resolve().parent.parent / "bundles"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_shipped_gossip_example_and_its_tests_pass_when_copied_into_a_project(pytester):
    shutil.copy(BUNDLES / "gossip.toml", pytester.path / "gossip.toml")
    shutil.copytree(BUNDLES / "gossip", pytester.path / "gossip")
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "gossip")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_every_rumour_reaches_every_peer?trio? PASSED*"])


def test_docs_testing_vats_shows_the_shipped_example_as_it_is():
    example = (BUNDLES / "gossip" / "test_gossip.py").read_text()
    code = example[example.index("from pathlib import Path") :]
    assert code in (DOCS / "testing-vats.md").read_text()


def test_the_plugin_is_loaded_in_this_suite_next_to_its_conftest(request):
    # Registered by the entry point in every run, the repo's own included; its
    # fixtures are all vat_*-named, so the conftest's anyio_backend and
    # worker_kind are the ones the repo's tests get.
    assert request.config.pluginmanager.has_plugin("vatrt")
    names = request.config.pluginmanager.get_plugin("vatrt").__dict__
    assert {"vat_kernel", "open_vat_kernel", "vat_backend"} <= set(names)
    assert "anyio_backend" not in names
    assert "worker_kind" not in names


def test_vat_worker_parametrized_runs_each_test_on_both_worker_kinds(pytester):
    pytester.makepyfile(
        echo="from vatrt.vat import Far\n\ndef build_root_object(p, params, b):\n    return Far('Echo', double=lambda x: 2 * x)\n"
    )
    pytester.makefile(".toml", echo='[bundles]\necho = "echo.py"\n[vats.echo]\nbundle = "echo"\n')
    pytester.makepyfile(
        test_kinds="""
        import os
        from pathlib import Path

        import pytest

        @pytest.fixture
        def vat_config():
            return Path(__file__).parent / "echo.toml"

        @pytest.fixture(params=["local", "subprocess"])
        def vat_worker(request):
            return request.param

        async def test_echo_doubles(vat_kernel, vat_worker):
            assert await vat_kernel.call("echo", "double", 21) == 42
            status = vat_kernel.worker_status("echo")
            assert status.kind == vat_worker
            assert (status.pid == os.getpid()) == (vat_worker == "local")
        """
    )
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_echo_doubles?trio-subprocess? PASSED*"])


def test_an_unknown_backend_in_vatrt_backends_is_a_usage_error_naming_the_known(project):
    project.makepyfile(test_gossip=TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--vatrt-backends", "curio")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--vatrt-backends: unknown backend(s) curio; known: asyncio, trio*"]
    )
