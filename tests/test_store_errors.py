"""Store failures are `StoreError`s naming the file and the cause; one process per store.

Each test asserts what a user sees: the error type, that the message names the
store file and SQLite's (or the lock's) cause, and, where a kernel opened, that
`audit()` passes afterwards.
"""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import anyio
import pytest
from click.testing import CliRunner

import vatrt
from vatrt._store.sqlite import SQLiteKVStore
from vatrt.cli import main
from vatrt.testing import make_config

pytestmark = pytest.mark.anyio

KEEPER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    baggage.provide("total", lambda: 0)
    baggage.provide("text", lambda: "")

    class Keeper:
        def bootstrap(self, vats, devices):
            return "booted"
        def add(self, n):
            baggage.set("total", baggage.get("total") + n)
            return baggage.get("total")
        def total(self):
            return baggage.get("total")
        def put(self, text):
            baggage.set("text", text)
            return len(text)
        def size(self):
            return len(baggage.get("text"))
    return Far("Keeper", Keeper())
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path / "cfg", {"keeper": KEEPER}, bootstrap="keeper")


async def make_store(config, path, calls=60):
    """A real store: booted, `calls` deliveries in its transcript, total = sum(range(calls))."""
    async with vatrt.open_kernel(config, store=path) as kernel:
        await kernel.run()
        for n in range(calls):
            await kernel.call("keeper", "add", n)
        kernel.audit()
    return path


def assert_names_file_and_cause(error, path, *causes):
    message = str(error)
    assert str(path) in message, message
    assert error.path == str(path)
    assert any(cause in message for cause in causes), message


async def assert_refused(store, *causes, config=None):
    with pytest.raises(vatrt.StoreError) as info:
        async with vatrt.open_kernel(config, store=store):
            pytest.fail("the kernel opened")
    assert_names_file_and_cause(info.value, store, *causes)
    assert isinstance(info.value, vatrt.VatrtError)
    return info.value


# -- files that are not (good) stores --------------------------------------------------


async def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "notes.sqlite"
    store.write_text("hello, this is a text file and not a kernel\n" * 100)
    error = await assert_refused(store, "file is not a database")
    assert "not a SQLite database" in str(error)
    await assert_refused(store, "file is not a database", config=config)  # booting too
    assert store.read_text().startswith("hello")  # left as it was


async def test_a_corrupt_store_is_a_store_error_naming_the_file_and_the_cause(
    anyio_backend, config, tmp_path
):
    good = await make_store(config, tmp_path / "good.sqlite")
    data = good.read_bytes()
    store = tmp_path / "corrupt.sqlite"
    # The first page (the header and the schema) intact, every other byte garbage.
    store.write_bytes(data[:4096] + random.Random(7).randbytes(len(data) - 4096))
    error = await assert_refused(store, "malformed", "file is not a database")
    assert "cannot open it" in str(error)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(random.Random(8).randbytes(len(data)))
    await assert_refused(garbage, "file is not a database")


