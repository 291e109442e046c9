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
}
