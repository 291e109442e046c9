"""`mlrp sim --plot FILE.png`: a picture of a simulated run, two panels sharing the time
axis (time since the first submit):

1. allocated-GPU utilization: the fraction of the cluster's GPUs held by jobs, exactly
   (a step at every start and end);
2. each account's share of GPU time per window (`metrics.share_windows`), one line per
   account, its entitlement as a dashed line of the same colour, and a dot on each
   window where the account was backlogged.

matplotlib is imported here only, lazily and with the Agg backend (no display needed),
so the rest of mlrp runs without it. The PNG is WIDTH x HEIGHT pixels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrp.errors import InvalidSpec, MlrpError
from mlrp.sim.engine import SimResult
from mlrp.sim.metrics import Summary, allocation_steps

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH, HEIGHT, DPI = 1200, 800, 100
HOUR = 3600.0
DAY = 86400.0


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; MlrpError when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise MlrpError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_plot_target(path: Path) -> None:
    """Fail early (before a long simulation) when the plot could not be written."""
    _pyplot()
    if not path.parent.is_dir():
        raise InvalidSpec(f"cannot write plot {path}: no directory {path.parent}")


def _time_unit(span: float) -> tuple[float, str]:
    return (DAY, "days") if span > 2 * DAY else (HOUR, "hours")


def _plot_utilization(ax: Axes, result: SimResult, origin: float, unit: float) -> None:
    total = result.cluster.total_gpus
    steps = allocation_steps(result.records)
    xs = [origin, *(t for t, _ in steps)]
    ys = [0.0, *(gpus / total for _, gpus in steps)]
    ax.step([(x - origin) / unit for x in xs], ys, where="post", linewidth=0.8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("allocated GPUs (fraction)")
    ax.set_title(f"GPU utilization on {result.cluster} ({total} GPUs), policy {result.policy}")


def _plot_shares(ax: Axes, summary: Summary, origin: float, unit: float) -> None:
    window = summary.overall.get("share_window_s", DAY)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of GPU time")
    ax.set_title(
        f"share of GPU time per {window / HOUR:g} h window (dashed: entitlement, dots: backlogged)"
    )
    if not summary.windows:
        return
    colours = _colours(len(summary.accounts))
    for colour, name in zip(colours, summary.accounts, strict=True):
        _plot_account(ax, summary, name, colour, origin, unit)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def _plot_account(
    ax: Axes, summary: Summary, name: str, colour: Any, origin: float, unit: float
) -> None:
    """One account: its share per window as steps, dots where it was backlogged, and its
    entitlement dashed."""
    windows = summary.windows
    edges = [(t - origin) / unit for t in (*(w.start for w in windows), windows[-1].end)]
    shares = [w.share(name) for w in windows]
    ax.step(edges, [*shares, shares[-1]], where="post", color=colour, linewidth=1.0, label=name)
    dots = [
        ((w.start + w.end) / 2, share)
        for w, share in zip(windows, shares, strict=True)
        if name in w.backlogged and not math.isnan(share)
    ]
    if dots:
        xs = [(t - origin) / unit for t, _ in dots]
        ax.scatter(xs, [share for _, share in dots], color=colour, s=9)
    entitled = summary.entitlement.get(name)
    if entitled is not None:
        ax.axhline(entitled, color=colour, linestyle="--", linewidth=0.8)


def _colours(n: int) -> list[Any]:
    """n distinct colours: tab10's, or past 10 tab20's dark shades before its light ones."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return [colormaps["tab20"](order[i % 20]) for i in range(n)]


def plot_run(result: SimResult, summary: Summary, path: Path) -> None:
    """Write the two-panel PNG of `result` to `path` (see the module docstring)."""
    plt = _pyplot()
    records = result.records
    origin = min((r.submit for r in records), default=0.0)
    span = max((r.end for r in records), default=origin) - origin
    unit, unit_name = _time_unit(span)
    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI
    )
    try:
        _plot_utilization(top, result, origin, unit)
        _plot_shares(bottom, summary, origin, unit)
        bottom.set_xlabel(f"{unit_name} since the first submit")
        fig.subplots_adjust(left=0.07, right=0.84, top=0.95, bottom=0.07, hspace=0.15)
        fig.savefig(path, format="png", dpi=DPI)
    except OSError as e:
        raise InvalidSpec(f"cannot write plot {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
