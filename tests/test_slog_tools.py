"""`vatrt slog summary` and `vatrt slog report`, on slogs of real runs.

The story run below has known counts: a bootstrap vat creates a `counter` vat,
calls its `add` 5 times, upgrades it, calls `add` 3 more times and `total` once;
asks `echo` to `double` 3 times; calls `fails` on `grumpy`, which raises; and
creates a `doomed` vat and terminates it. The report is loaded in a real
headless chromium (Debian's, driven by Playwright).
"""

import os
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from vatrt.cli import main

BUNDLES = Path(__file__).resolve().parent.parent / "bundles"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BOOT = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Boot:
        async def bootstrap(self, vats, devices):
            admin = vats["vat_admin"]
            v1 = await E(admin).get_bundle("counter_v1")
            v2 = await E(admin).get_bundle("counter_v2")
            made = await E(admin).create_vat(v1, name="counter", vat_parameters={"step": 1})
            counter, node = made["root"], made["admin_node"]
            for i in range(5):
                await E(counter).add(i)
            await E(node).upgrade(v2, vat_parameters={"step": 2}, upgrade_message="v2")
            broken = await E(admin).get_bundle("counter_broken")
            try:
                await E(node).upgrade(broken, vat_parameters={"step": 3})
            except Exception:
                pass  # rolled back: v2 runs on
            for i in range(3):
                await E(counter).add(i)
            total = await E(counter).total()
            doubled = [await E(vats["echo"]).double(i) for i in range(3)]
            try:
                await E(vats["grumpy"]).fails()
                failed = None
            except Exception as e:
                failed = str(e)
            doomed = await E(admin).create_vat(v1, name="doomed")
            await E(doomed["admin_node"]).terminate_with_failure("no longer needed")
            return {"total": total, "doubled": doubled, "failed": failed}
    return Far("Boot", Boot())
"""

COUNTER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    step = (vat_parameters or {{}}).get("step", 1)
    baggage.provide("total", lambda: 0)

    class Counter:
        def add(self, n):
            baggage.set("total", baggage.get("total") + n * step)
            return baggage.get("total")

        def total(self):
            return {{"version": {version}, "total": baggage.get("total")}}
    return Far("Counter", Counter())
"""

ECHO = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Echo", double=lambda x: 2 * x)
"""

BROKEN = """
def build_root_object(vat_powers, vat_parameters, baggage):
    raise RuntimeError("v3 cannot start")
"""

GRUMPY = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Grumpy:
        def fails(self):
            raise ValueError("the books do not balance")
    return Far("Grumpy", Grumpy())
"""


def vatrt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def story_config(tmp_path):
    for name, text in {
        "boot.py": BOOT,
        "counter_v1.py": COUNTER.format(version=1),
        "counter_v2.py": COUNTER.format(version=2),
        "counter_broken.py": BROKEN,
        "echo.py": ECHO,
        "grumpy.py": GRUMPY,
    }.items():
        (tmp_path / name).write_text(text)
    config = tmp_path / "story.toml"
    config.write_text(
        'bootstrap = "boot"\n'
        "[bundles]\n"
        'boot = "boot.py"\ncounter_v1 = "counter_v1.py"\ncounter_v2 = "counter_v2.py"\n'
        'counter_broken = "counter_broken.py"\n'
        'echo = "echo.py"\ngrumpy = "grumpy.py"\n'
        '[vats.boot]\nbundle = "boot"\n'
        '[vats.echo]\nbundle = "echo"\n'
        '[vats.grumpy]\nbundle = "grumpy"\n'
    )
    return config


def run_with_slog(config, slog, *extra):
    result = vatrt("run", config, "--slog", slog, *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(params=["asyncio", "trio"])
def backend(request):
    return request.param


@pytest.fixture
def story_slog(tmp_path, backend):
    slog = tmp_path / "story.slog"
    result = run_with_slog(story_config(tmp_path), slog, "--backend", backend)
    assert "'total': 16" in " ".join(result.output.split())  # (0+1+2+3+4) + 2*(0+1+2)
    return slog


def summary_of(slog):
    result = vatrt("slog", "summary", slog, "--json")
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output)


# -- the slog itself ----------------------------------------------------------------------


