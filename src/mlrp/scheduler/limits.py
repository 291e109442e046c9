"""Running-GPU limits, counted from the running jobs and updated as a pass starts jobs.

Limits and the reason a job blocked by each gets, checked in this order:

* array throttle: running tasks of the array >= array_throttle -> JobArrayTaskLimit;
* Qos.max_gpus_per_user, per (qos, user) -> QOSMaxGPUPerUser;
* Qos.max_gpus, per qos -> QOSGrpGRES;
* Account.max_gpus_per_user, per (account, user) -> AssocMaxGpuPerUser;
* Policy.max_gpus_per_user, per user over all accounts -> AssocMaxGpuPerUser;
* Account.max_gpus, per account -> AssocGrpGPULimit;
* Partition.max_gpus, per partition -> PartitionGPULimit.

Account limits are hierarchical, as Slurm's association limits: the GPUs of a job count
toward its account and every ancestor account, and each of their limits applies.
A job asking for no GPUs is never blocked by a GPU limit. A policy without any GPU
limit counts only array tasks (the common case in the simulator: nothing to count).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mlrp.models.policy import Account, Policy
from mlrp.models.reasons import Reason
from mlrp.scheduler.snapshot import QueuedJob, RunningJob


@dataclass(slots=True)
class LimitCounters:
    """Running GPUs per limit bucket, plus the limits themselves, looked up once."""

    user_limit: int | None
    account_limit: dict[str, int | None]
    account_user_limit: dict[str, int | None]
    qos_user_limit: dict[str, int | None]
    qos_limit: dict[str, int | None]
    partition_limit: dict[str, int | None]
    ancestors: dict[str, tuple[str, ...]]  # account -> itself and its ancestors
    user: Counter[str] = field(default_factory=Counter)
    account: Counter[str] = field(default_factory=Counter)
    account_user: Counter[tuple[str, str]] = field(default_factory=Counter)
    qos_user: Counter[tuple[str, str]] = field(default_factory=Counter)
    qos: Counter[str] = field(default_factory=Counter)
    partition: Counter[str] = field(default_factory=Counter)
    array_tasks: Counter[int] = field(default_factory=Counter)
    limited: bool = True  # whether any GPU limit is set at all
    accounts_limited: bool = True  # whether any account sets a GPU limit

    @classmethod
    def build(cls, policy: Policy, running: tuple[RunningJob, ...] = ()) -> LimitCounters:
        accounts: dict[str, Account] = {}
        for a in policy.accounts:
            accounts.setdefault(a.name, a)
        ancestors: dict[str, tuple[str, ...]] = {}
        for name in accounts:
            chain = [name]
            parent = accounts[name].parent
            while parent is not None and parent in accounts and parent not in chain:
                chain.append(parent)
                parent = accounts[parent].parent
            ancestors[name] = tuple(chain)
        counters = cls(
            user_limit=policy.max_gpus_per_user,
            account_limit={n: a.max_gpus for n, a in accounts.items()},
            account_user_limit={n: a.max_gpus_per_user for n, a in accounts.items()},
            qos_user_limit={q.name: q.max_gpus_per_user for q in reversed(policy.qos)},
            qos_limit={q.name: q.max_gpus for q in reversed(policy.qos)},
            partition_limit={p.name: p.max_gpus for p in reversed(policy.partitions)},
            ancestors=ancestors,
        )
        counters.accounts_limited = any(
            limit is not None
            for limits in (counters.account_limit, counters.account_user_limit)
            for limit in limits.values()
        )
        limited_qos = {
            name
            for limits in (counters.qos_user_limit, counters.qos_limit)
            for name, limit in limits.items()
            if limit is not None
        }
        other_limits = (
            policy.max_gpus_per_user is not None
            or counters.accounts_limited
            or any(limit is not None for limit in counters.partition_limit.values())
        )
        counters.limited = other_limits or bool(limited_qos)
        counters.array_tasks.update(
            job.array_job_id for job in running if job.array_job_id is not None
        )
        if not counters.limited:
            return counters
        # Only QOS limits (the default policy's): only jobs of those QOS count.
        counted = running if other_limits else [j for j in running if j.qos in limited_qos]
        # One add per (user, account, qos, partition): far fewer than running jobs.
        grouped: dict[tuple[str, str, str, str], int] = {}
        for job in counted:
            key = (job.user, job.account, job.qos, job.partition)
            grouped[key] = grouped.get(key, 0) + len(job.gpus)
        for (user, account, qos, partition), gpus in grouped.items():
            counters.add(user, account, qos, partition, gpus, None)
        return counters

    def add(
        self,
        user: str,
        account: str,
        qos: str,
        partition: str,
        gpus: int,
        array_job_id: int | None,
    ) -> None:
        """Count one more running job (or array task) with `gpus` GPUs."""
        if array_job_id is not None:
            self.array_tasks[array_job_id] += 1
        if not self.limited:
            return
        # Only what some limit reads is counted: a default policy limits one QOS.
        if self.user_limit is not None:
            self.user[user] += gpus
        if self.accounts_limited:
            for name in self.ancestors.get(account, (account,)):
                self.account[name] += gpus
                self.account_user[(name, user)] += gpus
        if self.qos_user_limit.get(qos) is not None:
            self.qos_user[(qos, user)] += gpus
        if self.qos_limit.get(qos) is not None:
            self.qos[qos] += gpus
        if self.partition_limit.get(partition) is not None:
            self.partition[partition] += gpus

    def add_job(self, job: QueuedJob) -> None:
        self.add(job.user, job.account, job.qos, job.partition, job.gpus, job.array_job_id)

    def would_exceed(self, job: QueuedJob) -> Reason | None:
        """The reason of the first limit that starting `job` now would exceed, or None."""
        throttle = job.array_throttle
        if (
            throttle is not None
            and throttle > 0
            and job.array_job_id is not None
            and self.array_tasks.get(job.array_job_id, 0) >= throttle
        ):
            return Reason.ARRAY_TASK_LIMIT
        gpus = job.gpus
        if gpus <= 0 or not self.limited:
            return None
        user = job.user
        limit = self.qos_user_limit.get(job.qos)
        if limit is not None and self.qos_user.get((job.qos, user), 0) + gpus > limit:
            return Reason.QOS_MAX_GPU_PER_USER
        limit = self.qos_limit.get(job.qos)
        if limit is not None and self.qos.get(job.qos, 0) + gpus > limit:
            return Reason.QOS_GRP_GPU_LIMIT
        chain = self.ancestors.get(job.account, ())
        for name in chain:
            limit = self.account_user_limit[name]
            if limit is not None and self.account_user.get((name, user), 0) + gpus > limit:
                return Reason.ASSOC_MAX_GPU_PER_USER
        limit = self.user_limit
        if limit is not None and self.user.get(user, 0) + gpus > limit:
            return Reason.ASSOC_MAX_GPU_PER_USER
        for name in chain:
            limit = self.account_limit[name]
            if limit is not None and self.account.get(name, 0) + gpus > limit:
                return Reason.ASSOC_GRP_GPU_LIMIT
        limit = self.partition_limit.get(job.partition)
        if limit is not None and self.partition.get(job.partition, 0) + gpus > limit:
            return Reason.PARTITION_GPU_LIMIT
        return None


def would_exceed(job: QueuedJob, usage_counters: LimitCounters) -> Reason | None:
    """The reason of the first limit that starting `job` would exceed, or None."""
    return usage_counters.would_exceed(job)
