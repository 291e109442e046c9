"""`mlrp sim TRACE --cluster NxG`: replay a workload trace through the scheduler on a
virtual clock, in-process (no daemon), and print the figures of the run.

* The trace format is detected from the content (`mlrp.sim.trace`); `--format` forces it.
* `--policy NAME` runs a named preset; `--config FILE.toml` instead runs the `[scheduler]`
  table of a config file, read and checked by the daemon's own loader (`mlrp.config`),
  so its errors read the same. Trace accounts the policy does not list are added as
  1-share children of the root (what an account without its own line gets in a Slurm
  tree with default shares), named in a note on stderr and in `overall.added_accounts`:
  a replay of last year's history should not fail over a since-retired account, but
  the admin must see that it dilutes the configured shares.
* `--json` prints one JSON document: `overall` (run-wide figures) and `accounts` (per
  account: jobs, average / p99 JCT and queueing delay, share of GPU time, entitlement,
  backlog deviation, the per-window share series); NaN is written as null.
* `--plot FILE.png` writes the two-panel picture of `mlrp.sim.plot` (needs matplotlib).
* Progress: while simulating, a one-line counter on stderr, rewritten in place with
  `\\r`, only when stderr is a terminal and `--json` is not given.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from mlrp.errors import ConfigError, InvalidSpec
from mlrp.tables import table

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any, TextIO

    from mlrp.models.policy import Policy
    from mlrp.scheduler import Switch
    from mlrp.sim import Cluster, SimResult, Summary, TraceJob


_OVERALL_HEADERS = (
    "MAKESPAN",
    "GPU_UTIL",
    "UTIL_ARRIVING",
    "JCT_AVG",
    "JCT_MED",
    "JCT_P99",
    "WAIT_AVG",
    "WAIT_MED",
    "WAIT_P99",
    "JAIN_7D",
    "JAIN_MIN",
)
_FAIRNESS_HEADERS = (
    "WINDOW",
    "BACKLOGGED",
    "DEV_ABS_MEAN",
    "DEV_MIN",
    "FAIR_RATIO",
    "OUTSIDE_10%",
    "GANG",
    "GANG_WAIT_MAX",
    "PREEMPTIONS",
    "MOVED",
    "LOST_GPU_TIME",
)
_ACCOUNT_HEADERS = (
    "ACCOUNT",
    "JOBS",
    "GPU_SHARE",
    "ENTITLED",
    "JCT_AVG",
    "JCT_P99",
    "WAIT_AVG",
    "WAIT_P99",
    "BACKLOGGED",
    "DEV_MEAN",
    "DEV_MIN",
    "GANG",
    "GANG_WAIT_MAX",
)
_WINDOW_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def register(sub: Any) -> None:
    from mlrp.sim.engine import DEFAULT_INTERVAL, POLICIES
    from mlrp.sim.trace import FORMATS

    p = sub.add_parser(
        "sim",
        help="replay a workload trace through the scheduler on a virtual clock",
        description=(
            "Replay a trace (Philly CSV; JSONL with submit/duration/gpus/account; Slurm "
            "history from sacct --json or sacct --parsable2) through the scheduler on a "
            "simulated NODESxGPUS cluster."
        ),
    )
    p.add_argument("trace", help="trace file (format detected from its content)")
    p.add_argument("--cluster", required=True, help="NODESxGPUS_PER_NODE, e.g. 64x8")
    p.add_argument("--format", choices=FORMATS, default=None, help="force the trace format")
    p.add_argument("--policy", choices=POLICIES, default=None, help="a preset (default: default)")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="run the [scheduler] policy of this TOML file instead of a preset",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N jobs by submit")
    p.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help=f"least simulated seconds between scheduling passes (default {DEFAULT_INTERVAL:g})",
    )
    p.add_argument(
        "--checkpoint",
        default="1h",
        help="how often jobs save their work, for what a preemption loses: 0 (never), "
        "600, 30m, 1h (default 1h)",
    )
    p.add_argument(
        "--window", default="1d", help="share-over-time window: 3600, 30m, 12h, 1d (default 1d)"
    )
    p.add_argument(
        "--topology",
        type=Path,
        default=None,
        help="switches between the nodes (n0, n1, ...), in Slurm's topology.conf format",
    )
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--plot", type=Path, default=None, help="also write a PNG picture here")
    p.set_defaults(handler=cmd_sim)


# --- values and formatting -----------------------------------------------------------


def parse_window(text: str, option: str = "--window", zero: bool = False) -> float:
    """Seconds of a `--window` (or `option`) value: a number of seconds, or one with
    s/m/h/d; above 0, or also 0 with `zero`."""
    value = text.strip().lower()
    scale = _WINDOW_UNITS.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        least = ">= 0" if zero else "> 0"
        raise InvalidSpec(f"bad {option} {text!r}: expected seconds {least}, or e.g. 30m, 12h, 1d")
    return seconds


def duration_text(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _percent(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# --- progress ------------------------------------------------------------------------


class ProgressLine:
    """`progress(done, total)` for `simulate`: `simulating: 1234/82247 jobs (1%)` on one
    line of `stream`, rewritten at most every `every` seconds; `close` erases it."""

    def __init__(self, stream: TextIO, every: float = 0.2) -> None:
        self.stream = stream
        self.every = every
        self.last = -math.inf
        self.width = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done < total:
            return
        self.last = now
        pct = f" ({done / total:.0%})" if total else ""
        text = f"simulating: {done}/{total} jobs{pct}"
        self.width = max(self.width, len(text))
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()

    def close(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


# --- the policy from a config file ---------------------------------------------------


def config_policy(path: Path) -> Policy:
    """The `[scheduler]` policy of the config file at `path`, read and checked as the
    daemon reads its config; ConfigError when the file is missing or wrong."""
    from mlrp.config import load_config

    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    return load_config(path).scheduler


def with_trace_accounts(policy: Policy, accounts: list[str]) -> tuple[Policy, list[str]]:
    """`policy` with every account of `accounts` it lacks added as a 1-share child of the
    root, and the names added (in first-seen order)."""
    from mlrp.models.policy import Account, Policy

    known = {a.name for a in policy.accounts}
    missing = [a for a in dict.fromkeys(accounts) if a not in known]
    if not missing:
        return policy, []
    data = policy.model_dump()
    data["accounts"] = [*data["accounts"], *(Account(name=a).model_dump() for a in missing)]
    return Policy.model_validate(data), missing


# --- the command ---------------------------------------------------------------------


def cmd_sim(args: argparse.Namespace) -> int:
    from mlrp.sim import load_trace, parse_cluster, summarize

    if args.limit is not None and args.limit < 0:
        raise InvalidSpec(f"--limit must be >= 0, not {args.limit}")
    if args.policy is not None and args.config is not None:
        raise InvalidSpec("give --policy or --config, not both")
    window = parse_window(args.window)
    checkpoint = parse_window(args.checkpoint, "--checkpoint", zero=True)
    cluster = parse_cluster(args.cluster)
    configured = config_policy(args.config) if args.config is not None else None
    if args.plot is not None:
        from mlrp.sim.plot import check_plot_target

        check_plot_target(args.plot)
    switches = read_topology(args.topology, cluster) if args.topology is not None else ()
    trace = load_trace(args.trace, limit=args.limit, fmt=args.format)
    policy: str | Policy = args.policy or "default"
    added: list[str] = []
    if configured is not None:
        policy, added = with_trace_accounts(configured, [j.account for j in trace.jobs])
        _note_added(added)
    started = time.perf_counter()
    result = _simulate(trace.jobs, cluster, policy, args, checkpoint, switches)
    summary = summarize(result, window)
    overall = dict(summary.overall)
    overall.update(
        cluster=str(cluster),
        policy=args.policy or ("config" if configured is not None else "default"),
        passes=result.passes,
        checkpoint_s=checkpoint,
        wall_s=round(time.perf_counter() - started, 3),
        trace_format=trace.format,
        trace_left_out=trace.left_out,
    )
    if configured is not None:
        overall.update(config=str(args.config), added_accounts=added)
    if args.plot is not None:
        from mlrp.sim.plot import plot_run

        plot_run(result, summary, args.plot)
    if args.json:
        doc = {"overall": overall, "accounts": summary.accounts}
        print(json.dumps(_json_safe(doc), indent=1))
    else:
        _print_tables(overall, summary)
    return 0


def _note_added(added: list[str]) -> None:
    if added:
        print(
            "mlrp sim: note: trace accounts not in the policy, added as 1-share children "
            f"of the root: {', '.join(added)}",
            file=sys.stderr,
        )


def read_topology(path: Path, cluster: Cluster) -> tuple[Switch, ...]:
    """The switches of a topology.conf file, over the simulated nodes n0..nN-1; a node
    the cluster lacks is an error that names it."""
    from mlrp.parsing.topology import parse_topology
    from mlrp.scheduler import Switch
    from mlrp.sim.engine import node_name

    try:
        text = path.read_text()
    except OSError as e:
        raise InvalidSpec(f"cannot read topology {path}: {e.strerror or e}") from None
    lines = parse_topology(text, str(path))
    known = {node_name(i) for i in range(cluster.nodes)}
    unknown = sorted({n for line in lines for n in line.nodes} - known)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InvalidSpec(
            f"{path}: nodes not in the {cluster} cluster (n0..n{cluster.nodes - 1}): {shown}"
        )
    return tuple(Switch(line.name, line.nodes, line.switches) for line in lines)


def _simulate(
    jobs: list[TraceJob],
    cluster: Cluster,
    policy: str | Policy,
    args: argparse.Namespace,
    checkpoint: float,
    switches: tuple[Switch, ...] = (),
) -> SimResult:
    """`simulate`, with the progress line on a terminal (never with --json)."""
    from mlrp.sim import simulate

    progress = ProgressLine(sys.stderr) if not args.json and sys.stderr.isatty() else None
    try:
        return simulate(
            jobs,
            cluster,
            policy,
            interval=args.interval,
            progress=progress,
            switches=switches,
            checkpoint_interval=checkpoint,
        )
    finally:
        if progress is not None:
            progress.close()


def _print_tables(o: dict[str, Any], summary: Summary) -> None:
    print(
        f"{o['jobs']} jobs ({o['skipped']} skipped: larger than the cluster) on {o['cluster']} "
        f"({o['gpus']} GPUs), policy {o['policy']}: {o['passes']} passes, {o['wall_s']:.1f}s"
    )
    if o["trace_left_out"]:
        left = ", ".join(f"{n} {why}" for why, n in sorted(o["trace_left_out"].items()))
        print(f"trace ({o['trace_format']}): left out {left}")
    print(table(list(_OVERALL_HEADERS), [_overall_row(o)]))
    print()
    print(table(list(_FAIRNESS_HEADERS), [_fairness_row(o)]))
    print()
    rows = [_account_row(name, a) for name, a in summary.accounts.items()]
    print(table(list(_ACCOUNT_HEADERS), rows))
    print(
        f"\nBACKLOGGED: {duration_text(o['share_window_s'])} windows in which the account always "
        "had a job pending; DEV: its share of GPU time minus its entitlement in those windows; "
        "FAIR_RATIO: its share over its max-min fair share (what the others left, split by "
        "entitlement), lowest-highest; OUTSIDE_10%: backlogged windows outside 0.9-1.1; "
        f"GANG: jobs of >= {o['gang_min_gpus']} GPUs; MOVED: of the preemptions, jobs stopped "
        "to restart elsewhere so that a preemptor has a whole node; LOST_GPU_TIME: "
        f"work redone after preemptions (checkpoints every {duration_text(o['checkpoint_s'])}), "
        "of all GPU time used."
    )


def _overall_row(o: dict[str, Any]) -> list[str]:
    return [
        duration_text(o["makespan_s"]),
        f"{o['gpu_utilization']:.1%}",
        _percent(o["gpu_utilization_arrivals"]),
        duration_text(o["jct_avg_s"]),
        duration_text(o["jct_median_s"]),
        duration_text(o["jct_p99_s"]),
        duration_text(o["wait_avg_s"]),
        duration_text(o["wait_median_s"]),
        duration_text(o["wait_p99_s"]),
        _ratio(o["jain_7d_mean"]),
        _ratio(o["jain_7d_min"]),
    ]


def _fairness_row(o: dict[str, Any]) -> list[str]:
    return [
        duration_text(o["share_window_s"]),
        f"{o['backlogged_windows']}",
        _percent(o["backlog_dev_abs_mean"]),
        _percent(o["backlog_dev_min"], signed=True),
        f"{_ratio(o['fair_ratio_min'])}-{_ratio(o['fair_ratio_max'])}",
        f"{o['fair_outside_10pct']}",
        f"{o['gang_jobs']}",
        duration_text(o["gang_wait_max_s"]),
        f"{o['preemptions']}",
        f"{o['moved']}",
        f"{o['lost_fraction']:.2%}",
    ]


def _account_row(name: str, a: dict[str, Any]) -> list[Any]:
    return [
        name,
        a["jobs"],
        _percent(a["gpu_share"]),
        _percent(a["entitlement"]),
        duration_text(a["jct_avg_s"]),
        duration_text(a["jct_p99_s"]),
        duration_text(a["wait_avg_s"]),
        duration_text(a["wait_p99_s"]),
        a["backlogged_windows"],
        _percent(a["backlog_dev_mean"], signed=True),
        _percent(a["backlog_dev_min"], signed=True),
        a["gang_jobs"],
        duration_text(a["gang_wait_max_s"]),
    ]