def test_every_slog_record_about_a_vat_names_it(story_slog):
    records = [orjson.loads(line) for line in story_slog.read_bytes().splitlines()]
    about_vats = [r for r in records if "vatID" in r]
    assert about_vats
    assert all("name" in r for r in about_vats), [r for r in about_vats if "name" not in r][:3]
    names = {r["name"] for r in about_vats}
    assert {"vat_admin", "boot", "echo", "grumpy", "counter", "doomed"} <= names
    assert [r["name"] for r in records if r["type"] == "vat-upgraded"] == ["counter"]
    assert [r["name"] for r in records if r["type"] == "vat-terminated"] == ["doomed"]


def test_a_send_syscall_in_the_slog_carries_the_result_promise_its_delivery_has(story_slog):
    records = [orjson.loads(line) for line in story_slog.read_bytes().splitlines()]
    sent = {
        r["kernel"]["result"]
        for r in records
        if r["type"] == "syscall" and r["syscall"][0] == "send" and r["kernel"]["result"]
    }
    delivered = {
        r["event"]["msg"]["result"]
        for r in records
        if r["type"] == "crank-start" and r["event"]["type"] == "send"
    }
    assert sent
    assert sent <= delivered
    results = [r["result"] for r in records if r["type"] == "deliver-result"]
    assert len(results) == sum(1 for r in records if r["type"] == "deliver")
    assert all(r[0] in ("ok", "error") for r in results)


# -- vatrt slog summary -------------------------------------------------------------------


def test_slog_summary_counts_each_vats_deliveries_and_each_methods_messages(story_slog):
    s = summary_of(story_slog)
    methods = {(m["vat"], m["method"]): m["count"] for m in s["methods"]}
    assert methods[("counter", "add")] == 8
    assert methods[("counter", "total")] == 1
    assert methods[("echo", "double")] == 3
    assert methods[("grumpy", "fails")] == 1
    assert methods[("boot", "bootstrap")] == 1
    assert methods[("vat_admin", "create_vat")] == 2
    vats = {v["name"]: v for v in s["vats"]}
    assert set(vats) == {"vat_admin", "boot", "echo", "grumpy", "counter", "doomed"}
    assert vats["counter"]["messages"] == 9
    assert vats["echo"]["messages"] == 3
    assert vats["echo"]["other"] == 1  # its startVat
    assert vats["counter"]["incarnation"] == 1
    assert vats["doomed"]["terminated_at"] is not None
    deliveries = story_slog.read_bytes().count(b'{"type":"deliver",')
    assert s["deliveries"] == deliveries  # what `vatrt run` prints as deliveries
    assert s["cranks"] == sum(v["cranks"] for v in s["vats"])  # each crank concerns one vat
    assert s["messages"] == sum(methods.values())
    time = s["crank_time"]
    assert 0 <= time["p50_ms"] <= time["p90_ms"] <= time["p99_ms"] <= time["max_ms"]
    assert len(s["slowest"]) == 10
    assert s["slowest"][0]["ms"] == time["max_ms"]


def test_slog_summary_lists_the_upgrade_the_termination_and_the_error(story_slog):
    s = summary_of(story_slog)
    upgrades = [(u["vat"], u["status"]) for u in s["upgrades"]]
    assert upgrades == [("counter", "upgraded"), ("counter", "failed")]
    assert s["upgrades"][0]["detail"] == "incarnation 1"
    assert "RuntimeError: v3 cannot start" in s["upgrades"][1]["detail"]
    assert len(s["terminations"]) == 1
    assert s["terminations"][0]["vat"] == "doomed"
    assert "no longer needed" in s["terminations"][0]["detail"]
    assert "with failure" in s["terminations"][0]["detail"]
    assert [(e["vat"], e["method"], e["error"]) for e in s["errors"]] == [
        ("grumpy", "fails", "ValueError: the books do not balance")
    ]
    assert [c["vat"] for c in s["created"]] == [
        "vat_admin",
        "boot",
        "echo",
        "grumpy",
        "counter",
        "doomed",
    ]


def test_slog_summary_prints_tables_a_person_reads(story_slog):
    result = vatrt("slog", "summary", story_slog)
    assert result.exit_code == 0, result.output
    text = result.output
    for heading in ("per vat", "per method", "slowest cranks", "upgrades (2)", "terminations (1)"):
        assert heading in text
    assert "errors (1)" in text
    assert "ValueError: the books do not balance" in text
    assert "crank time ms" in text
    assert "p99" in text


