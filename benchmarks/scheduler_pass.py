"""Time one full scheduling pass (priority, fair-share, gang, backfill with
reservations) at cluster scale, optionally side by side with an earlier commit.

    .venv/bin/python benchmarks/scheduler_pass.py                  # the default grid
    .venv/bin/python benchmarks/scheduler_pass.py --pending 50000 --nodes 1024
    .venv/bin/python benchmarks/scheduler_pass.py --baseline 5cff6a1

The cluster has NODES nodes of 8 GPUs. Two states are timed: "busy" (about 97% of the
GPUs held by running jobs with random remaining time, the usual state of a loaded
cluster: few starts, one reservation, backfill over the whole queue) and "empty" (every
GPU free: the pass starts jobs until the cluster is full). Pending jobs come from 200
users in 20 accounts, with the GPU sizes of a research-cluster mix (1 GPU most often, up
to 32) and time limits from 10 minutes to 3 days.

With --baseline REV the same snapshots are timed with the scheduler of commit REV (a
temporary git worktree, run in a subprocess) and the ratio is printed. Figures are the
best of --repeats runs, in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import subprocess
import sys
import time
from typing import Any

from baseline_tree import baseline_tree

GPUS_PER_NODE = 8
SIZES = (1, 1, 1, 1, 1, 1, 2, 2, 4, 4, 8, 8, 16, 32)
DEFAULT_GRID = ((10_000, 128), (50_000, 1024), (100_000, 4096))


def build_snapshot(pending: int, nodes: int, state: str, seed: int = 1) -> Any:
    """A snapshot for the scheduler importable as `mlrp.scheduler` (this tree's or a
    baseline's: fields the older code lacks are left out)."""
    from mlrp.models.policy import Account, Policy
    from mlrp.scheduler import GpuSlot, QueuedJob, RunningJob, Snapshot

    rng = random.Random(seed)
    now = 1_000_000.0
    accounts = [f"acct{a}" for a in range(20)]
    users = [(accounts[u % 20], f"user{u}") for u in range(200)]
    policy = Policy(
        accounts=[Account(name=a, shares=1 + i % 3) for i, a in enumerate(accounts)],
        default_account=None,
    )
    slot_fields = {f.name for f in dataclasses.fields(GpuSlot)}
    if "node" in slot_fields:
        slots = tuple(GpuSlot(i, "h100", node=f"n{i // GPUS_PER_NODE}") for i in range(nodes * 8))
        extra: dict[str, Any] = {}
    else:  # before nodes existed: each node's GPUs as one link group
        slots = tuple(GpuSlot(i, "h100") for i in range(nodes * GPUS_PER_NODE))
        extra = {
            "link_groups": tuple(
                tuple(range(n * GPUS_PER_NODE, (n + 1) * GPUS_PER_NODE)) for n in range(nodes)
            )
        }
    running: list[Any] = []
    if state == "busy":
        gpu = 0
        limit = int(nodes * GPUS_PER_NODE * 0.97)
        job_id = 10_000_000
        while gpu < limit:
            n = min(rng.choice((1, 2, 4, 8)), GPUS_PER_NODE - gpu % GPUS_PER_NODE, limit - gpu)
            account, user = rng.choice(users)
            running.append(
                RunningJob(
                    id=job_id,
                    user=user,
                    account=account,
                    partition="batch",
                    qos="normal",
                    gpus=tuple(range(gpu, gpu + n)),
                    start_time=now - rng.uniform(0, 86400),
                    time_limit=int(rng.uniform(86400, 3 * 86400)),
                    name=f"r{job_id}",
                    array_job_id=None,
                )
            )
            job_id += 1
            gpu += n
    queued = []
    for i in range(pending):
        account, user = rng.choice(users)
        queued.append(
            QueuedJob(
                id=i + 1,
                user=user,
                account=account,
                partition="batch",
                qos="normal",
                gpus=rng.choice(SIZES),
                gpu_type=None,
                time_limit=rng.choice((600, 3600, 4 * 3600, 86400, 3 * 86400)),
                submit_time=now - rng.uniform(0, 7 * 86400),
                begin_time=None,
                nice=0,
                held=False,
                name=f"job{i}",
                array_job_id=None,
                array_throttle=None,
            )
        )
    usage = {(a, u): rng.uniform(0, 1e7) for a, u in users}
    return Snapshot(
        now=now,
        policy=policy,
        gpus=slots,
        pending=tuple(queued),
        running=tuple(running),
        usage=usage,
        **extra,
    )


def time_pass(pending: int, nodes: int, state: str, repeats: int) -> dict[str, Any]:
    from mlrp.scheduler import decide

    snapshot = build_snapshot(pending, nodes, state)
    best = float("inf")
    starts = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        decisions = decide(snapshot)
        best = min(best, time.perf_counter() - t0)
        starts = len(decisions.starts)
    return {"pending": pending, "nodes": nodes, "state": state, "seconds": best, "starts": starts}


def run_grid(grid: list[tuple[int, int]], states: list[str], repeats: int) -> list[dict[str, Any]]:
    return [time_pass(p, n, s, repeats) for p, n in grid for s in states]


def run_baseline(rev: str, grid: list[tuple[int, int]], states: list[str], repeats: int) -> Any:
    """This script's grid, run with the `mlrp` of commit `rev` in a subprocess."""
    with baseline_tree(rev) as tree:
        out = subprocess.run(
            [sys.executable, __file__, "--emit-json", "--repeats", str(repeats)]
            + [f"--case={p}x{n}" for p, n in grid]
            + [f"--state={s}" for s in states],
            env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, help="pending jobs (with --nodes: one case)")
    parser.add_argument("--nodes", type=int, help="nodes of 8 GPUs")
    parser.add_argument("--case", action="append", default=[], help="PENDINGxNODES")
    parser.add_argument("--state", action="append", choices=("busy", "empty"), default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also time commit REV")
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    grid = [tuple(map(int, c.split("x"))) for c in args.case]
    if args.pending and args.nodes:
        grid.append((args.pending, args.nodes))
    cases: list[tuple[int, int]] = [(p, n) for p, n in grid] or list(DEFAULT_GRID)
    states = args.state or ["busy", "empty"]
    ours = run_grid(cases, states, args.repeats)
    if args.emit_json:
        print(json.dumps(ours))
        return 0
    base = run_baseline(args.baseline, cases, states, args.repeats) if args.baseline else None
    header = f"{'PENDING':>8} {'NODES':>6} {'GPUS':>6} {'STATE':>6} {'STARTS':>7} {'PASS_S':>8}"
    if base:
        header += f" {'BASE_S':>8} {'SPEEDUP':>8}"
    print(header)
    for i, row in enumerate(ours):
        line = (
            f"{row['pending']:>8} {row['nodes']:>6} {row['nodes'] * GPUS_PER_NODE:>6} "
            f"{row['state']:>6} {row['starts']:>7} {row['seconds']:>8.3f}"
        )
        if base:
            b = base[i]["seconds"]
            line += f" {b:>8.3f} {b / row['seconds']:>7.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
