"""The simulator's figures on tiny record sets whose numbers are worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest

from mlrp.sim import (
    JobRecord,
    SimResult,
    allocation_steps,
    jain_index,
    parse_cluster,
    percentile,
    share_windows,
    summarize,
)
from mlrp.sim.metrics import (
    ShareWindow,
    backlog_deviations,
    fair_ratios,
    gang_min_gpus,
    max_min_shares,
    pending_spans,
)


def result_of(
    records: Sequence[JobRecord], cluster: str, entitlement: Mapping[str, float]
) -> SimResult:
    """A SimResult around hand-made records (the one place tests build one)."""
    return SimResult(parse_cluster(cluster), "default", tuple(records), (), 0, 0, entitlement)


# Cluster 2x4 (8 GPUs, so a large gang job has >= 8 GPUs), 100 s windows:
#
#   id account gpus submit start end   pending
#   1  a       8    0      0     100   -
#   2  b       4    0      100   200   [0, 100)
#   3  a       4    50     100   200   [50, 100)
#   4  b       8    100    200   250   [100, 200)
#
# windows [0,100) [100,200) [200,250): a has 800 | 400 | 0 GPU-s, b 0 | 400 | 400;
# b is pending throughout [0, 200): backlogged in the first two windows, a in none.
RECORDS = (
    JobRecord(1, "a", 8, 0.0, 0.0, 100.0),
    JobRecord(2, "b", 4, 0.0, 100.0, 200.0),
    JobRecord(3, "a", 4, 50.0, 100.0, 200.0),
    JobRecord(4, "b", 8, 100.0, 200.0, 250.0),
)
ENTITLEMENT = {"a": 0.75, "b": 0.25}


def test_percentile_and_jain() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))
    assert jain_index([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert jain_index([1.0, 0.0]) == pytest.approx(0.5)
    assert math.isnan(jain_index([]))


def test_overall_figures() -> None:
    o = summarize(result_of(RECORDS, "2x4", ENTITLEMENT), window=100.0).overall
    assert o["jobs"] == 4 and o["gpus"] == 8 and o["skipped"] == 0
    assert o["makespan_s"] == 250.0
    assert o["gpu_utilization"] == pytest.approx(2000 / (8 * 250))
    # jobs arrive from 0 to 100, when only job 1 (8 GPUs) runs
    assert o["gpu_utilization_arrivals"] == pytest.approx(1.0)
    assert (o["jct_avg_s"], o["jct_median_s"]) == (150.0, 150.0)  # JCTs 100, 200, 150, 150
    assert (o["wait_avg_s"], o["wait_median_s"]) == (62.5, 75.0)  # waits 0, 100, 50, 100
    assert o["wait_p99_s"] == pytest.approx(100.0)
    # one 7-day window: a 1200 GPU-s, b 800
    assert o["jain_7d_mean"] == pytest.approx(2000**2 / (2 * (1200**2 + 800**2)))
    assert o["jain_windows"] == 1


def test_share_over_time_and_backlog_deviation() -> None:
    s = summarize(result_of(RECORDS, "2x4", ENTITLEMENT), window=100.0)
    assert [(w.start, w.end) for w in s.windows] == [(0, 100), (100, 200), (200, 250)]
    a, b = s.accounts["a"], s.accounts["b"]
    assert a["share_series"] == [1.0, 0.5, 0.0]
    assert b["share_series"] == [0.0, 0.5, 1.0]
    assert b["backlogged_series"] == [True, True, False]
    assert a["backlogged_series"] == [False, False, False]
    # b: 0 - 0.25 in the first window, 0.5 - 0.25 in the second
    assert b["backlogged_windows"] == 2
    assert b["backlog_dev_mean"] == pytest.approx(0.0)
    assert b["backlog_dev_min"] == pytest.approx(-0.25)
    assert a["backlogged_windows"] == 0 and math.isnan(a["backlog_dev_mean"])
    assert (a["gpu_share"], b["gpu_share"]) == (pytest.approx(0.6), pytest.approx(0.4))
    assert (a["entitlement"], b["entitlement"]) == (0.75, 0.25)
    o = s.overall
    assert o["share_windows"] == 3 and o["share_window_s"] == 100.0 and o["share_origin"] == 0
    assert o["backlogged_windows"] == 2
    assert o["backlog_dev_abs_mean"] == pytest.approx(0.25)
    assert o["backlog_dev_min"] == pytest.approx(-0.25)


def test_large_gang_jobs_longest_wait() -> None:
    s = summarize(result_of(RECORDS, "2x4", ENTITLEMENT), window=100.0)
    o = s.overall
    assert o["gang_min_gpus"] == 8 and o["gang_jobs"] == 2
    assert (o["gang_wait_max_s"], o["gang_wait_max_job"]) == (100.0, 4)
    assert (s.accounts["a"]["gang_jobs"], s.accounts["a"]["gang_wait_max_s"]) == (1, 0.0)
    assert (s.accounts["b"]["gang_jobs"], s.accounts["b"]["gang_wait_max_s"]) == (1, 100.0)
    # on 16-GPU nodes, a large gang job is a node's worth
    bigger = summarize(result_of(RECORDS, "1x16", ENTITLEMENT)).overall
    assert bigger["gang_min_gpus"] == 16 and bigger["gang_jobs"] == 0
    assert math.isnan(bigger["gang_wait_max_s"]) and bigger["gang_wait_max_job"] is None
    assert [gang_min_gpus(n) for n in (1, 8, 10)] == [8, 8, 10]


def test_idle_windows_have_no_share_and_no_deviation() -> None:
    records = [JobRecord(1, "a", 1, 0.0, 0.0, 10.0), JobRecord(2, "a", 1, 300.0, 300.0, 310.0)]
    windows = share_windows(records, 100.0)
    assert [(w.start, w.end) for w in windows] == [(0, 100), (100, 200), (200, 300), (300, 310)]
    assert [w.gpu_seconds for w in windows] == [10.0, 0.0, 0.0, 10.0]
    assert [w.share("a") for w in windows][::3] == [1.0, 1.0]
    assert all(math.isnan(w.share("a")) for w in windows[1:3])
    assert backlog_deviations(windows, {"a": 1.0}) == {}


def test_backlogged_needs_pending_work_through_the_whole_window() -> None:
    # a: pending [0, 60) then [60, 150) (touching: one span); b: [0, 90) and [95, 200)
    records = [
        JobRecord(1, "a", 1, 0.0, 60.0, 61.0),
        JobRecord(2, "a", 1, 60.0, 150.0, 151.0),
        JobRecord(3, "b", 1, 0.0, 90.0, 91.0),
        JobRecord(4, "b", 1, 95.0, 200.0, 201.0),
    ]
    assert pending_spans(records) == {"a": [(0.0, 150.0)], "b": [(0.0, 90.0), (95.0, 200.0)]}
    windows = share_windows(records, 100.0)
    # [0,100): a throughout, b has a gap; [100,200): only b; [200,201) (the last window
    # ends at the last end): nobody
    assert [sorted(w.backlogged) for w in windows] == [["a"], ["b"], []]
    assert windows[-1].end == 201.0


def test_unknown_accounts_are_not_judged() -> None:
    s = summarize(result_of(RECORDS, "2x4", {"a": 1.0}), window=100.0)
    assert math.isnan(s.accounts["b"]["entitlement"])
    assert s.accounts["b"]["backlogged_windows"] == 0
    assert s.overall["backlogged_windows"] == 0


def test_empty_run() -> None:
    s = summarize(result_of([], "1x8", {}))
    assert s.overall["jobs"] == 0 and s.overall["makespan_s"] == 0.0
    assert s.windows == () and s.accounts == {}
    assert math.isnan(s.overall["backlog_dev_min"])


def test_allocation_steps() -> None:
    assert allocation_steps(RECORDS) == [(0.0, 8), (100.0, 8), (200.0, 8), (250.0, 0)]
    assert allocation_steps([JobRecord(1, "a", 2, 0.0, 5.0, 5.0)]) == []


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        share_windows(RECORDS, 0.0)


THIRDS = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}


def window(shares: dict[str, float], backlogged: set[str]) -> ShareWindow:
    return ShareWindow(0.0, 86400.0, 1000.0, shares, frozenset(backlogged))


def test_max_min_fair_share_gives_backlogged_accounts_what_others_left() -> None:
    # a wanted 10% and got it; b and c, both backlogged, are due half of the rest each
    w = window({"a": 0.1, "b": 0.6, "c": 0.3}, {"b", "c"})
    assert max_min_shares(w, THIRDS) == pytest.approx({"b": 0.45, "c": 0.45})
    assert fair_ratios([w], THIRDS) == {
        "b": [pytest.approx(0.6 / 0.45)],
        "c": [pytest.approx(0.3 / 0.45)],
    }


def test_max_min_fair_share_is_the_entitlement_when_all_are_backlogged() -> None:
    w = window({"a": 0.2, "b": 0.3, "c": 0.5}, {"a", "b", "c"})
    assert max_min_shares(w, THIRDS) == pytest.approx(THIRDS)


def test_an_account_over_its_due_does_not_shrink_what_backlogged_ones_are_due() -> None:
    # a was not backlogged but held half the GPU time (jobs started before): b and c were
    # still due a third each, and got less
    w = window({"a": 0.5, "b": 0.3, "c": 0.2}, {"b", "c"})
    assert max_min_shares(w, THIRDS) == pytest.approx({"b": 1 / 3, "c": 1 / 3})
    ratios = fair_ratios([w], THIRDS)
    assert ratios["b"] == [pytest.approx(0.9)] and ratios["c"] == [pytest.approx(0.6)]


def test_weights_and_idle_accounts_in_the_max_min_share() -> None:
    # d has no work at all; b has twice c's entitlement
    entitled = {"b": 0.4, "c": 0.2, "d": 0.4}
    w = window({"b": 0.5, "c": 0.5}, {"b", "c"})
    assert max_min_shares(w, entitled) == pytest.approx({"b": 2 / 3, "c": 1 / 3})
    idle = ShareWindow(0.0, 86400.0, 0.0, {}, frozenset({"b"}))
    assert max_min_shares(idle, entitled) == {}  # no GPU busy: nothing to share