def test_the_payments_demo_summary_has_240_payments_and_40_trades_per_client(payments_slog):
    s = summary_of(payments_slog)
    methods = {(m["vat"], m["method"]): m["count"] for m in s["methods"]}
    assert methods[("bank", "pay")] == 240  # 40 rounds x 6 clients
    for k in range(1, 7):
        assert methods[(f"client-{k}", "trade")] == 40
    rejected = [e for e in s["errors"] if e["error"].startswith("InsufficientFunds")]
    assert rejected
    assert all(e["vat"] == "bank" and e["method"] == "pay" for e in rejected)
    assert s["upgrades"] == []
    assert s["terminations"] == []


def test_the_payments_demo_on_two_vat_hosts_has_the_same_counts_and_both_hosts_connecting(
    tmp_path,
):
    slog = tmp_path / "hosts.slog"
    run_with_slog(BUNDLES / "payments-on-hosts.toml", slog)
    s = summary_of(slog)
    methods = {(m["vat"], m["method"]): m["count"] for m in s["methods"]}
    assert methods[("bank", "pay")] == 240
    connects = sorted(h["detail"].split(":")[0] for h in s["hosts"] if h["what"] == "host-connect")
    assert connects == ["host 'left'", "host 'right'"]
    assert "vat host events (2)" in vatrt("slog", "summary", slog).output


def test_slog_summary_shows_a_traceback_kept_with_an_error_and_what_vats_printed(tmp_path):
    """A failed delivery's reason and a rejection's error that hold a traceback
    (the error record's ``traceback`` field), and a vat's print() (a console record)."""
    tb = 'Traceback (most recent call last):\n  File "bank.py", line 12, in pay\nKeyError: x'
    error_body = orjson.dumps(
        {"@qclass": "error", "name": "KeyError", "message": "x", "traceback": tb}
    ).decode()
    lines = [
        {"type": "crank-start", "crankNum": 0, "event": {"type": "startVat", "vatID": "v1"}},
        {"type": "vat-start", "vatID": "v1", "name": "bank"},
        {"type": "deliver", "vatID": "v1", "delivery": ["startVat", {}, [], {}]},
        {"type": "deliver-result", "vatID": "v1", "result": ["ok"]},
        {"type": "crank-finish", "crankNum": 0, "rolledBack": None},
        {
            "type": "crank-start",
            "crankNum": 1,
            "event": {
                "type": "send",
                "target": "ko1",
                "msg": {"methargs": {"body": '["pay",[]]', "slots": []}, "result": "kp1"},
            },
        },
        {
            "type": "deliver",
            "vatID": "v1",
            "delivery": [
                "message",
                "o+0",
                {"methargs": {"body": '["pay",[]]', "slots": []}, "result": "p-1"},
            ],
        },
        {
            "type": "syscall",
            "vatID": "v1",
            "syscall": ["resolve", [["p-1", True, {"body": error_body, "slots": []}]]],
            "result": None,
            "kernel": {"kpids": ["kp1"]},
        },
        {"type": "console", "vatID": "v1", "name": "bank", "text": "paying now"},
        {"type": "deliver-result", "vatID": "v1", "result": ["error", "vat code failed:\n" + tb]},
        {"type": "crank-finish", "crankNum": 1, "rolledBack": "vat code failed"},
    ]
    slog = tmp_path / "tb.slog"
    slog.write_bytes(
        b"".join(orjson.dumps({**r, "time": i / 1000}) + b"\n" for i, r in enumerate(lines))
    )
    s = summary_of(slog)
    assert [e["traceback"] for e in s["errors"]] == [tb, "vat code failed:\n" + tb]
    text = " ".join(vatrt("slog", "summary", slog).output.split())
    assert 'File "bank.py", line 12, in pay' in text
    assert s["console"]["lines"] == 1
    assert "bank: paying now" in text


CRASHER = """
import os
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Crasher:
        def abort_once(self, marker, n):
            if not os.path.exists(marker):
                open(marker, "w").close()
                os.abort()
            return 2 * n
    return Far("Crasher", Crasher())
"""

CRASH_BOOT = """
from vatrt.vat import E, Far

def build_root_object(vat_powers, vat_parameters, baggage):
    class Boot:
        async def bootstrap(self, vats, devices):
            return await E(vats["crasher"]).abort_once(vat_parameters["marker"], 21)
    return Far("Boot", Boot())
"""


