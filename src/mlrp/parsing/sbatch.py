"""sbatch-style options and #SBATCH directives -> the fields of a `JobSpec`.

Contract:

* `read_directives(script_text)` returns the option tokens of the script's #SBATCH
  lines, by Slurm's rules: only lines before the first line that is neither blank nor a
  comment count; "#SBATCH" must start the line; values use shell quoting (shlex); an
  unquoted '#' that starts a word begins a comment (as in the shell: unlike Slurm, a '#'
  inside a word such as --output=run#1.log is kept).
* `parse_options(tokens, now=..., source=...)` parses sbatch options ("--opt=value",
  "--opt value", "-X value", "-Xvalue", "-H" flags) into a dict of `JobSpec` fields plus
  two intermediate keys: "export" (the raw --export text) and "wrap" (--wrap's command).
  Values are validated; --array and --dependency keep their raw text.
* `spec_from_script(...)` / `spec_from_command(...)` build the final field dict: the
  command-line options override the script's directives key by key (as in Slurm),
  --export is resolved against the submitter's environment into "env", and either
  "script" (+ "script_args") or "argv" is set. Only JobSpec keys appear, and only those
  given, except "env" (always) and the pairs below.
* A GPU option always sets both "gpus" and "gpu_type" (None when no model is named), so
  a command-line --gpus=4 replaces a script's --gres=gpu:a100:2 entirely. "gpus" counts
  GPUs per node: --gpus (per job) is divided by --nodes, --gpus-per-task multiplied by
  the tasks per node; --ntasks likewise becomes "ntasks_per_node" (a count that does not
  divide evenly is an error), whatever the order of the options. --signal sets
  "signal" and "signal_before"; --time=UNLIMITED sets "time_limit" to None.
* `resolve_export(export, environ)` implements Slurm's --export semantics.
* `VALUELESS_OPTIONS` lists the options that never take the next token as their value
  (flags, and --nice whose value can only be attached), for splitting a command line
  (defined in mlrp.parsing.options, which the CLI loads without this module).
* `ignored_options(tokens)` names the accepted-but-ignored options (--mail-type,
  --mail-user, --comment) so the CLI can warn about them.

Errors are `InvalidSpec` that name the source ("line 3 of train.sh: ..." or
"command line: ..."), the option, and the offending text.
"""

from __future__ import annotations

import re
import shlex
import signal as signals
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

from mlrp.errors import InvalidSpec
from mlrp.parsing.arrays import parse_array
from mlrp.parsing.dependency import parse_dependency
from mlrp.parsing.options import VALUELESS_OPTIONS as VALUELESS_OPTIONS
from mlrp.parsing.slurmtime import parse_begin, parse_duration, parse_memory

Fields = dict[str, object]
_Handler = Callable[[str, str, float], Fields]
"""(value, option as the user wrote it, now) -> fields. Flags and a bare --nice get ""."""

COMMAND_LINE = "command line"
# Intermediate keys, resolved by _layout once every option is known.
_NTASKS = "ntasks"
_GPU_SCOPE = "gpu_scope"
MAX_NAME = 200
DEFAULT_NICE = 100
DEFAULT_SIGNAL_TIME = 60
MAX_SIGNAL_TIME = 0xFFFF
IGNORED_OPTIONS = frozenset({"--mail-type", "--mail-user", "--comment"})


class _Option(NamedTuple):
    long: str
    short: str | None
    arity: Literal["flag", "value", "optional"]
    handler: _Handler


class _Token(NamedTuple):
    text: str
    where: str
    directive: bool = False


class _Use(NamedTuple):
    option: _Option
    shown: str
    value: str
    where: str


# ---------------------------------------------------------------------------- values


def _fail(shown: str, value: str, problem: str) -> InvalidSpec:
    return InvalidSpec(f"invalid {shown} {value!r}: {problem}")


def _integer(value: str, shown: str, low: int, high: int, whole: str | None = None) -> int:
    """`value` as an int in [low, high]; errors quote `whole`, the option's full value."""
    match = re.fullmatch(r"[+-]?[0-9]{1,9}", value.strip())
    number = int(match.group(0)) if match else None
    if number is None or not low <= number <= high:
        what = "a whole number" if whole is None else f"{value!r} to be a whole number"
        raise _fail(
            shown, value if whole is None else whole, f"expected {what} from {low} to {high}"
        )
    return number


def _nonempty(value: str, shown: str) -> str:
    if not value.strip():
        raise _fail(shown, value, "the value is empty")
    return value


