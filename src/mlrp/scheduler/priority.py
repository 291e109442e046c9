"""Multifactor priority, like Slurm's priority/multifactor.

Every factor is normalized to [0, 1]:

* age: time waited since max(submit_time, begin_time), saturating at `policy.age_max`;
* fairshare: the fair-share factor of the job's (account, user) (see fairshare.py);
* job_size: GPUs asked / GPUs of the machine (large jobs favoured, Slurm's default);
* qos: the QOS priority / the largest QOS priority of the policy (0 when all are 0);
* partition: the partition's priority_tier / the largest tier (0 when all are 0).

total = sum(weight * factor) - nice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlrp.models.policy import Policy
from mlrp.scheduler.decisions import FACTOR_NAMES, PriorityBreakdown
from mlrp.scheduler.policy_cache import per_policy
from mlrp.scheduler.snapshot import QueuedJob

Factors = tuple[float, float, float, float, float]  # in FACTOR_NAMES order


@dataclass(frozen=True, slots=True)
class PriorityContext:
    """What the priority of every job of one pass depends on, looked up once."""

    weights: Factors  # in FACTOR_NAMES order
    age_max: float
    total_gpus: int
    qos_factor: Mapping[str, float]
    partition_factor: Mapping[str, float]
    fairshare: Mapping[tuple[str, str], float]

    @classmethod
    def build(
        cls,
        policy: Policy,
        total_gpus: int,
        fairshare: Mapping[tuple[str, str], float],
    ) -> PriorityContext:
        weights, qos_factor, partition_factor = _policy_factors(policy)
        return cls(weights, policy.age_max, total_gpus, qos_factor, partition_factor, fairshare)

    def evaluate(self, jobs: Sequence[QueuedJob], now: float) -> list[tuple[Factors, float]]:
        """Each job's normalized factors (in FACTOR_NAMES order) and total priority.

        The one implementation of the formula, written as one loop over the queue.
        """
        wa, wf, ws, wq, wp = self.weights
        age_max = self.age_max
        total_gpus = self.total_gpus
        fairshare = self.fairshare.get
        qos_factor = self.qos_factor.get
        partition_factor = self.partition_factor.get
        out: list[tuple[Factors, float]] = []
        append = out.append
        for job in jobs:
            since = job.submit_time
            begin = job.begin_time
            if begin is not None and begin > since:
                since = begin
            waited = now - since
            age = 0.0 if waited <= 0 else (1.0 if waited >= age_max else waited / age_max)
            gpus = job.gpus
            size = 0.0
            if total_gpus > 0 and gpus > 0:
                size = 1.0 if gpus >= total_gpus else gpus / total_gpus
            fs = fairshare((job.account, job.user), 0.0)
            qos = qos_factor(job.qos, 0.0)
            partition = partition_factor(job.partition, 0.0)
            total = wa * age + wf * fs + ws * size + wq * qos + wp * partition - job.nice
            append(((age, fs, size, qos, partition), total))
        return out

    def make_breakdown(self, factors: Factors, total: float, nice: int) -> PriorityBreakdown:
        return PriorityBreakdown(
            total=total,
            factors=dict(zip(FACTOR_NAMES, factors, strict=True)),
            weighted={
                name: weight * factor
                for name, weight, factor in zip(FACTOR_NAMES, self.weights, factors, strict=True)
            },
            nice=nice,
        )

    def breakdown(self, job: QueuedJob, now: float) -> PriorityBreakdown:
        [(factors, total)] = self.evaluate((job,), now)
        return self.make_breakdown(factors, total, job.nice)


_PolicyFactors = tuple[Factors, Mapping[str, float], Mapping[str, float]]


@per_policy
def _policy_factors(policy: Policy) -> _PolicyFactors:
    """The weights and the QOS and partition factors of a policy."""
    max_qos = max((q.priority for q in policy.qos), default=0)
    max_tier = max((p.priority_tier for p in policy.partitions), default=0)
    # reversed(): with duplicate names the first wins, as in Policy.qos_named
    qos_factor = {
        q.name: (q.priority / max_qos if max_qos > 0 else 0.0) for q in reversed(policy.qos)
    }
    partition_factor = {
        p.name: (p.priority_tier / max_tier if max_tier > 0 else 0.0)
        for p in reversed(policy.partitions)
    }
    w = policy.weights
    weights = (
        float(w.age),
        float(w.fairshare),
        float(w.job_size),
        float(w.qos),
        float(w.partition),
    )
    return weights, qos_factor, partition_factor


def priority(
    job: QueuedJob,
    now: float,
    policy: Policy,
    total_gpus: int,
    fairshare: Mapping[tuple[str, str], float],
) -> PriorityBreakdown:
    """The priority of one job; `fairshare` maps (account, user) to its factor (a pair
    missing from it gets 0). For many jobs build a PriorityContext once instead."""
    return PriorityContext.build(policy, total_gpus, fairshare).breakdown(job, now)
