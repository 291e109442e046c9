"""`mlrp queue`: pending and running jobs, like squeue, and the filters shared with
`mlrp history`."""

from __future__ import annotations

import argparse
import json
import time

from mlrp.cli.tables import duration, elapsed, gpu_list, table, timestamp, user_name
from mlrp.client import Client
from mlrp.models.states import JobState, parse_state

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any


def register(sub: Any) -> None:
    queue = sub.add_parser("queue", help="pending and running jobs (like squeue)")
    add_filters(queue)
    queue.add_argument("--start", action="store_true", help="show expected start times")
    queue.set_defaults(handler=cmd_queue)


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--me", action="store_true", help="only my jobs")
    p.add_argument("--user", "-u")
    p.add_argument("--state", "-t", action="append", help="PENDING, R, CD... (repeatable)")
    p.add_argument("--account", "-A")
    p.add_argument("--name", "-n")
    p.add_argument("--json", action="store_true")


def query(args: argparse.Namespace, *, since: float | None = None) -> list[dict[str, Any]]:
    states = [parse_state(s).value for s in split_values(args.state)] or None
    user = user_name() if args.me else args.user
    return Client().jobs(
        states=states, user=user, account=args.account, name=args.name, since=since
    )


def split_values(values: list[str] | None) -> list[str]:
    return [v for value in values or [] for v in value.split(",") if v]


def cmd_queue(args: argparse.Namespace) -> int:
    rows = query(args)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    now = time.time()
    headers = ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "TIME", "GPUS", "NODELIST(REASON)"]
    if args.start:
        headers.insert(6, "START_TIME")
    lines = []
    for job in rows:
        where = gpu_list(job["gpus"]) if job["state"] == "RUNNING" else f"({_reason(job)})"
        line = [
            job["display_id"],
            job["user"],
            job["account"],
            job["name"][:24],
            JobState(job["state"]).short,
            duration(elapsed(job, now)),
            job["gpu_count"],
            where,
        ]
        if args.start:
            line.insert(6, timestamp(job["expected_start"]) or "N/A")
        lines.append(line)
    print(table(headers, lines))
    return 0


def _reason(job: dict[str, Any]) -> str:
    return "JobHeldUser" if job["held"] else job["reason"]