def _text(key: str, limit: int | None = None) -> _Handler:
    def handler(value: str, shown: str, now: float) -> Fields:
        if limit is not None and len(value) > limit:
            raise _fail(shown, value, f"longer than {limit} characters")
        return {key: _nonempty(value, shown)}

    return handler


def _flag(fields: Fields) -> _Handler:
    def handler(value: str, shown: str, now: float) -> Fields:
        return dict(fields)

    return handler


def _ignored(value: str, shown: str, now: float) -> Fields:
    return {}


def _time(value: str, shown: str, now: float) -> Fields:
    return {"time_limit": parse_duration(value, shown)}


def _memory(value: str, shown: str, now: float) -> Fields:
    return {"mem_mb": parse_memory(value, shown)}


def _cpus(value: str, shown: str, now: float) -> Fields:
    return {"cpus_per_task": _integer(value, shown, 1, 100_000)}


def _begin(value: str, shown: str, now: float) -> Fields:
    return {"begin": parse_begin(value, now, shown)}


def _array(value: str, shown: str, now: float) -> Fields:
    parse_array(value, shown)
    return {"array": value.strip()}


def _dependency(value: str, shown: str, now: float) -> Fields:
    parse_dependency(value, shown)
    return {"dependency": value.strip()}


def _nice(value: str, shown: str, now: float) -> Fields:
    return {"nice": _integer(value, shown, -10000, 10000) if value else DEFAULT_NICE}


def _wrap(value: str, shown: str, now: float) -> Fields:
    return {"wrap": _nonempty(value, shown)}


def _export(value: str, shown: str, now: float) -> Fields:
    _export_items(value, shown)
    return {"export": value}


# ------------------------------------------------------------------------------ GPUs

_GPU_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def _gpu_fields(count: int, model: str | None, shown: str, value: str) -> Fields:
    if model is not None and _GPU_MODEL.fullmatch(model) is None:
        raise _fail(shown, value, f"{model!r} is not a GPU model name")
    return {"gpus": count, "gpu_type": None if model is None else model.lower()}


def _gpus(scope: str) -> _Handler:
    """--gpus / -G (per job), --gpus-per-node, --gpus-per-task: "N" or "MODEL:N"."""

    def handler(value: str, shown: str, now: float) -> Fields:
        model, colon, count = value.strip().rpartition(":")
        if "," in value:
            raise _fail(shown, value, "give one GPU model, e.g. a100:2")
        number = _integer(count, shown, 0, 4096, whole=value)
        return {**_gpu_fields(number, model if colon else None, shown, value), _GPU_SCOPE: scope}

    return handler


def _gres(value: str, shown: str, now: float) -> Fields:
    """--gres: "gpu", "gpu:N", "gpu:MODEL" or "gpu:MODEL:N" (or "none")."""
    items = [item.strip() for item in value.split(",")]
    if [item.lower() for item in items] == ["none"]:
        return {"gpus": 0, "gpu_type": None, _GPU_SCOPE: "node"}
    others = [item for item in items if item.partition(":")[0] != "gpu"]
    if others:
        raise _fail(shown, value, f"only GPU resources are supported, not {others[0]!r}")
    if len(items) > 1:
        raise _fail(shown, value, "give one GPU request, e.g. gpu:a100:2")
    return {**_gres_gpu(items[0].split(":")[1:], shown, value), _GPU_SCOPE: "node"}


def _gres_gpu(parts: list[str], shown: str, value: str) -> Fields:
    if not parts:
        return _gpu_fields(1, None, shown, value)
    if len(parts) == 1 and not parts[0].isdigit():
        return _gpu_fields(1, parts[0], shown, value)
    if len(parts) > 2:
        raise _fail(shown, value, "expected gpu, gpu:N or gpu:MODEL:N")
    model = parts[0] if len(parts) == 2 else None
    return _gpu_fields(_integer(parts[-1], shown, 0, 4096, whole=value), model, shown, value)


# ------------------------------------------------------------------- nodes and tasks


def _nodes(value: str, shown: str, now: float) -> Fields:
    match = re.fullmatch(r"([0-9]{1,6})(?:-([0-9]{1,6}))?", value.strip())
    if match is None:
        raise _fail(shown, value, "expected a node count such as 2")
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    if low != high:
        raise _fail(shown, value, "give one node count (ranges such as 2-4 are not supported)")
    if low < 1:
        raise _fail(shown, value, "a job needs at least one node")
    return {"nodes": low}


def _ntasks_per_node(value: str, shown: str, now: float) -> Fields:
    return {"ntasks_per_node": _integer(value, shown, 1, 100_000)}


def _ntasks(value: str, shown: str, now: float) -> Fields:
    """--ntasks counts tasks in all: spread evenly over the nodes (see _layout)."""
    return {_NTASKS: _integer(value, shown, 1, 10**9)}


