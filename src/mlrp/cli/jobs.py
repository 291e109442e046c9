"""Commands on single jobs: show, cancel, hold, release, logs."""

from __future__ import annotations

import json
import sys
import time

from mlrp.cli.listing import states_of
from mlrp.client import Client
from mlrp.models.states import JobState
from mlrp.tables import duration, exit_text, gpu_list, timestamp, user_name

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any

    from mlrp.cli.main import Commands, Namespace


def register(sub: Commands) -> None:
    show = sub.add_parser("show", help="everything about one job")
    show.add_argument("job", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    for name, helptext in (
        ("cancel", "cancel jobs (like scancel)"),
        ("hold", "keep pending jobs from starting"),
        ("release", "let held jobs start"),
    ):
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


def cmd_show(args: Namespace) -> int:
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
    weighted = job.get("priority_weighted") or {}
    if factors:
        parts = " ".join(
            f"{k}={v:.4f}->{weighted.get(k, 0):.1f}" for k, v in sorted(factors.items())
        )
        lines.append(f"   PriorityFactors (factor->weighted) {parts} nice=-{spec['nice']}")
    lines += [
        f"   GPUs={spec['gpus']}"
        + (f" GpuType={spec['gpu_type']}" if spec["gpu_type"] else "")
        + f" AllocatedGPUs={gpu_list(job['gpus']) or '-'} CPUs={spec['cpus_per_task']}"
        + f" Mem={spec['mem_mb'] or '-'}M"
        + (f" NodeList={job['nodelist']}" if job.get("nodelist") else ""),
        f"   TimeLimit={duration(job['time_limit']) or '-' if job['time_limit'] else 'UNLIMITED'}"
        f" SubmitTime={timestamp(job['submit_time'])}"
        f" StartTime={timestamp(job['start_time']) or '-'}"
        f" EndTime={timestamp(job['end_time']) or '-'}",
        f"   ExpectedStart={timestamp(job['expected_start']) or '-'}"
        f" Restarts={job['restart_count']}",
        f"   ExitCode={exit_text(job) or '-'}"
        + (f" Message={job['message']}" if job["message"] else ""),
        f"   Dependency={spec['dependency'] or '-'} Array={spec['array'] or '-'}",
        f"   StdOut={job['stdout_path']}",
        f"   StdErr={job['stderr_path']}",
    ]
    if spec.get("argv"):
        lines.append(f"   Command={' '.join(spec['argv'])}")
    return "\n".join(lines)


def cmd_select(args: Namespace) -> int:
    client = Client()
    user = user_name() if args.me else args.user
    states = states_of(args)
    action = getattr(client, args.action)
    done = action(args.jobs, user=user, name=args.name, states=states)
    verb = {"cancel": "cancelled", "hold": "held", "release": "released"}[args.action]
    if done:
        print(f"{verb}: {' '.join(done)}")
    else:
        print(f"no matching active job; nothing {verb}", file=sys.stderr)
    return 0


def cmd_logs(args: Namespace) -> int:
    return follow_logs(Client(), args.job, stream="err" if args.err else "out", follow=args.follow)


def follow_logs(client: Client, job_id: int, *, stream: str, follow: bool) -> int:
    offset = 0
    out = sys.stdout.buffer
    while True:
        data, offset, state = client.logs(job_id, stream=stream, offset=offset)
        out.write(data)
        out.flush()
        if not follow or (JobState(state).is_terminal and not data):
            return 0
        if not data:
            time.sleep(0.25)
