"""`mlrp queue`: pending and running jobs, like squeue, and the filters shared with
`mlrp history`.

The daemon renders the queue's table (mlrp.tables.queue_table): the command only
prints it, which spares every call decoding and formatting the whole queue.
"""

from __future__ import annotations

import os
import sys

from mlrp.client import Client

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any

    from mlrp.cli.main import Command, Commands, Namespace


def register(commands: Commands) -> None:
    queue = commands.add_parser("queue", help="pending and running jobs (like squeue)")
    add_filters(queue)
    queue.add_argument(
        "--start",
        action="store_true",
        help="pending jobs' expected start times, soonest first (like squeue --start)",
    )
    queue.set_defaults(handler=cmd_queue)


def add_filters(p: Command) -> None:
    p.add_argument("--me", action="store_true", help="only my jobs")
    p.add_argument("--user", "-u")
    p.add_argument("--state", "-t", action="append", help="PENDING, R, CD... (repeatable)")
    p.add_argument("--account", "-A")
    p.add_argument("--name", "-n")
    p.add_argument("--json", action="store_true")


def query(
    args: Namespace, *, states: list[str] | None = None, since: float | None = None
) -> list[dict[str, Any]]:
    """The rows the filters select; `states` stands for an absent --state."""
    return Client().jobs(
        states=states_of(args) or states,
        user=user_of(args),
        account=args.account,
        name=args.name,
        since=since,
    )


def states_of(args: Namespace) -> list[str] | None:
    """The --state values as the API names them; None when none is given."""
    values = split_values(args.state)
    if not values:
        return None
    from mlrp.models.states import parse_state  # only when filtering: it loads enum

    return [parse_state(s).value for s in values]


def user_of(args: Namespace) -> str | None:
    if not args.me:
        user: str | None = args.user
        return user
    from mlrp.tables import user_name

    return user_name()


def split_values(values: list[str] | None) -> list[str]:
    return [v for value in values or [] for v in value.split(",") if v]


def cmd_queue(args: Namespace) -> int:
    # --start is about pending jobs, as squeue's (unless --state says otherwise).
    states = states_of(args) or (["PENDING"] if args.start else None)
    if args.json:
        import json

        print(json.dumps(query(args, states=states), indent=1))
        return 0
    text = Client().queue_table(
        states=states,
        user=user_of(args),
        account=args.account,
        name=args.name,
        start=args.start,
        tz=os.environ.get("TZ", "") if args.start else None,
    )
    sys.stdout.write(text)
    return 0