def test_slog_summary_lists_a_subprocess_workers_crash_and_restart_by_vat_name(tmp_path):
    (tmp_path / "boot.py").write_text(CRASH_BOOT)
    (tmp_path / "crasher.py").write_text(CRASHER)
    config = tmp_path / "crash.toml"
    config.write_text(
        'bootstrap = "boot"\n[bundles]\nboot = "boot.py"\ncrasher = "crasher.py"\n'
        f'[vats.boot]\nbundle = "boot"\nparameters = {{ marker = "{tmp_path / "once"}" }}\n'
        '[vats.crasher]\nbundle = "crasher"\nworker = "subprocess"\n'
    )
    slog = tmp_path / "crash.slog"
    assert "42" in run_with_slog(config, slog).output
    workers = summary_of(slog)["workers"]
    assert [(w["vat"], w["what"]) for w in workers] == [
        ("crasher", "worker-crash"),
        ("crasher", "worker-restart"),
    ]
    assert "killed by signal 6" in workers[0]["detail"]
    assert "worker events (2)" in vatrt("slog", "summary", slog).output


def test_the_slog_of_a_reopened_idle_kernel_names_its_vats_and_says_no_crank_ran(tmp_path):
    config, store = story_config(tmp_path), tmp_path / "story.sqlite"
    assert vatrt("run", config, "--store", store).exit_code == 0
    slog = tmp_path / "idle.slog"
    run_with_slog(config, slog, "--store", store)
    s = summary_of(slog)
    assert s["cranks"] == 0
    assert [v["name"] for v in s["vats"]] == ["vat_admin", "boot", "echo", "grumpy", "counter"]
    assert "no crank ran" in vatrt("slog", "summary", slog).output
    assert vatrt("slog", "report", slog).exit_code == 0
    assert slog.with_suffix(".html").exists()


# -- bad input ------------------------------------------------------------------------------


def test_slog_summary_names_the_line_that_is_not_json_and_exits_2(tmp_path):
    slog = tmp_path / "bad.slog"
    slog.write_text(
        '{"type":"crank-start","crankNum":0,"event":{"type":"x"},"time":0}\nnot json\n{}\n'
    )
    result = vatrt("slog", "summary", slog)
    assert result.exit_code == 2
    assert f"{slog}:2: not a JSON line" in " ".join(result.output.split())


def test_slog_summary_refuses_a_json_file_that_is_not_a_slog(tmp_path):
    slog = tmp_path / "config.json"
    slog.write_text('{"bootstrap": "boot"}\n')
    result = vatrt("slog", "report", slog, "-o", tmp_path / "r.html")
    assert result.exit_code == 2
    assert "not a slog record" in " ".join(result.output.split())
    assert not (tmp_path / "r.html").exists()


def test_slog_summary_of_an_empty_file_says_so(tmp_path):
    slog = tmp_path / "empty.slog"
    slog.write_text("")
    result = vatrt("slog", "summary", slog)
    assert result.exit_code == 2
    assert "no slog records" in result.output


def test_a_slog_whose_last_line_was_cut_short_still_reads(story_slog):
    data = story_slog.read_bytes()
    story_slog.write_bytes(data[: len(data) - 20])  # a run killed mid-write
    s = summary_of(story_slog)
    assert s["truncated"] is True
    assert s["cranks"] > 50
    assert "last line cut short" in vatrt("slog", "summary", story_slog).output


def test_slog_report_into_a_missing_directory_is_refused(story_slog, tmp_path):
    result = vatrt("slog", "report", story_slog, "-o", tmp_path / "nope" / "r.html")
    assert result.exit_code == 2
    assert "does not exist" in result.output


# -- vatrt slog report, in a real browser ------------------------------------------------------


