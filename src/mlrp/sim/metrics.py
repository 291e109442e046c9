"""Figures of a simulated run, from the per-job (submit, start, end, gpus, account) and
each account's entitlement.

* JCT (job completion time) = end - submit; queueing delay (wait) = start - submit;
  average, median and p99 (percentiles by linear interpolation between order statistics).
* makespan = last end - first submit; allocated-GPU utilization = GPU-seconds used /
  (GPUs x makespan); utilization while jobs arrive: the same over the span from the
  first to the last submit (without the drain after the last arrival).
* per account: jobs, average / p99 JCT and queueing delay, share of all GPU time
  (`gpu_share`: its GPU-seconds / every account's GPU-seconds).
* Jain's fairness index (sum x)^2 / (n sum x^2) of the per-account GPU-seconds in each
  7-day window from the first submit, over the accounts with work in that window (1.0 =
  every such account got the same GPU time); reported as the mean and minimum over the
  windows with any work.
* Share of GPU time over time: the run, from the first submit to the last end, is cut
  into windows of `window` seconds (default one day; the last one ends at the last
  end). An account's share in a window is its GPU-seconds in the window / every
  account's GPU-seconds in the window (as Slurm's normalized usage, so it is comparable
  with the entitlement: the account's normalized shares of the whole tree). Windows
  where no GPU was busy have no shares.
* Backlogged: an account is backlogged in a window when at every instant of the window
  at least one of its jobs is pending (submitted, not yet started), i.e. the union of
  its jobs' [submit, start) intervals covers the whole window. A fair scheduler owes a
  backlogged account at least its entitlement. For each backlogged (account, window)
  the deviation is share - entitlement (negative: it got less than its due);
  reported per account as the count of backlogged windows, the mean and the minimum
  deviation, and overall as the count, the mean absolute deviation and the minimum.
  Accounts without an entitlement (not in the policy) are not judged.
* Max-min fair share: what a backlogged account was due in a window given what the
  others wanted. The window's GPU time is water-filled in proportion to the
  entitlements: an account that was not backlogged wanted no more than it used, a
  backlogged one wanted without bound; a backlogged account's fair share is its
  entitlement x the water level (with every account backlogged: its entitlement; with
  fewer, it also gets its part of what the others left). The fair ratio is share /
  fair share (1.0 = exactly its due); reported per account and overall as the minimum
  and maximum, and overall as the count of backlogged windows outside 0.9-1.1.
* Preemptions: how many runs were cut short, and the GPU-seconds they lost (run since
  the last checkpoint), also as a fraction of all GPU time used. A preempted job's runs
  all count as GPU time used; its wait is until its first start, and it is pending
  again from its preemption to its restart.
* Large gang jobs: jobs asking for at least max(8, GPUs per node) GPUs; their longest
  queueing delay, overall (with the job's id) and per account, and how many there are.

NaN marks a figure with nothing to measure (no jobs, no backlogged window...).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlrp.sim.engine import JobRecord, SimResult

DAY = 86400.0
WEEK = 7 * DAY
GANG_MIN_GPUS = 8  # a large gang job asks for at least this many GPUs, and a node's worth


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


def _window_overlaps(r: JobRecord, origin: float, window: float) -> Iterator[tuple[int, float]]:
    """(window index, seconds of the job's runs inside it) for each window a run touches
    (a window a preempted job ran in twice comes twice)."""
    for start, end in r.runs:
        if end <= start:
            continue
        k = int((start - origin) // window)
        while origin + k * window < end:
            lo, hi = origin + k * window, origin + (k + 1) * window
            overlap = min(end, hi) - max(start, lo)
            if overlap > 0:
                yield k, overlap
            k += 1


def gpu_seconds_by_window(
    records: Iterable[JobRecord], origin: float, window: float
) -> dict[int, dict[str, float]]:
    """window index -> account -> GPU-seconds run in [origin + k*window, +window)."""
    per_window: dict[int, dict[str, float]] = {}
    for r in records:
        for k, overlap in _window_overlaps(r, origin, window):
            shares = per_window.setdefault(k, {})
            shares[r.account] = shares.get(r.account, 0.0) + overlap * r.gpus
    return per_window


def window_jain(records: Sequence[JobRecord], window: float = WEEK) -> list[float]:
    """Jain's index of per-account GPU-seconds in each `window` from the first submit,
    for the windows where some account ran."""
    if not records:
        return []
    per_window = gpu_seconds_by_window(records, min(r.submit for r in records), window)
    return [jain_index(per_window[k].values()) for k in sorted(per_window)]


# --- share of GPU time against entitlement ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ShareWindow:
    """One window of the share-over-time series."""

    start: float
    end: float  # start + window, or the run's last end for the last window
    gpu_seconds: float  # every account's, in the window
    shares: dict[str, float]  # account -> share of the window's GPU time (ran in it)
    backlogged: frozenset[str]  # accounts with a job pending throughout the window

    def share(self, account: str) -> float:
        """The account's share (0 when it ran nothing); NaN when no GPU was busy."""
        return self.shares.get(account, 0.0) if self.gpu_seconds > 0 else math.nan


def pending_spans(records: Iterable[JobRecord]) -> dict[str, list[tuple[float, float]]]:
    """account -> the union of the intervals its jobs were pending ([submit, start), and
    from a preemption to the restart), as sorted, disjoint spans (spans that touch are
    joined)."""
    raw: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        queued = r.submit
        for start, end in r.runs:
            if start > queued:
                raw.setdefault(r.account, []).append((queued, start))
            queued = end
    merged: dict[str, list[tuple[float, float]]] = {}
    for account, spans in raw.items():
        out: list[tuple[float, float]] = []
        for lo, hi in sorted(spans):
            if out and lo <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], hi))
            else:
                out.append((lo, hi))
        merged[account] = out
    return merged


