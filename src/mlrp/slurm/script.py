"""Plan, then act: a `JobSpec` as the sbatch script that runs it, a pure frozen value.

`plan_script(spec, ...)` -> `BatchScript`; `BatchScript.render()` is the exact text sbatch
reads (`mlrp submit --dry-run` prints it), and `BatchScript.args` the script's arguments.
The job's environment is not part of the script: it is the environment of the sbatch
process (Slurm's default `--export=ALL`), so values travel as bytes, never as shell text.

How fields become directives (only fields that differ from Slurm's defaults, or were
given explicitly, are written):

    name            --job-name          time_limit      --time=D-HH:MM:SS
    gpus, gpu_type  --gres=gpu[:TYPE]:N mem_mb          --mem=NM
    nodes           --nodes             cpus_per_task   --cpus-per-task
    ntasks_per_node --ntasks-per-node   partition/account/qos  -p / -A / -q
    output, error   --output, --error   workdir         --chdir
    array           --array             dependency      --dependency
    requeue         --requeue / --no-requeue (when given)
    signal          --signal=[B:]SIG@N  begin           --begin=now+N (from `now`)
    nice            --nice              hold            --hold

Safety: a directive value is written in double quotes with `\\` and `"` escaped, which
is how sbatch reads #SBATCH lines; a value with a line break or another control
character cannot be written on one line and is refused (InvalidSpec), so nothing in a
job's fields can start a directive or a command. Commands are quoted with shlex. A batch
script of the user's runs as written, except that its own #SBATCH lines (already merged
into the spec, command-line options over them) are disabled the usual way, `##SBATCH`,
so that sbatch does not read them a second time.

Multi-node commands (nodes or tasks per node > 1) run through `srun`, one task per
slot, with the variables torchrun-style programs read: MASTER_ADDR (the first node's
address), MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK and LOCAL_WORLD_SIZE. A
batch script is run as sbatch runs it (once, on the first node; it calls srun itself).
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass

from mlrp.errors import InvalidSpec
from mlrp.models.jobs import JobSpec

SHELL = "#!/bin/bash"
_PLAIN = re.compile(r"[A-Za-z0-9_./:%@,+=-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SCRIPT_DIRECTIVES = ("#SBATCH", "#SLURM")
MASTER_PORT_BASE = 20000


@dataclass(frozen=True, slots=True)
class Directive:
    option: str  # "--job-name"
    value: str | None = None  # None: a flag ("--hold")

    def render(self) -> str:
        if self.value is None:
            return f"#SBATCH {self.option}"
        return f"#SBATCH {self.option}={quote_directive(self.value)}"


@dataclass(frozen=True, slots=True)
class BatchScript:
    """An sbatch script: its interpreter line, #SBATCH directives, body and arguments."""

    shebang: str
    directives: tuple[Directive, ...]
    body: str
    args: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [self.shebang, *(d.render() for d in self.directives)]
        body = self.body if self.body.endswith("\n") or not self.body else self.body + "\n"
        return "\n".join(lines) + "\n" + body

    def option(self, name: str) -> str | None:
        """The value of directive `name` ("" for a flag), None when absent."""
        for directive in self.directives:
            if directive.option == name:
                return "" if directive.value is None else directive.value
        return None


def quote_directive(value: str) -> str:
    """`value` as one #SBATCH argument that sbatch reads back exactly."""
    if _CONTROL.search(value):
        raise InvalidSpec(
            f"{value!r} contains a line break or control character, which an sbatch "
            "directive cannot hold"
        )
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------------------ plan


def plan_script(
    spec: JobSpec, *, now: float, workdir: str | None = None, slurm_bin: str = ""
) -> BatchScript:
    """The sbatch script of `spec`. `now`: the submit time (for --begin); `workdir`:
    the directory used when the spec names none (the owner's home); `slurm_bin`: the
    folder of srun and scontrol ("" to find them on the job's PATH)."""
    _check_payload(spec)
    directives = _directives(spec, now=now, workdir=spec.workdir or workdir)
    if spec.script is not None:
        shebang, body = _user_script(spec.script)
        return BatchScript(shebang, directives, body, tuple(spec.script_args))
    assert spec.argv is not None
    return BatchScript(SHELL, directives, _command_body(spec, slurm_bin))


