"""`vatrt slog report`: one self-contained HTML page of a run, drawn from its slog.

The page (``report.html`` beside this module: its CSS and JS inline, nothing
fetched) gets the run as one JSON block: the summary tables (`summarize`) and
the cranks in columns (one array per field, indexes into name tables), which is
what keeps 100k cranks to a few MB. The page draws from them: a timeline with
one lane per vat and the messages between them, crank time over the run, and
upgrades, terminations and vat starts marked. How it stays usable on a long run
(windows and aggregation) is in docs/slog.md.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from .reader import Run, VatInfo
from .summary import summarize, what

# Cranks drawn one by one (with their messages) up to this many in the window;
# more are drawn as counts per lane and column. The page reads it from the data.
DETAIL_LIMIT = 600

_MARKS = {
    "upgrade": "upgrade",
    "upgrade-failed": "upgrade-failed",
    "terminated": "terminated",
    "created": "created",
    "worker-restart": "worker",
    "worker-crash": "worker",
    "worker-limit": "worker",
}


def report_data(run: Run) -> dict[str, Any]:
    """The JSON the page is drawn from."""
    lanes = sorted(run.vats, key=_order)
    for crank in run.cranks:  # a vat the slog never saw start (a reopened store)
        if crank.vat_id is not None and crank.vat_id not in run.vats:
            lanes.append(crank.vat_id)
            run.vats.setdefault(crank.vat_id, _placeholder(run, crank.vat_id))
    lane_of = {vat_id: i for i, vat_id in enumerate(lanes)}
    index_of = {c.number: i for i, c in enumerate(run.cranks)}
    labels: dict[str, int] = {}
    kinds: dict[str, int] = {}
    first = run.cranks[0].start if run.cranks else 0.0
    columns: dict[str, list[Any]] = {k: [] for k in "nvkmtdser"}
    n, v, k, m, t, d, s, e, r = (columns[x] for x in "nvkmtdser")
    problems: dict[str, int] = {}
    for c in run.cranks:
        n.append(c.number)
        v.append(lane_of.get(c.vat_id, -1) if c.vat_id is not None else -1)
        k.append(kinds.setdefault(c.kind, len(kinds)))
        label = what(c) if c.kind == "send" else None
        m.append(-1 if label is None else labels.setdefault(label, len(labels)))
        t.append(round((c.start - first) * 1e6))
        d.append(round(c.seconds * 1e6))
        sender = -1
        if c.sender is not None and c.sender in lane_of and c.sender_crank is not None:
            sender = index_of.get(c.sender_crank, -1)
        s.append(sender)
        # e: 1 the delivery failed or the crank rolled back, 2 the vat rejected a
        # promise with an error; r: what (an index into `problems`)
        e.append(1 if c.error else 2 if c.rejected else 0)
        problem = c.error or c.rejected
        r.append(-1 if problem is None else problems.setdefault(problem, len(problems)))
    marks = []
    for h in run.happenings:
        kind = _MARKS.get(h.kind)
        if kind is None or h.crank is None or h.crank not in index_of:
            continue
        marks.append(
            {
                "type": kind,
                "i": index_of[h.crank],
                "lane": lane_of.get(h.vat_id, -1) if h.vat_id is not None else -1,
                "detail": h.detail if kind != "worker" else f"{h.kind}: {h.detail}",
            }
        )
    return {
        "detailLimit": DETAIL_LIMIT,
        "summary": summarize(run),
        "lanes": [
            {
                "id": vat_id,
                "name": run.vats[vat_id].name,
                "incarnation": run.vats[vat_id].incarnation,
                "terminatedAt": run.vats[vat_id].terminated_at,
            }
            for vat_id in lanes
        ],
        "kinds": list(kinds),
        "labels": list(labels),
        "problems": list(problems),
        "cranks": columns,
        "marks": marks,
    }


def render_report(run: Run) -> str:
    """The page for `run`, as HTML text."""
    template = resources.files(__package__).joinpath("report.html").read_text("utf-8")
    # "</" inside the JSON would end the script element: JSON allows "<\/" for it.
    data = orjson.dumps(report_data(run)).decode().replace("</", "<\\/")
    title = Path(run.path).name
    page = template.replace("__TITLE__", _html_text(f"vatrt slog report: {title}"))
    return page.replace("__DATA__", data)


def write_report(run: Run, out: Path) -> None:
    out.write_text(render_report(run), encoding="utf-8")


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _order(vat_id: str) -> tuple[int, str]:
    digits = vat_id[1:]
    return (int(digits), vat_id) if digits.isdigit() else (1 << 30, vat_id)


def _placeholder(run: Run, vat_id: str) -> VatInfo:
    return VatInfo(vat_id, vat_id)