def _layout(fields: Fields) -> Fields:
    """Resolve the per-job counts (--ntasks, --gpus) into the per-node ones a JobSpec
    holds, once every option is known (so that their order does not matter)."""
    nodes = fields.get("nodes", 1)
    assert isinstance(nodes, int)
    ntasks = fields.pop(_NTASKS, None)
    if isinstance(ntasks, int):
        fields["ntasks_per_node"] = _per_node(ntasks, nodes, "--ntasks", "--ntasks-per-node")
    scope = fields.pop(_GPU_SCOPE, "node")
    gpus = fields.get("gpus")
    if isinstance(gpus, int) and scope == "job":
        fields["gpus"] = _per_node(gpus, nodes, "--gpus", "--gpus-per-node")
    elif isinstance(gpus, int) and scope == "task":
        tasks = fields.get("ntasks_per_node", 1)
        assert isinstance(tasks, int)
        fields["gpus"] = gpus * tasks
    return fields


def _per_node(total: int, nodes: int, option: str, instead: str) -> int:
    if total % nodes:
        raise InvalidSpec(
            f"{option} {total} cannot be spread evenly over {nodes} nodes; "
            f"use {instead} to give the count on each node"
        )
    return total // nodes


# ---------------------------------------------------------------------------- signal

_SIGNAL = re.compile(r"(?:([RB]{1,2}):)?([A-Z0-9]+)(?:@(.*))?", re.IGNORECASE)


def _signal(value: str, shown: str, now: float) -> Fields:
    """--signal=[{R|B}:]SIG[@seconds]; the R/B flags have no meaning on one machine."""
    match = _SIGNAL.fullmatch(value.strip())
    if match is None:
        raise _fail(shown, value, "expected [{R|B}:]SIGNAL[@SECONDS], e.g. USR1@90")
    seconds = match.group(3)
    return {
        "signal": _signal_name(match.group(2), shown, value),
        "signal_before": (
            DEFAULT_SIGNAL_TIME
            if seconds is None
            else _integer(seconds, shown, 0, MAX_SIGNAL_TIME, whole=value)
        ),
    }


def _signal_name(text: str, shown: str, value: str) -> str:
    if text.isdigit():
        try:
            return signals.Signals(int(text)).name.removeprefix("SIG")
        except ValueError:
            raise _fail(shown, value, f"{text} is not a signal number") from None
    name = "SIG" + text.upper().removeprefix("SIG")
    if name not in signals.Signals.__members__:
        raise _fail(shown, value, f"unknown signal {text!r}")
    return name.removeprefix("SIG")


# ---------------------------------------------------------------------------- export

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Export(NamedTuple):
    everything: bool
    items: tuple[tuple[str, str | None], ...]


def _export_items(text: str, shown: str = "--export") -> _Export:
    words = text.split(",")
    keywords = {word.upper() for word in words} & {"ALL", "NONE"}
    if keywords == {"ALL", "NONE"}:
        raise _fail(shown, text, "ALL and NONE contradict each other")
    items = tuple(_export_item(word, shown, text) for word in words if word.upper() not in keywords)
    return _Export(everything="ALL" in keywords, items=items)


def _export_item(word: str, shown: str, text: str) -> tuple[str, str | None]:
    name, equals, value = word.partition("=")
    if _ENV_NAME.fullmatch(name) is None:
        raise _fail(shown, text, f"{word!r} is not ALL, NONE, a variable name or NAME=value")
    return name, value if equals else None


