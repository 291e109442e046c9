"""One scheduling pass: load -> decide -> apply.

Loads the active jobs into a scheduler snapshot, calls the pure `decide`, starts the
chosen jobs and records every pending job's reason, priority and expected start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlrp.hardware.inventory import nvlink_groups
from mlrp.models.jobs import Job
from mlrp.models.states import JobState
from mlrp.parsing.dependency import parse_dependency
from mlrp.scheduler import Decisions, DepRef, GpuSlot, QueuedJob, RunningJob, Snapshot, decide
from mlrp.services import runtime
from mlrp.services.context import Platform


def run_pass(platform: Platform) -> Decisions:
    jobs = platform.store.active_jobs()
    snapshot = build_snapshot(platform, jobs)
    decisions = decide(snapshot)
    by_id = {job.id: job for job in jobs}
    for start in decisions.starts:
        runtime.start(platform, by_id[start.job_id], start.gpus, start.priority)
    platform.store.save_pending_info(
        (
            job_id,
            info.reason,
            round(info.priority.total, 3),
            info.priority.factors,
            info.expected_start,
        )
        for job_id, info in decisions.pending.items()
    )
    return decisions


def build_snapshot(platform: Platform, jobs: Sequence[Job]) -> Snapshot:
    pending = [j for j in jobs if j.state is JobState.PENDING]
    running = [j for j in jobs if j.state is JobState.RUNNING]
    queued = [_queued(j) for j in pending]
    referenced = {(d.job_id, d.array_task) for q in queued for d in q.dependencies}
    return Snapshot(
        now=platform.clock(),
        policy=platform.policy,
        gpus=_gpu_slots(platform, running),
        pending=tuple(queued),
        running=tuple(_running(j) for j in running),
        usage=platform.store.usage(),
        dependency_states=platform.store.states_of(referenced),
        link_groups=tuple(tuple(g) for g in nvlink_groups(platform.inventory.links)),
    )


def _gpu_slots(platform: Platform, running: Iterable[Job]) -> tuple[GpuSlot, ...]:
    holder = {gpu: job.id for job in running for gpu in job.gpus}
    return tuple(
        GpuSlot(index=g.index, model=g.model.lower(), job_id=holder.get(g.index))
        for g in platform.inventory.gpus
    )


def _queued(job: Job) -> QueuedJob:
    deps = parse_dependency(job.spec.dependency) if job.spec.dependency else None
    return QueuedJob(
        id=job.id,
        user=job.user,
        account=job.account,
        partition=job.partition,
        qos=job.qos,
        gpus=job.spec.gpus,
        gpu_type=job.spec.gpu_type,
        time_limit=job.time_limit,
        submit_time=job.submit_time,
        begin_time=job.begin_time,
        nice=job.spec.nice,
        held=job.held,
        name=job.name,
        array_job_id=job.array_job_id,
        array_throttle=job.array_throttle,
        dependencies=tuple(
            DepRef(d.kind, d.job_id, d.array_task) for d in (deps.items if deps else ())
        ),
        dependency_any=bool(deps and deps.any_of),
        singleton=bool(deps and deps.singleton),
    )


def _running(job: Job) -> RunningJob:
    return RunningJob(
        id=job.id,
        user=job.user,
        account=job.account,
        partition=job.partition,
        qos=job.qos,
        gpus=tuple(job.gpus),
        start_time=job.start_time or 0.0,
        time_limit=job.time_limit,
        name=job.name,
        array_job_id=job.array_job_id,
    )
