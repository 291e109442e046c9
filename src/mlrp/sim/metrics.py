"""Figures of a simulated run, from the per-job (submit, start, end, gpus, account).

* JCT (job completion time) = end - submit; queueing delay = start - submit;
  average, median and p99 (percentiles by linear interpolation between order statistics).
* makespan = last end - first submit; allocated-GPU utilization = GPU-seconds used /
  (GPUs x makespan).
* per account: jobs, average / p99 JCT and queueing delay, share of all GPU time.
* Jain's fairness index (sum x)^2 / (n sum x^2) of the per-account GPU-seconds in each
  7-day window from the first submit, over the accounts with work in that window (1.0 =
  every such account got the same GPU time); reported as the mean and minimum over the
  windows with any work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlrp.sim.engine import JobRecord

WEEK = 7 * 86400.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`, linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def jain_index(values: Iterable[float]) -> float:
    """Jain's fairness index of `values`; NaN when empty or all zero."""
    xs = list(values)
    square_sum = math.fsum(x * x for x in xs)
    if not xs or square_sum == 0:
        return math.nan
    return math.fsum(xs) ** 2 / (len(xs) * square_sum)


def window_jain(records: Sequence[JobRecord], window: float = WEEK) -> list[float]:
    """Jain's index of per-account GPU-seconds in each `window` from the first submit,
    for the windows where some account ran."""
    if not records:
        return []
    origin = min(r.submit for r in records)
    per_window: dict[int, dict[str, float]] = {}
    for r in records:
        if r.end <= r.start:
            continue
        k = int((r.start - origin) // window)
        while True:
            lo, hi = origin + k * window, origin + (k + 1) * window
            if lo >= r.end:
                break
            overlap = min(r.end, hi) - max(r.start, lo)
            if overlap > 0:
                shares = per_window.setdefault(k, {})
                shares[r.account] = shares.get(r.account, 0.0) + overlap * r.gpus
            k += 1
    return [jain_index(per_window[k].values()) for k in sorted(per_window)]


@dataclass(frozen=True, slots=True)
class Summary:
    overall: dict[str, Any]
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "accounts": self.accounts}


def summarize(records: Sequence[JobRecord], total_gpus: int, skipped: int = 0) -> Summary:
    jct = [r.end - r.submit for r in records]
    wait = [r.start - r.submit for r in records]
    gpu_seconds = math.fsum((r.end - r.start) * r.gpus for r in records)
    makespan = 0.0
    if records:
        makespan = max(r.end for r in records) - min(r.submit for r in records)
    utilization = gpu_seconds / (total_gpus * makespan) if makespan > 0 and total_gpus else 0.0
    jains = window_jain(records)
    overall: dict[str, Any] = {
        "jobs": len(records),
        "skipped": skipped,
        "gpus": total_gpus,
        "makespan_s": makespan,
        "gpu_utilization": utilization,
        "jct_avg_s": _mean(jct),
        "jct_median_s": percentile(jct, 50),
        "jct_p99_s": percentile(jct, 99),
        "wait_avg_s": _mean(wait),
        "wait_median_s": percentile(wait, 50),
        "wait_p99_s": percentile(wait, 99),
        "jain_7d_mean": _mean(jains),
        "jain_7d_min": min(jains) if jains else math.nan,
        "jain_windows": len(jains),
    }
    grouped: dict[str, list[JobRecord]] = {}
    for r in records:
        grouped.setdefault(r.account, []).append(r)
    accounts: dict[str, dict[str, Any]] = {}
    for name in sorted(grouped):
        rs = grouped[name]
        a_jct = [r.end - r.submit for r in rs]
        a_wait = [r.start - r.submit for r in rs]
        a_gpu = math.fsum((r.end - r.start) * r.gpus for r in rs)
        accounts[name] = {
            "jobs": len(rs),
            "jct_avg_s": _mean(a_jct),
            "jct_p99_s": percentile(a_jct, 99),
            "wait_avg_s": _mean(a_wait),
            "wait_p99_s": percentile(a_wait, 99),
            "gpu_share": a_gpu / gpu_seconds if gpu_seconds > 0 else 0.0,
        }
    return Summary(overall, accounts)
