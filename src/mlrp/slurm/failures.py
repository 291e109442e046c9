"""Slurm's error messages -> mlrp errors whose message says what to change.

`translate(command, stderr, context)` reads what a Slurm command wrote to stderr (for
example `sbatch: error: Batch job submission failed: Invalid account or
account/partition combination specified`) and returns the MlrpError to raise: the class
says what kind of problem it is (a request Slurm can never run, a limit, a permission),
the message keeps Slurm's words and adds what to do. `context` carries the values the
user gave (account, partition, qos, user), so the message can name them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mlrp.errors import (
    BackendUnavailable,
    InvalidSpec,
    InvalidTransition,
    MlrpError,
    NotFound,
    OverLimit,
    PermissionDenied,
    Unsatisfiable,
)

Advice = Callable[[Mapping[str, str]], str]


def _given(context: Mapping[str, str], key: str, default: str = "the default") -> str:
    value = context.get(key)
    return repr(value) if value else default


def _account(c: Mapping[str, str]) -> str:
    user = c.get("user", "you")
    return (
        f"Slurm does not let {user} use account {_given(c, 'account')} in partition "
        f"{_given(c, 'partition')}; give --account one of {user}'s Slurm accounts "
        f"(sacctmgr show assoc user={user} format=account,partition)"
    )


def _partition(c: Mapping[str, str]) -> str:
    return (
        f"Slurm has no partition {_given(c, 'partition')}; give --partition one of the "
        "partitions `mlrp nodes` lists"
    )


def _qos(c: Mapping[str, str]) -> str:
    return (
        f"QOS {_given(c, 'qos')} is not one this account may use; give --qos one of "
        "those `sacctmgr show assoc format=account,user,qos` lists"
    )


def _shape(c: Mapping[str, str]) -> str:
    asked = ", ".join(
        f"{label} {c[key]}"
        for key, label in (("gres", "GPUs per node"), ("nodes", "nodes"), ("mem", "memory"))
        if c.get(key)
    )
    return (
        f"no node of the partition can ever hold this job{f' ({asked})' if asked else ''}; "
        "compare the GPU count and model, --cpus-per-task, --mem and --nodes with "
        "`mlrp nodes` (GPUS, MODELS, CPUS, MEMORY)"
    )


def _memory(c: Mapping[str, str]) -> str:
    return "no node has that much memory; lower --mem to what `mlrp nodes` shows"


def _gres(c: Mapping[str, str]) -> str:
    return (
        "Slurm does not know this GPU request; check the GPU model in --gres/--gpus "
        "against `mlrp nodes` (MODELS), or leave the model out"
    )


def _time(c: Mapping[str, str]) -> str:
    return "the time limit is above what the partition or QOS allows; lower --time"


def _policy(c: Mapping[str, str]) -> str:
    return (
        "a limit of the account or QOS (jobs, GPUs or time per user) forbids it; "
        "submit fewer or smaller jobs, or ask an admin"
    )


def _dependency(c: Mapping[str, str]) -> str:
    return "check the job ids in --dependency (they must exist and be yours to wait on)"


def _array(c: Mapping[str, str]) -> str:
    return "check --array (Slurm's MaxArraySize caps the indices)"


def _denied(c: Mapping[str, str]) -> str:
    return f"Slurm does not let {c.get('user', 'you')} act on this job"


def _no_job(c: Mapping[str, str]) -> str:
    return "Slurm has no such job (it may have ended long ago)"


def _not_pending(c: Mapping[str, str]) -> str:
    return "only pending jobs can be held or released"


def _unreachable(c: Mapping[str, str]) -> str:
    return "Slurm's controller (slurmctld) did not answer; is it running? (scontrol ping)"


# (words in Slurm's message, the error class, advice): the first match wins.
RULES: tuple[tuple[str, type[MlrpError], Advice], ...] = (
    ("invalid account or account/partition combination", Unsatisfiable, _account),
    ("invalid account", Unsatisfiable, _account),
    ("invalid partition", Unsatisfiable, _partition),
    ("invalid qos", Unsatisfiable, _qos),
    ("memory specification can not be satisfied", Unsatisfiable, _memory),
    ("invalid generic resource", Unsatisfiable, _gres),
    ("invalid gres", Unsatisfiable, _gres),
    ("requested node configuration is not available", Unsatisfiable, _shape),
    ("node count specification invalid", Unsatisfiable, _shape),
    ("requested time limit is invalid", Unsatisfiable, _time),
    ("job violates accounting/qos policy", OverLimit, _policy),
    ("qos job limit", OverLimit, _policy),
    ("job dependency problem", InvalidSpec, _dependency),
    ("invalid job array specification", InvalidSpec, _array),
    ("access/permission denied", PermissionDenied, _denied),
    ("invalid job id specified", NotFound, _no_job),
    ("job is no longer pending", InvalidTransition, _not_pending),
    ("job has already finished", InvalidTransition, _not_pending),
    ("already completing or completed", InvalidTransition, _not_pending),
    ("unable to contact slurm controller", BackendUnavailable, _unreachable),
    ("socket timed out", BackendUnavailable, _unreachable),
    ("connection refused", BackendUnavailable, _unreachable),
)


def slurm_words(stderr: str) -> str:
    """Slurm's message without its `sbatch: error:` prefixes, lines joined by '; '."""
    lines = []
    for line in stderr.strip().splitlines():
        text = line.strip()
        for prefix in ("error:", "fatal:"):
            head, found, rest = text.partition(prefix)
            if found and len(head) < 20:
                text = rest.strip()
        text = text.removeprefix("Batch job submission failed:").strip()
        if text and text not in lines:
            lines.append(text)
    return "; ".join(lines)


def translate(command: str, stderr: str, context: Mapping[str, str] | None = None) -> MlrpError:
    """The error to raise for a failed Slurm `command` that wrote `stderr`."""
    words = slurm_words(stderr) or "no message"
    context = context or {}
    lowered = words.lower()
    for needle, cls, advice in RULES:
        if needle in lowered:
            return cls(f"{command}: {words} ({advice(context)})")
    return MlrpError(f"{command} failed: {words}")
