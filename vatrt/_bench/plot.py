"""``vatrt bench --plot``: throughput against the number of vats (needs ``vatrt[plot]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .scenarios import fan_out, upgrade_all


async def scaling_series(quick: bool) -> dict[str, Any]:
    """Fan-out throughput and upgrade_all cost per vat at growing numbers of vats."""
    sizes = (5, 20, 50) if quick else (5, 20, 100, 500)
    fan = [(n, (await fan_out(n, max(2, 1000 // n))).ops_per_s) for n in sizes]
    upgrades = []
    for n in (10, 50) if quick else (10, 100, 1000):
        result = await upgrade_all(n)
        upgrades.append((n, result.detail["ms_per_vat"]))
    return {"fan-out throughput (msgs/s)": fan, "upgrade_all_vats (ms per vat)": upgrades}


def save_plot(series: dict[str, Any], path: Path, title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'vatrt[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(5.5 * len(series), 4))
    for ax, (name, points) in zip(axes, series.items(), strict=True):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o")
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("vats")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