def _covers(spans: Sequence[tuple[float, float]], lo: float, hi: float) -> bool:
    """Whether one of the disjoint sorted `spans` contains [lo, hi]."""
    i = bisect.bisect_right(spans, (lo, math.inf)) - 1
    return i >= 0 and spans[i][0] <= lo and spans[i][1] >= hi


def share_windows(records: Sequence[JobRecord], window: float = DAY) -> list[ShareWindow]:
    """The share-over-time series: windows of `window` seconds from the first submit to
    the last end (see the module docstring)."""
    if window <= 0 or not math.isfinite(window):
        raise ValueError(f"window must be a finite number > 0, not {window}")
    if not records:
        return []
    origin = min(r.submit for r in records)
    horizon = max(r.end for r in records)
    count = math.ceil((horizon - origin) / window)
    used = gpu_seconds_by_window(records, origin, window)
    pending = pending_spans(records)
    series: list[ShareWindow] = []
    for k in range(count):
        lo, hi = origin + k * window, min(origin + (k + 1) * window, horizon)
        gpu_s = used.get(k, {})
        total = math.fsum(gpu_s.values())
        shares = {a: s / total for a, s in sorted(gpu_s.items())} if total > 0 else {}
        backlogged = frozenset(a for a, spans in pending.items() if _covers(spans, lo, hi))
        series.append(ShareWindow(lo, hi, total, shares, backlogged))
    return series


def backlog_deviations(
    windows: Iterable[ShareWindow], entitlement: Mapping[str, float]
) -> dict[str, list[float]]:
    """account -> share - entitlement in each window where it was backlogged (and some
    GPU was busy); accounts without an entitlement are left out."""
    out: dict[str, list[float]] = {}
    for w in windows:
        for account in sorted(w.backlogged):
            share = w.share(account)
            if account in entitlement and not math.isnan(share):
                out.setdefault(account, []).append(share - entitlement[account])
    return out


