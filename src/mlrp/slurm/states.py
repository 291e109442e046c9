"""Slurm's job states and pending reasons in mlrp's terms: the one table of each.

Slurm has more states than mlrp. A job that still holds its nodes (completing,
configuring, suspended...) is RUNNING; one going back to the queue (requeued) is
PENDING; the remaining endings map to the nearest mlrp ending. Slurm's own word is
always kept beside the mapped one (`slurm_state`, `slurm_reason`), so nothing is hidden.
"""

from __future__ import annotations

from mlrp.models.reasons import Reason
from mlrp.models.states import JobState

STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "CONFIGURING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "PREEMPTED": JobState.PREEMPTED,
    "NODE_FAIL": JobState.NODE_FAIL,
    "BOOT_FAIL": JobState.NODE_FAIL,
}

REASONS: dict[str, Reason] = {
    "None": Reason.NONE,
    "Priority": Reason.PRIORITY,
    "Resources": Reason.RESOURCES,
    "Dependency": Reason.DEPENDENCY,
    "DependencyNeverSatisfied": Reason.DEPENDENCY_NEVER_SATISFIED,
    "BeginTime": Reason.BEGIN_TIME,
    "JobHeldUser": Reason.HELD_USER,
    "JobHeldAdmin": Reason.HELD_ADMIN,
    "JobArrayTaskLimit": Reason.ARRAY_TASK_LIMIT,
    "QOSMaxGRESPerUser": Reason.QOS_MAX_GPU_PER_USER,
    "QOSGrpGRES": Reason.QOS_GRP_GPU_LIMIT,
    "AssocGrpGRES": Reason.ASSOC_GRP_GPU_LIMIT,
    "AssocMaxGRESPerJob": Reason.ASSOC_MAX_GPU_PER_USER,
    "PartitionNodeLimit": Reason.PARTITION_NODE_LIMIT,
    "PartitionTimeLimit": Reason.PARTITION_TIME_LIMIT,
    "PartitionDown": Reason.PARTITION_DOWN,
    "ReqNodeNotAvail": Reason.REQ_NODE_NOT_AVAIL,
    "InvalidAccount": Reason.INVALID_ACCOUNT,
    "InvalidQOS": Reason.INVALID_QOS,
    "QOSMaxJobsPerUserLimit": Reason.QOS_MAX_JOBS_PER_USER,
    "AssocMaxJobsLimit": Reason.ASSOC_MAX_JOBS,
}


def job_state(slurm_state: str) -> JobState:
    """`RUNNING`, `CANCELLED by 0` (sacct), `COMPLETING` -> mlrp's state. An unknown
    word (a newer Slurm) is read as RUNNING when it is not an ending we know: the job is
    still in Slurm's hands, and a later poll will see where it ends."""
    word = slurm_state.split(" ", 1)[0].rstrip("+").upper()
    return STATES.get(word, JobState.RUNNING)


def pending_reason(slurm_reason: str) -> Reason:
    """`Priority` -> Reason.PRIORITY; `ReqNodeNotAvail, UnavailableNodes:n1` by its
    first word; anything else is Reason.OTHER (Slurm's word is shown beside it)."""
    word = slurm_reason.split(",", 1)[0].strip()
    return REASONS.get(word, Reason.OTHER)
