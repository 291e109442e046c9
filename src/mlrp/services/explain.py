"""`mlrp explain JOB [--vs OTHER]`: why a job waits, and why another runs before it.

Everything comes from what the last scheduling pass recorded for each pending job
(reason, priority, normalized factors, expected start) and, for running jobs, the
priority they were started with; weights come from the policy. Nothing is recomputed
here, so the answer is what the scheduler actually used.

* position: 1 + the pending jobs ranked above it (higher priority; ties: earlier
  submit, then lower id), as the scheduler walks the queue;
* ahead: the pending jobs just above it, each with the factor that puts it there;
* versus another job: the weighted difference of each factor, largest first, in words;
  a running job with a lower priority than the waiting one was backfilled (it fitted
  in idle GPUs without delaying any reservation), and that is said too.
"""

from __future__ import annotations

from typing import Any

from mlrp.errors import InvalidSpec
from mlrp.models.jobs import Job
from mlrp.models.reasons import EXPLANATIONS, Reason
from mlrp.models.states import JobState
from mlrp.scheduler.decisions import FACTOR_NAMES
from mlrp.services.context import Platform
from mlrp.services.queries import get_job

AHEAD_SHOWN = 5

# Why a job has more of each factor than another, in words.
FACTOR_MEANINGS = {
    "age": "it has waited longer",
    "fairshare": "its user and account have used less of their fair share lately",
    "job_size": "it asks for more GPUs (larger jobs are favoured)",
    "qos": "its QOS has a higher priority",
    "partition": "its partition has a higher priority tier",
    "nice": "it has a lower nice value",
}


def _weighted(platform: Platform, job: Job) -> dict[str, float]:
    """Each factor's weighted part of the job's priority; nice counts against it."""
    weights = platform.policy.weights.model_dump()
    parts = {name: job.priority_factors.get(name, 0.0) * weights[name] for name in FACTOR_NAMES}
    parts["nice"] = -float(job.spec.nice)
    return parts


def _comparison(platform: Platform, job: Job, other: Job) -> dict[str, Any]:
    """How `other`'s priority differs from `job`'s, factor by factor."""
    mine, theirs = _weighted(platform, job), _weighted(platform, other)
    difference = {name: round(theirs[name] - mine[name], 3) for name in mine}
    ordered = sorted(difference.items(), key=lambda item: -abs(item[1]))
    lead = next((name for name, value in ordered if value > 0), None)
    return {
        "id": other.id,
        "display_id": other.display_id,
        "state": other.state.value,
        "user": other.user,
        "account": other.account,
        "qos": other.qos,
        "gpus": other.spec.gpus,
        "priority": round(other.priority, 3),
        "difference": difference,
        "lead": lead,
        "lead_text": FACTOR_MEANINGS[lead] if lead else None,
    }


def _verdict(job: Job, other: Job, comparison: dict[str, Any]) -> str:
    """One sentence: why `other` is ahead of `job` (or is not)."""
    gap = other.priority - job.priority
    if other.state is JobState.RUNNING and gap < 0:
        return (
            f"job {other.display_id} has a lower priority ({other.priority:.1f} < "
            f"{job.priority:.1f}) but was backfilled: it fitted in idle GPUs without "
            "delaying the reservation of the job at the head of the queue"
        )
    if gap <= 0:
        return (
            f"job {other.display_id} does not outrank it "
            f"({other.priority:.1f} <= {job.priority:.1f})"
        )
    reasons = [
        f"{name} {value:+.1f} ({FACTOR_MEANINGS[name]})"
        for name, value in sorted(comparison["difference"].items(), key=lambda i: -i[1])
        if value > 0
    ]
    return f"job {other.display_id} is ahead by {gap:.1f}: " + ", ".join(reasons)


def explain(platform: Platform, job_id: int, versus: int | None = None) -> dict[str, Any]:
    job = get_job(platform, job_id)
    weights = platform.policy.weights.model_dump()
    factors = {
        name: {
            "factor": round(job.priority_factors.get(name, 0.0), 6),
            "weight": weights[name],
            "weighted": round(job.priority_factors.get(name, 0.0) * weights[name], 3),
        }
        for name in FACTOR_NAMES
    }
    result: dict[str, Any] = {
        "id": job.id,
        "display_id": job.display_id,
        "state": job.state.value,
        "user": job.user,
        "account": job.account,
        "qos": job.qos,
        "partition": job.partition,
        "gpus": job.spec.gpus,
        "reason": job.reason.value,
        "reason_text": EXPLANATIONS.get(job.reason, ""),
        "priority": round(job.priority, 3),
        "nice": job.spec.nice,
        "factors": factors,
        "expected_start": job.expected_start,
        "position": None,
        "pending": None,
        "ahead": [],
        "versus": None,
    }
    ranking = platform.store.pending_ranking() if job.state is JobState.PENDING else []
    if job.id in ranking:  # (it may have started since it was read)
        index = ranking.index(job.id)
        result["position"] = index + 1
        result["pending"] = len(ranking)
        above = [get_job(platform, i) for i in ranking[max(0, index - AHEAD_SHOWN) : index]]
        result["ahead"] = [_comparison(platform, job, other) for other in reversed(above)]
        if job.reason is Reason.NONE:
            result["reason_text"] = "not yet considered by a scheduling pass"
    if versus is not None:
        if versus == job.id:
            raise InvalidSpec("--vs names the job itself: give another job")
        other = get_job(platform, versus)
        comparison = _comparison(platform, job, other)
        comparison["verdict"] = _verdict(job, other, comparison)
        result["versus"] = comparison
    return result