def resolve_export(export: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The job environment that a Slurm --export value asks for.

    None or "ALL": all of `environ`. "NONE": nothing. "ALL,A=1,B": all of `environ`
    with A set to 1. "A=1,B" (no ALL): only A=1 and B (B's value from `environ`,
    skipped when unset). Values may contain '='.
    """
    if export is None:
        return dict(environ)
    spec = _export_items(export)
    env = dict(environ) if spec.everything else {}
    for name, value in spec.items:
        if value is not None:
            env[name] = value
        elif name in environ:
            env[name] = environ[name]
    return env


# ----------------------------------------------------------------------- option table

_OPTIONS: tuple[_Option, ...] = (
    _Option("--job-name", "-J", "value", _text("name", MAX_NAME)),
    _Option("--cpus-per-task", "-c", "value", _cpus),
    _Option("--time", "-t", "value", _time),
    _Option("--mem", None, "value", _memory),
    _Option("--partition", "-p", "value", _text("partition")),
    _Option("--account", "-A", "value", _text("account")),
    _Option("--qos", "-q", "value", _text("qos")),
    _Option("--output", "-o", "value", _text("output")),
    _Option("--error", "-e", "value", _text("error")),
    _Option("--chdir", "-D", "value", _text("workdir")),
    _Option("--array", "-a", "value", _array),
    _Option("--dependency", "-d", "value", _dependency),
    _Option("--gpus", "-G", "value", _gpus("job")),
    _Option("--gpus-per-node", None, "value", _gpus("node")),
    _Option("--gpus-per-task", None, "value", _gpus("task")),
    _Option("--gres", None, "value", _gres),
    _Option("--export", None, "value", _export),
    _Option("--requeue", None, "flag", _flag({"requeue": True})),
    _Option("--no-requeue", None, "flag", _flag({"requeue": False})),
    _Option("--signal", None, "value", _signal),
    _Option("--begin", "-b", "value", _begin),
    _Option("--nice", None, "optional", _nice),
    _Option("--hold", "-H", "flag", _flag({"hold": True})),
    _Option("--slurm-env", None, "flag", _flag({"slurm_env": True})),
    _Option("--nodes", "-N", "value", _nodes),
    _Option("--ntasks", "-n", "value", _ntasks),
    _Option("--ntasks-per-node", None, "value", _ntasks_per_node),
    _Option("--wrap", None, "value", _wrap),
    *(_Option(name, None, "value", _ignored) for name in sorted(IGNORED_OPTIONS)),
)
_BY_LONG = {option.long: option for option in _OPTIONS}
_BY_SHORT = {option.short: option for option in _OPTIONS if option.short}

# VALUELESS_OPTIONS (imported above, from a module the CLI can load without `re`) must
# name exactly the options of this table whose arity is not "value" (a test checks).


# --------------------------------------------------------------------------- scanning


def _unknown(token: _Token, name: str) -> InvalidSpec:
    kind = "#SBATCH option" if token.directive else "option"
    return InvalidSpec(f"{token.where}: unknown {kind} {name}")


def _stray(token: _Token) -> InvalidSpec:
    if token.text in ("hetjob", "packjob"):
        return InvalidSpec(
            f"{token.where}: heterogeneous jobs ({token.text}) need the Slurm backend"
        )
    return InvalidSpec(f"{token.where}: unexpected argument {token.text!r} (options start with -)")


def _take_value(tokens: Sequence[_Token], index: int, shown: str) -> str:
    if index >= len(tokens):
        raise InvalidSpec(f"{tokens[index - 1].where}: option {shown} needs a value")
    return tokens[index].text


def _scan_long(tokens: Sequence[_Token], index: int) -> tuple[_Use, int]:
    token = tokens[index]
    name, equals, value = token.text.partition("=")
    option = _BY_LONG.get(name)
    if option is None:
        raise _unknown(token, name)
    if option.arity == "flag" and equals:
        raise InvalidSpec(f"{token.where}: option {name} takes no value (got {token.text!r})")
    if option.arity == "value" and not equals:
        return _Use(option, name, _take_value(tokens, index + 1, name), token.where), index + 2
    return _Use(option, name, value, token.where), index + 1


def _scan_short(tokens: Sequence[_Token], index: int) -> tuple[list[_Use], int]:
    """A getopt cluster: "-H", "-Hc4", "-c 4", "-c4"."""
    token = tokens[index]
    uses: list[_Use] = []
    for position in range(1, len(token.text)):
        shown = "-" + token.text[position]
        option = _BY_SHORT.get(shown)
        if option is None:
            raise _unknown(token, shown)
        if option.arity == "flag":
            uses.append(_Use(option, shown, "", token.where))
            continue
        rest = token.text[position + 1 :]
        if rest:
            return [*uses, _Use(option, shown, rest, token.where)], index + 1
        value = _take_value(tokens, index + 1, shown)
        return [*uses, _Use(option, shown, value, token.where)], index + 2
    return uses, index + 1


def _scan(tokens: Sequence[_Token]) -> list[_Use]:
    uses: list[_Use] = []
    index = 0
    while index < len(tokens):
        text = tokens[index].text
        if text.startswith("--") and len(text) > 2:
            use, index = _scan_long(tokens, index)
            uses.append(use)
        elif text.startswith("-") and len(text) > 1 and not text.startswith("--"):
            more, index = _scan_short(tokens, index)
            uses.extend(more)
        else:
            raise _stray(tokens[index])
    return uses


def _parse(tokens: Sequence[_Token], now: float) -> Fields:
    fields: Fields = {}
    for use in _scan(tokens):
        try:
            fields.update(use.option.handler(use.value, use.shown, now))
        except InvalidSpec as err:
            raise InvalidSpec(f"{use.where}: {err.message}") from err
    return fields


def parse_options(tokens: list[str], *, now: float, source: str) -> Fields:
    """sbatch options -> JobSpec fields, plus "export" and "wrap" when given."""
    return _layout(_parse([_Token(token, source) for token in tokens], now))


def ignored_options(tokens: list[str], *, source: str = COMMAND_LINE) -> list[str]:
    """The accepted-but-ignored options among `tokens` (e.g. ["--mail-type"])."""
    located = [_Token(token, source) for token in tokens]
    return [use.option.long for use in _scan(located) if use.option.long in IGNORED_OPTIONS]


# ------------------------------------------------------------------------- directives


def _strip_comment(text: str) -> str:
    """`text` up to an unquoted, unescaped '#' that starts a word."""
    quote = ""
    escaped = False
    word_start = True
    for index, char in enumerate(text):
        literal = escaped or bool(quote)
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and word_start:
            return text[:index]
        word_start = char.isspace() and not literal
    return text


def _line_tokens(line: str, number: int, source: str) -> list[str]:
    try:
        return shlex.split(_strip_comment(line.removeprefix("#SBATCH")))
    except ValueError as err:
        raise InvalidSpec(f"line {number} of {source}: cannot read {line!r}: {err}") from err


def _directive_lines(script_text: str, source: str) -> list[tuple[int, list[str]]]:
    found: list[tuple[int, list[str]]] = []
    for number, line in enumerate(script_text.split("\n"), start=1):
        if line.startswith("#SBATCH"):
            found.append((number, _line_tokens(line, number, source)))
        elif line.strip() and not line.lstrip().startswith("#"):
            break
    return found


def read_directives(script_text: str, *, source: str = "the script") -> list[str]:
    """The option tokens of a batch script's #SBATCH lines, in order."""
    return [token for _, tokens in _directive_lines(script_text, source) for token in tokens]


def _script_tokens(script_text: str, source: str) -> list[_Token]:
    return [
        _Token(token, f"line {number} of {source}", directive=True)
        for number, tokens in _directive_lines(script_text, source)
        for token in tokens
    ]


# ------------------------------------------------------------------------- whole specs


def _check_script(script_text: str, source: str) -> None:
    if "\r\n" in script_text:
        raise InvalidSpec(f"{source} has DOS line breaks (\\r\\n); convert it with dos2unix")
    if "\0" in script_text:
        raise InvalidSpec(f"{source} contains a NUL character; is it a binary file?")
    if not script_text.startswith("#!"):
        raise InvalidSpec(
            f"{source} does not look like a batch script: its first line must start with "
            "#! and the path of an interpreter, e.g. #!/bin/bash"
        )


def _pop_text(fields: Fields, key: str) -> str | None:
    value = fields.pop(key, None)
    return value if isinstance(value, str) else None


def _command_line(cli_tokens: list[str]) -> list[_Token]:
    return [_Token(token, COMMAND_LINE) for token in cli_tokens]


def spec_from_script(
    script_text: str,
    *,
    cli_tokens: list[str],
    script_args: list[str],
    environ: Mapping[str, str],
    now: float,
    source: str,
) -> Fields:
    """JobSpec fields for `sbatch [cli_tokens] script [script_args]`."""
    _check_script(script_text, source)
    fields = _parse(_script_tokens(script_text, source), now)
    fields.update(_parse(_command_line(cli_tokens), now))
    _layout(fields)
    if "wrap" in fields:
        raise InvalidSpec(f"--wrap cannot be combined with a batch script ({source})")
    env = resolve_export(_pop_text(fields, "export"), environ)
    fields.update(script=script_text, script_args=list(script_args), env=env)
    return fields


def spec_from_command(
    argv: list[str],
    *,
    cli_tokens: list[str],
    environ: Mapping[str, str],
    now: float,
) -> Fields:
    """JobSpec fields for `mlrp submit [cli_tokens] -- argv` or `... --wrap "cmd"`."""
    fields = _layout(_parse(_command_line(cli_tokens), now))
    wrap = _pop_text(fields, "wrap")
    if wrap is not None and argv:
        raise InvalidSpec(f"give either --wrap or a command after --, not both (--wrap {wrap!r})")
    if wrap is not None:
        fields["script"] = f"#!/bin/sh\n{wrap}\n"
        fields.setdefault("name", "wrap")  # as sbatch names --wrap jobs
    elif not argv or not argv[0]:
        raise InvalidSpec("nothing to run: give a command after -- or use --wrap 'command'")
    else:
        fields["argv"] = list(argv)
    fields["env"] = resolve_export(_pop_text(fields, "export"), environ)
    return fields
