"""Cancel, hold and release, with ownership checks.

Targets are job ids as users write them: `123` (a job, or every task of array 123),
`123_4` (one array task). Filters (`user`, `name`, `states`) narrow the selection, as
scancel's do; with no ids, the filters alone select (at least one must be given).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlrp.errors import InvalidSpec, InvalidTransition, NotFound
from mlrp.models.jobs import Job
from mlrp.models.reasons import Reason
from mlrp.models.states import JobState
from mlrp.services.context import Platform
from mlrp.services.identity import Caller
from mlrp.services.runtime import handle_of

ACTIVE = (JobState.PENDING, JobState.RUNNING)
MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: no job has a larger id


def select(
    platform: Platform,
    targets: Sequence[str],
    *,
    user: str | None = None,
    name: str | None = None,
    states: Sequence[JobState] | None = None,
) -> list[Job]:
    """Active jobs matching the targets and filters."""
    if not targets and user is None and name is None and not states:
        raise InvalidSpec("name at least one job id or a filter (--user, --name, --state)")
    if targets:
        jobs = [job for target in targets for job in _resolve(platform, target)]
    else:
        jobs = platform.store.find(states=list(states or ACTIVE), user=user, name=name)
    return [
        job
        for job in jobs
        if job.state in ACTIVE
        and (user is None or job.user == user)
        and (name is None or job.name == name)
        and (not states or job.state in states)
    ]


def _resolve(platform: Platform, target: str) -> list[Job]:
    head, _, task = target.partition("_")
    if not _decimal(head) or (task and not _decimal(task)):
        raise InvalidSpec(f"invalid job id {target!r}; expected 123 or 123_4")
    if int(head) > MAX_ID or (task and int(task) > MAX_ID):
        raise NotFound(f"no job {target}")
    job_id = int(head)
    array = platform.store.array_tasks(job_id)
    if task:
        found = [j for j in array if j.array_task_id == int(task)]
    elif array:
        found = array
    else:
        single = platform.store.get(job_id)
        found = [single] if single else []
    if not found:
        raise NotFound(f"no job {target}")
    return found


def cancel(platform: Platform, caller: Caller, jobs: Sequence[Job]) -> list[Job]:
    """Cancel each job: pending ones end at once, running ones get the polite signal,
    a grace period, then SIGKILL (their end is recorded when the supervisor reports)."""
    for job in jobs:
        caller.require_owner(job, "cancel")
    message = f"cancelled by {caller.user}"
    with platform.store.transaction():  # one commit, however many jobs
        for job in jobs:
            if job.state is JobState.PENDING:
                platform.store.transition(
                    job.id,
                    JobState.PENDING,
                    JobState.CANCELLED,
                    end_time=platform.clock(),
                    reason=Reason.NONE,
                    expected_start=None,
                    message=message,
                )
            elif job.state is JobState.RUNNING:
                platform.store.update(job.id, message=message)
    for job in jobs:  # signals only once the transaction is over
        if job.state is JobState.RUNNING:
            platform.executor.cancel(handle_of(platform, job))
    platform.wake()
    return list(jobs)


def set_held(platform: Platform, caller: Caller, jobs: Sequence[Job], held: bool) -> list[Job]:
    action = "hold" if held else "release"
    for job in jobs:
        caller.require_owner(job, action)
        if job.state is not JobState.PENDING:
            raise InvalidTransition(
                f"job {job.display_id} is {job.state}; only pending jobs can be "
                f"{'held' if held else 'released'}"
            )
    for job in jobs:
        # The reason shown follows at the next pass, which platform.wake() brings now.
        platform.store.update(job.id, held=held)
    platform.wake()
    return list(jobs)


def _decimal(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()
