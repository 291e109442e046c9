"""Slurm job dependency specifications (--dependency).

Contract: `parse_dependency(text)` returns a `Dependencies`. Accepted, as in Slurm:

* "afterok:12:13,afterany:14"   every listed condition must hold (separated by ",")
* "after:5?afterok:6"           any one condition suffices (separated by "?")
* "afterok:12_3"                one task (3) of array job 12
* "singleton"                   no other job of the same name and user may be running;
                                it may be combined with the other conditions

Kinds: after, afterok, afternotok, afterany. Other Slurm kinds (aftercorr,
afterburstbuffer, expand, "+time" delays) and mixing "," with "?" raise `InvalidSpec`
naming the offending part.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mlrp.errors import InvalidSpec

KINDS = frozenset({"after", "afterok", "afternotok", "afterany"})

_JOB = re.compile(r"([0-9]{1,18})(?:_([0-9]{1,9}))?")


class Dependency(NamedTuple):
    """One condition: `kind` of job `job_id` (or of one task of array job `job_id`)."""

    kind: str
    job_id: int
    array_task: int | None = None


class Dependencies(NamedTuple):
    """All conditions of one --dependency value."""

    items: tuple[Dependency, ...]
    singleton: bool = False
    any_of: bool = False


def parse_dependency(text: str, option: str = "--dependency") -> Dependencies:
    """Parse a Slurm --dependency value such as "afterok:12:13,afterany:14_2"."""
    value = text.strip()
    if "," in value and "?" in value:
        raise InvalidSpec(
            f"invalid {option} {text!r}: use either ',' (all of) or '?' (any of), not both"
        )
    any_of = "?" in value
    items: list[Dependency] = []
    singleton = False
    for part in value.split("?" if any_of else ","):
        if part == "singleton":
            singleton = True
        else:
            items.extend(_condition(part, text, option))
    return Dependencies(items=tuple(items), singleton=singleton, any_of=any_of)


def _condition(part: str, text: str, option: str) -> list[Dependency]:
    kind, colon, jobs = part.partition(":")
    if not part:
        raise InvalidSpec(
            f"invalid {option} {text!r}: expected conditions like afterok:12 or singleton"
        )
    if kind == "singleton":
        raise InvalidSpec(f"invalid {option} {text!r}: singleton takes no job ids")
    if kind not in KINDS:
        raise InvalidSpec(
            f"invalid {option} {text!r}: unknown dependency type {kind!r} "
            f"(supported: {', '.join(sorted(KINDS))}, singleton)"
        )
    if not colon:
        raise InvalidSpec(f"invalid {option} {text!r}: {kind!r} needs job ids, e.g. {kind}:123")
    return [_job(kind, job, text, option) for job in jobs.split(":")]


def _job(kind: str, job: str, text: str, option: str) -> Dependency:
    match = _JOB.fullmatch(job)
    if match is None:
        raise InvalidSpec(
            f"invalid {option} {text!r}: {job!r} is not a job id (expected 123 or 123_4)"
        )
    job_id = int(match.group(1))
    if job_id < 1:
        raise InvalidSpec(f"invalid {option} {text!r}: job ids start at 1")
    task = match.group(2)
    return Dependency(kind=kind, job_id=job_id, array_task=None if task is None else int(task))
