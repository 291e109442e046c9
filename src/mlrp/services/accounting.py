"""Fair-share usage: billed GPU-seconds accrue while jobs run and decay with a half-life.

The store keeps one decayed figure per (account, user) and the time it was last
brought up to date (`usage_at`); every accrual first decays all figures by
2^(-elapsed / half_life), then adds each running job's billed GPU-seconds since then.
A job is billed, per allocated GPU, the seconds it ran x `billing_rate` (the GPU
model's billing weight x the job's QOS usage factor). The model is the allocated GPU's
as the hardware inventory reports it, else the job's requested `gpu_type`.
"""

from __future__ import annotations

from mlrp.models.jobs import Job
from mlrp.models.states import JobState
from mlrp.scheduler.billing import billing_rate
from mlrp.services.context import Platform

USAGE_AT = "usage_at"
MIN_INTERVAL = 1.0  # seconds between accruals; ends are charged exactly anyway


def last_accrual(platform: Platform) -> float:
    """When usage was last brought up to date (first call: now, and remembered)."""
    value = platform.store.get_meta(USAGE_AT)
    if value is not None:
        return float(value)
    now = platform.clock()
    platform.store.set_meta(USAGE_AT, repr(now))
    return now


def accrue(platform: Platform, *, force: bool = False) -> None:
    now = platform.clock()
    last = last_accrual(platform)
    if not force and now - last < MIN_INTERVAL:
        return
    added: dict[tuple[str, str], float] = {}
    for job in platform.store.find(states=[JobState.RUNNING]):
        seconds = _billable(platform, job, last, now)
        key = (job.account, job.user)
        added[key] = added.get(key, 0.0) + seconds
    factor = 2.0 ** (-max(now - last, 0.0) / platform.policy.half_life)
    platform.store.decay_and_add_usage(factor, added)
    platform.store.set_meta(USAGE_AT, repr(now))


def charge_final(platform: Platform, job: Job, end_time: float) -> None:
    """Charge the part of a just-ended job that the last accrual has not counted."""
    seconds = _billable(platform, job, last_accrual(platform), end_time)
    if seconds > 0:
        platform.store.decay_and_add_usage(1.0, {(job.account, job.user): seconds})


def _billable(platform: Platform, job: Job, since: float, until: float) -> float:
    """The usage `job` is charged for running between `since` and `until`."""
    start = max(job.start_time or until, since)
    seconds = max(until - start, 0.0)
    if seconds == 0.0:
        return 0.0
    return seconds * _rate_per_second(platform, job)


def _rate_per_second(platform: Platform, job: Job) -> float:
    """The sum, over the job's allocated GPUs, of each one's billing rate."""
    models = {gpu.index: gpu.model for gpu in platform.inventory.gpus}
    policy = platform.policy
    return sum(
        billing_rate(policy, models.get(index, job.spec.gpu_type), job.qos) for index in job.gpus
    )
