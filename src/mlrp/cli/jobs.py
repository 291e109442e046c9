"""Job commands: queue, show, cancel, hold, release, logs, history."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import datetime
from typing import Any

from mlrp.cli.tables import duration, elapsed, gpu_list, table, timestamp
from mlrp.client import Client
from mlrp.errors import InvalidSpec
from mlrp.models.states import parse_state

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED",
            "NODE_FAIL"}  # fmt: skip
SHORT = {"PENDING": "PD", "RUNNING": "R", "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA",
         "TIMEOUT": "TO", "OUT_OF_MEMORY": "OOM", "PREEMPTED": "PR", "NODE_FAIL": "NF"}  # fmt: skip


def register(sub: Any) -> None:
    queue = sub.add_parser("queue", help="pending and running jobs (like squeue)")
    _filters(queue)
    queue.add_argument("--start", action="store_true", help="show expected start times")
    queue.set_defaults(handler=cmd_queue)

    history = sub.add_parser("history", help="jobs, ended ones included (like sacct)")
    _filters(history)
    history.add_argument(
        "--since", default="1d", help="how far back: 30m, 12h, 7d or an ISO date (default 1d)"
    )
    history.set_defaults(handler=cmd_history)

    show = sub.add_parser("show", help="everything about one job")
    show.add_argument("job", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    for name, helptext in (("cancel", "cancel jobs (like scancel)"),
                           ("hold", "keep pending jobs from starting"),
                           ("release", "let held jobs start")):  # fmt: skip
        p = sub.add_parser(name, help=helptext)
        p.add_argument("jobs", nargs="*", metavar="JOB", help="123 or 123_4 (array task)")
        p.add_argument("--user", "-u")
        p.add_argument("--name", "-n")
        p.add_argument("--state", "-t", action="append")
        p.add_argument("--me", action="store_true", help="only my jobs")
        p.set_defaults(handler=cmd_select, action=name)

    logs = sub.add_parser("logs", help="a job's output")
    logs.add_argument("job", type=int)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("--err", action="store_true", help="stderr instead of stdout")
    logs.set_defaults(handler=cmd_logs)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--me", action="store_true", help="only my jobs")
    p.add_argument("--user", "-u")
    p.add_argument("--state", "-t", action="append", help="PENDING, R, CD... (repeatable)")
    p.add_argument("--account", "-A")
    p.add_argument("--name", "-n")
    p.add_argument("--json", action="store_true")


def _query(args: argparse.Namespace, *, since: float | None = None) -> list[dict[str, Any]]:
    states = [parse_state(s).value for s in _split(args.state)] or None
    user = getpass.getuser() if args.me else args.user
    return Client().jobs(states=states, user=user, account=args.account, name=args.name,
                         since=since)  # fmt: skip


def _split(values: list[str] | None) -> list[str]:
    return [v for value in values or [] for v in value.split(",") if v]


def cmd_queue(args: argparse.Namespace) -> int:
    rows = _query(args)
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
            SHORT[job["state"]],
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


def cmd_history(args: argparse.Namespace) -> int:
    rows = _query(args, since=time.time() - _since_seconds(args.since))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    headers = ["JOBID", "USER", "ACCOUNT", "NAME", "STATE", "GPUS", "START", "ELAPSED",
               "EXITCODE"]  # fmt: skip
    now = time.time()
    print(table(headers, [
        [j["display_id"], j["user"], j["account"], j["name"][:24], j["state"], j["gpu_count"],
         timestamp(j["start_time"]), duration(elapsed(j, now)), _exit(j)]
        for j in rows
    ]))  # fmt: skip
    return 0


def _exit(job: dict[str, Any]) -> str:
    if job["exit_code"] is None and job["exit_signal"] is None:
        return ""
    return f"{job['exit_code'] or 0}:{job['exit_signal'] or 0}"


def _since_seconds(text: str) -> float:
    """30m, 12h, 7d, 2w, or an ISO date/time in local time."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[:-1].isdigit() and text[-1:] in units:
        return int(text[:-1]) * units[text[-1]]
    try:
        return time.time() - datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidSpec(
            f"invalid --since {text!r}: expected 30m, 12h, 7d or YYYY-MM-DD[THH:MM]"
        ) from None


def cmd_show(args: argparse.Namespace) -> int:
    job = Client().job(args.job)
    if args.json:
        print(json.dumps(job, indent=1))
        return 0
    print(render_job(job))
    return 0


def render_job(job: dict[str, Any]) -> str:
    spec = job["spec"]
    lines = [
        f"JobId={job['display_id']} JobName={job['name']}",
        f"   User={job['user']}({job['uid']}) Account={job['account']} "
        f"Partition={job['partition']} QOS={job['qos']}",
        f"   JobState={job['state']} Reason={job['reason']} ({job['reason_text']})"
        + (" Held" if job["held"] else ""),
        f"   Priority={job['priority']:.1f} Nice={spec['nice']}",
    ]
    factors = job.get("priority_factors") or {}
    if factors:
        parts = " ".join(f"{k}={v:.4f}" for k, v in sorted(factors.items()))
        lines.append(f"   PriorityFactors {parts}")
    lines += [
        f"   GPUs={spec['gpus']}"
        + (f" GpuType={spec['gpu_type']}" if spec["gpu_type"] else "")
        + f" AllocatedGPUs={gpu_list(job['gpus']) or '-'} CPUs={spec['cpus_per_task']}"
        + f" Mem={spec['mem_mb'] or '-'}M",
        f"   TimeLimit={duration(job['time_limit'])} SubmitTime={timestamp(job['submit_time'])}"
        f" StartTime={timestamp(job['start_time']) or '-'}"
        f" EndTime={timestamp(job['end_time']) or '-'}",
        f"   ExpectedStart={timestamp(job['expected_start']) or '-'}"
        f" Restarts={job['restart_count']}",
        f"   ExitCode={_exit(job) or '-'}"
        + (f" Message={job['message']}" if job["message"] else ""),
        f"   Dependency={spec['dependency'] or '-'} Array={spec['array'] or '-'}",
        f"   StdOut={job['stdout_path']}",
        f"   StdErr={job['stderr_path']}",
    ]
    if spec.get("argv"):
        lines.append(f"   Command={' '.join(spec['argv'])}")
    return "\n".join(lines)


def cmd_select(args: argparse.Namespace) -> int:
    client = Client()
    user = getpass.getuser() if args.me else args.user
    states = [parse_state(s).value for s in _split(args.state)] or None
    action = getattr(client, args.action)
    done = action(args.jobs, user=user, name=args.name, states=states)
    verb = {"cancel": "cancelled", "hold": "held", "release": "released"}[args.action]
    if done:
        print(f"{verb}: {' '.join(done)}")
    else:
        print(f"no matching active job; nothing {verb}", file=sys.stderr)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    return follow_logs(Client(), args.job, stream="err" if args.err else "out",
                       follow=args.follow)  # fmt: skip


def follow_logs(client: Client, job_id: int, *, stream: str, follow: bool) -> int:
    offset = 0
    out = sys.stdout.buffer
    while True:
        data, offset, state = client.logs(job_id, stream=stream, offset=offset)
        out.write(data)
        out.flush()
        if not follow or (state in TERMINAL and not data):
            return 0
        if not data:
            time.sleep(0.25)
