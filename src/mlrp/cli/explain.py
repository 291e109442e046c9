"""`mlrp explain JOB [--vs OTHER]`: why a job waits, factor by factor, and why another
job runs (or is ranked) before it. The daemon works it out (services.explain) from what
the last scheduling pass recorded; this module only prints it."""

from __future__ import annotations

import json

from mlrp.client import Client
from mlrp.tables import table, timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any

    from mlrp.cli.main import Commands, Namespace


def register(sub: Commands) -> None:
    p = sub.add_parser("explain", help="why a job waits, and why another runs before it")
    p.add_argument("job", type=int)
    p.add_argument("--vs", type=int, metavar="OTHER", help="compare with this job")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_explain)


def cmd_explain(args: Namespace) -> int:
    data = Client().explain(args.job, args.vs)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(render(data))
    return 0


def render(data: dict[str, Any]) -> str:
    lines = [f"Job {data['display_id']} ({data['user']}, account {data['account']}, "
             f"QOS {data['qos']}, {data['gpus']} GPUs): {data['state']}"]  # fmt: skip
    if data["state"] == "PENDING":
        where = (
            f"position {data['position']} of {data['pending']} pending"
            if data["position"] is not None
            else "not ranked yet"
        )
        lines.append(f"  waiting: {data['reason']} — {data['reason_text']}; {where}")
        if data["expected_start"] is not None:
            lines.append(f"  expected start: {timestamp(data['expected_start'])}")
    lines.append(f"  priority {data['priority']:.1f} = sum of weighted factors - nice")
    rows = [
        [name, f"{f['factor']:.4f}", f["weight"], f"{f['weighted']:.1f}"]
        for name, f in data["factors"].items()
    ]
    rows.append(["nice", "", "", f"{-data['nice']:.1f}"])
    lines.append(_indent(table(["FACTOR", "VALUE", "WEIGHT", "WEIGHTED"], rows)))
    if data["ahead"]:
        lines.append("  just ahead of it:")
        ahead = [
            [a["display_id"], a["user"], a["account"], f"{a['priority']:.1f}",
             a["lead"] or "-", a["lead_text"] or "submitted earlier, same priority"]
            for a in data["ahead"]
        ]  # fmt: skip
        lines.append(
            _indent(table(["JOBID", "USER", "ACCOUNT", "PRIORITY", "LEADS_BY", "WHY"], ahead))
        )
    versus = data.get("versus")
    if versus:
        lines.append(f"  vs job {versus['display_id']} ({versus['state']}): {versus['verdict']}")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
