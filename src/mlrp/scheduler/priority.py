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

from collections.abc import Mapping
from dataclasses import dataclass

from mlrp.models.policy import Policy, Weights
from mlrp.scheduler.decisions import FACTOR_NAMES, PriorityBreakdown
from mlrp.scheduler.snapshot import QueuedJob


@dataclass(frozen=True, slots=True)
class PriorityContext:
    """What the priority of every job of one pass depends on, looked up once."""

    weights: Weights
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
        return cls(policy.weights, policy.age_max, total_gpus, qos_factor, partition_factor,
                   fairshare)  # fmt: skip

    def factors(self, job: QueuedJob, now: float) -> tuple[float, float, float, float, float]:
        """The normalized factors of `job`, in FACTOR_NAMES order."""
        eligible_since = job.submit_time
        begin = job.begin_time
        if begin is not None and begin > eligible_since:
            eligible_since = begin
        waited = now - eligible_since
        age_max = self.age_max
        age = 0.0 if waited <= 0 else (1.0 if waited >= age_max else waited / age_max)
        total_gpus = self.total_gpus
        size = 0.0
        if total_gpus > 0 and job.gpus > 0:
            size = 1.0 if job.gpus >= total_gpus else job.gpus / total_gpus
        return (
            age,
            self.fairshare.get((job.account, job.user), 0.0),
            size,
            self.qos_factor.get(job.qos, 0.0),
            self.partition_factor.get(job.partition, 0.0),
        )

    def total(self, factors: tuple[float, float, float, float, float], nice: int) -> float:
        w = self.weights
        age, fairshare, size, qos, partition = factors
        return (
            w.age * age
            + w.fairshare * fairshare
            + w.job_size * size
            + w.qos * qos
            + w.partition * partition
            - nice
        )

    def make_breakdown(
        self, factors: tuple[float, float, float, float, float], nice: int
    ) -> PriorityBreakdown:
        w = self.weights
        weights = (w.age, w.fairshare, w.job_size, w.qos, w.partition)
        return PriorityBreakdown(
            total=self.total(factors, nice),
            factors=dict(zip(FACTOR_NAMES, factors, strict=True)),
            weighted={n: wt * f for n, wt, f in zip(FACTOR_NAMES, weights, factors, strict=True)},
            nice=nice,
        )

    def breakdown(self, job: QueuedJob, now: float) -> PriorityBreakdown:
        return self.make_breakdown(self.factors(job, now), job.nice)


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
