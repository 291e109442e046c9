"""Scheduling quality on a real trace: the default policy against FIFO, against
multifactor without backfill, against the default without fair-share preemption,
without moving jobs for it and without letting a multi-node gang end above its victims,
side by side in one run, through the simulator.

    .venv/bin/python benchmarks/sim_quality.py                       # full Philly trace
    .venv/bin/python benchmarks/sim_quality.py --limit 20000 --plot docs/sim-quality.png

The trace is ../shared/traces/philly.csv by default (82,247 jobs; teams as equal-share
accounts), replayed on 64 nodes x 8 GPUs. For each policy it prints average / median /
p99 job completion time (JCT) and queueing delay, allocated-GPU utilization, makespan,
Jain's index over 7-day windows, the longest wait of a large gang job, and how close
backlogged teams came to their entitled share: for every (team, day) in which the team
had a job pending all day, its share of that day's GPU time against its entitlement;
"under-served" counts those that got less than 90% of the entitlement, with the mean
and worst shortfall. Since most days only some teams have work waiting, each backlogged
team-day is also judged against its max-min fair share (its part, by entitlement, of
the GPU time the teams without a backlog left; see mlrp.sim.metrics): OUT_10% counts
those outside 0.9-1.1 of it, FAIR_RATIO gives the lowest and highest. Preemptions (of
which MOVED: jobs stopped to restart elsewhere, so that a preemptor has a whole node)
and the GPU time they lost (jobs checkpoint every hour) come last. The ratios of each
policy to the default follow, and the wall time of each replay (the simulator's own
speed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from mlrp.cli.sim import duration_text as days
from mlrp.sim import parse_cluster, read_trace, simulate, summarize

POLICIES = ("default", "fifo", "nobackfill", "nopreempt", "nomove", "noovershoot")
DEFAULT_TRACE = Path(__file__).resolve().parent.parent.parent / "shared/traces/philly.csv"


def under_served(summary: Any) -> tuple[int, int, float, float]:
    """(backlogged team-days, those under 90% of the entitlement, mean shortfall of
    those as a fraction of the entitlement, worst shortfall)."""
    total = 0
    short: list[float] = []
    for window in summary.windows:
        for account in window.backlogged:
            entitled = summary.entitlement.get(account, 0.0)
            if entitled <= 0:
                continue
            total += 1
            ratio = window.share(account) / entitled
            if ratio < 0.9:
                short.append(1.0 - ratio)
    mean = sum(short) / len(short) if short else 0.0
    return total, len(short), mean, max(short, default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", nargs="?", default=str(DEFAULT_TRACE))
    parser.add_argument("--cluster", default="64x8")
    parser.add_argument("--limit", type=int, default=None, help="only the first N jobs")
    parser.add_argument("--plot", type=Path, help="PNG of the default policy's run")
    parser.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help="comma-separated, of " + ", ".join(POLICIES) + " (default: all; always default)",
    )
    args = parser.parse_args()
    chosen = ["default", *(p for p in args.policies.split(",") if p and p != "default")]
    unknown = [p for p in chosen if p not in POLICIES]
    if unknown:
        print(f"unknown policy {unknown[0]!r}: expected some of {', '.join(POLICIES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    trace = Path(args.trace)
    if not trace.exists():
        print(f"no trace at {trace}", file=sys.stderr)
        return 2
    cluster = parse_cluster(args.cluster)
    jobs = read_trace(trace, limit=args.limit)
    rows: dict[str, dict[str, Any]] = {}
    for policy in chosen:
        t0 = time.perf_counter()
        result = simulate(jobs, cluster, policy)
        wall = time.perf_counter() - t0
        summary = summarize(result)
        o = summary.overall
        backlogged, short, mean_short, worst = under_served(summary)
        rows[policy] = {
            "jct_avg": o["jct_avg_s"],
            "jct_med": o["jct_median_s"],
            "jct_p99": o["jct_p99_s"],
            "wait_avg": o["wait_avg_s"],
            "wait_p99": o["wait_p99_s"],
            "util": o["gpu_utilization"],
            "util_arrivals": o["gpu_utilization_arrivals"],
            "makespan": o["makespan_s"],
            "jain": o["jain_7d_mean"],
            "gang_wait": o["gang_wait_max_s"],
            "backlogged": backlogged,
            "short": short,
            "mean_short": mean_short,
            "worst": worst,
            "fair_out": o["fair_outside_10pct"],
            "fair_range": f"{o['fair_ratio_min']:.2f}-{o['fair_ratio_max']:.2f}",
            "preemptions": o["preemptions"],
            "moved": o["moved"],
            "lost": o["lost_fraction"],
            "wall": wall,
            "passes": result.passes,
        }
        if policy == "default" and args.plot:
            from mlrp.sim.plot import plot_run

            plot_run(result, summary, args.plot)
    print(f"{len(jobs)} jobs of {trace.name} on {cluster} ({cluster.total_gpus} GPUs)")
    header = (
        f"{'POLICY':<11}{'JCT_AVG':>9}{'JCT_MED':>9}{'JCT_P99':>9}{'WAIT_AVG':>9}"
        f"{'WAIT_P99':>9}{'GPU_UTIL':>9}{'UTIL_ARR':>9}{'MAKESPAN':>9}{'JAIN_7D':>8}{'GANG_MAX':>9}"
        f"{'UNDER90%':>14}{'OUT_10%':>8}{'FAIR_RATIO':>11}{'PREEMPT':>8}{'MOVED':>6}{'LOST':>7}{'WALL_S':>8}"
    )
    print(header)
    for policy, r in rows.items():
        print(
            f"{policy:<11}{days(r['jct_avg']):>9}{days(r['jct_med']):>9}"
            f"{days(r['jct_p99']):>9}{days(r['wait_avg']):>9}{days(r['wait_p99']):>9}"
            f"{r['util']:>9.1%}{r['util_arrivals']:>9.1%}{days(r['makespan']):>9}{r['jain']:>8.3f}"
            f"{days(r['gang_wait']):>9}{r['short']:>7}/{r['backlogged']:<6}{r['fair_out']:>8}{r['fair_range']:>11}"
            f"{r['preemptions']:>8}{r['moved']:>6}{r['lost']:>7.2%}{r['wall']:>8.1f}"
        )
    base = rows["default"]
    for policy in chosen[1:]:
        r = rows[policy]
        print(
            f"{policy} / default: average JCT {r['jct_avg'] / base['jct_avg']:.2f}x, "
            f"average wait {r['wait_avg'] / base['wait_avg']:.2f}x, "
            f"utilization {r['util'] / base['util']:.3f}x "
            f"(while jobs arrive: {r['util_arrivals'] / base['util_arrivals']:.3f}x)"
        )
    print(
        "backlogged team-days under 90% of entitlement (default): "
        f"{base['short']} of {base['backlogged']}, mean shortfall {base['mean_short']:.1%}, "
        f"worst {base['worst']:.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