def max_min_shares(window: ShareWindow, entitlement: Mapping[str, float]) -> dict[str, float]:
    """Each backlogged account's max-min fair share of the window (see the module
    docstring); empty when no GPU was busy."""
    if window.gpu_seconds <= 0:
        return {}
    left = 1.0 - math.fsum(s for a, s in window.shares.items() if a not in entitlement)
    weight = math.fsum(entitlement.values())
    # accounts that wanted no more than they used, the smallest use per entitlement first
    satisfied = sorted(
        (window.share(a) / e, a) for a, e in entitlement.items() if a not in window.backlogged
    )
    for level, account in satisfied:
        if weight <= 0 or level * weight > left:
            break  # this account (and the rest) got more than the level: capped by it
        left -= window.share(account)
        weight -= entitlement[account]
    level = left / weight if weight > 0 else 0.0
    return {
        a: entitlement[a] * level
        for a in window.backlogged
        if a in entitlement and entitlement[a] > 0
    }


def fair_ratios(
    windows: Iterable[ShareWindow], entitlement: Mapping[str, float]
) -> dict[str, list[float]]:
    """account -> share / max-min fair share in each window where it was backlogged."""
    out: dict[str, list[float]] = {}
    for w in windows:
        for account, fair in sorted(max_min_shares(w, entitlement).items()):
            if fair > 0:
                out.setdefault(account, []).append(w.share(account) / fair)
    return out


# --- large gang jobs -------------------------------------------------------------------


def gang_min_gpus(gpus_per_node: int) -> int:
    """The size from which a job is a large gang job: >= 8 GPUs and >= a node's worth."""
    return max(GANG_MIN_GPUS, gpus_per_node)


def longest_wait(records: Iterable[JobRecord]) -> JobRecord | None:
    """The record with the longest queueing delay (the lowest id among equals)."""
    return min(records, key=lambda r: (r.submit - r.start, r.id), default=None)


# --- allocation over time ----------------------------------------------------------------


def allocation_steps(records: Iterable[JobRecord]) -> list[tuple[float, int]]:
    """(time, GPUs allocated from that time on) at every time the count changes, in time
    order; ends at a time free GPUs before starts at that time take them."""
    deltas: dict[float, int] = {}
    for r in records:
        for start, end in r.runs:
            if end > start:
                deltas[start] = deltas.get(start, 0) + r.gpus
                deltas[end] = deltas.get(end, 0) - r.gpus
    steps: list[tuple[float, int]] = []
    in_use = 0
    for t in sorted(deltas):
        in_use += deltas[t]
        steps.append((t, in_use))
    return steps


# --- the summary -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    overall: dict[str, Any]
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: tuple[ShareWindow, ...] = ()  # the share-over-time series
    entitlement: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "accounts": self.accounts}


def _delay_figures(records: Sequence[JobRecord]) -> dict[str, float]:
    jct = [r.end - r.submit for r in records]
    wait = [r.start - r.submit for r in records]
    return {
        "jct_avg_s": _mean(jct),
        "jct_median_s": percentile(jct, 50),
        "jct_p99_s": percentile(jct, 99),
        "wait_avg_s": _mean(wait),
        "wait_median_s": percentile(wait, 50),
        "wait_p99_s": percentile(wait, 99),
    }


def _gpu_seconds(records: Iterable[JobRecord]) -> float:
    return math.fsum((end - start) * r.gpus for r in records for start, end in r.runs)


def arrival_utilization(records: Sequence[JobRecord], total_gpus: int) -> float:
    """Allocated GPUs over the span jobs arrive in (first to last submit) / (GPUs x that
    span): how busy the cluster was kept while work was coming, without the drain at the
    end that `gpu_utilization` (over the makespan) also counts. NaN for a span of 0."""
    if not records:
        return math.nan
    lo = min(r.submit for r in records)
    hi = max(r.submit for r in records)
    if hi <= lo:
        return math.nan
    used = math.fsum(
        max(0.0, min(end, hi) - max(start, lo)) * r.gpus for r in records for start, end in r.runs
    )
    return used / (total_gpus * (hi - lo))


