"""Crash safety: kill -9 at random moments and at named crash points, then reopen.

After every crash: SQLite's integrity_check passes, `kernel.audit()` passes, and
every call the child acknowledged is in the ledger (at most the one in flight
more), in order, in both vats.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import vatrt
import vatrt._worker.options

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crash_child import config

CHILD = Path(__file__).resolve().parent / "crash_child.py"
CRASH_EXIT = 86

pytestmark = [pytest.mark.anyio, pytest.mark.both_workers]


def start_child(store, directory, calls, upgrade_every=0, env=None, backend="asyncio"):
    """The host process to kill, its vats in the worker kind this test runs on."""
    worker = vatrt._worker.options.fallback_worker
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(store), str(directory), str(calls), str(upgrade_every)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            **(env or {}),
            "VATRT_TEST_BACKEND": backend,
            "VATRT_TEST_WORKER": worker,
        },
    )


def acknowledged(output):
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("ack ")]


async def check_store(store, directory, acked):
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    async with vatrt.open_kernel(config(str(directory)), store=store) as kernel:
        await kernel.run()
        kernel.audit()
        entries = await kernel.call("ledger", "entries")
        mirrored = await kernel.call("mirror", "entries")
        kernel.audit()
    assert entries == list(range(len(entries))), "no gaps, no duplicates"
    highest = max(acked, default=-1)
    assert len(entries) >= highest + 1, "every acknowledged call is there"
    assert len(entries) <= highest + 2, "at most the in-flight call more"
    assert mirrored == entries[: len(mirrored)]
    assert len(entries) - len(mirrored) <= 1
    return len(entries)


async def test_kill_9_at_random_moments_loses_no_acknowledged_call(anyio_backend, tmp_path):
    store, directory = tmp_path / "kernel.sqlite", tmp_path / "cfg"
    rng = random.Random(8947)
    kills, acked = 0, []
    while kills < 20:
        child = start_child(store, directory, 400, 25, backend=anyio_backend)
        # The kill lands at a random moment of the run, counted from when the kernel
        # is open (its start takes longer with subprocess workers, or a busy machine).
        with anyio.fail_after(60):
            started = await anyio.to_thread.run_sync(child.stdout.readline)
        assert started.startswith("start "), started + child.stderr.read()
        await anyio.sleep(rng.uniform(0.05, 0.9))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate()
        assert child.returncode in (-signal.SIGKILL, 0), err
        kills += child.returncode == -signal.SIGKILL
        acked += acknowledged(out)
        await check_store(store, directory, acked)
    assert len(acked) > 20, "the kills landed across a run that made progress"


@pytest.mark.parametrize(
    ("site", "upgrade_every"),
    [
        ("mid-crank:40", 0),
        ("between-state-and-transcript:30", 0),
        ("mid-upgrade:2", 3),
        ("mid-upgrade-all:4", 3),
    ],
)
async def test_a_crash_at_a_named_point_reopens_consistent(
    anyio_backend, tmp_path, site, upgrade_every
):
    store, directory = tmp_path / "kernel.sqlite", tmp_path / "cfg"
    env = {"VATRT_CRASH_AT": site}
    child = start_child(store, directory, 60, upgrade_every, env, anyio_backend)
    out, err = child.communicate(timeout=120)
    assert child.returncode == CRASH_EXIT, f"the crash point was not reached: {err[-2000:]}"
    acked = acknowledged(out)
    total = await check_store(store, directory, acked)
    # and the kernel carries on from there
    child = start_child(store, directory, 5, upgrade_every, backend=anyio_backend)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert await check_store(store, directory, acknowledged(out)) == total + 5