async def test_a_truncated_store_is_a_store_error_naming_the_file_and_the_cause(
    anyio_backend, config, tmp_path
):
    good = await make_store(config, tmp_path / "good.sqlite", calls=200)
    data = good.read_bytes()
    store = tmp_path / "truncated.sqlite"
    store.write_bytes(data[: len(data) // 2])
    error = await assert_refused(store, "database disk image is malformed")
    assert "corrupt or truncated" in str(error)


async def test_a_sqlite_database_that_is_not_a_vatrt_store_is_refused_and_left_untouched(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "other-app.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE accounts (name TEXT, balance INTEGER)")
    db.close()
    await assert_refused(store, "not a vatrt store", config=config)
    with sqlite3.connect(store) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master")]
    db.close()
    assert tables == ["accounts"]


async def test_a_store_from_a_newer_vatrt_is_refused_and_left_as_it_was(
    anyio_backend, config, tmp_path
):
    # The kernel checks kernel.schemaVersion; the store must let go of the file
    # so it can be opened again after.
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=3)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE kvStore SET value = '99' WHERE key = 'kernel.schemaVersion'")
    db.close()
    before = store.read_bytes()
    error = await assert_refused(store, "schema version 99 and this vatrt reads up to 4")
    assert str(error).endswith("upgrade vatrt")
    await assert_refused(store, "schema version 99", config=config)  # with a config too
    with sqlite3.connect(store) as db:
        (version,) = db.execute(
            "SELECT value FROM kvStore WHERE key = 'kernel.schemaVersion'"
        ).fetchone()
        db.execute("UPDATE kvStore SET value = '3' WHERE key = 'kernel.schemaVersion'")
    db.close()
    assert version == "99"
    assert len(store.read_bytes()) == len(before)
    async with vatrt.open_kernel(None, store=store) as kernel:  # not left locked
        assert await kernel.call("keeper", "total") == 3
        kernel.audit()


@pytest.mark.parametrize("value", ["abc", "", "3.5", " 4", "0", "-1"])
async def test_a_store_whose_schema_version_is_not_a_number_is_refused_naming_it_and_left_as_it_was(
    anyio_backend, config, tmp_path, value
):
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=3)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE kvStore SET value = ? WHERE key = 'kernel.schemaVersion'", (value,))
    db.close()
    before = store.read_bytes()
    error = await assert_refused(store, f"kernel.schemaVersion is {value!r}, not a schema version")
    await assert_refused(store, f"{value!r}, not a schema version", config=config)
    assert store.read_bytes() == before
    with sqlite3.connect(store) as db:
        db.execute("UPDATE kvStore SET value = '4' WHERE key = 'kernel.schemaVersion'")
    db.close()
    async with vatrt.open_kernel(None, store=store) as kernel:  # not left locked
        assert await kernel.call("keeper", "total") == 3
        kernel.audit()
    assert error.path == str(store)


# -- a bad slog ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
async def test_a_bad_slog_path_leaves_no_store_file_or_lock_behind(
    anyio_backend, config, tmp_path, where
):
    store = tmp_path / "kernel.sqlite"
    slog = tmp_path / "nowhere" / "x.slog" if where == "missing folder" else tmp_path
    match = "does not exist" if where == "missing folder" else "is a directory"
    with pytest.raises(vatrt.ConfigError, match=rf"slog=.*{match}"):
        async with vatrt.open_kernel(config, store=store, slog=slog):
            pytest.fail("the kernel opened")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg"]  # no store, no lock
    async with vatrt.open_kernel(config, store=store, slog=tmp_path / "x.slog") as kernel:
        await kernel.run()
        assert await kernel.call("keeper", "add", 2) == 2
        kernel.audit()
    assert (tmp_path / "x.slog").stat().st_size > 0


async def test_a_refused_store_leaves_the_slog_of_the_kernel_holding_it_as_it_was(
    anyio_backend, config, tmp_path
):
    store, slog = tmp_path / "kernel.sqlite", tmp_path / "x.slog"
    async with vatrt.open_kernel(config, store=store, slog=slog) as kernel:
        await kernel.run()
        written = slog.read_bytes()
        with pytest.raises(vatrt.StoreError, match="already open in this process"):
            async with vatrt.open_kernel(config, store=store, slog=slog):
                pytest.fail("the kernel opened")
        assert slog.read_bytes() == written
        assert await kernel.call("keeper", "add", 2) == 2
        kernel.audit()


# -- a full disk ---------------------------------------------------------------------


def file_state(store):
    """What the file holds (read by a connection of its own, beside the kernel's)."""
    db = sqlite3.connect(store)
    try:
        return (
            dict(db.execute("SELECT key, value FROM kvStore")),
            db.execute("SELECT * FROM transcript ORDER BY 1, 2, 3").fetchall(),
        )
    finally:
        db.close()


def fill_the_disk(kernel):
    """SQLite's max_page_count: no page can be added, as on a full disk."""
    db = kernel.kv._db
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")
    return db


