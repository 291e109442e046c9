"""Whether a pending job may be considered at all in this pass, and if not, why.

Checked in order: held, begin time, dependencies, singleton. Limits and resources come
later (limits.py, backfill.py).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from enum import Enum

from mlrp.models.reasons import Reason
from mlrp.models.states import FAILURE_STATES, SUCCESS_STATES, JobState
from mlrp.scheduler.snapshot import DepKey, DepRef, QueuedJob


class DepStatus(Enum):
    SATISFIED = "satisfied"
    WAITING = "waiting"
    NEVER = "never"


def dependency_status(
    dep: DepRef, dependency_states: Mapping[DepKey, tuple[JobState, ...]]
) -> DepStatus:
    """One dependency item against the states of what it names: one job, every task of
    an array (`array_task` None), or one array task. An unknown job id, or an unknown
    kind, can never be satisfied."""
    states = dependency_states.get((dep.job_id, dep.array_task))
    if not states:
        return DepStatus.NEVER
    kind = dep.kind
    if kind == "after":  # started (or ended without starting, e.g. cancelled)
        if any(s is JobState.PENDING for s in states):
            return DepStatus.WAITING
        return DepStatus.SATISFIED
    if kind == "afterany":
        if all(s.is_terminal for s in states):
            return DepStatus.SATISFIED
        return DepStatus.WAITING
    if kind == "afterok":
        if any(s in FAILURE_STATES for s in states):
            return DepStatus.NEVER
        if all(s in SUCCESS_STATES for s in states):
            return DepStatus.SATISFIED
        return DepStatus.WAITING
    if kind == "afternotok":
        if any(s in SUCCESS_STATES for s in states):
            return DepStatus.NEVER
        if all(s in FAILURE_STATES for s in states):
            return DepStatus.SATISFIED
        return DepStatus.WAITING
    return DepStatus.NEVER


def dependency_reason(
    job: QueuedJob, dependency_states: Mapping[DepKey, tuple[JobState, ...]]
) -> Reason | None:
    """None when the job's dependencies are met (all of them, or any one of them with
    `dependency_any`), else Dependency or DependencyNeverSatisfied."""
    if not job.dependencies:
        return None
    statuses = [dependency_status(d, dependency_states) for d in job.dependencies]
    if job.dependency_any:
        if DepStatus.SATISFIED in statuses:
            return None
        if all(s is DepStatus.NEVER for s in statuses):
            return Reason.DEPENDENCY_NEVER_SATISFIED
        return Reason.DEPENDENCY
    if DepStatus.NEVER in statuses:
        return Reason.DEPENDENCY_NEVER_SATISFIED
    if DepStatus.WAITING in statuses:
        return Reason.DEPENDENCY
    return None


def eligibility_reason(
    job: QueuedJob,
    now: float,
    dependency_states: Mapping[DepKey, tuple[JobState, ...]],
    running_names: Container[tuple[str, str]] = (),
) -> Reason | None:
    """Why `job` cannot be considered in this pass, or None.

    `running_names` holds the (user, name) of every running job (and of every job
    started earlier in the same pass), for singleton jobs.
    """
    if job.held:
        return Reason.HELD_USER
    if job.begin_time is not None and job.begin_time > now:
        return Reason.BEGIN_TIME
    reason = dependency_reason(job, dependency_states)
    if reason is not None:
        return reason
    if job.singleton and (job.user, job.name) in running_names:
        return Reason.SINGLETON
    return None