@pytest.fixture
def browser():
    """Debian's chromium under Playwright. List it after the fixtures that run
    kernels: Playwright's sync API keeps an asyncio loop running while it is open."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: the report is tested in Debian's chromium. Install it "
            "with `apt-get update && apt-get install -y chromium` (.ci/run does it)."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_report(browser, html):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page, problems, requests


def lanes(page):
    return page.eval_on_selector_all("#timeline .lane", "els => els.map(e => e.dataset.vat)")


def test_the_report_draws_a_lane_per_vat_the_messages_and_the_upgrade_and_termination(
    story_slog, tmp_path, browser
):
    html = tmp_path / "report.html"
    result = vatrt("slog", "report", story_slog, "-o", html)
    assert result.exit_code == 0, result.output
    page, problems, requests = open_report(browser, html)
    assert problems == []
    assert requests == [html.as_uri()]  # self-contained: nothing else fetched
    assert lanes(page) == ["vat_admin", "boot", "echo", "grumpy", "counter", "doomed"]
    # each crank drawn, and a line from sender to receiver for the messages
    assert page.locator("#timeline .crank").count() == summary_of(story_slog)["cranks"]
    pairs = page.eval_on_selector_all(
        "#timeline .msg:not(.notify)", "els => els.map(e => [e.dataset.from, e.dataset.to])"
    )
    assert pairs.count(["boot", "counter"]) == 9
    assert pairs.count(["boot", "echo"]) == 3
    notifies = page.eval_on_selector_all(
        "#timeline .msg.notify", "els => els.map(e => [e.dataset.from, e.dataset.to])"
    )
    assert ["counter", "boot"] in notifies
    assert page.locator("#timeline .mark.upgrade[data-vat='counter']").count() == 1
    assert page.locator("#timeline .mark.upgrade-failed[data-vat='counter']").count() == 1
    assert page.locator("#timeline .mark.terminated[data-vat='doomed']").count() == 1
    assert page.locator("#chart .mark.upgrade").count() == 1
    assert page.locator("#chart .chart-max").count() > 0  # crank time over the run
    # grumpy's crank raised, counter's broken upgrade failed: drawn as errors
    assert page.locator("#timeline .crank.error").count() == 2
    assert page.locator("#timeline .crank.error[data-vat='counter']").count() == 1
    page.locator("#timeline .crank.error[data-vat='grumpy']").hover()
    assert "ValueError: the books do not balance" in page.inner_text("#tip")
    assert "ValueError: the books do not balance" in page.inner_text("#errors")
    # hovering a crank tells what it delivered
    page.locator("#timeline .crank.k-send").nth(3).hover()
    tip = page.inner_text("#tip")
    assert tip.startswith("crank ")
    assert " ms, at " in tip
    assert "from boot (crank " in tip
    upgrades = page.inner_text(".upgrades-table").splitlines()[1:]
    assert [row.split("\t")[1] for row in upgrades] == ["counter", "counter"]
    assert "no longer needed" in page.inner_text(".terminations-table")


@pytest.fixture
def payments_slog(tmp_path):
    slog = tmp_path / "payments.slog"
    run_with_slog(BUNDLES / "payments.toml", slog)
    return slog


def test_the_report_of_a_long_run_shows_counts_until_zoomed_in(payments_slog, tmp_path, browser):
    """More cranks than the page draws one by one: lanes of counts per column, and
    a click on one zooms to a window where each crank and message is drawn."""
    slog = payments_slog
    html = tmp_path / "payments.html"
    assert vatrt("slog", "report", slog, "-o", html).exit_code == 0
    page, problems, _ = open_report(browser, html)
    assert problems == []
    assert lanes(page) == ["vat_admin", "bootstrap", "bank", *(f"client-{k}" for k in range(1, 7))]
    assert page.locator("#timeline .bin").count() > 0
    assert page.locator("#timeline .msg").count() == 0
    assert "zoom in" in page.inner_text("#mode")
    # the bank's refused payments (InsufficientFunds) are ticked under their columns
    assert page.locator("#timeline .bin-error").count() > 0
    page.locator("#timeline .bin[data-lane='2']:not([data-errors='0'])").first.hover()
    assert "raised or failed" in page.inner_text("#tip")
    page.locator("#timeline .bin[data-lane='2']").nth(5).click()
    assert page.locator("#timeline .bin").count() == 0
    assert page.locator("#timeline .msg").count() > 100
    assert "each drawn with its messages" in page.inner_text("#mode")
    page.click("#all")
    assert page.locator("#timeline .bin").count() > 0
    # dragging across the crank-time chart picks the window
    box = page.locator("#chart").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + 50)
    page.mouse.up()
    first, last = int(page.input_value("#from")), int(page.input_value("#to"))
    assert 0 < first < last < 1091
    # a crank number in the tables shows that crank in the timeline
    link = page.locator(".slowest-table a.crank-link").first
    crank = int(link.inner_text())
    link.click()
    assert int(page.input_value("#from")) <= crank <= int(page.input_value("#to"))
    assert page.locator("#timeline .crank").count() > 0
