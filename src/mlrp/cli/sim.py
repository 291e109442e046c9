"""`mlrp sim TRACE --cluster NxG`: replay a workload trace through the scheduler on a
virtual clock, in-process (no daemon), and print the figures of the run."""

from __future__ import annotations

import argparse
import json
import math
import time

from mlrp.cli.tables import table
from mlrp.errors import InvalidSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_OVERALL_HEADERS = (
    "MAKESPAN",
    "GPU_UTIL",
    "JCT_AVG",
    "JCT_MED",
    "JCT_P99",
    "WAIT_AVG",
    "WAIT_MED",
    "WAIT_P99",
    "JAIN_7D",
    "JAIN_MIN",
)


def register(sub: Any) -> None:
    from mlrp.sim.engine import DEFAULT_INTERVAL, POLICIES

    p = sub.add_parser(
        "sim",
        help="replay a workload trace through the scheduler on a virtual clock",
        description=(
            "Replay a trace (Philly CSV, or JSONL with submit/duration/gpus/account) "
            "through the scheduler on a simulated NODESxGPUS cluster."
        ),
    )
    p.add_argument("trace", help="trace file: .csv (Philly format) or .jsonl")
    p.add_argument("--cluster", required=True, help="NODESxGPUS_PER_NODE, e.g. 64x8")
    p.add_argument("--policy", choices=POLICIES, default="default")
    p.add_argument("--limit", type=int, default=None, help="only the first N jobs by submit")
    p.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help=f"least simulated seconds between scheduling passes (default {DEFAULT_INTERVAL:g})",
    )
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(handler=cmd_sim)


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def cmd_sim(args: argparse.Namespace) -> int:
    from mlrp.sim import parse_cluster, read_trace, simulate, summarize

    if args.limit is not None and args.limit < 0:
        raise InvalidSpec(f"--limit must be >= 0, not {args.limit}")
    cluster = parse_cluster(args.cluster)
    jobs = read_trace(args.trace, limit=args.limit)
    started = time.perf_counter()
    result = simulate(jobs, cluster, args.policy, interval=args.interval)
    summary = summarize(result.records, cluster.total_gpus, len(result.skipped))
    wall = time.perf_counter() - started
    overall = dict(summary.overall)
    overall.update(
        cluster=str(cluster), policy=args.policy, passes=result.passes, wall_s=round(wall, 3)
    )
    if args.json:
        doc = {"overall": overall, "accounts": summary.accounts}
        print(json.dumps(_json_safe(doc), indent=1))
        return 0
    o = overall
    print(
        f"{o['jobs']} jobs ({o['skipped']} skipped: larger than the cluster) on {o['cluster']} "
        f"({o['gpus']} GPUs), policy {o['policy']}: {o['passes']} passes, {wall:.1f}s"
    )
    print(
        table(
            list(_OVERALL_HEADERS),
            [
                [
                    _duration(o["makespan_s"]),
                    f"{o['gpu_utilization']:.1%}",
                    _duration(o["jct_avg_s"]),
                    _duration(o["jct_median_s"]),
                    _duration(o["jct_p99_s"]),
                    _duration(o["wait_avg_s"]),
                    _duration(o["wait_median_s"]),
                    _duration(o["wait_p99_s"]),
                    f"{o['jain_7d_mean']:.3f}",
                    f"{o['jain_7d_min']:.3f}",
                ]
            ],
        )
    )
    print()
    print(
        table(
            ["ACCOUNT", "JOBS", "GPU_SHARE", "JCT_AVG", "JCT_P99", "WAIT_AVG", "WAIT_P99"],
            [
                [
                    name,
                    a["jobs"],
                    f"{a['gpu_share']:.1%}",
                    _duration(a["jct_avg_s"]),
                    _duration(a["jct_p99_s"]),
                    _duration(a["wait_avg_s"]),
                    _duration(a["wait_p99_s"]),
                ]
                for name, a in summary.accounts.items()
            ],
        )
    )
    return 0
