"""Entry point of the `mlrp` command: parse arguments, dispatch to a command module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mlrp.cli import commands, jobs, submit
from mlrp.errors import MlrpError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlrp", description="Fair, queued, safe GPU jobs for a research lab."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(sub)
    jobs.register(sub)
    submit.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in ("submit", "run"):
        return submit.main(args_list[0], args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    handler: Handler = args.handler
    try:
        return handler(args)
    except MlrpError as e:
        print(f"mlrp {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
