"""Pending reasons, with Slurm's names, and what each means in plain words."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    NONE = "None"
    PRIORITY = "Priority"
    RESOURCES = "Resources"
    DEPENDENCY = "Dependency"
    DEPENDENCY_NEVER_SATISFIED = "DependencyNeverSatisfied"
    BEGIN_TIME = "BeginTime"
    HELD_USER = "JobHeldUser"
    HELD_ADMIN = "JobHeldAdmin"
    QOS_MAX_GPU_PER_USER = "QOSMaxGPUPerUser"
    QOS_GRP_GPU_LIMIT = "QOSGrpGRES"
    ASSOC_GRP_GPU_LIMIT = "AssocGrpGPULimit"
    ASSOC_MAX_GPU_PER_USER = "AssocMaxGpuPerUser"
    PARTITION_GPU_LIMIT = "PartitionGPULimit"
    ARRAY_TASK_LIMIT = "JobArrayTaskLimit"
    SINGLETON = "DependencySingleton"
    GPU_MODEL_BUSY = "ResourcesGpuModel"
    PREEMPTING = "Preempting"  # mlrp's own: its victims are stopping
    # Reasons only Slurm gives (the Slurm backend); OTHER: one mlrp has no name for,
    # shown with Slurm's own word beside it.
    PARTITION_NODE_LIMIT = "PartitionNodeLimit"
    PARTITION_TIME_LIMIT = "PartitionTimeLimit"
    PARTITION_DOWN = "PartitionDown"
    REQ_NODE_NOT_AVAIL = "ReqNodeNotAvail"
    INVALID_ACCOUNT = "InvalidAccount"
    INVALID_QOS = "InvalidQOS"
    QOS_MAX_JOBS_PER_USER = "QOSMaxJobsPerUserLimit"
    ASSOC_MAX_JOBS = "AssocMaxJobsLimit"
    OTHER = "Other"


EXPLANATIONS: dict[Reason, str] = {
    Reason.NONE: "not waiting",
    Reason.PRIORITY: "higher-priority jobs are ahead of it in the queue",
    Reason.RESOURCES: "it is next in line, waiting for enough GPUs to be free at once",
    Reason.DEPENDENCY: "waiting for the jobs it depends on",
    Reason.DEPENDENCY_NEVER_SATISFIED: (
        "a job it depends on ended in a way that can never satisfy it"
    ),
    Reason.BEGIN_TIME: "its --begin time has not come yet",
    Reason.HELD_USER: "held by its owner (mlrp release to let it run)",
    Reason.HELD_ADMIN: "held by an administrator",
    Reason.QOS_MAX_GPU_PER_USER: "its user already holds the most GPUs the QOS allows",
    Reason.QOS_GRP_GPU_LIMIT: "its QOS already uses the most GPUs it may use, all users together",
    Reason.ASSOC_GRP_GPU_LIMIT: "its account already holds the most GPUs it may hold",
    Reason.ASSOC_MAX_GPU_PER_USER: "its user already holds the most GPUs a user may hold",
    Reason.PARTITION_GPU_LIMIT: "its partition already uses the most GPUs it may use",
    Reason.ARRAY_TASK_LIMIT: "its array already runs the most tasks its %N throttle allows",
    Reason.SINGLETON: "another job of the same name and user is running (singleton)",
    Reason.GPU_MODEL_BUSY: "waiting for GPUs of the requested model",
    Reason.PREEMPTING: "running jobs are being stopped (preempted) to make room for it",
    Reason.PARTITION_NODE_LIMIT: "it asks for more nodes than its partition allows or has",
    Reason.PARTITION_TIME_LIMIT: "its time limit is above its partition's",
    Reason.PARTITION_DOWN: "its partition is down",
    Reason.REQ_NODE_NOT_AVAIL: "nodes it needs are down, drained or reserved",
    Reason.INVALID_ACCOUNT: "its account is not valid (Slurm will not run it as it is)",
    Reason.INVALID_QOS: "its QOS is not valid for its account (Slurm will not run it)",
    Reason.QOS_MAX_JOBS_PER_USER: "its user already runs the most jobs the QOS allows",
    Reason.ASSOC_MAX_JOBS: "its account or user already runs the most jobs allowed",
    Reason.OTHER: "waiting for a reason Slurm names (see slurm_reason)",
}
