"""Entry point of the `mlrp` command: find the command's module, import only it, run it.

Each command module declares its commands and their options on the one small parser
below (`register(commands)`: `commands.add_parser(...)`, then `add_argument(...)` and
`set_defaults(handler=...)`, the subset of argparse's interface that mlrp uses, so a
module written for argparse works unchanged). argparse itself would load `re`, `gettext`
and `shutil`, and cost a CLI call more than its own work. Loading only the module a call
needs keeps a call close to the interpreter's own start-up (`up` alone loads the
daemon's heavy dependencies). `submit` and `run` take sbatch's options, which
mlrp.parsing reads: they get their raw tokens.
"""

from __future__ import annotations

import sys

from mlrp.errors import MlrpError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    Handler = Callable[["Namespace"], int]

PROG = "mlrp"
DESCRIPTION = "Fair, queued, safe GPU jobs for a research lab."

# command -> (module under mlrp.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("daemon", "run the daemon (foreground unless --detach)"),
    "down": ("daemon", "stop the daemon (running jobs keep running)"),
    "submit": ("submit", "submit a batch script, a task YAML or a command (like sbatch)"),
    "run": ("submit", "run a command attached, streaming its output (like srun)"),
    "queue": ("listing", "pending and running jobs (like squeue)"),
    "show": ("jobs", "everything about one job"),
    "explain": ("explain", "why a job waits, and why another runs before it"),
    "cancel": ("jobs", "cancel jobs (like scancel)"),
    "hold": ("jobs", "keep pending jobs from starting"),
    "release": ("jobs", "let held jobs start"),
    "logs": ("jobs", "a job's output"),
    "history": ("history", "jobs, ended ones included (like sacct)"),
    "nodes": ("machine", "the machine and its GPU links"),
    "gpus": ("machine", "every GPU, its state and which job holds it"),
    "share": ("machine", "the fair-share tree: shares, decayed usage, factor"),
    "sim": ("sim", "replay a workload trace through the scheduler on a virtual clock"),
    "slurm": ("slurm_config", "slurm config: this lab as a Slurm cluster's configuration"),
    "token": ("access", "API tokens for the REST API on TCP: create, list, revoke"),
    "passwd": ("access", "set your password for browser login"),
}


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    command = tokens[0] if tokens else ""
    if command in ("submit", "run"):
        from mlrp.cli import submit

        return submit.main(command, tokens[1:])
    if command not in COMMANDS:
        return _top_level(command)
    commands = Commands()
    module = __import__(f"mlrp.cli.{COMMANDS[command][0]}", fromlist=["register"])
    module.register(commands)
    parser = commands.parsers[command]
    parser.set_defaults(command=command)
    args = parser.parse(tokens[1:])
    handler: Handler = args.handler
    try:
        return handler(args)
    except MlrpError as e:
        print(f"mlrp {command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _top_level(command: str) -> int:
    """`mlrp`, `mlrp --help` or an unknown command."""
    usage = f"usage: {PROG} [-h] COMMAND ..."
    if command in ("-h", "--help"):
        listing = "\n".join(f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items())
        print(f"{usage}\n\n{DESCRIPTION}\n\ncommands:\n{listing}\n\noptions:")
        print("  -h, --help  show this help message and exit")
        return 0
    if not command or command.startswith("-"):
        problem = "the following arguments are required: COMMAND"
    else:
        choices = ", ".join(repr(name) for name in COMMANDS)
        problem = f"argument COMMAND: invalid choice: {command!r} (choose from {choices})"
    print(f"{usage}\n{PROG}: error: {problem}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------- the parser


class Namespace:
    """The parsed arguments: one attribute per option and positional argument."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # for type checkers: any attribute may exist
        raise AttributeError(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Argument:
    """One declared option (`--user`, `-u`) or positional argument (`job`)."""

    __slots__ = (
        "action", "choices", "default", "dest", "flags", "help", "metavar", "nargs",
        "positional", "required", "type",
    )  # fmt: skip

    def __init__(
        self,
        flags: tuple[str, ...],
        *,
        action: str = "store",
        type: Callable[[str], Any] | None = None,
        choices: Sequence[Any] | None = None,
        default: Any = None,
        required: bool = False,
        help: str | None = None,
        metavar: str | None = None,
        nargs: str | None = None,
        dest: str | None = None,
    ) -> None:
        if action not in ("store", "store_true", "append"):
            raise ValueError(f"unsupported action {action!r}")
        if nargs not in (None, "?", "*", "+"):
            raise ValueError(f"unsupported nargs {nargs!r}")
        self.flags = flags
        self.positional = not flags[0].startswith("-")
        longs = [f for f in flags if f.startswith("--")]
        self.dest = dest or (longs[0] if longs else flags[0]).lstrip("-").replace("-", "_")
        self.action = action
        self.type = type
        self.choices = choices
        self.default = False if action == "store_true" and default is None else default
        self.required = required or (self.positional and nargs in (None, "+"))
        self.help = help
        self.metavar = metavar
        self.nargs = nargs

    @property
    def takes_value(self) -> bool:
        return self.action != "store_true"

    @property
    def shown(self) -> str:
        """The argument as error messages name it: `--user/-u`, `job`."""
        return (self.metavar or self.dest) if self.positional else "/".join(self.flags)

    @property
    def value_name(self) -> str:
        if self.metavar:
            return self.metavar
        if self.choices is not None:
            return "{" + ",".join(str(c) for c in self.choices) + "}"
        return self.dest if self.positional else self.dest.upper()

    def usage(self) -> str:
        if self.positional:
            name = self.value_name
            return {"?": f"[{name}]", "*": f"[{name} ...]", "+": f"{name} [{name} ...]"}.get(
                self.nargs or "", name
            )
        text = self.flags[0] + (f" {self.value_name}" if self.takes_value else "")
        return text if self.required else f"[{text}]"

    def convert(self, parser: Command, text: str, *, check: bool = True) -> Any:
        """The value of `text`; with `check`, one of the choices (a default need not be)."""
        value = text
        if self.type is not None:
            try:
                value = self.type(text)
            except (TypeError, ValueError):
                kind = getattr(self.type, "__name__", repr(self.type))
                parser.error(f"argument {self.shown}: invalid {kind} value: {text!r}")
        if check and self.choices is not None and value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            parser.error(
                f"argument {self.shown}: invalid choice: {value!r} (choose from {options})"
            )
        return value


class Command:
    """The parser of one command: declared arguments in, a Namespace out."""

    def __init__(
        self,
        prog: str,
        *,
        help: str | None = None,
        description: str | None = None,
        add_help: bool = True,
    ) -> None:
        self.prog = prog
        self.help = help
        self.description = description
        self.add_help = add_help
        self.arguments: list[Argument] = []
        self.defaults: dict[str, Any] = {}

    def add_argument(self, *flags: str, **options: Any) -> Argument:
        argument = Argument(flags, **options)
        self.arguments.append(argument)
        return argument

    def set_defaults(self, **values: Any) -> None:
        self.defaults.update(values)

    # --- parsing ------------------------------------------------------------------------

    def parse(self, tokens: Sequence[str]) -> Namespace:
        values: dict[str, Any] = dict(self.defaults)
        for argument in self.arguments:
            default = argument.default
            if isinstance(default, str) and argument.takes_value:
                default = argument.convert(self, default, check=False)
            values[argument.dest] = default
        given: set[str] = set()
        words: list[str] = []
        unknown: list[str] = []
        i, n = 0, len(tokens)
        while i < n:
            token = tokens[i]
            i += 1
            if not _is_option(token):
                words.append(token)
                continue
            if token == "--":
                words += tokens[i:]
                break
            if self.add_help and token in ("-h", "--help"):
                print(self.format_help())
                raise SystemExit(0)
            found = self._match(token)
            if found is None:
                unknown.append(token)
                continue
            for argument, attached in found:
                if not argument.takes_value:
                    if attached is not None:
                        problem = f"ignored explicit argument {attached!r}"
                        self.error(f"argument {argument.shown}: {problem}")
                    values[argument.dest] = True
                    given.add(argument.dest)
                    continue
                if attached is None:
                    if i >= n or _is_option(tokens[i]):
                        self.error(f"argument {argument.shown}: expected one argument")
                    attached = tokens[i]
                    i += 1
                value = argument.convert(self, attached)
                if argument.action == "append":
                    values[argument.dest] = [*(values[argument.dest] or []), value]
                else:
                    values[argument.dest] = value
                given.add(argument.dest)
        unknown += self._positionals(words, values, given)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        missing = [a.shown for a in self.arguments if a.required and a.dest not in given]
        if missing:
            self.error(f"the following arguments are required: {', '.join(missing)}")
        return Namespace(**values)

    def _match(self, token: str) -> list[tuple[Argument, str | None]] | None:
        """The argument(s) a token names, with a value given in it: `--user=u`, `-uu`,
        `-fd` (two flags); None when it names none."""
        options = [a for a in self.arguments if not a.positional]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            exact = [a for a in options if name in a.flags]
            if not exact:  # a unique prefix, as argparse allows
                exact = [a for a in options if any(f.startswith(name) for f in a.flags)]
                if len(exact) > 1:
                    matches = ", ".join(f for a in exact for f in a.flags if f.startswith(name))
                    self.error(f"ambiguous option: {name} could match {matches}")
            return [(exact[0], value if eq else None)] if exact else None
        found: list[tuple[Argument, str | None]] = []
        rest = token[1:]
        while rest:
            argument = next((a for a in options if "-" + rest[0] in a.flags), None)
            if argument is None:
                return None
            if argument.takes_value:  # `-uname`, `-u=name` or `-u name`
                found.append((argument, rest[1:].removeprefix("=") or None))
                break
            found.append((argument, None))
            rest = rest[1:]
        return found

    def _positionals(self, words: list[str], values: dict[str, Any], given: set[str]) -> list[str]:
        """Give the positional arguments their words; return the words left over."""
        for argument in (a for a in self.arguments if a.positional):
            if argument.nargs in ("*", "+"):
                taken, words = words, []
                values[argument.dest] = [argument.convert(self, w) for w in taken]
                if taken:
                    given.add(argument.dest)
                elif argument.nargs == "*" and argument.default is not None:
                    values[argument.dest] = argument.default
            elif words:
                values[argument.dest] = argument.convert(self, words[0])
                words = words[1:]
                given.add(argument.dest)
        return words

    # --- help and errors ----------------------------------------------------------------

    def format_usage(self) -> str:
        """argparse's: options first, then positional arguments, wrapped at 80 columns."""
        ordered = sorted(self.arguments, key=lambda a: a.positional)
        parts = (["[-h]"] if self.add_help else []) + [a.usage() for a in ordered]
        head = f"usage: {self.prog}"
        lines, line = [], head
        for part in parts:
            if len(line) + 1 + len(part) > 80 and line.strip():
                lines.append(line)
                line = " " * len(head)
            line += " " + part
        return "\n".join([*lines, line])

    def format_help(self) -> str:
        import textwrap  # only for help: it loads re

        sections = [self.format_usage()]
        if self.description or self.help:
            sections.append(textwrap.fill(str(self.description or self.help), 80))
        positionals = [a for a in self.arguments if a.positional]
        if positionals:
            lines = [_help_line(a.value_name, a.help) for a in positionals]
            sections.append("positional arguments:\n" + "\n".join(lines))
        options = []
        if self.add_help:
            options.append(_help_line("-h, --help", "show this help message and exit"))
        for a in self.arguments:
            if not a.positional:
                value = f" {a.value_name}" if a.takes_value else ""
                options.append(_help_line(", ".join(f + value for f in a.flags), a.help))
        if options:
            sections.append("options:\n" + "\n".join(options))
        return "\n\n".join(sections)

    def error(self, message: str) -> NoReturn:
        """As argparse: the usage and the problem on stderr, exit status 2."""
        print(f"{self.format_usage()}\n{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


class Commands:
    """What each command module's `register` declares its commands on."""

    def __init__(self) -> None:
        self.parsers: dict[str, Command] = {}

    def add_parser(
        self,
        name: str,
        *,
        help: str | None = None,
        description: str | None = None,
        add_help: bool = True,
    ) -> Command:
        parser = Command(f"{PROG} {name}", help=help, description=description, add_help=add_help)
        self.parsers[name] = parser
        return parser


def _is_option(token: str) -> bool:
    """`-x`, `--xx`, `--`; not `-` alone nor a negative number."""
    return token.startswith("-") and token != "-" and not token[1:].replace(".", "", 1).isdigit()


def _help_line(name: str, text: str | None) -> str:
    """`  --name NAME           what it does`, the text wrapped at 80 columns."""
    if not text:
        return f"  {name}"
    import textwrap

    lines = textwrap.wrap(text, 80 - 24)
    first = f"  {name:<20}  {lines[0]}" if len(name) <= 20 else f"  {name}\n{' ' * 24}{lines[0]}"
    return "\n".join([first, *(" " * 24 + line for line in lines[1:])])


if __name__ == "__main__":
    sys.exit(main())
