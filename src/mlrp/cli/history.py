"""`mlrp history`: jobs, ended ones included, like sacct."""

from __future__ import annotations

import json
import time
from datetime import datetime

from mlrp.cli.listing import add_filters, query
from mlrp.errors import InvalidSpec
from mlrp.tables import duration, elapsed, exit_text, table, timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from mlrp.cli.main import Commands, Namespace


def register(sub: Commands) -> None:
    history = sub.add_parser("history", help="jobs, ended ones included (like sacct)")
    add_filters(history)
    history.add_argument(
        "--since", default="1d", help="how far back: 30m, 12h, 7d or an ISO date (default 1d)"
    )
    history.set_defaults(handler=cmd_history)


def cmd_history(args: Namespace) -> int:
    rows = query(args, since=time.time() - _since_seconds(args.since))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    headers = ["JOBID", "USER", "ACCOUNT", "NAME", "STATE", "GPUS", "START", "ELAPSED", "EXITCODE"]
    now = time.time()
    print(
        table(
            headers,
            [
                [
                    j["display_id"],
                    j["user"],
                    j["account"],
                    j["name"][:24],
                    j["state"],
                    j["gpu_count"],
                    timestamp(j["start_time"]),
                    duration(elapsed(j, now)),
                    exit_text(j),
                ]
                for j in rows
            ],
        )
    )
    return 0


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
