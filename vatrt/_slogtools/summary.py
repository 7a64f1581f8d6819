"""`vatrt slog summary`: the counts and times a person checks first, from a `Run`.

`summarize` makes one JSON-able dict (what ``--json`` writes and the HTML report
shows in its tables); `print_summary` prints it as rich tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .reader import Crank, Run

SLOWEST = 10
CONSOLE_SHOWN = 200  # lines of vats' print() output in the summary


def percentile(values: list[float], q: float) -> float | None:
    """The `q` (0..1) percentile of sorted `values`, nearest rank; None if empty."""
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


def _times(cranks: list[Crank]) -> dict[str, float | None]:
    ms = sorted(round(c.seconds * 1000, 3) for c in cranks if c.finish is not None)
    return {
        "p50_ms": percentile(ms, 0.5),
        "p90_ms": percentile(ms, 0.9),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": ms[-1] if ms else None,
        "total_ms": round(sum(ms), 3),
    }


def what(crank: Crank) -> str:
    """A crank in a few words: ``deposit`` for a message, else its event kind."""
    return crank.method if crank.kind == "send" and crank.method else crank.kind


def summarize(run: Run, slowest: int = SLOWEST) -> dict[str, Any]:
    """The summary of `run` as plain data (names, counts, milliseconds)."""
    name = run.vat_name
    concerning = [c for c in run.cranks if c.vat_id is not None]
    per_vat: dict[str, list[Crank]] = defaultdict(list)
    for c in concerning:
        per_vat[c.vat_id].append(c)  # type: ignore[index]
    methods: Counter[tuple[str, str]] = Counter()
    method_ms: dict[tuple[str, str], float] = defaultdict(float)
    for c in concerning:
        if c.kind == "send":
            key = (name(c.vat_id), c.method or "?")
            methods[key] += 1
            method_ms[key] += c.seconds * 1000
    vats = []
    for vat_id, info in sorted(run.vats.items(), key=lambda kv: _vat_order(kv[0])):
        cranks = per_vat.get(vat_id, [])
        kinds = Counter(c.kind for c in cranks)
        vats.append(
            {
                "name": info.name,
                "vatID": vat_id,
                "cranks": len(cranks),
                "messages": kinds["send"],
                "notifies": kinds["notify"],
                "other": len(cranks) - kinds["send"] - kinds["notify"],
                "incarnation": info.incarnation,
                "terminated_at": info.terminated_at,
                **_times(cranks),
            }
        )
    by_time = sorted(
        (c for c in run.cranks if c.finish is not None), key=lambda c: c.seconds, reverse=True
    )
    first = run.cranks[0].start if run.cranks else 0.0
    last = max((c.finish or c.start for c in run.cranks), default=first)
    return {
        "slog": run.path,
        "records": run.records,
        "truncated": run.truncated,
        "cranks": len(run.cranks),
        "deliveries": sum(1 for c in run.cranks if c.delivered),
        "messages": sum(1 for c in concerning if c.kind == "send"),
        "notifies": sum(1 for c in concerning if c.kind == "notify"),
        "first_crank": run.cranks[0].number if run.cranks else None,
        "last_crank": run.cranks[-1].number if run.cranks else None,
        "span_s": round(last - first, 6),
        "crank_time": _times(run.cranks),
        "vats": vats,
        "methods": [
            {"vat": v, "method": m, "count": n, "total_ms": round(method_ms[(v, m)], 3)}
            for (v, m), n in sorted(methods.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "slowest": [
            {
                "crank": c.number,
                "vat": name(c.vat_id),
                "what": what(c),
                "ms": round(c.seconds * 1000, 3),
                "from": None if c.sender is None else name(c.sender),
            }
            for c in by_time[:slowest]
        ],
        "upgrades": [
            {
                "crank": h.crank,
                "vat": name(h.vat_id),
                "status": "upgraded" if h.kind == "upgrade" else "failed",
                "detail": h.detail,
            }
            for h in run.of_kind("upgrade", "upgrade-failed")
        ],
        "terminations": [
            {"crank": h.crank, "vat": name(h.vat_id), "detail": h.detail}
            for h in run.of_kind("terminated")
        ],
        "created": [{"crank": h.crank, "vat": name(h.vat_id)} for h in run.of_kind("created")],
        "workers": [
            {"crank": h.crank, "vat": name(h.vat_id), "what": h.kind, "detail": h.detail}
            for h in run.of_kind("worker-restart", "worker-crash", "worker-limit")
        ],
        "hosts": [
            {"crank": h.crank, "what": h.kind, "detail": h.detail}
            for h in run.of_kind("host-connect", "host-lost", "host-refused")
        ],
        "errors": [
            {
                "crank": h.crank,
                "vat": name(h.vat_id),
                "method": h.method,
                "error": h.detail,
                "traceback": h.traceback,
            }
            for h in run.of_kind("error")
        ],
        "console": {
            "lines": sum(run.console_lines.values()),
            "per_vat": {name(v): n for v, n in run.console_lines.items()},
            "first": [
                {"crank": crank, "vat": name(v), "text": text}
                for crank, v, text in run.console[:CONSOLE_SHOWN]
            ],
        },
        "unknown_record_types": dict(run.unknown_types),
    }


def _vat_order(vat_id: str) -> tuple[int, str]:
    """v2 before v10."""
    digits = vat_id[1:]
    return (int(digits), vat_id) if digits.isdigit() else (1 << 30, vat_id)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.3f}"


def print_summary(summary: dict[str, Any], console: Console, *, limit: int = 30) -> None:
    """Print `summary` as tables; lists longer than `limit` rows are cut, saying so."""
    s = summary
    head = Table(title=f"slog {escape(s['slog'])}", show_header=False, title_justify="left")
    head.add_row("records", f"{s['records']:,}" + ("  (last line cut short)" * s["truncated"]))
    if s["cranks"]:
        head.add_row("cranks", f"{s['cranks']:,} (crank {s['first_crank']} to {s['last_crank']})")
    else:
        head.add_row("cranks", "0 (the kernel was idle: no crank ran while this slog was written)")
    head.add_row(
        "deliveries",
        f"{s['deliveries']:,}: {s['messages']:,} messages, {s['notifies']:,} notifies, "
        f"{s['deliveries'] - s['messages'] - s['notifies']:,} other",
    )
    head.add_row("vats", str(len(s["vats"])))
    head.add_row("span", f"{s['span_s']:.3f} s (slog time, with the slog's own cost)")
    t = s["crank_time"]
    if s["cranks"]:
        head.add_row(
            "crank time ms",
            f"p50 {_ms(t['p50_ms'])}  p90 {_ms(t['p90_ms'])}  p99 {_ms(t['p99_ms'])}  "
            f"max {_ms(t['max_ms'])}",
        )
    console.print(head)

    vats = Table(
        title="per vat (crank times in ms; inc.: the incarnation reached)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    vats.add_column("vat", no_wrap=True)
    for col in ("cranks", "msgs", "notifies", "other", "p50", "p99", "inc.", "ended at"):
        vats.add_column(col, justify="right")
    for v in s["vats"][:limit]:
        vats.add_row(
            f"{escape(v['name'])} ({v['vatID']})",
            f"{v['cranks']:,}",
            f"{v['messages']:,}",
            f"{v['notifies']:,}",
            f"{v['other']:,}",
            _ms(v["p50_ms"]),
            _ms(v["p99_ms"]),
            str(v["incarnation"]),
            "" if v["terminated_at"] is None else str(v["terminated_at"]),
        )
    console.print(vats)
    _more(console, s["vats"], limit, "vats")

    methods = Table(title="per method (messages delivered)", title_justify="left")
    for col in ("vat", "method", "count", "total ms"):
        methods.add_column(
            col, justify="left" if col in ("vat", "method") else "right", no_wrap=True
        )
    for m in s["methods"][:limit]:
        methods.add_row(
            escape(m["vat"]), escape(m["method"]), f"{m['count']:,}", _ms(m["total_ms"])
        )
    console.print(methods)
    _more(console, s["methods"], limit, "vat and method pairs")

    slow = Table(title="slowest cranks", title_justify="left")
    for col in ("crank", "vat", "what", "from", "ms"):
        slow.add_column(col, justify="right" if col in ("crank", "ms") else "left")
    for c in s["slowest"]:
        slow.add_row(
            str(c["crank"]),
            escape(c["vat"]),
            escape(c["what"]),
            escape(c["from"] or "kernel"),
            _ms(c["ms"]),
        )
    console.print(slow)

    _happenings(console, "upgrades", s["upgrades"], ("crank", "vat", "status", "detail"), limit)
    _happenings(console, "terminations", s["terminations"], ("crank", "vat", "detail"), limit)
    _happenings(console, "worker events", s["workers"], ("crank", "vat", "what", "detail"), limit)
    if s["hosts"]:
        _happenings(console, "vat host events", s["hosts"], ("crank", "what", "detail"), limit)
    if s["errors"]:
        console.print(f"[bold]errors[/] ({len(s['errors'])})")
        for e in s["errors"][:limit]:
            where = f"crank {e['crank']}, {e['vat']}" + (f".{e['method']}" if e["method"] else "")
            console.print(f"  [red]{escape(e['error'])}[/]  [dim]({escape(where)})[/]")
            if e["traceback"]:
                for line in e["traceback"].rstrip().splitlines():
                    console.print(f"    {escape(line)}", highlight=False)
        _more(console, s["errors"], limit, "errors")
    else:
        console.print("[bold]errors[/]: none")
    console_out = s["console"]
    if console_out["lines"]:
        console.print(f"[bold]printed by vats[/] ({console_out['lines']:,} lines)")
        for line in console_out["first"][:limit]:
            console.print(f"  {escape(line['vat'])}: {escape(line['text'])}", highlight=False)
        more = console_out["lines"] - min(limit, len(console_out["first"]))
        if more > 0:
            console.print(f"[dim]... and {more:,} more lines[/]")
    if s["unknown_record_types"]:
        unknown = ", ".join(f"{k} ({v})" for k, v in s["unknown_record_types"].items())
        console.print(f"[dim]records of types this vatrt does not know: {escape(unknown)}[/]")


def _happenings(
    console: Console, title: str, rows: list[dict[str, Any]], cols: tuple[str, ...], limit: int
) -> None:
    if not rows:
        console.print(f"[bold]{title}[/]: none")
        return
    table = Table(title=f"{title} ({len(rows)})", title_justify="left")
    for col in cols:
        table.add_column(col, justify="right" if col == "crank" else "left")
    for row in rows[:limit]:
        table.add_row(*(escape("" if row[c] is None else str(row[c])) for c in cols))
    console.print(table)
    _more(console, rows, limit, title)


def _more(console: Console, rows: list[Any], limit: int, what: str) -> None:
    if len(rows) > limit:
        console.print(f"[dim]... and {len(rows) - limit} more {what} (all of them: --all)[/]")
