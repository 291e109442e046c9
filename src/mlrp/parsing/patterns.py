"""Slurm filename patterns for --output and --error.

Contract: `expand_filename(pattern, ...)` replaces, as sbatch does:

* %j  the job id                   %x  the job name
* %A  the array master job id      %u  the user name
      (the job id when not an array)
* %a  the array task id            %N  the node's short name (up to the first '.')
      ("4294967294" when not an array, as Slurm prints)
* %%  a literal '%'

A number between '%' and a numeric letter zero-pads it ("%4a" -> "0007"), capped at
10 digits as in Slurm; with a non-numeric letter (%x, %u, %N) the number is dropped.
Unknown letters are left exactly as written. Pure; never raises.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module; it must not load pydantic
    from mlrp.models.jobs import Job

NO_ARRAY_TASK = "4294967294"
"""What Slurm writes for %a when the job is not an array task (NO_VAL - 1)."""

_MAX_PAD = 10
_TOKEN = re.compile(r"%(%|([0-9]*)([A-Za-z]))")
_NUMERIC = frozenset("jAa")


def expand_filename(
    pattern: str,
    *,
    job_id: int,
    array_job_id: int | None,
    array_task_id: int | None,
    name: str,
    user: str,
    node: str = "localhost",
) -> str:
    """The --output/--error path that `pattern` names for this job."""
    values = {
        "j": str(job_id),
        "A": str(job_id if array_job_id is None else array_job_id),
        "a": NO_ARRAY_TASK if array_task_id is None else str(array_task_id),
        "x": name,
        "u": user,
        "N": node.split(".", 1)[0],
    }

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        width, letter = match.group(2), match.group(3)
        if letter not in values:
            return match.group(0)
        if letter in _NUMERIC and width:
            return values[letter].zfill(_pad(width))
        return values[letter]

    return _TOKEN.sub(replace, pattern)


def _pad(width: str) -> int:
    digits = width.lstrip("0")
    return _MAX_PAD if len(digits) > 2 else min(int(digits or "0"), _MAX_PAD)


def expand_for_job(pattern: str, job: Job, node: str = "localhost") -> str:
    """The --output/--error path that `pattern` names for this job on `node`."""
    return expand_filename(
        pattern,
        job_id=job.id,
        array_job_id=job.array_job_id,
        array_task_id=job.array_task_id,
        name=job.name,
        user=job.user,
        node=node,
    )