def _directives(spec: JobSpec, *, now: float, workdir: str | None) -> tuple[Directive, ...]:
    given = spec.model_fields_set
    found: list[Directive | None] = [
        Directive("--job-name", spec.display_name()),
        _text("--partition", spec.partition),
        _text("--account", spec.account),
        _text("--qos", spec.qos),
        _count("--nodes", spec.nodes),
        _tasks_per_node(spec),
        _gres(spec),
        _count("--cpus-per-task", spec.cpus_per_task),
        None if spec.mem_mb is None else Directive("--mem", f"{spec.mem_mb}M"),
        None if spec.time_limit is None else Directive("--time", slurm_duration(spec.time_limit)),
        _text("--output", spec.output),
        _text("--error", spec.error),
        _text("--chdir", workdir),
        _text("--array", spec.array),
        _text("--dependency", spec.dependency),
        _requeue(spec) if "requeue" in given else None,
        _signal(spec) if given & {"signal", "signal_before"} else None,
        _begin(spec.begin, now),
        None if spec.nice == 0 else Directive("--nice", str(spec.nice)),
        Directive("--hold") if spec.hold else None,
    ]
    directives = tuple(d for d in found if d is not None)
    for directive in directives:
        if directive.value is not None:
            _check_value(directive)
    return directives


def _check_value(directive: Directive) -> None:
    try:
        quote_directive(directive.value or "")
    except InvalidSpec as e:
        raise InvalidSpec(f"{directive.option}: {e.message}") from None


def _text(option: str, value: str | None) -> Directive | None:
    return None if value is None else Directive(option, value)


def _count(option: str, value: int) -> Directive | None:
    return None if value == 1 else Directive(option, str(value))


def _tasks_per_node(spec: JobSpec) -> Directive | None:
    """Written for every multi-node job: sbatch's own default is one task in all."""
    if spec.nodes == 1 and spec.ntasks_per_node == 1:
        return None
    return Directive("--ntasks-per-node", str(spec.ntasks_per_node))


def _gres(spec: JobSpec) -> Directive | None:
    if spec.gpus == 0:
        return None
    model = f"{spec.gpu_type}:" if spec.gpu_type else ""
    return Directive("--gres", f"gpu:{model}{spec.gpus}")


def _requeue(spec: JobSpec) -> Directive:
    return Directive("--requeue" if spec.requeue else "--no-requeue")


def _signal(spec: JobSpec) -> Directive:
    """`B:` (the batch shell) unless srun runs the tasks: a command is exec'd by the
    batch shell, so it is the batch shell; tasks of srun get it without `B:`."""
    target = "" if _launched(spec) else "B:"
    return Directive("--signal", f"{target}{spec.signal}@{spec.signal_before}")


def _begin(begin: float | None, now: float) -> Directive | None:
    if begin is None or begin <= now:
        return None
    return Directive("--begin", f"now+{math.ceil(begin - now)}")


def slurm_duration(seconds: int) -> str:
    """Seconds as Slurm's D-HH:MM:SS (Slurm rounds up to whole minutes)."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"


# ------------------------------------------------------------------------------ body


def _check_payload(spec: JobSpec) -> None:
    texts = [*(spec.argv or []), *(spec.script_args or []), spec.script or ""]
    if any("\0" in text for text in texts):
        raise InvalidSpec("the command or script contains a NUL character")
    for name, value in spec.env.items():
        if not name or "=" in name or "\0" in name:
            raise InvalidSpec(f"invalid environment variable name {name!r}")
        if "\0" in value:
            raise InvalidSpec(f"environment variable {name} contains a NUL character")


def _user_script(text: str) -> tuple[str, str]:
    """(its #! line, the rest with its leading #SBATCH lines disabled)."""
    first, _, rest = text.partition("\n")
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(_SCRIPT_DIRECTIVES):
            lines[index] = "#" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            break  # sbatch reads directives up to the first command
    return first, "\n".join(lines)


def _launched(spec: JobSpec) -> bool:
    return spec.argv is not None and (spec.nodes > 1 or spec.ntasks_per_node > 1)


def _command_body(spec: JobSpec, slurm_bin: str) -> str:
    assert spec.argv is not None
    command = shlex.join(spec.argv)
    if not _launched(spec):
        return f"exec {command}\n"
    srun = shlex.quote(_tool(slurm_bin, "srun"))
    scontrol = shlex.quote(_tool(slurm_bin, "scontrol"))
    task = (
        'export RANK="$SLURM_PROCID" LOCAL_RANK="$SLURM_LOCALID" NODE_RANK="$SLURM_NODEID"'
        ' LOCAL_WORLD_SIZE="$SLURM_NTASKS_PER_NODE"; exec "$@"'
    )
    return (
        f'mlrp_first=$({scontrol} show hostnames "$SLURM_JOB_NODELIST" | head -n 1)\n'
        f'MASTER_ADDR=$({scontrol} show node "$mlrp_first" -o'
        " | sed -n 's/.* NodeAddr=\\([^ ]*\\).*/\\1/p')\n"
        'export MASTER_ADDR="${MASTER_ADDR:-$mlrp_first}"\n'
        f"export MASTER_PORT=$(({MASTER_PORT_BASE} + SLURM_JOB_ID % 10000))\n"
        'export WORLD_SIZE="$SLURM_NTASKS"\n'
        f"exec {srun} --kill-on-bad-exit=1 /bin/bash -c {shlex.quote(task)} mlrp-task {command}\n"
    )


def _tool(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if folder else name
