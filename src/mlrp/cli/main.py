"""Entry point of the `mlrp` command: find the command's module, import only it, run it.

Each command module registers its sub-commands on an argparse sub-parser set. Loading
only the module a call needs keeps a CLI call close to the interpreter's own start-up
(the `up` command alone loads the daemon's heavy dependencies).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from mlrp.errors import MlrpError

Handler = Callable[[argparse.Namespace], int]

# command -> (module under mlrp.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("daemon", "run the daemon (foreground unless --detach)"),
    "down": ("daemon", "stop the daemon (running jobs keep running)"),
    "submit": ("submit", "submit a batch script, a task YAML or a command (like sbatch)"),
    "run": ("submit", "run a command attached, streaming its output (like srun)"),
    "queue": ("listing", "pending and running jobs (like squeue)"),
    "show": ("jobs", "everything about one job"),
    "cancel": ("jobs", "cancel jobs (like scancel)"),
    "hold": ("jobs", "keep pending jobs from starting"),
    "release": ("jobs", "let held jobs start"),
    "logs": ("jobs", "a job's output"),
    "history": ("history", "jobs, ended ones included (like sacct)"),
    "nodes": ("machine", "the machine and its GPU links"),
    "gpus": ("machine", "every GPU, its state and which job holds it"),
    "share": ("machine", "the fair-share tree: shares, decayed usage, factor"),
    "sim": ("sim", "replay a workload trace through the scheduler on a virtual clock"),
}


def build_parser(modules: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlrp",
        description="Fair, queued, safe GPU jobs for a research lab.",
        epilog="commands:\n" + "\n".join(f"  {c:<9} {h}" for c, (_, h) in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in dict.fromkeys(modules):
        importlib.import_module(f"mlrp.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list else ""
    if command in ("submit", "run"):
        submit = importlib.import_module("mlrp.cli.submit")
        return int(submit.main(command, args_list[1:]))
    known = command in COMMANDS
    parser = build_parser([COMMANDS[command][0]] if known else [m for m, _ in COMMANDS.values()])
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