async def test_a_full_disk_at_commit_reports_the_real_cause_and_keeps_the_last_commit(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        assert await kernel.call("keeper", "add", 5) == 5
    seen = {}

    async def write_until_full():
        async with vatrt.open_kernel(None, store=store) as kernel:
            fill_the_disk(kernel)
            assert await kernel.call("keeper", "add", 1) == 6  # fits in the pages there are
            seen["committed"] = file_state(store)
            await kernel.call("keeper", "put", "x" * 200_000)  # needs new pages

    with pytest.raises(vatrt.StoreError) as info:
        await write_until_full()
    committed = seen["committed"]
    error = info.value
    assert_names_file_and_cause(error, store, "database or disk is full")
    assert "no transaction is active" not in str(error)
    assert "cannot commit" in str(error)
    # Not half-applied: the file holds the last commit, whole.
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    assert file_state(store) == committed
    async with vatrt.open_kernel(None, store=store) as kernel:
        assert await kernel.call("keeper", "size") == 0
        assert await kernel.call("keeper", "total") == 6
        kernel.audit()


async def test_after_a_full_disk_is_freed_the_next_commit_writes_the_whole_block(
    anyio_backend, config, tmp_path
):
    store = tmp_path / "kernel.sqlite"
    async with vatrt.open_kernel(config, store=store) as kernel:
        await kernel.run()
        db = fill_the_disk(kernel)
        with pytest.raises(vatrt.StoreError, match="database or disk is full"):
            await kernel.call("keeper", "put", "y" * 200_000)
        db.execute("PRAGMA max_page_count = 1073741823")  # space freed
        assert await kernel.call("keeper", "add", 2) == 2  # its run() commits the block
        kernel.audit()
    async with vatrt.open_kernel(None, store=store) as kernel:
        assert await kernel.call("keeper", "size") == 200_000
        assert await kernel.call("keeper", "total") == 2
        kernel.audit()


# -- read-only ---------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path):
    """Make a file read-only for this process: chmod, or as root `chattr +i`."""
    made = []

    def make(path):
        if os.geteuid() != 0:
            path.chmod(0o444)
        elif (
            shutil.which("chattr") is None
            or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode
        ):
            pytest.skip("running as root without chattr +i: a file cannot be made read-only")
        made.append(path)

    yield make
    for path in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)


async def test_a_read_only_store_is_refused_at_open_naming_the_cause(
    anyio_backend, config, tmp_path, read_only
):
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=3)
    read_only(store)
    error = await assert_refused(store, "readonly database")
    assert "read-only" in str(error)


async def test_sqlite_refusing_to_write_is_mapped_to_a_read_only_store_error(
    anyio_backend, config, tmp_path, monkeypatch
):
    # The mapping itself, whoever runs the tests: SQLite opened read-only says what
    # it says for a read-only file.
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=3)
    connect = sqlite3.connect

    def read_only_connect(path, **options):
        return connect(f"file:{path}?mode=ro", uri=True, **options)

    monkeypatch.setattr(sqlite3, "connect", read_only_connect)
    error = await assert_refused(store, "readonly database")
    assert "read-only" in str(error)
    monkeypatch.undo()
    async with vatrt.open_kernel(None, store=store) as kernel:  # refused, not locked
        assert await kernel.call("keeper", "total") == 3
        kernel.audit()


def test_a_failing_transcript_read_is_a_store_error(tmp_path):
    store = tmp_path / "kernel.sqlite"
    kv = SQLiteKVStore(store)
    try:
        with sqlite3.connect(store) as db:
            db.execute("DROP TABLE transcript")
        db.close()
        with pytest.raises(vatrt.StoreError) as info:
            kv.read_transcript("v1", 0)
        assert_names_file_and_cause(info.value, store, "no such table: transcript")
        assert "cannot read the transcript of v1" in str(info.value)
    finally:
        kv.close()
    kv.close()  # twice: harmless


# -- one process per store -----------------------------------------------------------

CHILD = """
import sys, anyio, vatrt

async def main():
    async with vatrt.open_kernel(None, store=sys.argv[1]) as kernel:
        print("total", await kernel.call("keeper", "total"), flush=True)
        if len(sys.argv) > 2:
            print("holding", flush=True)
            await anyio.sleep(60)

try:
    anyio.run(main)
except vatrt.StoreError as e:
    print("StoreError:", e)
    sys.exit(2)
"""


def child(store, *extra, **options):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(store), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


