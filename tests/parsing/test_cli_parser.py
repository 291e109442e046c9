"""The CLI's one shared parser (mlrp.cli.main): the argparse subset every command
declares its options with, its errors (exit status 2, usage on stderr) and help."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlrp.cli.main import COMMANDS, Command, Commands, Namespace, main


def parser() -> Command:
    commands = Commands()
    p = commands.add_parser("demo", help="a demo command")
    p.add_argument("--me", action="store_true", help="only my jobs")
    p.add_argument("--user", "-u")
    p.add_argument("--state", "-t", action="append")
    p.add_argument("--start", action="store_true")
    p.add_argument("--count", type=int, default="3")
    p.add_argument("--mode", choices=["a", "b"])
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("jobs", nargs="*", metavar="JOB")
    p.set_defaults(handler=print, action="demo")
    return p


def parse(*tokens: str) -> Namespace:
    return parser().parse(list(tokens))


def test_defaults() -> None:
    args = parse()
    assert vars(args) == {
        "handler": print, "action": "demo", "me": False, "user": None, "state": None,
        "start": False, "count": 3, "mode": None, "follow": False, "jobs": [],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["--user", "bob"], {"user": "bob"}),
        (["--user=bob"], {"user": "bob"}),
        (["-u", "bob"], {"user": "bob"}),
        (["-ubob"], {"user": "bob"}),
        (["-u=bob"], {"user": "bob"}),
        (["--us", "bob"], {"user": "bob"}),  # a unique prefix, as argparse
        (["-t", "PD", "--state", "R", "-tCD"], {"state": ["PD", "R", "CD"]}),
        (["--me", "-f"], {"me": True, "follow": True}),
        (["-fu", "bob"], {"follow": True, "user": "bob"}),  # flags grouped, then a value
        (["--count", "7"], {"count": 7}),
        (["--mode", "b"], {"mode": "b"}),
        (["12", "--me", "13_2"], {"jobs": ["12", "13_2"], "me": True}),
        (["--", "--me"], {"jobs": ["--me"], "me": False}),
        (["-5"], {"jobs": ["-5"]}),  # a negative number is not an option
        (["--user", "a", "--user", "b"], {"user": "b"}),  # the last one wins
    ],
)
def test_option_forms(tokens: list[str], expected: dict[str, Any]) -> None:
    args = vars(parse(*tokens))
    assert {k: args[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["--bogus", "x"], "unrecognized arguments: --bogus"),  # x is a JOB
        (["--user"], "argument --user/-u: expected one argument"),
        (["--user", "--me"], "argument --user/-u: expected one argument"),
        (["--st", "x"], "ambiguous option: --st could match --state, --start"),
        (["--count", "x"], "argument --count: invalid int value: 'x'"),
        (["--mode", "c"], "argument --mode: invalid choice: 'c' (choose from 'a', 'b')"),
        (["--me=yes"], "argument --me: ignored explicit argument 'yes'"),
        (["-x"], "unrecognized arguments: -x"),
    ],
)
def test_errors_exit_2_with_usage(
    tokens: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(*tokens)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mlrp demo [-h] [--me] [--user USER]")
    assert err.rstrip().endswith(f"mlrp demo: error: {message}")


def test_required_option_and_positional(capsys: pytest.CaptureFixture[str]) -> None:
    p = Commands().add_parser("req")
    p.add_argument("trace")
    p.add_argument("--cluster", required=True)
    assert vars(p.parse(["t.csv", "--cluster", "2x8"])) == {"trace": "t.csv", "cluster": "2x8"}
    with pytest.raises(SystemExit):
        p.parse([])
    assert "the following arguments are required: trace, --cluster" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p.parse(["a", "b", "--cluster", "1x1"])
    assert "unrecognized arguments: b" in capsys.readouterr().err


def test_types_apply_to_string_defaults_and_values() -> None:
    p = Commands().add_parser("typed")
    p.add_argument("--config", type=Path)
    p.add_argument("--interval", type=float, default=60.0)
    p.add_argument("job", type=int)
    args = p.parse(["5", "--config", "a/b.toml"])
    assert args.job == 5 and args.config == Path("a/b.toml") and args.interval == 60.0


def test_help_exits_0_and_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse("--help")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mlrp demo [-h]")
    assert "a demo command" in out
    for flag in ("-h, --help", "--me", "--user USER, -u USER", "--mode {a,b}", "-f, --follow"):
        assert flag in out
    assert "positional arguments:\n  JOB" in out


def test_top_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
    assert main(["bogus"]) == 2
    assert "argument COMMAND: invalid choice: 'bogus'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name:<9} " in out for name in COMMANDS)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("submit", "run")])
def test_every_command_declares_itself_on_the_shared_parser(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each module's `register` (machine and sim included) works with the parser, and
    `--help` shows the command's options."""
    commands = Commands()
    importlib.import_module(f"mlrp.cli.{COMMANDS[command][0]}").register(commands)
    assert command in commands.parsers
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: mlrp {command} [-h]")


def test_a_listing_loads_neither_argparse_nor_json_nor_re() -> None:
    """What `mlrp queue` imports: its start-up is the interpreter's plus little."""
    probe = (
        "import sys\n"
        "from mlrp.cli import main, listing\n"
        "from mlrp.cli.main import Commands\n"
        "listing.register(Commands())\n"
        "heavy = {'argparse', 'json', 're', 'enum', 'socket', 'typing', 'mlrp.models.states'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
