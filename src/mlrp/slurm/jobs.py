"""Slurm's records as mlrp `Job` values, and where a Slurm job's output goes.

`jobs_of(record, spec)` turns one squeue/sacct record into the mlrp jobs users see: one
job, one array task, or, for the pending rest of an array ("12_[4-9]"), one job per
task, all sharing the array's id (Slurm gives a task its own id only when it starts).
`spec` is what the user submitted through mlrp; for a job submitted some other way it
is rebuilt from the record (no command, script or environment).

Slurm's state and reason are mapped by mlrp.slurm.states; an unmapped pending reason
is kept, in Slurm's words, in `message`.
"""

from __future__ import annotations

import os

from mlrp.errors import InvalidSpec
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.reasons import Reason
from mlrp.models.states import JobState
from mlrp.parsing.arrays import parse_array
from mlrp.parsing.patterns import expand_for_job
from mlrp.parsing.topology import expand_hostlist
from mlrp.slurm.records import SlurmJob
from mlrp.slurm.states import job_state, pending_reason

HELD = frozenset({Reason.HELD_USER, Reason.HELD_ADMIN})


def jobs_of(record: SlurmJob, spec: JobSpec | None = None) -> list[Job]:
    job = _job(record, spec or spec_of(record))
    if record.pending_tasks is None:
        return [job]
    try:
        indices = parse_array(record.pending_tasks).indices
    except InvalidSpec:  # a form mlrp does not read: one row for the lot
        return [job.model_copy(update={"array_task_id": None, "array_job_id": None})]
    return [job.model_copy(update={"array_task_id": index}) for index in indices]


def _job(record: SlurmJob, spec: JobSpec) -> Job:
    state = job_state(record.state)
    pending = state is JobState.PENDING
    reason = pending_reason(record.reason) if pending else Reason.NONE
    ended = state.is_terminal
    started = state is not JobState.PENDING and record.start_time is not None
    return Job.model_construct(
        id=record.job_id,
        array_job_id=record.array_job_id,
        array_task_id=record.array_task_id,
        array_throttle=record.array_throttle,
        name=record.name,
        user=record.user,
        uid=-1 if record.uid is None else record.uid,
        gid=-1 if record.gid is None else record.gid,
        account=record.account,
        partition=record.partition,
        qos=record.qos,
        state=state,
        reason=reason,
        held=reason in HELD,
        spec=spec,
        gpus=list(record.gpu_indices) if started else [],
        submit_time=record.submit_time or 0.0,
        begin_time=spec.begin,
        start_time=record.start_time if started else None,
        end_time=record.end_time if ended else None,
        time_limit=record.time_limit or 0,
        exit_code=record.exit_code if ended else None,
        exit_signal=record.exit_signal if ended else None,
        priority=record.priority,
        priority_factors={},
        expected_start=record.start_time if pending else None,
        restart_count=record.restarts,
        message=_message(record, reason),
        nodelist=record.nodes if started else None,
    )


def _message(record: SlurmJob, reason: Reason) -> str | None:
    if reason is Reason.OTHER or (record.reason not in ("None", "") and reason is Reason.NONE):
        return f"Slurm reason: {record.reason}"
    return None


def spec_of(record: SlurmJob) -> JobSpec:
    """The spec of a job mlrp did not submit, as far as Slurm's record tells."""
    nodes = max(record.node_count, 1)
    return JobSpec.model_construct(
        name=record.name,
        script="",
        script_args=[],  # given, not defaulted: a default factory costs pydantic a lot
        env={},
        gpus=record.gpus_per_node,
        gpu_type=record.gpu_type,
        nodes=nodes,
        ntasks_per_node=max(record.tasks // nodes, 1),
        cpus_per_task=record.cpus_per_task,
        mem_mb=record.mem_mb,
        time_limit=record.time_limit,
        partition=record.partition or None,
        account=record.account or None,
        qos=record.qos or None,
        output=record.stdout,
        error=record.stderr,
        workdir=record.workdir,
        dependency=record.dependency,
        requeue=record.requeue,
        nice=record.nice,
    )


def log_paths(job: Job) -> tuple[str, str]:
    """(stdout, stderr) of a job as Slurm writes them: --output/--error patterns (or
    Slurm's default slurm-%j.out, slurm-%A_%a.out for an array task) expanded, relative
    paths under the job's working directory."""
    default = "slurm-%A_%a.out" if job.array_job_id is not None else "slurm-%j.out"
    out = job.spec.output or default
    err = job.spec.error or out
    return _path(job, out), _path(job, err)


def _path(job: Job, pattern: str) -> str:
    hosts = expand_hostlist(job.nodelist) if job.nodelist else []
    path = expand_for_job(pattern, job, hosts[0] if hosts else "localhost")
    return os.path.join(job.spec.workdir or "/", path)