async def test_a_second_process_is_refused_while_the_first_holds_the_store(
    anyio_backend, config, tmp_path
):
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=4)
    async with vatrt.open_kernel(None, store=store) as kernel:
        second = child(store)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2, (out, err)
        assert "Traceback" not in err
        assert str(store) in out
        assert f"is open in another process (pid {os.getpid()})" in out
        assert await kernel.call("keeper", "add", 10) == 16  # the first goes on
        kernel.audit()
    second = child(store)  # once the first has closed, it opens fine
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, (out, err)
    assert out.strip() == "total 16"


async def test_a_store_held_by_another_process_is_refused_here_and_freed_when_it_is_killed(
    anyio_backend, config, tmp_path
):
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=3)
    holder = child(store, "hold")
    try:
        assert holder.stdout.readline().strip() == "total 3"
        assert holder.stdout.readline().strip() == "holding"
        error = await assert_refused(store, f"is open in another process (pid {holder.pid})")
        assert "one process per store" in str(error)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while True:  # the kernel releases the lock of a dead process
        try:
            async with vatrt.open_kernel(None, store=store) as kernel:
                assert await kernel.call("keeper", "total") == 3
                kernel.audit()
            break
        except vatrt.StoreError:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.05)


async def test_a_second_open_in_the_same_process_is_refused(anyio_backend, config, tmp_path):
    store = await make_store(config, tmp_path / "kernel.sqlite", calls=2)
    async with vatrt.open_kernel(None, store=store) as kernel:
        await assert_refused(store, "already open in this process")
        assert await kernel.call("keeper", "total") == 1
        kernel.audit()
    async with vatrt.open_kernel(None, store=store) as kernel:
        assert await kernel.call("keeper", "total") == 1
        kernel.audit()


# -- the command line ----------------------------------------------------------------


def vatrt_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, store, cause):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: store ")
    assert str(store) in lines[0]
    assert cause in lines[0]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_inspect_run_and_upgrade_all_of_a_corrupt_store_exit_2_with_one_line(tmp_path, backend):
    store = tmp_path / "a-rather-long-folder-name-for-wrapping" / "corrupt.sqlite"
    store.parent.mkdir()
    store.write_bytes(b"SQLite format 3\0" + random.Random(1).randbytes(8192))
    (tmp_path / "keeper.py").write_text(KEEPER)
    config = tmp_path / "keeper.toml"
    config.write_text(
        'bootstrap = "keeper"\n[bundles]\nkeeper = "keeper.py"\n[vats.keeper]\nbundle = "keeper"\n'
    )
    cause = "not a database"
    assert_one_line_error(
        vatrt_cli("inspect", "--store", store, "--backend", backend), store, cause
    )
    assert_one_line_error(
        vatrt_cli("run", config, "--store", store, "--backend", backend),
        store,
        cause,
    )
    assert_one_line_error(
        vatrt_cli("upgrade-all", "--store", store, "--backend", backend), store, cause
    )


@pytest.mark.parametrize(
    ("value", "cause"),
    [("abc", "kernel.schemaVersion is 'abc', not a schema version"), ("99", "schema version 99")],
)
def test_inspect_of_a_store_with_a_bad_or_newer_schema_version_exits_2_with_one_line(
    tmp_path, value, cause
):
    config = make_config(tmp_path / "cfg", {"keeper": KEEPER}, bootstrap="keeper")
    store = anyio.run(make_store, config, tmp_path / "kernel.sqlite", 3)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE kvStore SET value = ? WHERE key = 'kernel.schemaVersion'", (value,))
    db.close()
    before = store.read_bytes()
    assert_one_line_error(vatrt_cli("inspect", "--store", store), store, cause)
    assert store.read_bytes() == before


def test_inspect_of_a_store_open_in_another_process_exits_2_naming_the_pid(tmp_path):
    config = make_config(tmp_path / "cfg", {"keeper": KEEPER}, bootstrap="keeper")
    store = anyio.run(make_store, config, tmp_path / "kernel.sqlite", 3)
    holder = child(store, "hold")
    try:
        assert holder.stdout.readline().strip() == "total 3"
        assert holder.stdout.readline().strip() == "holding"
        result = vatrt_cli("inspect", "--store", store)
        assert_one_line_error(result, store, f"(pid {holder.pid})")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
