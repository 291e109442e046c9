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

from collections.abc import Iterable
from dataclasses import dataclass, field

from mlrp.models.policy import Account, Policy
from mlrp.models.reasons import Reason
from mlrp.scheduler.policy_cache import per_policy
from mlrp.scheduler.snapshot import QueuedJob, RunningJob


@dataclass(frozen=True, slots=True)
class _Limits:
    """A policy's GPU limits, looked up once per policy (`_limits_of`)."""

    user_limit: int | None
    account_limit: dict[str, int | None]
    account_user_limit: dict[str, int | None]
    qos_user_limit: dict[str, int | None]
    qos_limit: dict[str, int | None]
    partition_limit: dict[str, int | None]
    ancestors: dict[str, tuple[str, ...]]  # account -> itself and its ancestors
    limited: bool  # whether any GPU limit is set at all
    accounts_limited: bool  # whether any account sets a GPU limit
    limited_qos: frozenset[str]  # the QOS with a GPU limit
    only_qos: bool  # whether the only GPU limits are QOS limits (the default policy's)

    @classmethod
    def of(cls, policy: Policy) -> _Limits:
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
        account_limit = {n: a.max_gpus for n, a in accounts.items()}
        account_user_limit = {n: a.max_gpus_per_user for n, a in accounts.items()}
        qos_user_limit = {q.name: q.max_gpus_per_user for q in reversed(policy.qos)}
        qos_limit = {q.name: q.max_gpus for q in reversed(policy.qos)}
        partition_limit = {p.name: p.max_gpus for p in reversed(policy.partitions)}
        accounts_limited = any(
            limit is not None
            for limits in (account_limit, account_user_limit)
            for limit in limits.values()
        )
        limited_qos = frozenset(
            name
            for limits in (qos_user_limit, qos_limit)
            for name, limit in limits.items()
            if limit is not None
        )
        other_limits = (
            policy.max_gpus_per_user is not None
            or accounts_limited
            or any(limit is not None for limit in partition_limit.values())
        )
        return cls(
            user_limit=policy.max_gpus_per_user,
            account_limit=account_limit,
            account_user_limit=account_user_limit,
            qos_user_limit=qos_user_limit,
            qos_limit=qos_limit,
            partition_limit=partition_limit,
            ancestors=ancestors,
            limited=other_limits or bool(limited_qos),
            accounts_limited=accounts_limited,
            limited_qos=limited_qos,
            only_qos=not other_limits,
        )


_limits_of = per_policy(_Limits.of)


class RunningTotals:
    """What the limits count of the running jobs: GPUs per (user, account, QOS,
    partition) and running tasks per array. Summed from a snapshot (`of`), or kept
    between passes by a ClusterState (`add`)."""

    __slots__ = ("array_tasks", "gpus")

    def __init__(self) -> None:
        self.gpus: dict[tuple[str, str, str, str], int] = {}
        self.array_tasks: dict[int, int] = {}

    @classmethod
    def of(cls, running: Iterable[RunningJob]) -> RunningTotals:
        totals = cls()
        for job in running:
            totals.add(job, 1)
        return totals

    def add(self, job: RunningJob, change: int) -> None:
        """`job` runs (`change` 1) or no longer does (-1)."""
        key = (job.user, job.account, job.qos, job.partition)
        gpus = self.gpus.get(key, 0) + change * len(job.gpus)
        if gpus:
            self.gpus[key] = gpus
        else:
            self.gpus.pop(key, None)
        if job.array_job_id is not None:
            tasks = self.array_tasks.get(job.array_job_id, 0) + change
            if tasks:
                self.array_tasks[job.array_job_id] = tasks
            else:
                del self.array_tasks[job.array_job_id]


@dataclass(slots=True)
class LimitCounters:
    """Running GPUs per limit bucket, with the policy's limits."""

    limits: _Limits
    user: dict[str, int] = field(default_factory=dict)
    account: dict[str, int] = field(default_factory=dict)
    account_user: dict[tuple[str, str], int] = field(default_factory=dict)
    qos_user: dict[tuple[str, str], int] = field(default_factory=dict)
    qos: dict[str, int] = field(default_factory=dict)
    partition: dict[str, int] = field(default_factory=dict)
    array_tasks: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        policy: Policy,
        running: tuple[RunningJob, ...] = (),
        totals: RunningTotals | None = None,
    ) -> LimitCounters:
        """The counters of `running`; `totals`: theirs, when the caller keeps them."""
        if totals is None:
            totals = RunningTotals.of(running)
        limits = _limits_of(policy)
        counters = cls(limits, array_tasks=dict(totals.array_tasks))
        if not limits.limited:
            return counters
        # Only QOS limits (the default policy's): only jobs of those QOS count.
        limited_qos = limits.limited_qos
        for (user, account, qos, partition), gpus in totals.gpus.items():
            if not limits.only_qos or qos in limited_qos:
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
            self.array_tasks[array_job_id] = self.array_tasks.get(array_job_id, 0) + 1
        limits = self.limits
        if not limits.limited:
            return
        # Only what some limit reads is counted: a default policy limits one QOS.
        if limits.user_limit is not None:
            self.user[user] = self.user.get(user, 0) + gpus
        if limits.accounts_limited:
            for name in limits.ancestors.get(account, (account,)):
                self.account[name] = self.account.get(name, 0) + gpus
                key = (name, user)
                self.account_user[key] = self.account_user.get(key, 0) + gpus
        if limits.qos_user_limit.get(qos) is not None:
            self.qos_user[(qos, user)] = self.qos_user.get((qos, user), 0) + gpus
        if limits.qos_limit.get(qos) is not None:
            self.qos[qos] = self.qos.get(qos, 0) + gpus
        if limits.partition_limit.get(partition) is not None:
            self.partition[partition] = self.partition.get(partition, 0) + gpus

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
        limits = self.limits
        if gpus <= 0 or not limits.limited:
            return None
        user = job.user
        limit = limits.qos_user_limit.get(job.qos)
        if limit is not None and self.qos_user.get((job.qos, user), 0) + gpus > limit:
            return Reason.QOS_MAX_GPU_PER_USER
        limit = limits.qos_limit.get(job.qos)
        if limit is not None and self.qos.get(job.qos, 0) + gpus > limit:
            return Reason.QOS_GRP_GPU_LIMIT
        chain = limits.ancestors.get(job.account, ())
        for name in chain:
            limit = limits.account_user_limit[name]
            if limit is not None and self.account_user.get((name, user), 0) + gpus > limit:
                return Reason.ASSOC_MAX_GPU_PER_USER
        limit = limits.user_limit
        if limit is not None and self.user.get(user, 0) + gpus > limit:
            return Reason.ASSOC_MAX_GPU_PER_USER
        for name in chain:
            limit = limits.account_limit[name]
            if limit is not None and self.account.get(name, 0) + gpus > limit:
                return Reason.ASSOC_GRP_GPU_LIMIT
        limit = limits.partition_limit.get(job.partition)
        if limit is not None and self.partition.get(job.partition, 0) + gpus > limit:
            return Reason.PARTITION_GPU_LIMIT
        return None


def would_exceed(job: QueuedJob, usage_counters: LimitCounters) -> Reason | None:
    """The reason of the first limit that starting `job` would exceed, or None."""
    return usage_counters.would_exceed(job)