def _overall(
    result: SimResult,
    windows: Sequence[ShareWindow],
    deviations: Mapping[str, Sequence[float]],
    ratios: Mapping[str, Sequence[float]],
    gang_min: int,
) -> dict[str, Any]:
    records = result.records
    all_ratios = [r for rs in ratios.values() for r in rs]
    total_gpus = result.cluster.total_gpus
    makespan = max(r.end for r in records) - min(r.submit for r in records) if records else 0.0
    used = _gpu_seconds(records)
    jains = window_jain(records)
    all_devs = [d for devs in deviations.values() for d in devs]
    gangs = [r for r in records if r.gpus >= gang_min]
    worst = longest_wait(gangs)
    return {
        "jobs": len(records),
        "skipped": len(result.skipped),
        "gpus": total_gpus,
        "makespan_s": makespan,
        "gpu_utilization": used / (total_gpus * makespan) if makespan > 0 else 0.0,
        "gpu_utilization_arrivals": arrival_utilization(records, total_gpus),
        **_delay_figures(records),
        "jain_7d_mean": _mean(jains),
        "jain_7d_min": min(jains) if jains else math.nan,
        "jain_windows": len(jains),
        "share_origin": windows[0].start if windows else math.nan,
        "share_windows": len(windows),
        "backlogged_windows": len(all_devs),
        "backlog_dev_abs_mean": _mean([abs(d) for d in all_devs]),
        "backlog_dev_min": min(all_devs, default=math.nan),
        "fair_ratio_min": min(all_ratios, default=math.nan),
        "fair_ratio_max": max(all_ratios, default=math.nan),
        "fair_outside_10pct": sum(1 for r in all_ratios if not 0.9 <= r <= 1.1),
        "gang_min_gpus": gang_min,
        "gang_jobs": len(gangs),
        "gang_wait_max_s": worst.start - worst.submit if worst else math.nan,
        "gang_wait_max_job": worst.id if worst else None,
        "preemptions": result.preemptions,
        "moved": result.moved,
        "lost_gpu_s": result.lost_gpu_seconds,
        "lost_fraction": result.lost_gpu_seconds / used if used > 0 else 0.0,
    }


def _account(
    name: str,
    records: Sequence[JobRecord],
    total_gpu_seconds: float,
    entitled: float,
    windows: Sequence[ShareWindow],
    deviations: Sequence[float],
    ratios: Sequence[float],
    gang_min: int,
) -> dict[str, Any]:
    figures = _delay_figures(records)
    worst = longest_wait(r for r in records if r.gpus >= gang_min)
    share = _gpu_seconds(records) / total_gpu_seconds if total_gpu_seconds > 0 else 0.0
    return {
        "jobs": len(records),
        "jct_avg_s": figures["jct_avg_s"],
        "jct_p99_s": figures["jct_p99_s"],
        "wait_avg_s": figures["wait_avg_s"],
        "wait_p99_s": figures["wait_p99_s"],
        "gpu_share": share,
        "entitlement": entitled,
        "backlogged_windows": len(deviations),
        "backlog_dev_mean": _mean(deviations),
        "backlog_dev_min": min(deviations, default=math.nan),
        "fair_ratio_min": min(ratios, default=math.nan),
        "fair_ratio_max": max(ratios, default=math.nan),
        "gang_jobs": sum(1 for r in records if r.gpus >= gang_min),
        "gang_wait_max_s": worst.start - worst.submit if worst else math.nan,
        "share_series": [w.share(name) for w in windows],
        "backlogged_series": [name in w.backlogged for w in windows],
    }


def summarize(result: SimResult, window: float = DAY) -> Summary:
    """The figures of `result` (see the module docstring); `window`: the length in
    seconds of the share-over-time windows."""
    records = result.records
    entitlement = dict(result.entitlement)
    windows = share_windows(records, window)
    deviations = backlog_deviations(windows, entitlement)
    ratios = fair_ratios(windows, entitlement)
    gang_min = gang_min_gpus(result.cluster.gpus_per_node)
    overall = _overall(result, windows, deviations, ratios, gang_min)
    overall["share_window_s"] = window
    grouped: dict[str, list[JobRecord]] = {}
    for r in records:
        grouped.setdefault(r.account, []).append(r)
    used = _gpu_seconds(records)
    accounts = {
        name: _account(
            name,
            grouped[name],
            used,
            entitlement.get(name, math.nan),
            windows,
            deviations.get(name, []),
            ratios.get(name, []),
            gang_min,
        )
        for name in sorted(grouped)
    }
    return Summary(overall, accounts, tuple(windows), entitlement)
