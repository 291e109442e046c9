"""Credentials for the API on TCP: `mlrp token create|list|revoke` and `mlrp passwd`.

Tokens and passwords are created over the Unix socket only (the kernel says who asks);
`mlrp token create` prints the new token as the last word of its output, once.
"""

from __future__ import annotations

import json
import sys

from mlrp.client import Client
from mlrp.errors import InvalidSpec
from mlrp.tables import table, timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any

    from mlrp.cli.main import Commands, Namespace

TOKEN_HEADERS = ["ID", "NAME", "USER", "CREATED", "LAST_USED", "EXPIRES"]


def register(sub: Commands) -> None:
    token = sub.add_parser(
        "token",
        help="API tokens for the REST API on TCP",
        description="mlrp token create [--name NAME] [--expires DAYS] [--user USER] | "
        "mlrp token list [--all] [--json] | mlrp token revoke ID",
    )
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("id", nargs="?", type=int, metavar="ID", help="the token to revoke")
    token.add_argument("--name", default="token", help="a label to tell tokens apart")
    token.add_argument("--expires", type=float, metavar="DAYS", help="default: never")
    token.add_argument("--user", help="create it for this user (admins only)")
    token.add_argument("--all", action="store_true", help="list every user's tokens (admins)")
    token.add_argument("--json", action="store_true")
    token.set_defaults(handler=cmd_token)

    passwd = sub.add_parser("passwd", help="set your password for browser login")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input"
    )
    passwd.set_defaults(handler=cmd_passwd)


def cmd_token(args: Namespace) -> int:
    if args.action != "revoke" and args.id is not None:
        raise InvalidSpec(f"`mlrp token {args.action}` takes no ID")
    if args.action == "create":
        return _create(args)
    if args.action == "list":
        return _list(args)
    if args.id is None:
        raise InvalidSpec("name the token to revoke: mlrp token revoke ID (see mlrp token list)")
    revoked = Client().revoke_token(args.id)
    print(f"revoked token {revoked['id']} ({revoked['name']}) of {revoked['user']}")
    return 0


def _create(args: Namespace) -> int:
    new = Client().create_token(name=args.name, expires_days=args.expires, user=args.user)
    if args.json:
        print(json.dumps(new, indent=1))
        return 0
    expiry = f"expires {timestamp(new['expires'])}" if new["expires"] else "never expires"
    print(f"token {new['id']} ({new['name']}) for {new['user']}, {expiry}.")
    print("Keep it secret; it is shown only this once. Send it as `Authorization: Bearer`,")
    print("or set MLRP_URL and MLRP_TOKEN for the mlrp command on another machine:")
    print(new["token"])
    return 0


def _list(args: Namespace) -> int:
    rows = Client().tokens(everyone=args.all)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(table(TOKEN_HEADERS, [_cells(row) for row in rows]))
    return 0


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["id"]),
        row["name"],
        row["user"],
        timestamp(row["created"]),
        timestamp(row["last_used"]) or "never",
        timestamp(row["expires"]) or "never",
    ]


def cmd_passwd(args: Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise InvalidSpec("the two passwords differ; nothing changed")
    Client().set_password(password)
    print("password set; your open browser sessions have ended")
    return 0
